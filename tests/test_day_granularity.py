"""Granularity ``day`` (issue 7: drill down month → day on time charts), values by hand.

``day`` is an extension of METRICS.md's month | quarter | year: keys ``YYYY-MM-DD`` in
portal/report time, ``change_prev_pct`` vs the previous calendar day, ``change_yoy_pct`` vs the
same calendar date a year before (29 February → 28 February).
"""

import datetime as dt

import pandas as pd
import pytest

from b24reports.ingest.dataset import Dataset
from b24reports.metrics.scope import Scope
from b24reports.core.errors import BadParameter
from b24reports.metrics import common as c
from b24reports.metrics import dynamics as d
from b24reports.metrics import tasks as mt
from b24reports.views import dynamics as vd
from b24reports.views import tasks as vt

TZ = "+03:00"


# ---------------------------------------------------------------------------- common


def test_day_keys_in_portal_time():
    ts = pd.Series(pd.to_datetime(["2026-03-02T20:59:59Z", "2026-03-02T21:30:00Z", None], utc=True)
                   ).dt.tz_convert(Dataset.from_frames(timezone=TZ).timezone)
    # 2026-03-02 23:59:59 +03:00 is still the 2nd; 00:30 +03:00 (= 2026-03-02 21:30 UTC) is the 3rd
    assert c.period_key(ts, "day").tolist() == ["2026-03-02", "2026-03-03", None]


