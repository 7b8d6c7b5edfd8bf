"""METRICS.md "dynamics" on hand-made data; every expected value computed by hand in comments."""

import datetime as dt

import pandas as pd
import pytest

from b24reports.metrics import forecast
from b24reports.metrics.scope import Scope
from b24reports.reports import parse_timezone
from b24reports.ingest.dataset import Dataset
from b24reports.metrics import common as c
from b24reports.metrics.facts import deal_facts
from b24reports.metrics import dynamics as d

TZ = "+03:00"
STATUSES = pd.DataFrame(
    {
        "entity_id": ["DEAL_STAGE"] * 4 + ["DEAL_STAGE_1"] * 3,
        "status_id": ["NEW", "PROP", "WON", "LOSE", "C1:NEW", "C1:WON", "C1:LOSE"],
        "sort": [10, 20, 30, 40, 10, 20, 30],
        "semantics": ["P", "P", "S", "F", "P", "S", "F"],
    }
)
CUR = pd.DataFrame({"currency": ["RUB", "USD"], "amount_cnt": [1, 1], "amount": [1.0, 90.0], "base": [True, False]})
AS_OF = pd.Timestamp("2026-03-15T12:00:00+03:00")

# id, pipeline, stage, semantic, opportunity, currency, employee, created, moved (= closed_at), closedate
DEALS = [
    (1, 0, "WON", "S", 100, "RUB", 1, "2026-01-05", "2026-01-20", None),
    (2, 0, "WON", "S", 50, "USD", 2, "2026-01-10", "2026-02-10", None),  # 50 USD × 90 = 4500 RUB
    (3, 0, "WON", "S", 1000, "RUB", 1, "2025-02-01", "2025-02-15", None),  # outside the 12-month window
    (4, 0, "LOSE", "F", 700, "RUB", 1, "2026-02-01", "2026-02-20", None),
    (5, 0, "PROP", "P", 2000, "RUB", 1, "2026-02-01", "2026-02-10", "2026-03-31"),
    (6, 0, "NEW", "P", 300, "RUB", 2, "2026-01-20", "2026-01-20", "2026-02-10"),  # overdue
    (7, 1, "C1:NEW", "P", 1000, "RUB", 2, "2026-02-01", "2026-02-01", "2026-04-05"),  # pipeline 1: nothing closed
    (8, 0, "WON", "S", 200, "RUB", 2, "2026-02-25", "2026-03-02", None),
    (9, 0, "NEW", "P", None, "RUB", 3, "2026-03-01", "2026-03-01", None),  # empty OPPORTUNITY, no close date
]


def deals_frame(rows=DEALS):
    return pd.DataFrame(
        [
            {"id": i, "category_id": p, "stage_id": s, "stage_semantic_id": sem, "opportunity": o, "currency_id": cur,
             "assigned_by_id": e, "title": f"Deal {i}", "date_create": f"{cr}T00:00:00+03:00",
             "moved_time": f"{mv}T00:00:00+03:00", "closedate": cd}
            for i, p, s, sem, o, cur, e, cr, mv, cd in rows
        ]
    )


VERSIONS = pd.DataFrame(
    {
        "id": [5, 5, 5, 6, 6, 7, 7, 7],
        "valid_from": ["2026-02-01T10:00:00+03:00", "2026-02-10T10:00:00+03:00", "2026-03-01T10:00:00+03:00",
                       "2026-01-20T10:00:00+03:00", "2026-02-01T10:00:00+03:00",
                       "2026-02-01T10:00:00+03:00", "2026-02-15T10:00:00+03:00", "2026-03-20T10:00:00+03:00"],
        "closedate": ["2026-02-28", "2026-03-15", "2026-03-31", "2026-02-15", "2026-02-10",
                      "2026-03-01", "2026-03-20", "2026-04-05"],
    }
)


def ds():
    return Dataset.from_frames(deals=deals_frame(), statuses=STATUSES, currencies=CUR, deal_versions=VERSIONS, timezone=TZ)


def params(**kw):
    base = {"as_of": AS_OF.to_pydatetime(), "date_from": dt.date(2026, 1, 1), "date_to": dt.date(2026, 3, 31),
            "currency": "RUB", "granularity": "month", "lookback_months": 12, "pipelines": (), "employees": (),
            "departments": ()}
    base.update(kw)
    return base


def run(data, p):
    """The dynamics entry point for a dict of parameters (the report's own two are options)."""
    p = dict(p)
    opts = {k: p.pop(k) for k in ("granularity", "lookback_months")}
    tz = parse_timezone(p.pop("timezone")) if p.get("timezone") else None
    return d.report_tables(data, Scope.build(data, tz=tz, **p), **opts)


