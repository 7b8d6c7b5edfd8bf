"""METRICS.md "forgotten" on hand-made deals/leads/activities; expected values by hand."""

import pandas as pd
import pytest

from b24reports.ingest.dataset import Dataset
from b24reports.metrics.scope import Scope
from b24reports.metrics import forgotten as m

TZ = "+03:00"
AS_OF = pd.Timestamp("2026-11-30T12:00:00+03:00")

STATUSES = pd.DataFrame(
    {
        "entity_id": ["DEAL_STAGE"] * 3 + ["DEAL_STAGE_1"] * 2 + ["STATUS"] * 3,
        "status_id": ["NEW", "WON", "LOSE", "C1:NEW", "C1:WON", "NEW", "CONVERTED", "JUNK"],
        "sort": [10, 20, 30, 10, 20, 10, 20, 30],
        "semantics": ["P", "S", "F", "P", "S", "P", "S", "F"],
    }
)
CUR = pd.DataFrame({"currency": ["RUB", "USD"], "amount_cnt": [1, 1], "amount": [1.0, 90.0], "base": [True, False]})


def T(s):
    return None if s is None else f"{s}+03:00"


DEALS = pd.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6, 7, 8],
        "title": [f"Сделка {i}" for i in range(1, 9)],
        "category_id": [0, 0, 0, 0, 0, 0, 1, 0],
        "stage_id": ["NEW", "NEW", "NEW", "NEW", "WON", "NEW", "C1:NEW", "NEW"],
        "stage_semantic_id": ["P", "P", "P", "P", "S", "P", "P", "P"],
        "opportunity": [1000, 3000, 5000, 100, 7000, None, 2000, 10],
        "currency_id": ["RUB", "RUB", "RUB", "USD", "RUB", "RUB", "RUB", "RUB"],
        "assigned_by_id": [1, 1, 1, 2, 1, 3, 2, 1],
        "date_create": [T(x) for x in ["2026-10-01T10:00", "2026-10-01T10:00", "2026-11-01T12:00", "2026-11-10T12:00",
                                       "2026-10-01T10:00", "2026-11-25T12:00", "2026-10-01T10:00", "2026-12-01T10:00"]],
        "moved_time": [None, None, None, None, None, T("2026-11-27T12:00"), None, None],
    }
)
DEAL_HISTORY = pd.DataFrame(
    {
        "id": [1, 2],
        "owner_id": [4, 4],
        "created_time": [T("2026-11-10T12:00"), T("2026-11-16T12:00")],
        "stage_id": ["NEW", "NEW"],
        "stage_semantic_id": ["P", "P"],
    }
)
LEADS = pd.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "title": ["Лид 1", "Лид 2", "Лид 3", "Лид 4"],
        "status_id": ["NEW", "CONVERTED", "NEW", "JUNK"],
        "status_semantic_id": [None, "S", None, "F"],
        "assigned_by_id": [1, 1, 2, 2],
        "opportunity": [None, 100, 500, 0],
        "currency_id": ["RUB"] * 4,
        "date_create": [T("2026-11-01T12:00"), T("2026-10-01T12:00"), T("2026-10-01T12:00"), T("2026-10-01T12:00")],
    }
)
LEAD_HISTORY = pd.DataFrame(
    {
        "id": [1, 2, 3],
        "owner_id": [2, 2, 3],
        "created_time": [T("2026-10-01T12:00"), T("2026-11-30T09:00"), T("2026-11-10T12:00")],
        "status_id": ["NEW", "CONVERTED", "NEW"],  # lead 2 converted today (before as_of)
        "status_semantic_id": ["P", "S", "P"],
    }
)
# owner_type_id 2 deal, 1 lead
ACTS = pd.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6, 7],
        "owner_type_id": [2, 2, 2, 2, 1, 1, 2],
        "owner_id": [2, 2, 3, 7, 1, 3, 1],
        "completed": [True, False, False, True, True, False, True],
        "created": [T("2026-11-19T09:00")] * 7,
        "end_time": [T("2026-11-20T09:00"), None, None, T("2026-12-01T09:00"), T("2026-11-29T12:00"), None, None],
        "deadline": [None, T("2026-12-05T10:00"), T("2026-12-10T10:00"), None, None, T("2026-12-02T10:00"), None],
    }
)


@pytest.fixture
def ds():
    return Dataset.from_frames(deals=DEALS, deal_stage_history=DEAL_HISTORY, leads=LEADS, lead_status_history=LEAD_HISTORY,
                               activities=ACTS, statuses=STATUSES, currencies=CUR, timezone=TZ)


def test_deal_rows_last_touch_and_idle_days(ds):
    d, warnings = m.deal_rows(ds, AS_OF)
    d = d.set_index("id")
    # won deal 5 and deal 8 (created after as_of) are not open deals as of as_of
    assert sorted(d.index) == [1, 2, 3, 4, 6, 7]
    # 1: no touch, no move → last_touch = DATE_CREATE 10-01 10:00; 11-30 12:00 − that = 60 d 2 h → 60
    assert d.loc[1, "last_touch"] == pd.Timestamp("2026-10-01T10:00+03:00") and d.loc[1, "idle_days"] == 60
    # 2: completed activity ended 11-20 09:00 → 10 d 3 h → 10; it has a planned activity → next step
    assert d.loc[2, "idle_days"] == 10 and not d.loc[2, "forgotten"] and not d.loc[2, "no_next_step"]
    # 3: only activity planned in the future: no touch (created 11-01 12:00 → exactly 29 d), but a next step
    assert d.loc[3, "idle_days"] == 29 and d.loc[3, "forgotten"] and not d.loc[3, "no_next_step"]
    # 4: last stage move 11-16 12:00 → exactly 14 d → forgotten at threshold 14 (≥)
    assert d.loc[4, "idle_days"] == 14 and d.loc[4, "forgotten"] and d.loc[4, "no_next_step"]
    # 4 is 100 USD × 90 = 9000 RUB
    assert d.loc[4, "amount"] == 9000.0
    # 6: MOVED_TIME 11-27 12:00 → 3 d; empty OPPORTUNITY → 0 and warned
    assert d.loc[6, "idle_days"] == 3 and d.loc[6, "amount"] == 0.0
    assert warnings == ["deals with empty OPPORTUNITY counted as 0: 6"]
    # 7: its completed activity ended after as_of → not a touch → DATE_CREATE → 60
    assert d.loc[7, "idle_days"] == 60
    # activity 7 is bound to deal 1 but has no END_TIME: not a touch; activity 5 touches lead 1, not deal 1
    assert d.loc[1, "no_next_step"]


