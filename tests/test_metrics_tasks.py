"""METRICS.md "tasks" on hand-made tasks; every expected value computed by hand in comments."""

import datetime as dt

import pandas as pd
import pytest

from b24reports.ingest.dataset import Dataset
from b24reports.metrics.scope import Scope
from b24reports.metrics import common as c
from b24reports.metrics import tasks as m

TZ = "+03:00"
AS_OF = pd.Timestamp("2026-11-15T12:00:00+03:00")
TITLE = "Подготовить коммерческое предложение для клиента"  # 48 chars


def T(s):
    return None if s is None else f"{s}+03:00"


# id, responsible, group, created, deadline, date_start, start_date_plan, closed_date
ROWS = [
    # 1: closed exactly at the deadline → on time; started 10-05 ≤ deadline → started on time
    (1, 1, 5, "2026-10-01T09:00", "2026-10-10T18:00", "2026-10-05T10:00", None, "2026-10-10T18:00"),
    # 2: closed without a start, after the deadline → late; start = CLOSED_DATE 10-13 > deadline → not on time
    (2, 1, 5, "2026-10-01T09:00", "2026-10-12T18:00", None, None, "2026-10-13T09:00"),
    # 3: planned start 10-15 09:00, started 10-15 22:00 < end of that day → started on time; open, overdue
    (3, 1, None, "2026-10-01T09:00", "2026-10-20T18:00", "2026-10-15T22:00", "2026-10-15T09:00", None),
    # 4: never started, open, deadline passed → overdue_open + not_started
    (4, 2, 7, "2026-10-01T09:00", "2026-10-25T18:00", None, None, None),
    # 5: planned start 10-01, started 10-02 10:00 (after end of 10-01) → late start; closed before deadline → on time
    (5, 2, 7, "2026-09-20T09:00", "2026-10-31T18:00", "2026-10-02T10:00", "2026-10-01T09:00", "2026-10-30T12:00"),
    # 6: no deadline, created in the period → no_deadline only
    (6, 2, 7, "2026-10-03T09:00", None, None, None, None),
    # 7: deadline after the period → not in the cohort
    (7, 3, 5, "2026-10-01T09:00", "2026-11-20T18:00", None, None, None),
    # 8: closed after as_of → still open as of as_of, overdue; started 10-01 ≤ deadline → on time
    (8, 1, None, "2026-10-01T09:00", "2026-10-28T18:00", "2026-10-01T10:00", None, "2026-11-20T10:00"),
    # 9: created after as_of → does not exist yet
    (9, 4, 5, "2026-11-16T09:00", "2026-10-30T18:00", None, None, None),
]


def tasks_frame(rows):
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "title": [TITLE] * len(rows),
            "status": [2] * len(rows),
            "responsible_id": [r[1] for r in rows],
            "group_id": [r[2] for r in rows],
            "created_date": [T(r[3]) for r in rows],
            "deadline": [T(r[4]) for r in rows],
            "date_start": [T(r[5]) for r in rows],
            "start_date_plan": [T(r[6]) for r in rows],
            "closed_date": [T(r[7]) for r in rows],
        }
    )


USERS = pd.DataFrame({"id": [1, 2, 3], "name": ["Анна", "Борис", "Вера"], "uf_department": [[2], [1], [3]]})
DEPS = pd.DataFrame({"id": [1, 2, 3], "name": ["Компания", "Продажи", "Склад"], "parent": [None, 1, 1]})


@pytest.fixture
def ds():
    return Dataset.from_frames(tasks=tasks_frame(ROWS), users=USERS, departments=DEPS, timezone=TZ)


@pytest.fixture
def period(ds):
    return c.Period(dt.date(2026, 10, 1), dt.date(2026, 10, 31), ds.timezone)


def row(df, key, value):
    r = df[df[key] == value]
    assert len(r) == 1, (key, value)
    return r.iloc[0].to_dict()


