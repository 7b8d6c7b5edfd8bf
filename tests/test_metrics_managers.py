"""managers metrics (METRICS.md "managers") on hand-made data; expected values computed by hand."""

import datetime as dt

import pandas as pd
import pytest

from b24reports.ingest.dataset import Dataset
from b24reports.metrics.scope import Scope
from b24reports.core.errors import BadParameter
from b24reports.metrics import common as c
from b24reports.metrics.facts import activity_facts, deal_facts
from b24reports.metrics import managers as m

TZ = "+03:00"
STATUSES = pd.DataFrame(
    {"entity_id": ["DEAL_STAGE"] * 3, "status_id": ["NEW", "WON", "LOSE"], "sort": [10, 20, 30], "semantics": ["P", "S", "F"]}
)
CUR = pd.DataFrame({"currency": ["RUB"], "amount_cnt": [1], "amount": [1.0], "base": [True]})
AS_OF = pd.Timestamp("2026-11-15T12:00:00+03:00")


def _t(s):
    return f"2026-{s}+03:00"


def _acts():
    rows = [
        # id, responsible, type, direction, completed, start, end
        (1, 1, 2, 2, True, "10-01T10:00:00", "10-01T10:05:00"),  # call out 300 s
        (2, 1, 2, 2, True, "10-02T10:00:00", "10-02T10:00:05"),  # call out 5 s: short
        (3, 1, 2, 1, True, "10-03T10:00:00", "10-03T10:10:00"),  # call in: telephony says 120 s
        (4, 1, 1, 0, True, "10-04T10:00:00", "10-04T11:00:00"),  # meeting
        (5, 1, 4, 2, True, "10-05T10:00:00", "10-05T10:00:00"),  # email out
        (6, 1, 4, 1, True, "10-05T11:00:00", "10-05T11:00:00"),  # email in (not a touch)
        (7, 1, 3, 0, True, "10-06T10:00:00", "10-06T10:00:00"),  # task
        (8, 1, 6, 0, True, "10-07T10:00:00", "10-07T10:00:00"),  # open line: other
        (9, 1, 2, 2, False, "10-08T10:00:00", "10-08T10:01:00"),  # not completed: out
        (10, 1, 2, 2, True, "09-30T23:58:00", "09-30T23:59:00"),  # ended before the period: out
        (11, 2, 2, 2, True, "10-09T10:00:00", "10-09T10:00:03"),  # 3 s short
        (12, 2, 2, 2, True, "10-09T11:00:00", "10-09T11:00:03"),  # 3 s short
        *[(20 + i, 3, 1, 0, True, f"10-1{i}T10:00:00", f"10-1{i}T11:00:00") for i in range(6)],  # 6 meetings
    ]
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "responsible_id": [r[1] for r in rows],
            "type_id": [r[2] for r in rows],
            "direction": [r[3] for r in rows],
            "completed": [r[4] for r in rows],
            "start_time": [_t(r[5]) for r in rows],
            "end_time": [_t(r[6]) for r in rows],
            "owner_type_id": [2] * len(rows),
            "owner_id": [1] * len(rows),
        }
    )


