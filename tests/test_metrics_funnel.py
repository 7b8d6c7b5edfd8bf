"""Funnel metrics (METRICS.md "funnel") on hand-made data; every expected value worked by hand.

The portal (timezone +03:00, RUB base, 1 USD = 90 RUB):

pipeline 0 path NEW(0) PREP(1) INVOICE(2) WON(3), lost LOSE; pipeline 1 path C1:NEW C1:WON, lost C1:LOSE.
as_of = 2026-03-01 12:00, period 2026-01-01..2026-01-31.

deal emp pipe stage(now)  amount  created        history (≤ as_of)                      reached closed_at
  1   7   0   WON         100     01-01 10:00    NEW 01-01 10, PREP 01-03 10,            3       01-11 10:00
                                                 INVOICE 01-06 10, WON 01-11 10
  2   7   0   LOSE         50     01-02 10:00    NEW 01-02 10, PREP 01-04 10,            1       01-09 10:00
                                                 PREP 01-05 10 (repeat), LOSE 01-09 10
  3   8   0   PREP        None→0  01-05 00:00    NEW 01-05, INVOICE 01-07, PREP 01-10    2       open
  4   8   0   NEW      10 USD=900 01-20 12:00    —                                       0       open
  5   9   1   C1:WON    2 USD=180 01-15 00:00    — (MOVED_TIME 01-25 00:00)              1(won)  01-25 00:00
  6   7   0   WON          70     2025-12-31 23:00 (not in period)
  8   9   0   LOSE         30     01-31 23:59:59 — (MOVED_TIME 02-02 23:59:59)          -1      02-02 23:59:59
  9   8   0   INVOICE      40     01-10 00:00    NEW 01-10, INVOICE 02-10,               2       open
                                                 (WON 03-05 is after as_of: ignored)
 10   7   0   LOSE         20     01-03 00:00    — (CLOSEDATE 2026-01-04)               -1      01-04 00:00
"""

import datetime as dt

import pandas as pd
import pytest

from b24reports.ingest.dataset import Dataset
from b24reports.metrics.facts import deal_facts
from b24reports.metrics.scope import Scope
from b24reports.core.errors import BadParameter
from b24reports.metrics import funnel as f

TZ = "+03:00"
AS_OF = pd.Timestamp("2026-03-01T12:00:00+03:00")
JAN = dict(date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 1, 31), as_of=AS_OF)

STATUSES = pd.DataFrame(
    {
        "entity_id": ["DEAL_STAGE"] * 5 + ["DEAL_STAGE_1"] * 3,
        "status_id": ["NEW", "PREP", "INVOICE", "WON", "LOSE", "C1:NEW", "C1:WON", "C1:LOSE"],
        "sort": [10, 20, 30, 40, 50, 10, 20, 30],
        "semantics": ["P", "P", "P", "S", "F", "P", "S", "F"],
    }
)
CUR = pd.DataFrame({"currency": ["RUB", "USD"], "amount_cnt": [1, 1], "amount": [1.0, 90.0], "base": [True, False]})


def t(s):
    return f"2026-{s}:00+03:00"