@pytest.fixture(scope="module")
def tables():
    return run(ds(), params())


def test_won_by_period_month_prev_and_yoy(tables):
    t, _, _ = tables
    w = t["won_by_period"].set_index("period")
    assert list(w.index) == ["2026-01", "2026-02", "2026-03"]
    # Jan: deal 1 = 100; Dec 2025 and Jan 2025 are 0 → both changes None
    assert w.loc["2026-01", "won_deals"] == 1 and w.loc["2026-01", "won_amount"] == 100
    assert pd.isna(w.loc["2026-01", "change_prev_pct"]) and pd.isna(w.loc["2026-01", "change_yoy_pct"])
    # Feb: deal 2 = 50 USD × 90 = 4500; vs Jan (4500−100)/100 = 4400 %; vs Feb 2025 (deal 3, 1000): 350 %
    assert w.loc["2026-02", "won_amount"] == pytest.approx(4500)
    assert w.loc["2026-02", "avg_deal"] == pytest.approx(4500)
    assert round(w.loc["2026-02", "change_prev_pct"], 1) == 4400.0
    assert round(w.loc["2026-02", "change_yoy_pct"], 1) == 350.0
    # Mar: deal 8 = 200; (200 − 4500)/4500 = −95.56 % → −95.6
    assert round(w.loc["2026-03", "change_prev_pct"], 1) == -95.6


def test_won_by_period_month_without_won_deals_is_zero():
    t = d.won_by_period(deal_facts(ds(), AS_OF)[0], dt.date(2025, 11, 1), dt.date(2025, 12, 31))
    # no won deal in Nov/Dec 2025: zeros, avg_deal None (0 deals), changes None (zero bases)
    assert t["won_deals"].tolist() == [0, 0] and t["won_amount"].tolist() == [0.0, 0.0]
    assert t["avg_deal"].isna().all() and t["change_prev_pct"].isna().all()


def test_won_by_period_quarter_and_year():
    facts = deal_facts(ds(), AS_OF)[0]
    q = d.won_by_period(facts, dt.date(2026, 1, 1), dt.date(2026, 3, 31), "quarter")
    # Q1 2026: 100 + 4500 + 200 = 4800 over 3 deals → avg 1600; Q1 2025: 1000 → yoy +380 %; Q4 2025: 0 → None
    assert q["period"].tolist() == ["2026-Q1"] and q["won_amount"].iloc[0] == pytest.approx(4800)
    assert q["avg_deal"].iloc[0] == pytest.approx(1600) and round(q["change_yoy_pct"].iloc[0], 1) == 380.0
    y = d.won_by_period(facts, dt.date(2025, 1, 1), dt.date(2026, 12, 31), "year")
    # 2025: 1000 (deal 3); 2026: 4800 → +380 % vs previous (= year-ago) bucket
    assert y["period"].tolist() == ["2025", "2026"] and y["won_amount"].tolist() == pytest.approx([1000, 4800])
    assert round(y["change_prev_pct"].iloc[1], 1) == 380.0


def test_won_by_period_employee(tables):
    t = tables[0]["won_by_period_employee"]
    e1 = t[t["employee_id"] == 1].set_index("period")
    e2 = t[t["employee_id"] == 2].set_index("period")
    assert sorted(t["employee_id"].unique()) == [1, 2]  # employee 3 won nothing
    # employee 1: Jan 100, Feb 0 → −100 % vs Jan and −100 % vs Feb 2025 (1000)
    assert e1["won_amount"].tolist() == [100, 0, 0]
    assert e1.loc["2026-02", "change_prev_pct"] == -100.0 and e1.loc["2026-02", "change_yoy_pct"] == -100.0
    # employee 2: Feb 4500 (Jan 0 → None), Mar 200 → −95.6 %
    assert pd.isna(e2.loc["2026-02", "change_prev_pct"])
    assert round(e2.loc["2026-03", "change_prev_pct"], 1) == -95.6


def test_forecast_pipeline_weighted_by_pipeline_win_rate(tables):
    t, warns, _ = tables
    f = t["forecast_pipeline"].set_index("month")
    assert list(f.index) == ["overdue", "2026-03", "2026-04", "no_date"]
    # pipeline 0 closed in (2025-03-15, 2026-03-15]: 1, 2, 8 won, 4 lost → every stage < 5 deals → win rate 3/4
    # deal 6 (closes 2026-02-10 < 2026-03-01): overdue, 300 × 0.75 = 225
    assert f.loc["overdue", "deals"] == 1 and f.loc["overdue", "weighted_amount"] == pytest.approx(225)
    # deal 5 (2026-03-31): 2000 × 0.75 = 1500
    assert f.loc["2026-03", "amount"] == 2000 and f.loc["2026-03", "weighted_amount"] == pytest.approx(1500)
    # deal 7 in pipeline 1 without closed deals: p = 0 and a warning
    assert f.loc["2026-04", "weighted_amount"] == 0 and any("pipeline 1" in w for w in warns)
    # deal 9: no CLOSEDATE, empty OPPORTUNITY counted as 0 and warned by id
    assert f.loc["no_date", "amount"] == 0
    assert any("empty OPPORTUNITY" in w and "9" in w for w in warns)