def test_day_buckets_inclusive_across_month_end():
    # 2026 is not a leap year: 27, 28 February, then 1, 2 March = 4 days
    assert c.period_buckets(dt.date(2026, 2, 27), dt.date(2026, 3, 2), "day") == [
        "2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
    # 2028 is a leap year: 28, 29 February, 1 March
    assert c.period_buckets(dt.date(2028, 2, 28), dt.date(2028, 3, 1), "day") == ["2028-02-28", "2028-02-29", "2028-03-01"]
    assert c.period_buckets(dt.date(2026, 5, 7), dt.date(2026, 5, 7), "day") == ["2026-05-07"]
    # month buckets unchanged
    assert c.period_buckets(dt.date(2026, 2, 27), dt.date(2026, 3, 2), "month") == ["2026-02", "2026-03"]


def test_shift_key_day_across_month_and_year_ends():
    assert c.shift_key("2026-02-28", "day", 1) == "2026-03-01"
    assert c.shift_key("2028-02-28", "day", 1) == "2028-02-29"  # leap year
    assert c.shift_key("2025-12-31", "day", 1) == "2026-01-01"
    assert c.shift_key("2026-01-01", "day", -1) == "2025-12-31"
    assert c.shift_key("2026-03-01", "day", -29) == "2026-01-31"  # 28 days of Feb + 1


def test_year_ago_key_every_granularity():
    assert c.year_ago_key("2028-02-29", "day") == "2027-02-28"
    assert c.year_ago_key("2028-02-28", "day") == "2027-02-28"
    assert c.year_ago_key("2026-03-01", "day") == "2025-03-01"
    assert c.year_ago_key("2026-03", "month") == "2025-03"
    assert c.year_ago_key("2026-01", "month") == "2025-01"
    assert c.year_ago_key("2026-Q1", "quarter") == "2025-Q1"
    assert c.year_ago_key("2026", "year") == "2025"


@pytest.mark.parametrize("fn", [lambda: c.period_key(pd.Series(pd.to_datetime(["2026-01-01"])), "week"),
                                lambda: c.period_buckets(dt.date(2026, 1, 1), dt.date(2026, 1, 2), "week"),
                                lambda: c.shift_key("2026-01-01", "week", 1),
                                lambda: c.year_ago_key("2026-01-01", "week")])
def test_unknown_granularity_lists_day(fn):
    with pytest.raises(ValueError, match="month, quarter, year or day"):
        fn()


# ---------------------------------------------------------------------------- dynamics


def won_facts(rows):
    """Minimal deal_facts rows: (id, employee, outcome, won_at, amount)."""
    return pd.DataFrame({
        "id": [r[0] for r in rows],
        "employee_id": pd.Series([r[1] for r in rows], dtype="Int64"),
        "outcome": [r[2] for r in rows],
        "won_at": pd.Series(pd.to_datetime([r[3] for r in rows])).dt.tz_convert(Dataset.from_frames(timezone=TZ).timezone),
        "amount": [float(r[4]) for r in rows],
    })


FACTS = won_facts([
    (1, 1, "won", "2026-03-01T10:00:00+03:00", 100),
    (2, 2, "won", "2026-03-02T09:00:00+03:00", 300),
    (3, 1, "won", "2026-03-02T23:59:59+03:00", 200),
    (4, 1, "won", "2025-03-02T12:00:00+03:00", 250),  # the same date a year before
    (5, 1, "won", "2026-02-28T12:00:00+03:00", 50),  # the day before the period
    (6, 1, "lost", "2026-03-03T12:00:00+03:00", 999),  # not won: never counted
    (7, 2, "won", "2026-03-03T00:30:00+03:00", 40),  # 2026-03-02 21:30 UTC: the 3rd in portal time
])


def vals(r, *cols):
    """Values of row ``r`` with a missing value (NaN in a float column) as None."""
    return tuple(None if pd.isna(r[k]) else r[k] for k in cols)


def test_won_by_period_day_hand_computed():
    w = d.won_by_period(FACTS, dt.date(2026, 3, 1), dt.date(2026, 3, 4), "day").set_index("period")
    assert list(w.index) == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    # 03-01: deal 1 → 1 deal, 100; prev day 02-28 = 50 → (100−50)/50 = +100 %; 2025-03-01 nothing → None
    r = w.loc["2026-03-01"]
    assert vals(r, "won_deals", "won_amount", "avg_deal", "change_prev_pct", "change_yoy_pct") == (1, 100.0, 100.0, 100.0, None)
    # 03-02: deals 2 + 3 → 2 deals, 500, avg 250; vs 100 → +400 %; vs 2025-03-02 = 250 → +100 %
    r = w.loc["2026-03-02"]
    assert vals(r, "won_deals", "won_amount", "avg_deal", "change_prev_pct", "change_yoy_pct") == (2, 500.0, 250.0, 400.0, 100.0)
    # 03-03: deal 7 only (deal 6 lost) → 1, 40; vs 500 → (40−500)/500 = −92 %; yoy base 0 → None
    r = w.loc["2026-03-03"]
    assert vals(r, "won_deals", "won_amount", "change_prev_pct", "change_yoy_pct") == (1, 40.0, -92.0, None)
    # 03-04: empty → zeros, avg None; vs 40 → −100 %
    r = w.loc["2026-03-04"]
    assert vals(r, "won_deals", "won_amount", "avg_deal", "change_prev_pct") == (0, 0.0, None, -100.0)


def test_won_by_period_day_by_employee():
    e = d.won_by_period(FACTS, dt.date(2026, 3, 1), dt.date(2026, 3, 4), "day", by_employee=True)
    # employee 1: 03-01 100 (deal 1), 03-02 200 (deal 3), then 0, 0
    # employee 2: 0, 300 (deal 2), 40 (deal 7), 0
    assert e[e["employee_id"] == 1]["won_amount"].tolist() == [100.0, 200.0, 0.0, 0.0]
    assert e[e["employee_id"] == 2]["won_amount"].tolist() == [0.0, 300.0, 40.0, 0.0]
    r = e[(e["employee_id"] == 2) & (e["period"] == "2026-03-03")].iloc[0]
    # employee 2, 03-03: (40 − 300) / 300 × 100 = −86.666…
    assert r["change_prev_pct"] == pytest.approx(-86.6667, abs=1e-4)
    r = e[(e["employee_id"] == 1) & (e["period"] == "2026-03-02")].iloc[0]
    # employee 1, 03-02: vs 100 → +100 %; vs 2025-03-02 (deal 4, 250) → (200−250)/250 = −20 %
    assert (r["change_prev_pct"], r["change_yoy_pct"]) == (100.0, -20.0)


def test_won_by_period_day_29_february_vs_28_february():
    f = won_facts([(1, 1, "won", "2027-02-28T12:00:00+03:00", 200),
                   (2, 1, "won", "2028-02-28T12:00:00+03:00", 100),
                   (3, 1, "won", "2028-02-29T12:00:00+03:00", 300)])
    w = d.won_by_period(f, dt.date(2028, 2, 28), dt.date(2028, 2, 29), "day").set_index("period")
    # both 2028-02-28 and 2028-02-29 compare with 2027-02-28 (200): (100−200)/200 = −50 %, (300−200)/200 = +50 %
    assert w["change_yoy_pct"].tolist() == [-50.0, 50.0]
    # 02-29 vs the previous day 02-28: (300−100)/100 = +200 %
    assert w.loc["2028-02-29", "change_prev_pct"] == 200.0


def test_won_by_period_month_yoy_still_twelve_months_back():
    # year_ago_key replaced the per-year shift: 2026-03 vs 2025-03 (deal 4, 250)
    # 2026-03 = deals 1, 2, 3, 7 = 100 + 300 + 200 + 40 = 640 → (640−250)/250 = +156 %
    w = d.won_by_period(FACTS, dt.date(2026, 3, 1), dt.date(2026, 3, 31), "month")
    assert w["won_amount"].tolist() == [640.0] and w["change_yoy_pct"].tolist() == [156.0]
    # vs 2026-02 (deal 5, 50): (640 − 50)/50 = +1180 %
    assert w["change_prev_pct"].tolist() == [1180.0]


# ---------------------------------------------------------------------------- spec runs


STATUSES = pd.DataFrame({"entity_id": ["DEAL_STAGE"] * 3, "status_id": ["NEW", "WON", "LOSE"],
                         "sort": [10, 20, 30], "semantics": ["P", "S", "F"]})


def _deals(rows):
    return pd.DataFrame([{"id": i, "category_id": 0, "stage_id": "WON", "stage_semantic_id": "S", "opportunity": o,
                          "currency_id": "RUB", "assigned_by_id": 1, "title": f"Deal {i}",
                          "date_create": "2028-01-10T10:00:00+03:00", "moved_time": mv} for i, o, mv in rows])


def test_spec_dynamics_day_one_month():
    from b24reports.reports.specs.dynamics import SPEC

    ds = Dataset.from_frames(deals=_deals([(1, 100, "2028-02-01T10:00:00+03:00"), (2, 400, "2028-02-29T18:00:00+03:00"),
                                           (3, 700, "2028-03-01T09:00:00+03:00")]),
                             statuses=STATUSES, timezone=TZ)
    res = SPEC.run(ds, {"as_of": "2028-03-10T12:00:00+03:00", "date_from": "2028-02-01", "date_to": "2028-02-29",
                        "granularity": "day"})
    w = res.tables["won_by_period"]
    # February 2028 has 29 days → 29 rows, 01 .. 29; deal 3 (1 March) is outside
    assert len(w) == 29 and w["period"].iloc[0] == "2028-02-01" and w["period"].iloc[-1] == "2028-02-29"
    assert w.loc[w["won_amount"] > 0, "period"].tolist() == ["2028-02-01", "2028-02-29"]
    assert w["won_amount"].sum() == 500.0  # 100 + 400, the same as the month's total
    # 02-02 vs 02-01 (100): −100 %
    assert w.loc[w["period"] == "2028-02-02", "change_prev_pct"].iloc[0] == -100.0
    e = res.tables["won_by_period_employee"]
    assert len(e) == 29 and set(e["employee_id"]) == {1}


def test_spec_granularity_day_accepted_and_unknown_refused():
    from b24reports.reports.specs.dynamics import SPEC as DYN
    from b24reports.reports.specs.tasks import SPEC as TASKS

    assert DYN.parse_params({"granularity": "day"}).granularity == "day"
    assert TASKS.parse_params({"granularity": "day"}).granularity == "day"
    with pytest.raises(BadParameter, match="granularity.*month, quarter, year, day"):
        DYN.parse_params({"granularity": "week"})
    # the default stays METRICS.md's month
    assert DYN.parse_params({}).granularity == "month" and TASKS.parse_params({}).granularity == "month"


# ---------------------------------------------------------------------------- tasks


def _tasks(rows):
    """(id, responsible, deadline, date_start, closed_date), all +03:00; created 2026-09-20."""
    t = lambda s: None if s is None else f"{s}+03:00"  # noqa: E731
    return pd.DataFrame({"id": [r[0] for r in rows], "title": ["x"] * len(rows), "status": [2] * len(rows),
                         "responsible_id": [r[1] for r in rows], "group_id": [None] * len(rows),
                         "created_date": [t("2026-09-20T09:00")] * len(rows), "deadline": [t(r[2]) for r in rows],
                         "date_start": [t(r[3]) for r in rows], "start_date_plan": [None] * len(rows),
                         "closed_date": [t(r[4]) for r in rows]})


TASK_ROWS = [
    # 1: due 10-01 18:00, started 09-30, closed 17:00 → started on time, finished on time
    (1, 1, "2026-10-01T18:00", "2026-09-30T10:00", "2026-10-01T17:00"),
    # 2: due 10-01 23:30, closed 10-02 10:00 without a start → late; start = CLOSED_DATE > deadline → not on time
    (2, 2, "2026-10-01T23:30", None, "2026-10-02T10:00"),
    # 3: due 10-03 10:00, never started, open as of 10-05 → overdue_open + not_started
    (3, 1, "2026-10-03T10:00", None, None),
    # 4: due 10-03 00:30 (+03:00: still the 3rd), started 10-02 09:00, closed 10-02 12:00 → on time both
    (4, 1, "2026-10-03T00:30", "2026-10-02T09:00", "2026-10-02T12:00"),
]
TASK_AS_OF = pd.Timestamp("2026-10-05T12:00:00+03:00")


def test_tasks_by_period_day_hand_computed():
    ds = Dataset.from_frames(tasks=_tasks(TASK_ROWS), timezone=TZ)
    p = c.Period(dt.date(2026, 10, 1), dt.date(2026, 10, 3), ds.timezone)
    bp = mt.report_tables(ds, Scope.build(ds, date_from=p.date_from, date_to=p.date_to, tz=p.tz, as_of=TASK_AS_OF), granularity="day")[0]["by_period"].set_index("period")
    assert list(bp.index) == ["2026-10-01", "2026-10-02", "2026-10-03"]
    # 10-01: tasks 1, 2 → total 2, on time 1, late 1, started on time 1 (task 1);
    # shares 1/2 = 50 %, 50 %; coefficient 100 × 1×1 / 2² = 25 %; executors 1 and 2 → 2/2 = 1.0
    r = bp.loc["2026-10-01"]
    assert (r["total"], r["finished_on_time"], r["finished_late"], r["overdue_open"], r["started_on_time"]) == (2, 1, 1, 0, 1)
    assert (r["started_on_time_pct"], r["finished_on_time_pct"], r["execution_coefficient_pct"], r["tasks_per_executor"]) == (
        50.0, 50.0, 25.0, 1.0)
    # 10-02: no deadline that day → zero counts, null ratios
    r = bp.loc["2026-10-02"]
    assert r["total"] == 0 and r["execution_coefficient_pct"] is None
    # 10-03: tasks 3, 4 → total 2, on time 1 (4), overdue open 1 (3), not started 1 (3), started on time 1 (4);
    # 50 %, 50 %, 25 %; one executor (1) → 2/1 = 2.0
    r = bp.loc["2026-10-03"]
    assert (r["total"], r["finished_on_time"], r["overdue_open"], r["not_started"], r["started_on_time"]) == (2, 1, 1, 1, 1)
    assert (r["execution_coefficient_pct"], r["tasks_per_executor"]) == (25.0, 2.0)


# ---------------------------------------------------------------------------- views


class _Result:
    def __init__(self, tables):
        self.tables, self.notes = tables, {}


def test_period_axis_day_ticks_and_month_unchanged():
    days = c.period_buckets(dt.date(2026, 1, 1), dt.date(2026, 1, 31), "day")
    ax = vd.period_axis(days)
    # 31 keys, at most 11 labels → every ceil(31/11) = 3rd key: 01, 04, …, 31 = 11 labels
    assert ax["tickangle"] == -45 and ax["tickvals"][:2] == ["2026-01-01", "2026-01-04"] and len(ax["tickvals"]) == 11
    assert ax["tickvals"][-1] == "2026-01-31"
    assert ax["categoryarray"] == days
    assert vd.period_axis(["2026-01", "2026-02"]) == {"type": "category"}
    assert vd.period_axis(c.period_buckets(dt.date(2026, 1, 1), dt.date(2026, 1, 10), "day"))["tickvals"] == \
        c.period_buckets(dt.date(2026, 1, 1), dt.date(2026, 1, 10), "day")  # 10 keys: every one labelled


def test_charts_with_day_keys():
    w = d.won_by_period(FACTS, dt.date(2026, 3, 1), dt.date(2026, 3, 31), "day")
    e = d.won_by_period(FACTS, dt.date(2026, 3, 1), dt.date(2026, 3, 31), "day", by_employee=True)
    fig = vd.won_chart(_Result({"won_by_period": w}), "ru")
    assert list(fig.data[0].x) == w["period"].tolist() and len(fig.data[0].x) == 31  # every day has a bar
    assert fig.layout.xaxis.tickangle == -45
    fig = vd.employee_chart(_Result({"won_by_period_employee": e}), "ru")
    assert fig.layout.xaxis.tickangle == -45 and list(fig.layout.xaxis.categoryarray) == w["period"].tolist()
    ds = Dataset.from_frames(tasks=_tasks(TASK_ROWS), timezone=TZ)
    p = c.Period(dt.date(2026, 10, 1), dt.date(2026, 10, 31), ds.timezone)
    bp = mt.report_tables(ds, Scope.build(ds, date_from=p.date_from, date_to=p.date_to, tz=p.tz, as_of=TASK_AS_OF), granularity="day")[0]["by_period"]
    fig = vt.coefficient_by_period(_Result({"by_period": bp}), "ru")
    assert len(fig.data[2].x) == 31 and fig.layout.xaxis.tickangle == -45
    # months: the axis is a plain category axis as before
    wm = d.won_by_period(FACTS, dt.date(2026, 1, 1), dt.date(2026, 3, 31), "month")
    assert vd.won_chart(_Result({"won_by_period": wm}), "ru").layout.xaxis.tickangle is None