DEALS = pd.DataFrame(
    {
        "id": [1, 2, 3, 4, 5, 6, 8, 9, 10],
        "title": ["Станок", "Пресс", "Линия", "Запчасти", "Экспорт", "Старый", "Поздний", "Счёт", "Мелкий"],
        "category_id": [0, 0, 0, 0, 1, 0, 0, 0, 0],
        "stage_id": ["WON", "LOSE", "PREP", "NEW", "C1:WON", "WON", "LOSE", "WON", "LOSE"],
        "stage_semantic_id": ["S", "F", "P", "P", "S", "S", "F", "S", "F"],
        "opportunity": [100.0, 50.0, None, 10.0, 2.0, 70.0, 30.0, 40.0, 20.0],
        "currency_id": ["RUB", "RUB", "RUB", "USD", "USD", "RUB", "RUB", "RUB", "RUB"],
        "assigned_by_id": [7, 7, 8, 8, 9, 7, 9, 8, 7],
        "date_create": [t("01-01T10:00"), t("01-02T10:00"), t("01-05T00:00"), t("01-20T12:00"), t("01-15T00:00"),
                        "2025-12-31T23:00:00+03:00", "2026-01-31T23:59:59+03:00", t("01-10T00:00"), t("01-03T00:00")],
        "moved_time": [None, None, None, None, t("01-25T00:00"), None, "2026-02-02T23:59:59+03:00", None, None],
        "closedate": [None, None, None, None, None, None, None, None, "2026-01-04"],
    }
)
HISTORY = pd.DataFrame(
    {
        "id": range(1, 15),
        "owner_id": [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 9, 9, 9],
        "stage_id": ["NEW", "PREP", "INVOICE", "WON", "NEW", "PREP", "PREP", "LOSE", "NEW", "INVOICE", "PREP",
                     "NEW", "INVOICE", "WON"],
        "stage_semantic_id": ["P", "P", "P", "S", "P", "P", "P", "F", "P", "P", "P", "P", "P", "S"],
        "created_time": [t("01-01T10:00"), t("01-03T10:00"), t("01-06T10:00"), t("01-11T10:00"),
                         t("01-02T10:00"), t("01-04T10:00"), t("01-05T10:00"), t("01-09T10:00"),
                         t("01-05T00:00"), t("01-07T00:00"), t("01-10T00:00"),
                         t("01-10T00:00"), t("02-10T00:00"), t("03-05T00:00")],
    }
)
USERS = pd.DataFrame({"id": [7, 8, 9], "name": ["Анна", "Борис", "Вера"], "uf_department": [[2], [3], [3]]})
DEPTS = pd.DataFrame({"id": [1, 2, 3], "name": ["Продажи", "Москва", "Регионы"], "parent": [None, 1, None]})


def ds():
    return Dataset.from_frames(deals=DEALS, deal_stage_history=HISTORY, statuses=STATUSES, currencies=CUR,
                               users=USERS, departments=DEPTS, timezone=TZ)


def rows(df, key):
    return {r[key] if not isinstance(key, tuple) else tuple(r[k] for k in key): r for r in df.to_dict("records")}


def test_stages_current_reached_and_conversions():
    tables, _, _ = f.report_tables(ds(), Scope.build(ds(), **JAN))
    st = tables["stages"]
    assert list(st.columns) == f.STAGES_COLUMNS
    # path first, then lost; pipeline 0 then 1
    assert st["stage_id"].tolist() == ["NEW", "PREP", "INVOICE", "WON", "LOSE", "C1:NEW", "C1:WON", "C1:LOSE"]
    r = rows(st, "stage_id")
    # cohort of pipeline 0: deals 1,2,3,4,8,9,10 = 7 (6 is created in Dec)
    # reached idx: 1→3, 2→1, 3→2, 4→0, 8→-1, 9→2, 10→-1
    # reached(NEW)=5 (1,2,3,4,9), reached(PREP)=4 (1,2,3,9), reached(INVOICE)=3 (1,3,9), reached(WON)=1
    assert [r[s]["reached"] for s in ["NEW", "PREP", "INVOICE", "WON"]] == [5, 4, 3, 1]
    # from prev: 5/7=71.43%→71.4, 4/5=80.0, 3/4=75.0, 1/3=33.33→33.3
    assert [r[s]["conversion_from_prev_pct"] for s in ["NEW", "PREP", "INVOICE", "WON"]] == [71.4, 80.0, 75.0, 33.3]
    # to won (only deal 1 won): 1/5=20.0, 1/4=25.0, 1/3=33.3, 1/1=100.0
    assert [r[s]["conversion_to_won_pct"] for s in ["NEW", "PREP", "INVOICE", "WON"]] == [20.0, 25.0, 33.3, 100.0]
    # now: NEW deal 4 (10 USD × 90 = 900), PREP deal 3 (empty → 0), INVOICE deal 9 (its WON move is after
    # as_of), WON deal 1 (100), LOSE deals 2, 8, 10 (50 + 30 + 20 = 100)
    assert [(r[s]["current_deals"], r[s]["current_amount"]) for s in ["NEW", "PREP", "INVOICE", "WON", "LOSE"]] == [
        (1, 900.0), (1, 0.0), (1, 40.0), (1, 100.0), (3, 100.0)]
    assert pd.isna(r["LOSE"]["reached"])  # lost stages are not on the progress path
    assert r["LOSE"]["conversion_from_prev_pct"] is None and r["LOSE"]["conversion_to_won_pct"] is None
    # pipeline 1: one deal (5), won without history → reached every stage: 1/1 = 100 everywhere
    assert (r["C1:NEW"]["reached"], r["C1:NEW"]["conversion_from_prev_pct"], r["C1:NEW"]["conversion_to_won_pct"]) == (1, 100.0, 100.0)
    assert (r["C1:WON"]["current_deals"], r["C1:WON"]["current_amount"]) == (1, 180.0)  # 2 USD × 90
    assert r["C1:LOSE"]["current_deals"] == 0