def test_stage_probability_uses_stage_with_five_closed_deals():
    # 6 closed deals of pipeline 0 in the window: reached PROP (index 1): 4 won + 1 lost; 1 lost at NEW
    facts = pd.DataFrame({"pipeline_id": [0] * 6, "outcome": ["won"] * 4 + ["lost"] * 2,
                          "closed_at": [AS_OF - pd.Timedelta(days=10)] * 6})
    reached = pd.Series([2, 2, 2, 2, 1, 0], dtype="Int64")
    stages = c.stage_order(ds().statuses, [0])
    p, warns = d.stage_probabilities(facts, reached, stages, AS_OF, 12)
    p = p.set_index("stage_id")
    # NEW: 6 reached, 4 won → 0.6667 (stage); PROP: 5 reached, 4 won → 0.8 (stage);
    # WON: 4 reached (<5) → pipeline win rate 4/6
    assert p.loc["NEW", "probability"] == pytest.approx(4 / 6) and p.loc["NEW", "basis"] == "stage"
    assert p.loc["PROP", "probability"] == pytest.approx(0.8) and p.loc["PROP", "basis"] == "stage"
    assert p.loc["WON", "basis"] == "pipeline" and p.loc["WON", "probability"] == pytest.approx(4 / 6)
    assert warns == []


def test_run_rate(tables):
    r = tables[0]["run_rate"].iloc[0]
    # March: deal 8 won 2026-03-02 = 200; elapsed 1 Mar 00:00 → 15 Mar 12:00 = 14.5 days; 200/14.5×31 = 427.59
    assert r["month"] == "2026-03" and r["won_amount_mtd"] == 200 and r["elapsed_days"] == 14.5
    assert r["days_in_month"] == 31 and round(r["run_rate"], 2) == 427.59


def test_velocity(tables):
    v = tables[0]["velocity"].iloc[0]
    # open: 5, 6, 7, 9 = 4; won in window 100, 4500, 200 → avg 1600; win rate 3/4 = 75 %
    # cycles: 15 (Jan 5→20), 31 (Jan 10→Feb 10), 19 (Feb 1→20), 5 (Feb 25→Mar 2) → 17.5 days
    # velocity = 4 × 1600 × 0.75 / 17.5 = 274.29 per day
    assert v["open_deals"] == 4 and v["avg_won_amount"] == pytest.approx(1600)
    assert v["win_rate_pct"] == 75.0 and v["avg_cycle_days"] == pytest.approx(17.5)
    assert round(v["velocity_per_day"], 2) == 274.29


def test_velocity_zero_denominators():
    facts = pd.DataFrame({"outcome": ["open"], "closed_at": pd.Series([pd.NaT], dtype="datetime64[ns, UTC]"),
                          "created": [AS_OF], "amount": [10.0]})
    v = d.velocity(facts, AS_OF)
    assert v == {"open_deals": 1, "avg_won_amount": None, "win_rate_pct": None, "avg_cycle_days": None,
                 "velocity_per_day": None}


def test_close_date_slips_counts_later_moves_up_to_as_of(tables):
    s = tables[0]["close_date_slips"]
    # deal 5: 02-28 → 03-15 → 03-31 = 2 slips; deal 6 moved earlier (0); deal 7: 03-01 → 03-20 (1 by as_of;
    # the 03-20 version after as_of is ignored)
    assert s["id"].tolist() == [5] and s["slips"].tolist() == [2]
    assert s["first_closedate"].iloc[0] == "2026-02-28" and s["closedate"].iloc[0] == "2026-03-31"


def test_monthly_history_full_months_and_trend_gate():
    facts = deal_facts(ds(), AS_OF)[0]
    h = d.monthly_won_history(facts, AS_OF)
    # first deal created 2025-02-01 00:00 → Feb 2025 is full; up to Feb 2026: 13 months
    assert list(h.index)[0] == "2025-02" and list(h.index)[-1] == "2026-02" and len(h) == 13
    assert h["2025-02"] == 1000 and h["2026-01"] == 100 and h["2026-02"] == pytest.approx(4500) and h["2025-06"] == 0
    t, backtest, record, note = d.forecast_trend(h.iloc[:11])
    assert t.empty and backtest.empty and record is None and "11 full months" in note