def test_deals_list_worst_first(ds):
    tabs, warnings, summary = m.report_tables(ds, Scope.build(ds, as_of=AS_OF))
    lst = tabs["deals"]
    # forgotten first: 7 and 1 (60 d; 7 is bigger: 2000 > 1000), 3 (29 d), 4 (14 d); then 6 (no next step only)
    assert lst["id"].tolist() == [7, 1, 3, 4, 6]
    assert lst["forgotten"].tolist() == [True, True, True, True, False]
    assert lst["no_next_step"].tolist() == [True, True, False, True, True]
    assert lst.iloc[0]["url"] == "https://demo.bitrix24.ru/crm/deal/details/7/"
    assert set(m.DEAL_COLUMNS) <= set(lst.columns)


def test_leads_list(ds):
    lst = m.report_tables(ds, Scope.build(ds, as_of=AS_OF))[0]["leads"]
    # lead 2 converted today and lead 4 junk are not in work
    # 3: last status move 11-10 12:00 → 20 d → forgotten, has a planned activity
    # 1: touched 11-29 12:00 → 1 d, no planned activity → listed for no next step
    assert lst["id"].tolist() == [3, 1]
    assert lst["idle_days"].tolist() == [20, 1]
    assert lst["forgotten"].tolist() == [True, False]
    assert lst["no_next_step"].tolist() == [False, True]
    assert lst.iloc[0]["status_id"] == "NEW" and lst.iloc[0]["amount"] == 500.0
    assert lst.iloc[1]["url"] == "https://demo.bitrix24.ru/crm/lead/details/1/"


def test_by_employee_and_summary(ds):
    tabs, warnings, s = m.report_tables(ds, Scope.build(ds, as_of=AS_OF))
    be = tabs["by_employee"]
    # emp 2: deals 4 (9000) + 7 (2000) forgotten = 11000, lead 3 forgotten; no next step deals 4, 7; lead 3 has one
    # emp 1: deals 1 (1000) + 3 (5000) = 6000; no next step: deal 1, lead 1
    # emp 3: deal 6 not forgotten, no next step
    assert be.to_dict("records") == [
        {"employee_id": 2, "forgotten_deals": 2, "forgotten_deals_amount": 11000.0, "forgotten_leads": 1,
         "no_next_step_deals": 2, "no_next_step_leads": 0},
        {"employee_id": 1, "forgotten_deals": 2, "forgotten_deals_amount": 6000.0, "forgotten_leads": 0,
         "no_next_step_deals": 1, "no_next_step_leads": 1},
        {"employee_id": 3, "forgotten_deals": 0, "forgotten_deals_amount": 0.0, "forgotten_leads": 0,
         "no_next_step_deals": 1, "no_next_step_leads": 0},
    ]
    # 4 forgotten deals worth 1000 + 5000 + 9000 + 2000 = 17000; 6 open deals, 2 leads in work
    assert (s["forgotten_deals"], s["forgotten_deals_amount"], s["open_deals"], s["open_leads"]) == (4, 17000.0, 6, 2)


def test_thresholds_per_entity_and_per_stage(ds):
    # deal threshold 30: only 1 and 7 (60 d) stay forgotten; lead threshold 21: lead 3 (20 d) is not
    tabs, _, s = m.report_tables(ds, Scope.build(ds, as_of=AS_OF), deal_idle_days=30, lead_idle_days=21)
    assert tabs["deals"].loc[tabs["deals"]["forgotten"], "id"].tolist() == [7, 1]
    assert s["forgotten_leads"] == 0
    # rotting days per stage: C1:NEW allows 90 days → deal 7 (60 d) is not forgotten, still listed (no next step)
    tabs, _, _ = m.report_tables(ds, Scope.build(ds, as_of=AS_OF), stage_idle_days={"C1:NEW": 90})
    r7 = tabs["deals"].set_index("id").loc[7]
    assert not r7["forgotten"] and r7["no_next_step"]


def test_filters(ds):
    tabs, _, s = m.report_tables(ds, Scope.build(ds, as_of=AS_OF, pipelines=[0]))
    assert 7 not in tabs["deals"]["id"].tolist()
    tabs, _, s = m.report_tables(ds, Scope.build(ds, as_of=AS_OF, employees={3}))
    assert tabs["deals"]["id"].tolist() == [6] and tabs["leads"].empty
    assert tabs["by_employee"]["employee_id"].tolist() == [3]


def test_empty_store():
    tabs, warnings, s = m.report_tables(Dataset.from_frames(timezone=TZ), Scope.build(Dataset.from_frames(timezone=TZ), as_of=AS_OF))
    assert tabs["deals"].empty and tabs["leads"].empty and tabs["by_employee"].empty
    assert s["forgotten_deals"] == 0 and s["forgotten_deals_amount"] == 0.0 and warnings == []
