"""The demo portal generator: determinism, content invariants, wire format, mutations."""

from __future__ import annotations

import collections
import datetime as dt
import re
import threading

import numpy as np
import pytest

from b24reports.demo.generator import PIPELINES, ROLES, generate_portal
from b24reports.core.errors import BadParameter

ANCHOR = dt.date(2026, 11, 30)
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+03:00$")


@pytest.fixture(scope="module")
def portal():
    return generate_portal(seed=42, scale=1.0, anchor=ANCHOR)


def _same(a, b) -> bool:
    for name, ta in a.tables.items():
        tb = b.tables[name]
        ca, cb = ta.snapshot(), tb.snapshot()
        if ca.keys() != cb.keys():
            return False
        for f in ca:
            x, y = ca[f], cb[f]
            if x.dtype == object:
                if x.tolist() != y.tolist():
                    return False
            elif not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                return False
    return a.categories == b.categories and a.currencies == b.currencies


def test_same_inputs_give_identical_portals():
    a = generate_portal(seed=7, scale=0.3, anchor=ANCHOR)
    b = generate_portal(seed=7, scale=0.3, anchor=ANCHOR)
    assert _same(a, b)
    c = generate_portal(seed=8, scale=0.3, anchor=ANCHOR)
    assert not _same(a, c)


def test_bad_scale_and_anchor_name_the_parameter():
    with pytest.raises(BadParameter, match="scale"):
        generate_portal(scale=0)
    with pytest.raises(BadParameter, match="anchor"):
        generate_portal(anchor="2026-11-30")


def test_sizes_at_scale_1_and_scale_grows_the_portal(portal):
    n = {k: len(t) for k, t in portal.tables.items()}
    assert 2000 <= n["deal"] <= 3000
    assert n["lead"] == 1500
    assert 30000 <= n["activity"] <= 50000
    assert n["task"] == 3000
    small = generate_portal(seed=42, scale=0.5, anchor=ANCHOR)
    assert len(small.table("lead")) == 750  # round(1500 * 0.5)
    assert len(small.table("task")) == 1500


def test_history_covers_30_months_and_now_is_anchor_noon(portal):
    created = portal.table("deal").column("DATE_CREATE")
    now = int(dt.datetime(2026, 11, 30, 12, tzinfo=dt.timezone(dt.timedelta(hours=3))).timestamp())
    assert portal.now == now
    first = dt.datetime.fromtimestamp(int(created.min()), dt.timezone(dt.timedelta(hours=3)))
    assert (first.year, first.month) == (2024, 5)  # 2026-11 minus 30 months
    assert created.max() < now


def test_every_deal_history_ends_in_its_current_stage(portal):
    deals = {r["ID"]: r for r in portal.rows("deal")}
    last: dict[int, dict] = {}
    first: dict[int, dict] = {}
    for h in portal.rows("deal_stage_history"):  # ID order = time order
        last[h["OWNER_ID"]] = h
        first.setdefault(h["OWNER_ID"], h)
    assert len(last) == len(deals)
    for sid, d in deals.items():
        h = last[int(sid)]
        assert h["STAGE_ID"] == d["STAGE_ID"], sid
        assert h["CREATED_TIME"] == d["MOVED_TIME"], sid
        assert first[int(sid)]["TYPE_ID"] == 1 and first[int(sid)]["CREATED_TIME"] == d["DATE_CREATE"]
        if d["STAGE_SEMANTIC_ID"] == "S":
            assert h["TYPE_ID"] == 3 and h["STAGE_SEMANTIC_ID"] == "S"


def test_history_has_skipped_stages_and_backward_moves(portal):
    order = {st: k for _, prog, won, lost in PIPELINES.values() for k, st in enumerate(prog + [won])}
    by_deal = collections.defaultdict(list)
    for h in portal.rows("deal_stage_history"):
        by_deal[h["OWNER_ID"]].append(order.get(h["STAGE_ID"], -1))
    backward = sum(any(b < a for a, b in zip(s, s[1:]) if b >= 0) for s in by_deal.values())
    skipped = sum(any(b > a + 1 for a, b in zip(s, s[1:]) if b >= 0) for s in by_deal.values())
    assert backward >= 20 and skipped >= 100