def _deals():
    # id, employee, created, final stage, final time, amount
    rows = [
        (1, 1, "10-02T09:00:00", "WON", "10-20T09:00:00", 1000.0),  # won in period, created in period
        (2, 1, "10-05T09:00:00", None, None, 50.0),  # open, created in period
        (3, 3, "09-10T09:00:00", "WON", "10-03T09:00:00", 100.0),  # won in period, created before
        (4, 2 + 2, "10-10T09:00:00", "WON", "11-05T09:00:00", 5000.0),  # created in period, won after it (before as_of)
        (5, 4, "08-01T09:00:00", "WON", "10-15T09:00:00", 3000.0),
        (6, 2, "10-12T09:00:00", "LOSE", "10-13T09:00:00", 70.0),
        (7, 3, "10-20T09:00:00", "WON", "12-01T09:00:00", 900.0),  # won after as_of: open as of as_of
        (8, 4, "07-01T09:00:00", "WON", "08-10T09:00:00", 500.0),
        (9, 4, "07-01T09:00:00", "WON", "09-10T09:00:00", 200.0),
        (10, 1, "07-01T09:00:00", "WON", "09-20T09:00:00", 200.0),
    ]
    deals = pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "assigned_by_id": [r[1] for r in rows],
            "date_create": [_t(r[2]) for r in rows],
            "category_id": [0] * len(rows),
            "stage_id": [r[3] or "NEW" for r in rows],
            "stage_semantic_id": [{"WON": "S", "LOSE": "F"}.get(r[3], "P") for r in rows],
            "opportunity": [r[5] for r in rows],
            "currency_id": ["RUB"] * len(rows),
        }
    )
    hist_rows = []
    for r in rows:
        hist_rows.append((r[0], _t(r[2]), "NEW", "P"))
        if r[3]:
            hist_rows.append((r[0], _t(r[4]), r[3], "S" if r[3] == "WON" else "F"))
    hist = pd.DataFrame(
        {
            "id": range(1, len(hist_rows) + 1),
            "owner_id": [h[0] for h in hist_rows],
            "created_time": [h[1] for h in hist_rows],
            "stage_id": [h[2] for h in hist_rows],
            "stage_semantic_id": [h[3] for h in hist_rows],
            "category_id": [0] * len(hist_rows),
        }
    )
    return deals, hist


def _ds():
    deals, hist = _deals()
    calls = pd.DataFrame({"id": [1], "crm_activity_id": [3], "call_duration": [120], "portal_user_id": [1], "call_type": [2]})
    return Dataset.from_frames(deals=deals, deal_stage_history=hist, activities=_acts(), calls=calls,
                               statuses=STATUSES, currencies=CUR, timezone=TZ)


def _table(employees=None, weights=None):
    ds = _ds()
    period = c.Period(dt.date(2026, 10, 1), dt.date(2026, 10, 31), ds.timezone)
    facts, _ = deal_facts(ds, AS_OF)
    return m.managers_table(activity_facts(ds), facts, period, AS_OF, employees=employees, weights=weights)


def test_activity_counts_per_kind_durations_and_short_calls():
    t, notes = _table()
    r = t.set_index("employee_id").loc[1]
    # employee 1: calls out #1 #2 (#9 not completed, #10 ended 09-30), call in #3
    assert (r.calls_out, r.calls_in, r.meetings, r.emails_out, r.emails_in, r.tasks, r.other) == (2, 1, 1, 1, 1, 1, 1)
    # minutes: 300 s + 5 s + 120 s (telephony wins over the 600 s of activity times) = 425 s = 7.083 → 7.1
    assert r.call_minutes == 7.1
    # short: only #2 (5 s < 10 s); it stays counted in calls_out
    assert r.short_calls == 1
    # touches = 2 + 1 + 1 meeting + 1 email out + 1 other = 6 (email in and task are not touches)
    assert r.touches == 6
    # weighted = 1×3 calls + 5×1 meeting + 1×1 email + 1×1 other = 10
    assert r.weighted == 10.0
    assert notes["duration_sources"] == {"telephony": 1, "activity": 4, "none": 0}