def test_task_flags_edge_cases(ds):
    f = m.task_facts(ds.tasks, AS_OF).set_index("id")
    assert 9 not in f.index  # created after as_of
    # closed exactly at the deadline counts as on time
    assert f.loc[1, "finished_on_time"] and not f.loc[1, "finished_late"]
    # closed without a start: start = CLOSED_DATE (10-13 09:00) > DEADLINE (10-12 18:00)
    assert f.loc[2, "finished_late"] and not f.loc[2, "started_on_time"] and not f.loc[2, "not_started"]
    # started 22:00 on the planned day: before the end of that day
    assert f.loc[3, "started_on_time"] and f.loc[3, "overdue_open"]
    # started the day after the planned day: late start even though before the deadline
    assert not f.loc[5, "started_on_time"] and f.loc[5, "finished_on_time"]
    # closed after as_of: open as of as_of
    assert not f.loc[8, "closed"] and f.loc[8, "overdue_open"]
    # no deadline: no deadline-based flag
    assert not f.loc[6, "has_deadline"] and not f.loc[6, "overdue_open"] and f.loc[6, "not_started"]


def test_employees_table(ds, period):
    tabs = m.report_tables(ds, Scope.build(ds, date_from=period.date_from, date_to=period.date_to, tz=period.tz, as_of=AS_OF))[0]
    e = tabs["employees"]
    assert e["employee_id"].tolist() == [1, 2]  # emp 3's only task is outside the cohort
    r1 = row(e, "employee_id", 1)
    # emp 1: tasks 1,2,3,8 → on time {1}, late {2}, overdue open {3,8}, not started {}, started on time {1,3,8}
    assert {k: r1[k] for k in m.COUNT_COLUMNS + ["no_deadline"]} == {
        "total": 4, "finished_on_time": 1, "finished_late": 1, "overdue_open": 2, "not_started": 0,
        "started_on_time": 3, "no_deadline": 0}
    # 3/4 = 75.0 %, 1/4 = 25.0 %, 0.75 × 0.25 × 100 = 18.75 → 18.8, 4 tasks / 1 executor
    assert (r1["started_on_time_pct"], r1["finished_on_time_pct"], r1["execution_coefficient_pct"], r1["tasks_per_executor"]) == (
        75.0, 25.0, 18.8, 4.0)
    r2 = row(e, "employee_id", 2)
    # emp 2: tasks 4,5 (+6 without deadline) → on time {5}, overdue {4}, not started {4}, started on time {}
    assert {k: r2[k] for k in m.COUNT_COLUMNS + ["no_deadline"]} == {
        "total": 2, "finished_on_time": 1, "finished_late": 0, "overdue_open": 1, "not_started": 1,
        "started_on_time": 0, "no_deadline": 1}
    # 0/2 = 0.0, 1/2 = 50.0, 0 × 0.5 = 0.0
    assert (r2["started_on_time_pct"], r2["finished_on_time_pct"], r2["execution_coefficient_pct"]) == (0.0, 50.0, 0.0)


def test_team_row_and_tasks_per_executor(ds, period):
    t = m.report_tables(ds, Scope.build(ds, date_from=period.date_from, date_to=period.date_to, tz=period.tz, as_of=AS_OF))[0]["team"].iloc[0].to_dict()
    # 6 cohort tasks (1,2,3,4,5,8): on time 2, late 1, overdue 3, not started 1, started on time 3
    assert [t[k] for k in m.COUNT_COLUMNS] == [6, 2, 1, 3, 1, 3]
    # 3/6 = 50.0; 2/6 = 33.3; 0.5 × 0.3333 × 100 = 16.67 → 16.7 (unrounded shares); 6 tasks / 2 executors = 3.0
    assert (t["started_on_time_pct"], t["finished_on_time_pct"], t["execution_coefficient_pct"], t["tasks_per_executor"]) == (
        50.0, 33.3, 16.7, 3.0)
    assert t["no_deadline"] == 1


def test_groups_table(ds, period):
    g = m.report_tables(ds, Scope.build(ds, date_from=period.date_from, date_to=period.date_to, tz=period.tz, as_of=AS_OF))[0]["groups"]
    assert g["group_id"].tolist() == [0, 5, 7]
    g0 = row(g, "group_id", 0)  # tasks 3, 8 (no project): both overdue, both started on time
    assert (g0["total"], g0["overdue_open"], g0["started_on_time"], g0["started_on_time_pct"], g0["finished_on_time_pct"],
            g0["execution_coefficient_pct"]) == (2, 2, 2, 100.0, 0.0, 0.0)
    g5 = row(g, "group_id", 5)  # tasks 1, 2: 1 on time, 1 late; started on time 1 → 50 × 50 = 25.0
    assert (g5["total"], g5["finished_on_time"], g5["finished_late"], g5["execution_coefficient_pct"], g5["tasks_per_executor"]) == (
        2, 1, 1, 25.0, 2.0)
    g7 = row(g, "group_id", 7)  # tasks 4, 5 (+6 without deadline)
    assert (g7["total"], g7["no_deadline"], g7["not_started"]) == (2, 1, 1)


