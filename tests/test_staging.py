"""Staging: hand-written Bitrix24 payloads -> typed store rows."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from b24reports.ingest import staging as st
from b24reports.core.errors import B24ApiError
from b24reports.ingest.store import columns

PLUS2 = timezone(timedelta(hours=2))


def test_deal_payload_quirks():
    w = st.Warnings()
    raw = {"ID": "37", "TITLE": "Поставка", "TYPE_ID": "SALE", "CATEGORY_ID": "1", "STAGE_ID": "C1:WON",
           "STAGE_SEMANTIC_ID": "S", "OPPORTUNITY": "1000000.50", "CURRENCY_ID": "RUB", "PROBABILITY": "",
           "ASSIGNED_BY_ID": "5", "CREATED_BY_ID": "1", "DATE_CREATE": "2024-08-01T10:00:00+02:00",
           "DATE_MODIFY": "2024-09-02T18:37:18+02:00", "MOVED_TIME": None,
           "BEGINDATE": "2024-08-01T00:00:00+02:00", "CLOSEDATE": "2024-08-30T02:00:00+02:00", "CLOSED": "Y",
           "LEAD_ID": None, "COMPANY_ID": "0", "CONTACT_ID": "12", "SOURCE_ID": "", "IS_RETURN_CUSTOMER": "N",
           "UTM_SOURCE": "yandex"}
    d = st.stage_deal(raw, w)
    assert list(d) == columns("deals")
    assert d["id"] == 37 and d["category_id"] == 1 and d["opportunity"] == Decimal("1000000.50")
    assert d["probability"] is None and d["source_id"] is None and d["company_id"] is None and d["contact_id"] == 12
    assert d["date_modify"] == datetime(2024, 9, 2, 18, 37, 18, tzinfo=PLUS2)
    # the calendar date as sent, not shifted to UTC (which would be 2024-08-30 00:00Z -> same here,
    # but BEGINDATE 2024-08-01T00:00+02:00 is 2024-07-31 22:00Z: must stay 2024-08-01)
    assert d["closedate"] == date(2024, 8, 30) and d["begindate"] == date(2024, 8, 1)
    assert d["closed"] is True and d["is_return_customer"] is False and d["stage_semantic_id"] == "S"
    assert len(w) == 0


def test_empty_opportunity_and_bad_value_warn_by_id():
    w = st.Warnings()
    d = st.stage_deal({"ID": "8", "OPPORTUNITY": "", "CLOSED": "maybe", "DATE_MODIFY": "yesterday"}, w)
    assert d["opportunity"] is None and d["closed"] is None and d["date_modify"] is None
    assert d["category_id"] == 0  # default pipeline when missing
    assert w.items[0] == "deal 8: empty OPPORTUNITY (counted as 0)"
    assert any("deal 8: field CLOSED" in x for x in w) and any("deal 8: field DATE_MODIFY" in x for x in w)
    st.stage_deal({"ID": "8", "OPPORTUNITY": ""}, w)
    assert sum("empty OPPORTUNITY" in x for x in w) == 1  # deduplicated


def test_row_without_id_raises():
    with pytest.raises(B24ApiError, match="without a valid ID"):
        st.stage_lead({"TITLE": "x"}, st.Warnings())


def test_task_camelcase_to_snake():
    w = st.Warnings()
    t = st.stage_task({"id": "15", "title": "Call back", "status": "5", "responsibleId": "3", "createdBy": "1",
                       "closedBy": "0", "groupId": "0", "createdDate": "2025-02-01T09:00:00+03:00",
                       "changedDate": "2025-02-02T09:00:00+03:00", "closedDate": "", "deadline": None}, w)
    assert list(t) == columns("tasks")
    assert (t["id"], t["status"], t["responsible_id"], t["closed_by"], t["group_id"]) == (15, 5, 3, None, 0)
    assert t["changed_date"].utcoffset() == timedelta(hours=3) and t["closed_date"] is None


@pytest.mark.parametrize("raw,sem,cat", [
    ({"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "WON", "SEMANTICS": "S", "EXTRA": {"SEMANTICS": "success"}}, "S", 0),
    ({"ENTITY_ID": "DEAL_STAGE_3", "STATUS_ID": "C3:LOSE", "SEMANTICS": "F", "CATEGORY_ID": "3"}, "F", 3),
    ({"ENTITY_ID": "DEAL_STAGE_3", "STATUS_ID": "C3:APOLOGY", "SEMANTICS": None, "EXTRA": {"SEMANTICS": "apology"}}, "F", 3),
    ({"ENTITY_ID": "STATUS", "STATUS_ID": "NEW", "SEMANTICS": None, "EXTRA": {"SEMANTICS": "process"}}, "P", None),
    ({"ENTITY_ID": "SOURCE", "STATUS_ID": "CALL", "SEMANTICS": None}, "P", None),
])
def test_status_semantics(raw, sem, cat):
    s = st.stage_status({**raw, "NAME": "n", "SORT": "10"}, st.Warnings())
    assert s["semantics"] == sem and s["category_id"] == cat and s["sort"] == 10


def test_user_department_and_active():
    w = st.Warnings()
    u = st.stage_user({"ID": "4", "ACTIVE": False, "NAME": "Ann", "UF_DEPARTMENT": [1, "7"], "USER_TYPE": "employee"}, w)
    assert u["active"] is False and u["uf_department"] == [1, 7]
    assert st.stage_user({"ID": "5", "ACTIVE": "Y", "UF_DEPARTMENT": ""}, w)["uf_department"] == []


def test_small_dictionaries():
    w = st.Warnings()
    assert st.stage_pipeline({"id": 0, "name": "Общая", "sort": 100, "isDefault": "Y"}, w) == \
        {"id": 0, "name": "Общая", "sort": 100, "is_default": True}
    assert st.stage_pipeline({"ID": "2", "NAME": "Опт", "SORT": "200"}, w)["is_default"] is False
    assert st.stage_currency({"CURRENCY": "USD", "AMOUNT_CNT": "1", "AMOUNT": "92.5000", "BASE": "N", "SORT": "200"}, w) == \
        {"currency": "USD", "amount_cnt": 1, "amount": Decimal("92.5000"), "base": False, "sort": 200}
    assert st.stage_department({"ID": "1", "NAME": "Company", "SORT": 500}, w)["parent"] is None
    c = st.stage_call({"ID": "9", "CALL_ID": "x.1", "PORTAL_USER_ID": "3", "CALL_TYPE": "1", "CALL_DURATION": "65",
                       "CALL_START_DATE": "2025-01-10T11:00:00+03:00", "CALL_FAILED_CODE": "200",
                       "CRM_ENTITY_TYPE": "LEAD", "CRM_ENTITY_ID": "44", "CRM_ACTIVITY_ID": ""}, w)
    assert (c["call_duration"], c["crm_entity_id"], c["crm_activity_id"]) == (65, 44, None)
    h = st.stage_deal_stage_history({"ID": 3, "TYPE_ID": 2, "OWNER_ID": 37, "CREATED_TIME": "2025-01-10T11:00:00+03:00",
                                     "CATEGORY_ID": 1, "STAGE_ID": "C1:PREPARATION", "STAGE_SEMANTIC_ID": "P"}, w)
    assert list(h) == columns("deal_stage_history") and h["owner_id"] == 37
    assert len(w) == 0


def test_scalar_parsers():
    assert st.to_int("37") == 37 and st.to_int("") is None and st.to_int(5.0) == 5
    with pytest.raises(ValueError):
        st.to_int("3.5")
    assert st.to_date("30.08.2024") == date(2024, 8, 30)
    assert st.to_datetime("2025-01-01 10:00:00", PLUS2) == datetime(2025, 1, 1, 10, tzinfo=PLUS2)
    assert st.utc_offset_text(datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))) == "-03:30"