def test_managers_counts_win_rate_and_cycle():
    tables, _, _ = f.report_tables(ds(), Scope.build(ds(), **JAN))
    m = tables["managers"]
    assert list(m.columns) == f.MANAGERS_COLUMNS
    # sorted by won_amount desc: 9 (180), 7 (100), 8 (0)
    assert m["employee_id"].tolist() == [9, 7, 8]
    r = rows(m, "employee_id")
    # emp 7: deals 1 (won 100, cycle 01-01 10:00→01-11 10:00 = 10.0 d), 2 (lost, 01-02 10→01-09 10 = 7.0 d),
    # 10 (lost, CLOSEDATE fallback 01-04 00:00 − 01-03 00:00 = 1.0 d). Deal 6 is not in the period.
    # win rate 1/(1+2) = 33.3; mean (10+7+1)/3 = 6.0; median 7.0
    assert {k: r[7][k] for k in f.MANAGERS_COLUMNS[1:]} == {
        "deals": 3, "open_deals": 0, "won_deals": 1, "won_amount": 100.0, "lost_deals": 2,
        "win_rate_pct": 33.3, "avg_cycle_days": 6.0, "median_cycle_days": 7.0}
    # emp 8: deals 3, 4, 9 all open as of as_of → win rate 0/0 → None, no cycle
    assert (r[8]["deals"], r[8]["open_deals"], r[8]["won_deals"], r[8]["lost_deals"]) == (3, 3, 0, 0)
    assert r[8]["won_amount"] == 0.0
    assert r[8]["win_rate_pct"] is None and r[8]["avg_cycle_days"] is None and r[8]["median_cycle_days"] is None
    # emp 9: deal 5 won (MOVED_TIME 01-25 00:00 − 01-15 00:00 = 10.0 d, 180), deal 8 lost
    # (02-02 23:59:59 − 01-31 23:59:59 = 2.0 d): win rate 1/2 = 50.0, mean 6.0, median 6.0
    assert (r[9]["won_amount"], r[9]["win_rate_pct"], r[9]["avg_cycle_days"], r[9]["median_cycle_days"]) == (180.0, 50.0, 6.0, 6.0)