def test_outcome_mix_and_open_deal_closedates(portal):
    rows = portal.rows("deal")
    sem = collections.Counter(r["STAGE_SEMANTIC_ID"] for r in rows)
    assert sem["S"] > 300 and sem["F"] > 300 and sem["P"] > 100
    open_close = [r["CLOSEDATE"][:10] for r in rows if r["STAGE_SEMANTIC_ID"] == "P"]
    assert any(c < "2026-11-01" for c in open_close)  # overdue
    assert any(c >= "2027-01-01" for c in open_close)  # next months
    assert all(r["CLOSED"] == ("Y" if r["STAGE_SEMANTIC_ID"] in "SF" else "N") for r in rows)


def test_one_dealer_pipeline_with_c1_stages(portal):
    assert [c["id"] for c in portal.categories] == [0, 1]
    assert [c["isDefault"] for c in portal.categories] == ["Y", "N"]
    st = portal.rows("status")
    c1 = [s["STATUS_ID"] for s in st if s["ENTITY_ID"] == "DEAL_STAGE_1"]
    assert c1 == ["C1:NEW", "C1:PREPARATION", "C1:EXECUTING", "C1:WON", "C1:LOSE"]
    p0 = [(s["STATUS_ID"], s["SORT"], s["SEMANTICS"]) for s in st if s["ENTITY_ID"] == "DEAL_STAGE"]
    assert p0 == [("NEW", "10", None), ("PREPARATION", "20", None), ("PREPAYMENT_INVOICE", "30", None),
                  ("EXECUTING", "40", None), ("FINAL_INVOICE", "50", None), ("WON", "60", "S"),
                  ("LOSE", "70", "F"), ("APOLOGY", "80", "F")]
    leads = {s["STATUS_ID"]: s["SEMANTICS"] for s in st if s["ENTITY_ID"] == "STATUS"}
    assert leads == {"NEW": None, "IN_PROCESS": None, "PROCESSED": None, "CONVERTED": "S", "JUNK": "F"}
    for d in portal.rows("deal"):
        assert d["STAGE_ID"].startswith("C1:") == (d["CATEGORY_ID"] == "1")


def test_special_deals_currency_empty_amount_hostile_titles(portal):
    rows = portal.rows("deal")
    cur = collections.Counter(r["CURRENCY_ID"] for r in rows)
    assert cur["USD"] >= 1 and cur["EUR"] >= 1 and cur["RUB"] > 2000
    assert sum(r["OPPORTUNITY"] == "" for r in rows) == 1
    assert any("<script>alert(1)</script>" in r["TITLE"] for r in rows)
    assert any(r["TITLE"].startswith("=SUM(") for r in rows)
    rub = {c["CURRENCY"]: c for c in portal.currencies}
    assert rub["RUB"]["BASE"] == "Y" and rub["RUB"]["AMOUNT"] == 1 and rub["RUB"]["AMOUNT_CNT"] == 1


def test_dismissed_manager_keeps_history_and_open_work(portal):
    users = {u["ID"]: u for u in portal.rows("user")}
    d = users[str(ROLES["dismissed"])]
    assert d["ACTIVE"] is False
    assert sum(not u["ACTIVE"] for u in users.values()) == 1
    deals = [r for r in portal.rows("deal") if r["ASSIGNED_BY_ID"] == d["ID"]]
    assert sum(r["STAGE_SEMANTIC_ID"] == "S" for r in deals) > 10
    assert 1 <= sum(r["STAGE_SEMANTIC_ID"] == "P" for r in deals) <= 30
    leads = [r for r in portal.rows("lead") if r["ASSIGNED_BY_ID"] == d["ID"] and r["STATUS_SEMANTIC_ID"] == "P"]
    assert len(leads) >= 1
    managers = [u for u in users.values() if u["UF_DEPARTMENT"][0] in (3, 4)]
    assert len(managers) >= 12 + 2  # 13 managers + 2 heads


def test_departments_nested_with_heads(portal):
    deps = {d["ID"]: d for d in portal.rows("department")}
    assert deps["1"]["PARENT"] is None
    assert (deps["3"]["PARENT"], deps["4"]["PARENT"], deps["2"]["PARENT"], deps["5"]["PARENT"]) == ("2", "2", "1", "1")
    assert all(d["UF_HEAD"] for d in deps.values())