def test_departments_roll_up_sub_departments(ds, period):
    d = m.report_tables(ds, Scope.build(ds, date_from=period.date_from, date_to=period.date_to, tz=period.tz, as_of=AS_OF))[0]["departments"]
    # dept 3 (emp 3) has no cohort task → no row; dept 1 includes its child 2 → the whole team
    assert d["department_id"].tolist() == [1, 2]
    d1, d2 = row(d, "department_id", 1), row(d, "department_id", 2)
    assert (d1["total"], d1["tasks_per_executor"], d1["execution_coefficient_pct"]) == (6, 3.0, 16.7)
    assert (d2["total"], d2["finished_on_time"], d2["execution_coefficient_pct"]) == (4, 1, 18.8)


def test_zero_denominators_give_none():
    r = m.summarize(m.task_facts(Dataset.from_frames(timezone=TZ).tasks, AS_OF))
    assert r["total"] == 0
    assert all(r[k] is None for k in m.RATIO_COLUMNS)


def test_by_period_every_bucket(ds):
    p = c.Period(dt.date(2026, 9, 1), dt.date(2026, 10, 31), ds.timezone)
    bp = m.report_tables(ds, Scope.build(ds, date_from=p.date_from, date_to=p.date_to, tz=p.tz, as_of=AS_OF), granularity="month")[0]["by_period"]
    assert bp["period"].tolist() == ["2026-09", "2026-10"]
    sep, octo = bp.iloc[0].to_dict(), bp.iloc[1].to_dict()
    assert sep["total"] == 0 and sep["execution_coefficient_pct"] is None  # empty bucket: zero counts, null ratios
    assert (octo["total"], octo["execution_coefficient_pct"]) == (6, 16.7)
    bq = m.report_tables(ds, Scope.build(ds, date_from=p.date_from, date_to=p.date_to, tz=p.tz, as_of=AS_OF), granularity="quarter")[0]["by_period"]
    # Q3 holds none of the deadlines, Q4 all six
    assert bq["period"].tolist() == ["2026-Q3", "2026-Q4"] and bq["total"].tolist() == [0, 6]


def test_employee_filter_and_viewer_mode(ds, period):
    only2 = m.report_tables(ds, Scope.build(ds, date_from=period.date_from, date_to=period.date_to, tz=period.tz, as_of=AS_OF, employees={2}))[0]
    assert only2["team"].iloc[0]["total"] == 2
    v = m.report_tables(ds, Scope.build(ds, date_from=period.date_from, date_to=period.date_to, tz=period.tz, as_of=AS_OF), viewer=1)[0]
    assert v["employees"]["employee_id"].tolist() == [1]
    assert set(v["tasks"]["employee_id"]) == {1}
    assert v["team"].iloc[0]["total"] == 6  # team average stays the whole team


def test_task_list_titles_and_links(ds, period):
    lst = m.report_tables(ds, Scope.build(ds, date_from=period.date_from, date_to=period.date_to, tz=period.tz, as_of=AS_OF), title_chars=30)[0]["tasks"]
    # overdue open first (3, 4, 8 by deadline), then late (2), then on time (1, 5)
    assert lst["id"].tolist() == [3, 4, 8, 2, 1, 5]
    assert lst["state"].tolist() == ["overdue_open"] * 3 + ["finished_late"] + ["finished_on_time"] * 2
    assert lst.iloc[0]["title"] == TITLE[:30] + "…"
    assert lst.iloc[0]["url"] == "https://demo.bitrix24.ru/company/personal/user/1/tasks/task/view/3/"
    assert m.report_tables(ds, Scope.build(ds, date_from=period.date_from, date_to=period.date_to, tz=period.tz, as_of=AS_OF), title_chars=0)[0]["tasks"]["title"].isna().all()
    assert m.cut_title("short", 30) == "short"