def test_activity_index_results_conversion_and_flags():
    t, notes = _table()
    t = t.set_index("employee_id")
    assert sorted(t.index.tolist()) == [1, 2, 3, 4]  # employee 4 has deals but no activity
    # weighted: e1 10, e2 2 (two calls), e3 30 (6 meetings × 5), e4 0; mean over > 0 = 42 / 3 = 14
    assert t["weighted"].to_dict() == {1: 10.0, 2: 2.0, 3: 30.0, 4: 0.0}
    # index: 100×10/14 = 71.43 → 71.4; 100×2/14 = 14.29 → 14.3; 100×30/14 = 214.29 → 214.3; 0
    assert t["activity_index"].to_dict() == {1: 71.4, 2: 14.3, 3: 214.3, 4: 0.0}
    # won in October by won_at: e1 deal 1 (1000), e3 deal 3 (100), e4 deal 5 (3000); e2 none
    assert t["won_deals"].to_dict() == {1: 1, 2: 0, 3: 1, 4: 1}
    assert t["won_amount"].to_dict() == {1: 1000.0, 2: 0.0, 3: 100.0, 4: 3000.0}
    # created in October: e1 deals 1, 2; e2 deal 6; e3 deal 7; e4 deal 4
    assert t["created_deals"].to_dict() == {1: 2, 2: 1, 3: 1, 4: 1}
    # won as of as_of: e1 1/2 = 50 %; e2 0/1; e3 deal 7 won only after as_of → 0/1; e4 deal 4 won 11-05 → 1/1
    assert t["conversion_pct"].to_dict() == {1: 50.0, 2: 0.0, 3: 0.0, 4: 100.0}
    # team mean won = (1000 + 0 + 100) / 3 = 366.67 (e4 has weighted 0: left out)
    assert notes["team_mean_won_amount"] == pytest.approx(1100 / 3)
    # e1: index 71.4 ≤ 80 and 1000 ≥ 1.2×366.67 = 440 → efficient; 1 short of 3 calls = 33 % > 30 % → suspicious
    # e2: 2 short of 2 calls → suspicious; won 0 → not efficient
    # e3: index 214.3 ≥ 120 and 100 < 0.8×366.67 = 293.3 → busy_no_result
    # e4: index 0 ≤ 80 and 3000 ≥ 440 → efficient; top won in Aug (500), Sep (200, tie with e1), Oct (3000) → streak
    assert t["flags"].to_dict() == {
        1: ["efficient", "suspicious_calls"],
        2: ["suspicious_calls"],
        3: ["busy_no_result"],
        4: ["efficient", "record_streak"],
    }
    # sorted by won amount desc
    assert t.index.tolist() == [4, 1, 3, 2]


def test_employee_filter_recomputes_team_average():
    t, _ = _table(employees={1, 2})
    t = t.set_index("employee_id")
    # mean weighted over e1, e2 = (10 + 2) / 2 = 6 → 100×10/6 = 166.7, 100×2/6 = 33.3
    assert t["activity_index"].to_dict() == {1: 166.7, 2: 33.3}


def test_one_employee_shown_is_no_record_streak():
    # e4 is on top of the team in Aug, Sep and Oct (test above); shown with e1 he still is, shown
    # alone there is no one to be ahead of: no record_streak (a click on a manager in the dashboard)
    two, _ = _table(employees={1, 4})
    assert "record_streak" in two.set_index("employee_id").loc[4, "flags"]
    one, _ = _table(employees={4})
    assert one["flags"].tolist() == [[]]  # alone and without activity he has no index either: not efficient


def test_custom_weights_and_bad_weights():
    t, _ = _table(weights={"meeting": 2, "call": 0.5})
    # e1: 0.5×3 + 2×1 + 1×1 + 1×1 = 5.5; e3: 2×6 = 12
    assert t.set_index("employee_id")["weighted"].to_dict()[1] == 5.5
    assert t.set_index("employee_id")["weighted"].to_dict()[3] == 12.0
    with pytest.raises(BadParameter, match="activity_weights"):
        m.parse_weights({"calls": 1})
    with pytest.raises(BadParameter, match="activity_weights"):
        m.parse_weights({"call": -1})
    with pytest.raises(BadParameter, match="short_call_seconds"):
        m.activity_counts(activity_facts(_ds()), -1)