def test_wire_format(portal):
    d = portal.table("deal").get(1)
    assert isinstance(d["ID"], str) and isinstance(d["ASSIGNED_BY_ID"], str)
    assert d["CLOSED"] in ("Y", "N") and d["OPENED"] == "Y"
    assert ISO.match(d["DATE_CREATE"]) and d["CLOSEDATE"].endswith("T00:00:00+03:00")
    assert d["BEGINDATE"] == d["DATE_CREATE"][:10] + "T00:00:00+03:00"
    u = portal.table("user").get(6)
    assert u["ACTIVE"] is True and u["UF_DEPARTMENT"] == [3]
    t = portal.table("task").get(1)
    assert {"id", "title", "status", "responsibleId", "closedDate", "deadline", "dateStart", "groupId"} <= set(t)
    assert t["id"] == "1"
    h = portal.table("deal_stage_history").get(1)
    assert isinstance(h["ID"], int) and isinstance(h["OWNER_ID"], int) and isinstance(h["CATEGORY_ID"], int)


def test_leads_sources_junk_and_conversion(portal):
    leads = portal.rows("lead")
    st = collections.Counter(r["STATUS_SEMANTIC_ID"] for r in leads)
    assert 0.25 <= st["F"] / len(leads) <= 0.40
    assert st["S"] > 200 and st["P"] > 100
    assert any(r["SOURCE_ID"] == "" for r in leads)
    assert any(r["UTM_SOURCE"] for r in leads if r["SOURCE_ID"] in ("WEB", "WEBFORM", "ADVERTISING"))
    by_id = {r["ID"]: r for r in leads}
    from_leads = [d for d in portal.rows("deal") if d["LEAD_ID"]]
    assert len(from_leads) == st["S"]
    for d in from_leads:
        lead = by_id[d["LEAD_ID"]]
        assert lead["STATUS_ID"] == "CONVERTED"
        gap = dt.datetime.fromisoformat(d["DATE_CREATE"]) - dt.datetime.fromisoformat(lead["DATE_CLOSED"])
        # generator: deal created 60..1860 s after the conversion (clipped to "now")
        assert dt.timedelta(0) <= gap <= dt.timedelta(seconds=1860)


def test_calls_link_activities_and_statistics(portal):
    acts = portal.table("activity")
    ct = portal.table("call")
    assert len(ct) > 10000
    for c in ct.rows(range(0, len(ct), 97)):
        a = acts.get(int(c["CRM_ACTIVITY_ID"]))
        assert a["TYPE_ID"] == "2" and a["PROVIDER_ID"] == "VOXIMPLANT_CALL"
        assert a["ORIGIN_ID"] == "VI_" + c["CALL_ID"]
        assert a["RESPONSIBLE_ID"] == c["PORTAL_USER_ID"]
        assert c["CALL_TYPE"] == ("1" if a["DIRECTION"] == "2" else "2")
    user, short = ct.column("PORTAL_USER_ID"), ct.column("CALL_DURATION") < 10
    share = lambda u: short[user == u].mean()  # noqa: E731
    assert share(ROLES["short_calls"]) > 0.4 and share(ROLES["top"]) < 0.15


def test_activity_kinds_and_next_steps(portal):
    a = portal.table("activity").snapshot()  # columns: ints, unix seconds, bools
    kinds = collections.Counter(zip(a["TYPE_ID"].tolist(), a["PROVIDER_ID"].tolist()))
    for k in [(2, "VOXIMPLANT_CALL"), (1, "CRM_MEETING"), (4, "CRM_EMAIL"), (6, "IMOPENLINES_SESSION"),
              (6, "CRM_TODO"), (3, "CRM_TASKS_TASK")]:
        assert kinds[k] > 100, k
    assert set(a["OWNER_TYPE_ID"].tolist()) == {1, 2}
    planned = ~a["COMPLETED"]
    assert (a["START_TIME"][planned] > portal.now).any() and (a["START_TIME"][planned] < portal.now).any()
    assert (a["END_TIME"][a["COMPLETED"]] <= portal.now).all()
    row = portal.table("activity").rows([0])[0]
    assert row["COMPLETED"] in ("Y", "N") and ISO.match(row["START_TIME"]) and isinstance(row["OWNER_ID"], str)


def test_tasks_statuses_deadlines_and_growing_backlog(portal):
    tasks = portal.rows("task")
    assert {t["status"] for t in tasks} == {"2", "3", "4", "5", "6", "7"}
    assert any(t["deadline"] is None for t in tasks)
    assert any(t["startDatePlan"] for t in tasks)
    assert any(t["closedDate"] and t["dateStart"] is None for t in tasks)
    assert any(t["closedDate"] and t["closedDate"] == t["deadline"] for t in tasks)
    assert {t["groupId"] for t in tasks} == {"0", "1", "2", "3", "4"}

    def overdue_open(uid: str, at: str) -> int:
        return sum(1 for t in tasks if t["responsibleId"] == uid and t["createdDate"] <= at
                   and (t["closedDate"] is None or t["closedDate"] > at) and t["deadline"] and t["deadline"] < at)

    bl = str(ROLES["backlog"])
    ends = ["2026-08-31T23:59:59+03:00", "2026-09-30T23:59:59+03:00", "2026-10-31T23:59:59+03:00"]
    counts = [overdue_open(bl, e) for e in ends]
    assert counts[0] < counts[1] < counts[2], counts