def test_accumulation_and_growing_backlog():
    # employee 5; as_of 10-15 12:00; period Jul..Oct; month ends Apr..Jun computed for the flag only
    rows = [
        # a: open since March, overdue from Apr end on
        (11, 5, None, "2026-03-01T09:00", "2026-04-10T18:00", None, None, None),
        # b: overdue from May end, closed 09-10
        (12, 5, None, "2026-05-01T09:00", "2026-05-20T18:00", None, None, "2026-09-10T10:00"),
        # c: overdue from Jun end
        (13, 5, None, "2026-06-01T09:00", "2026-06-15T18:00", None, None, None),
        # d: overdue from Jul end
        (14, 5, None, "2026-07-01T09:00", "2026-07-02T18:00", None, None, None),
        # f: created 08-05, deadline 09-30 18:00 (< Sep end 23:59:59), closed 10-01
        (15, 5, None, "2026-08-05T09:00", "2026-09-30T18:00", None, None, "2026-10-01T10:00"),
        # e: created 10-01, deadline after as_of: open, not overdue
        (16, 5, None, "2026-10-01T09:00", "2026-10-20T18:00", None, None, None),
        # employee 6: one task without a deadline created in October
        (17, 6, None, "2026-10-02T09:00", None, None, None, None),
    ]
    ds = Dataset.from_frames(tasks=tasks_frame(rows), timezone=TZ)
    as_of = pd.Timestamp("2026-10-15T12:00:00+03:00")
    p = c.Period(dt.date(2026, 7, 1), dt.date(2026, 10, 31), ds.timezone)
    acc = m.report_tables(ds, Scope.build(ds, date_from=p.date_from, date_to=p.date_to, tz=p.tz, as_of=as_of))[0]["accumulation"]
    e5 = acc[acc["employee_id"] == 5]
    # overdue at Apr..Oct ends: 1, 2, 3, 4 (a b c d), 4 (Aug), 4 (Sep: b closed, f overdue), 3 (Oct: f closed)
    # open: Jul a b c d = 4; Aug + f = 5; Sep a c d f = 4; Oct (t = as_of) a c d e = 4
    assert e5["month"].tolist() == ["2026-07", "2026-08", "2026-09", "2026-10"]
    assert e5["open"].tolist() == [4, 5, 4, 4]
    assert e5["overdue"].tolist() == [4, 4, 4, 3]
    # Jul: 4 > 3 > 2 > 1 → rose at each of the last 3 month ends; Aug: 4 = 4 → no
    assert e5["growing_backlog"].tolist() == [True, False, False, False]
    assert e5["flags"].tolist() == [["growing_backlog"], [], [], []]
    e6 = acc[acc["employee_id"] == 6]
    assert e6["open"].tolist() == [0, 0, 0, 1] and e6["overdue"].tolist() == [0, 0, 0, 0]


def test_accumulation_without_creation_date_or_responsible():
    rows = [
        # no CREATED_DATE: open at every month end; deadline 06-01: overdue at each of them
        (21, 7, None, None, "2026-06-01T18:00", None, None, None),
        # no RESPONSIBLE_ID: counted for nobody (no row)
        (22, None, None, "2026-06-01T09:00", "2026-06-02T18:00", None, None, None),
        # closed exactly at the September month end instant → not open then (closed <= t)
        (23, 7, None, "2026-08-01T09:00", None, None, None, "2026-09-30T23:59:59.999999"),
    ]
    ds = Dataset.from_frames(tasks=tasks_frame(rows), timezone=TZ)
    as_of = pd.Timestamp("2026-10-15T12:00:00+03:00")
    p = c.Period(dt.date(2026, 8, 1), dt.date(2026, 10, 31), ds.timezone)
    acc = m.report_tables(ds, Scope.build(ds, date_from=p.date_from, date_to=p.date_to, tz=p.tz, as_of=as_of))[0]["accumulation"]
    assert acc["employee_id"].tolist() == [7, 7, 7]
    # Aug end: 21 and 23 open; Sep end: 21 only (23 closed at that instant); Oct (as_of): 21
    assert acc["open"].tolist() == [2, 1, 1] and acc["overdue"].tolist() == [1, 1, 1]


def test_month_ends_stop_at_as_of():
    p = c.Period(dt.date(2026, 10, 1), dt.date(2026, 12, 31), dt.timezone(dt.timedelta(hours=3)))
    ends = m.month_ends(p, AS_OF)
    # Jul, Aug, Sep (for the flag), Oct, Nov (t = as_of); December starts after as_of
    assert [k for k, _ in ends] == ["2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
    assert ends[-1][1] == AS_OF
    assert ends[3][1] == pd.Timestamp("2026-10-31T23:59:59.999999+03:00")