def test_manager_stages_sparse_in_stage_order():
    tables, _, _ = f.report_tables(ds(), Scope.build(ds(), **JAN))
    ms = tables["manager_stages"]
    assert list(ms.columns) == f.MANAGER_STAGES_COLUMNS
    got = [tuple(x) for x in ms[["employee_id", "pipeline_id", "stage_id", "current_deals", "current_amount"]].itertuples(index=False)]
    assert got == [
        (7, 0, "WON", 1, 100.0), (7, 0, "LOSE", 2, 70.0),            # deals 2 + 10: 50 + 20
        (8, 0, "NEW", 1, 900.0), (8, 0, "PREP", 1, 0.0), (8, 0, "INVOICE", 1, 40.0),
        (9, 0, "LOSE", 1, 30.0), (9, 1, "C1:WON", 1, 180.0),
    ]


def test_deals_list_durations_and_links():
    tables, _, _ = f.report_tables(ds(), Scope.build(ds(), **JAN))
    d = tables["deals"]
    assert list(d.columns) == f.DEALS_COLUMNS
    assert d["id"].tolist() == [1, 2, 3, 4, 5, 8, 9, 10]
    # closed: cycle; open: as_of 03-01 12:00 − created: deal 3 from 01-05 00:00 = 26 + 28 + 1 days + 12 h = 55.5,
    # deal 4 from 01-20 12:00 = 11 + 28 + 1 = 40.0, deal 9 from 01-10 00:00 = 21 + 28 + 1 days + 12 h = 50.5
    assert d["duration_days"].tolist() == [10.0, 7.0, 55.5, 40.0, 10.0, 2.0, 50.5, 1.0]
    assert d["stage_id"].tolist() == ["WON", "LOSE", "PREP", "NEW", "C1:WON", "LOSE", "INVOICE", "LOSE"]
    assert d["amount"].tolist() == [100.0, 50.0, 0.0, 900.0, 180.0, 30.0, 40.0, 20.0]
    assert d["url"].iloc[0] == "https://demo.bitrix24.ru/crm/deal/details/1/"
    assert pd.isna(d.loc[d["id"] == 9, "closed_at"].iloc[0])
    assert d.loc[d["id"] == 10, "closed_at"].iloc[0] == pd.Timestamp("2026-01-04T00:00:00+03:00")


def test_time_in_stage_mean_visit_length():
    tables, _, _ = f.report_tables(ds(), Scope.build(ds(), **JAN))
    ts = tables["time_in_stage"]
    assert list(ts.columns) == f.TIME_IN_STAGE_COLUMNS
    assert ts["stage_id"].tolist() == ["NEW", "PREP", "INVOICE", "C1:NEW"]  # progress (P) stages only
    r = rows(ts, "stage_id")
    # NEW: deal 1 01-01 10→01-03 10 = 2, deal 2 2, deal 3 01-05→01-07 = 2, deal 9 01-10→02-10 = 31,
    #      deal 4 (open, no history) 01-20 12:00→as_of = 40 → 77/5 = 15.4
    assert (r["NEW"]["visits"], r["NEW"]["avg_days_in_stage"]) == (5, 15.4)
    # PREP: deal 1 3, deal 2 01-04 10→01-09 10 = 5 (the repeated PREP record is one visit),
    #       deal 3 01-10 00:00→as_of = 50.5 → 58.5/3 = 19.5
    assert (r["PREP"]["visits"], r["PREP"]["avg_days_in_stage"]) == (3, 19.5)
    # INVOICE: deal 1 5, deal 3 3, deal 9 02-10 00:00→as_of 03-01 12:00 = 19.5 → 27.5/3 = 9.17 → 9.2
    assert (r["INVOICE"]["visits"], r["INVOICE"]["avg_days_in_stage"]) == (3, 9.2)
    assert r["C1:NEW"]["visits"] == 0 and r["C1:NEW"]["avg_days_in_stage"] is None


def test_warnings_name_empty_opportunity_of_cohort_deals_only():
    _, warnings, _ = f.report_tables(ds(), Scope.build(ds(), **JAN))
    assert warnings == ["deals with empty OPPORTUNITY counted as 0: 3"]
    # deal 3 is created 01-05: a February period has no such deal → no warning
    _, feb, _ = f.report_tables(ds(), Scope.build(ds(), date_from=dt.date(2026, 2, 1), date_to=dt.date(2026, 2, 28), as_of=AS_OF))
    assert feb == []