def test_no_weighted_activity_gives_null_index_and_no_busy_flags():
    w = pd.Series([0.0, 0.0])
    assert m.activity_index(w).tolist() == [None, None]
    tbl = pd.DataFrame({"employee_id": [1], "weighted": [0.0], "activity_index": [None], "won_amount": [10.0],
                        "short_calls": [0], "calls": [0]})
    flags, mean = m.manager_flags(tbl)
    assert mean is None and flags.tolist() == [[]]


def test_empty_inputs_give_empty_table():
    ds = Dataset.from_frames(statuses=STATUSES, currencies=CUR, timezone=TZ)
    period = c.Period(dt.date(2026, 10, 1), dt.date(2026, 10, 31), ds.timezone)
    facts, _ = deal_facts(ds, AS_OF)
    t, notes = m.managers_table(activity_facts(ds), facts, period, AS_OF)
    assert t.empty and list(t.columns)[: len(m.MANAGER_COLUMNS)] == m.MANAGER_COLUMNS
    assert notes["team_mean_won_amount"] is None


def test_monthly_activity_dynamics():
    ds = _ds()
    period = c.Period(dt.date(2026, 9, 1), dt.date(2026, 10, 31), ds.timezone)
    facts, _ = deal_facts(ds, AS_OF)
    bm = m.monthly_activity(activity_facts(ds), facts, period, [1, 4]).set_index(["employee_id", "month"])
    # e1 September: call #10 (ended 09-30 23:59); won deal 10 (200). October: calls #1 #2, #3 in; won deal 1 (1000)
    assert bm.loc[(1, "2026-09"), ["calls_out", "touches", "won_deals", "won_amount"]].tolist() == [1, 1, 1, 200.0]
    assert bm.loc[(1, "2026-10"), ["calls_out", "calls_in", "touches", "weighted"]].tolist() == [2, 1, 6, 10.0]
    # e4: no activity; won deal 9 (Sep, 200), deal 5 (Oct, 3000)
    assert bm.loc[(4, "2026-09"), ["touches", "won_amount"]].tolist() == [0, 200.0]
    assert bm.loc[(4, "2026-10"), ["touches", "won_amount"]].tolist() == [0, 3000.0]
    assert len(bm) == 4


@pytest.mark.parametrize("pick", ["all", "one", "several"])
def test_report_tables_from_cached_aggregates_equal_direct_tables(demo_dataset, demo_as_of, pick):
    """report_tables aggregates every employee's activities once (cached) and picks rows; that
    must give exactly what managers_table / monthly_activity compute on the filtered activities."""
    ds = demo_dataset
    as_of = c.to_timestamp(demo_as_of, ds.timezone)
    period = c.Period(dt.date(2026, 6, 1), dt.date(2026, 11, 30), ds.timezone)
    facts, _ = deal_facts(ds, as_of, tz=ds.timezone)
    ids = facts["employee_id"].dropna().astype(int).value_counts().index.tolist()
    employees = {"all": None, "one": {ids[0]}, "several": set(ids[1:4]) | {999_999}}[pick]
    tables, _, notes = m.report_tables(ds, Scope.build(ds, date_from=period.date_from, date_to=period.date_to, tz=period.tz, as_of=as_of, employees=employees), short_call_seconds=15)
    acts = activity_facts(ds)
    acts["end_time"] = acts["end_time"].dt.tz_convert(period.tz)
    want, want_notes = m.managers_table(acts, facts, period, as_of, employees=employees, short_call_seconds=15)
    pd.testing.assert_frame_equal(tables["managers"], want)
    assert notes["duration_sources"] == want_notes["duration_sources"] and sum(notes["duration_sources"].values()) > 0
    assert notes["team_mean_won_amount"] == want_notes["team_mean_won_amount"]
    by_month = m.monthly_activity(acts, facts, period, want["employee_id"].tolist())
    pd.testing.assert_frame_equal(tables["by_month"], by_month)
    assert len(want) == {"all": len(want), "one": 1, "several": 3}[pick] and tables["by_month"]["touches"].sum() > 0