def test_forecast_trend_constant_series():
    h = pd.Series([1000.0] * 14, index=[f"{y}-{m:02d}" for y, m in [(2025, i) for i in range(1, 13)] + [(2026, 1), (2026, 2)]])
    t, backtest, record, note = d.forecast_trend(h)
    assert note is None and t["month"].tolist() == ["2026-03", "2026-04", "2026-05"]
    # 14 months: "last month" and "mean of 3" take part, both never miss → their mean, 1000
    # exactly, a zero-width band, MAPE 0
    assert t["forecast"].tolist() == t["lower_80"].tolist() == t["upper_80"].tolist() == [1000.0] * 3
    assert t["mape_pct"].tolist() == [0.0] * 3 and record.method == "naive+mean3"
    assert backtest.to_dict("records") == [{"method": "naive", "mase": 0.0, "in_forecast": True},
                                           {"method": "mean3", "mase": 0.0, "in_forecast": True},
                                           {"method": "combination", "mase": 0.0, "in_forecast": True}]


def test_forecast_trend_fits_a_series_once_per_process():
    # a series seen before (a viewer going back to a filter) reuses its backtest: same rows, no refit
    h = pd.Series([100.0, 120, 90, 130, 150, 140, 160, 170, 150, 180, 200, 190, 210],
                  index=[f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01"])
    first = d.forecast_trend(h)[0]
    before = forecast._backtest.cache_info()
    again = d.forecast_trend(h)[0]
    after = forecast._backtest.cache_info()
    assert after.hits - before.hits == 1 and after.misses == before.misses
    pd.testing.assert_frame_equal(first, again)
    first.loc[0, "forecast"] = -1.0  # a caller changing its frame does not change the cache
    assert d.forecast_trend(h)[0]["forecast"].iloc[0] == again["forecast"].iloc[0]


def test_filters_pipeline_and_employee():
    t, _, _ = run(ds(), params(employees=(2,)))
    w = t["won_by_period"].set_index("period")
    # employee 2 only: Feb 4500, Mar 200; Jan 0
    assert w["won_amount"].tolist() == pytest.approx([0, 4500, 200])
    t, _, _ = run(ds(), params(pipelines=(1,)))
    assert t["forecast_pipeline"]["month"].tolist() == ["2026-04"] and t["won_by_period"]["won_amount"].sum() == 0


def test_empty_dataset():
    e = Dataset.from_frames(statuses=STATUSES, currencies=CUR, timezone=TZ)
    t, warns, _ = run(e, params())
    assert t["forecast_pipeline"].empty and t["forecast_trend"].empty and t["close_date_slips"].empty
    assert t["won_by_period"]["won_deals"].tolist() == [0, 0, 0]
    assert t["run_rate"].iloc[0]["run_rate"] == 0.0


def test_report_timezone_moves_month_buckets():
    # won 2026-02-01 01:00 +03:00 = 2026-01-31 22:00 UTC: February in portal time, January in UTC
    rows = [(1, 0, "WON", "S", 100, "RUB", 1, "2026-01-05", "2026-01-20", None)]
    deals = deals_frame(rows).assign(moved_time="2026-02-01T01:00:00+03:00")
    e = Dataset.from_frames(deals=deals, statuses=STATUSES, currencies=CUR, timezone=TZ)
    portal = run(e, params(date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 2, 28)))[0]["won_by_period"]
    utc = run(e, params(date_from=dt.date(2026, 1, 1), date_to=dt.date(2026, 2, 28), timezone="+00:00"))[0]["won_by_period"]
    assert portal["won_deals"].tolist() == [0, 1] and utc["won_deals"].tolist() == [1, 0]


def test_unknown_currency_is_a_bad_parameter():
    from b24reports.core.errors import BadParameter

    with pytest.raises(BadParameter, match="currency"):
        run(ds(), params(currency="EUR"))


def test_employee_filter_keeps_pipeline_probabilities():
    t, _, _ = run(ds(), params(employees=(1,)))
    f = t["forecast_pipeline"].set_index("month")
    # employee 1 alone closed deals 1 (won) and 4 (lost) → 50 %, but p is the pipeline's: 3/4 → 2000 × 0.75
    assert list(f.index) == ["2026-03"] and f.loc["2026-03", "weighted_amount"] == pytest.approx(1500)
    assert t["velocity"].iloc[0]["win_rate_pct"] == 50.0  # velocity is the filtered people's own