def test_pipeline_filter():
    tables, _, _ = f.report_tables(ds(), Scope.build(ds(), pipelines=[1], **JAN))
    assert tables["stages"]["stage_id"].tolist() == ["C1:NEW", "C1:WON", "C1:LOSE"]
    assert tables["deals"]["id"].tolist() == [5]
    assert tables["managers"]["employee_id"].tolist() == [9]
    assert tables["managers"]["deals"].tolist() == [1]
    assert tables["time_in_stage"]["stage_id"].tolist() == ["C1:NEW"]


def test_employee_and_department_filters():
    # department 1 includes its child 2, where employee 7 works: deals 1, 2, 10
    tables, _, _ = f.report_tables(ds(), Scope.build(ds(), departments=[1], **JAN))
    assert tables["deals"]["id"].tolist() == [1, 2, 10]
    # first stage: reached 2 (deals 1, 2) of 3 pipeline-0 deals → 66.7
    st = rows(tables["stages"], "stage_id")
    assert st["NEW"]["conversion_from_prev_pct"] == 66.7
    tables, _, _ = f.report_tables(ds(), Scope.build(ds(), employees=[8, 9], departments=[3], **JAN))
    assert tables["managers"]["employee_id"].tolist() == [9, 8]


def test_zero_denominators_are_null():
    # only deal 8 (lost, no history: reached nothing) in the period
    tables, _, _ = f.report_tables(ds(), Scope.build(ds(), date_from=dt.date(2026, 1, 31), date_to=dt.date(2026, 1, 31), as_of=AS_OF))
    st = rows(tables["stages"], "stage_id")
    # NEW: 0 reached of 1 deal → 0.0; to won 0/0 → None; PREP: 0/0 → None
    assert (st["NEW"]["reached"], st["NEW"]["conversion_from_prev_pct"], st["NEW"]["conversion_to_won_pct"]) == (0, 0.0, None)
    assert st["PREP"]["conversion_from_prev_pct"] is None
    assert "C1:NEW" not in st  # pipeline 1 has no cohort deal
    assert tables["time_in_stage"]["stage_id"].tolist() == ["NEW", "PREP", "INVOICE"]


def test_empty_cohort_gives_empty_tables_with_columns():
    tables, warnings, _ = f.report_tables(ds(), Scope.build(ds(), date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 1, 31), as_of=AS_OF))
    assert set(tables) == set(f.TABLES)
    for name, cols in [("stages", f.STAGES_COLUMNS), ("managers", f.MANAGERS_COLUMNS),
                       ("manager_stages", f.MANAGER_STAGES_COLUMNS), ("deals", f.DEALS_COLUMNS),
                       ("time_in_stage", f.TIME_IN_STAGE_COLUMNS)]:
        assert tables[name].empty and list(tables[name].columns) == cols
    assert warnings == []


def test_empty_dataset():
    tables, _, _ = f.report_tables(Dataset.from_frames(timezone=TZ), Scope.build(Dataset.from_frames(timezone=TZ), **JAN))
    assert all(tables[n].empty for n in f.TABLES)


def test_unknown_stage_gets_own_row_and_warning():
    extra = pd.concat([DEALS, pd.DataFrame({"id": [11], "category_id": [0], "stage_id": ["OLD"], "opportunity": [5.0],
                                            "currency_id": ["RUB"], "assigned_by_id": [8],
                                            "date_create": [t("01-12T00:00")]})], ignore_index=True)
    d = Dataset.from_frames(deals=extra, deal_stage_history=HISTORY, statuses=STATUSES, currencies=CUR, timezone=TZ)
    tables, warnings, _ = f.report_tables(d, Scope.build(d, **JAN))
    st = tables["stages"]
    assert st["stage_id"].tolist()[:6] == ["NEW", "PREP", "INVOICE", "WON", "LOSE", "OLD"]
    old = rows(st, "stage_id")["OLD"]
    assert (old["current_deals"], old["current_amount"], old["conversion_to_won_pct"]) == (1, 5.0, None)
    assert any("stage missing from crm.status.list" in w and "11" in w for w in warnings)