def test_mutations_bump_modified_time_and_keep_ids(portal):
    p = generate_portal(seed=1, scale=0.1, anchor=ANCHOR)
    deals = p.table("deal")
    before = p.table("deal").get(3)
    open_id = next(int(r["ID"]) for r in p.rows("deal") if r["STAGE_SEMANTIC_ID"] == "P" and r["CATEGORY_ID"] == "0")
    n_hist = len(p.table("deal_stage_history"))
    p.update("deal", 3, TITLE="Новое название")
    after = deals.get(3)
    assert after["TITLE"] == "Новое название" and after["DATE_MODIFY"] > before["DATE_MODIFY"]
    assert after["DATE_MODIFY"] > "2026-11-30T12:00:00+03:00"  # never before the portal's now
    p.update("deal", open_id, STAGE_ID="WON")
    won = deals.get(open_id)
    assert (won["STAGE_SEMANTIC_ID"], won["CLOSED"], won["MOVED_TIME"]) == ("S", "Y", won["DATE_MODIFY"])
    h = p.table("deal_stage_history").rows([len(p.table("deal_stage_history")) - 1])[0]
    assert len(p.table("deal_stage_history")) == n_hist + 1
    assert (h["OWNER_ID"], h["TYPE_ID"], h["STAGE_ID"]) == (open_id, 3, "WON")
    last_id = int(deals.column("ID")[-1])
    new_id = p.add("deal", {"TITLE": "x", "CATEGORY_ID": "1"})
    assert new_id == last_id + 1
    created = deals.get(new_id)
    assert (created["STAGE_ID"], created["STAGE_SEMANTIC_ID"], created["CLOSED"]) == ("C1:NEW", "P", "N")
    h = p.table("deal_stage_history").rows([len(p.table("deal_stage_history")) - 1])[0]
    assert (h["OWNER_ID"], h["TYPE_ID"], h["STAGE_ID"], h["CREATED_TIME"]) == (new_id, 1, "C1:NEW", created["DATE_CREATE"])
    p.delete("deal", new_id)
    with pytest.raises(KeyError):
        deals.get(new_id)
    assert p.add("deal", {"TITLE": "y"}) == last_id + 2  # ids are not reused
    with pytest.raises(KeyError, match="no row"):
        p.update("deal", 10**9, TITLE="z")


def test_add_rejects_unknown_fields():
    p = generate_portal(seed=1, scale=0.05, anchor=ANCHOR)
    with pytest.raises(KeyError, match="NOT_A_FIELD"):
        p.add("lead", {"NOT_A_FIELD": 1})
    with pytest.raises(KeyError, match="unknown demo entity"):
        p.add("contact", {})


def test_concurrent_adds_get_distinct_ids():
    p = generate_portal(seed=1, scale=0.05, anchor=ANCHOR)
    got: list[int] = []
    lock = threading.Lock()

    def work():
        for _ in range(20):
            i = p.add("task", {"TITLE": "t", "STATUS": "2"})
            with lock:
                got.append(i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 80
    ids = p.table("task").column("ID")
    assert np.all(ids[1:] > ids[:-1])


def test_manager_profiles_differ(portal):
    d = portal.table("deal").snapshot()
    a = portal.table("activity").snapshot()
    won = d["STAGE_SEMANTIC_ID"] == "S"
    managers = [u for u in range(6, 19)]
    won_amount = {u: np.nansum(d["OPPORTUNITY"][won & (d["ASSIGNED_BY_ID"] == u)]) for u in managers}
    acts = {u: int((a["COMPLETED"] & (a["RESPONSIBLE_ID"] == u)).sum()) for u in managers}
    mean_won, mean_acts = np.mean(list(won_amount.values())), np.mean(list(acts.values()))
    top, busy = ROLES["top"], ROLES["busy_no_result"]
    assert won_amount[top] == max(won_amount.values()) and won_amount[top] > 2 * mean_won
    assert acts[busy] == max(acts.values()) and acts[busy] > 1.5 * mean_acts
    assert won_amount[busy] < 0.8 * mean_won