def test_bad_parameters_name_the_input():
    with pytest.raises(BadParameter, match="date_from"):
        f.report_tables(ds(), Scope.build(ds(), date_from=dt.date(2026, 2, 1), date_to=dt.date(2026, 1, 1), as_of=AS_OF))
    with pytest.raises(BadParameter, match="currency"):
        f.report_tables(ds(), Scope.build(ds(), currency="EUR", **JAN))


def test_report_currency_conversion():
    tables, _, _ = f.report_tables(ds(), Scope.build(ds(), currency="USD", **JAN))
    # deal 4: 10 USD stays 10; deal 1: 100 RUB / 90 = 1.11
    d = rows(tables["deals"], "id")
    assert (d[4]["amount"], d[1]["amount"]) == (10.0, 1.11)


def test_report_timezone_moves_period_bounds():
    # in UTC deal 8 (01-31 23:59:59 +03:00 = 20:59:59 UTC) is still in January; deal 6
    # (2025-12-31 23:00 +03:00 = 20:00 UTC Dec 31) still out; times come out in UTC
    import datetime as _dt
    tables, _, _ = f.report_tables(ds(), Scope.build(ds(), tz=_dt.timezone.utc, **JAN))
    d = rows(tables["deals"], "id")
    assert 8 in d and 6 not in d
    assert d[1]["created"] == pd.Timestamp("2026-01-01T07:00:00+00:00")
    assert str(d[1]["created"].tz) == "UTC"
    # a UTC+10 report: deal 8 is created 02-01 06:59:59 local → out of January
    tables, _, _ = f.report_tables(ds(), Scope.build(ds(), tz=_dt.timezone(_dt.timedelta(hours=10)), **JAN))
    assert 8 not in set(tables["deals"]["id"])


def test_deal_visits_is_stage_visits_of_any_subset(demo_dataset, demo_as_of):
    """The cached visits of every deal, picked by id, equal stage_visits computed on the subset
    itself (same rows, same order), and follow the zone of as_of even for the same instant."""
    from b24reports.metrics import common as c

    as_of = c.to_timestamp(demo_as_of, demo_dataset.timezone)
    facts, _ = deal_facts(demo_dataset, as_of)
    sub = facts[(facts["employee_id"] == facts["employee_id"].iloc[0]) | (facts["outcome"] == c.OPEN)].iloc[::3]
    stages = c.stage_order(demo_dataset.statuses, None)
    want = f.stage_visits(sub, demo_dataset.deal_stage_history, stages, as_of)
    got = f.deal_visits(demo_dataset, sub, as_of)
    assert len(sub) > 50 and len(want) > len(sub)
    pd.testing.assert_frame_equal(got, want)
    utc = f.deal_visits(demo_dataset, sub, as_of.tz_convert("UTC"))
    assert str(utc["start"].dt.tz) == "UTC" and utc["start"].tolist() == want["start"].tolist()
    assert f.deal_visits(demo_dataset, sub.iloc[:0], as_of).empty


def test_pipeline_stages_cached_per_pipeline_set(demo_dataset):
    from b24reports.metrics import common as c

    pd.testing.assert_frame_equal(c.pipeline_stages(demo_dataset, [1]), c.stage_order(demo_dataset.statuses, [1]))
    pd.testing.assert_frame_equal(c.pipeline_stages(demo_dataset, None), c.stage_order(demo_dataset.statuses, None))
    assert c.pipeline_stages(demo_dataset, [1, 0]).equals(c.pipeline_stages(demo_dataset, (0, 1)))
