"""Shared definitions (METRICS.md Conventions) on hand-made data; expected values by hand."""

import datetime as dt

import pandas as pd
import pytest

from b24reports.ingest.dataset import Dataset
from b24reports.core.errors import BadParameter
from b24reports.metrics import common as c
from b24reports.metrics.facts import activity_facts, deal_facts, deal_reached, lead_facts, reached_index

TZ = "+03:00"

STATUSES = pd.DataFrame(
    {
        "entity_id": ["DEAL_STAGE"] * 5 + ["DEAL_STAGE_1"] * 3 + ["STATUS"] * 3,
        "status_id": ["NEW", "PREP", "INVOICE", "WON", "LOSE", "C1:NEW", "C1:WON", "C1:LOSE", "NEW", "CONVERTED", "JUNK"],
        "sort": [10, 20, 30, 40, 50, 10, 20, 30, 10, 20, 30],
        "semantics": ["P", "P", "P", "S", "F", "P", "S", "F", "P", "S", "F"],
    }
)
CUR = pd.DataFrame({"currency": ["RUB", "USD"], "amount_cnt": [1, 1], "amount": [1.0, 90.0], "base": [True, False]})


def ds_with(deals, history=None, **kw):
    return Dataset.from_frames(deals=deals, deal_stage_history=history, statuses=STATUSES, currencies=CUR, timezone=TZ, **kw)


def test_period_bounds_inclusive_in_portal_time():
    p = c.Period(dt.date(2026, 1, 1), dt.date(2026, 1, 31), Dataset.from_frames().timezone)
    ts = pd.Series(pd.to_datetime(["2026-01-31T23:59:59+03:00", "2026-02-01T00:00:00+03:00", "2025-12-31T21:00:00+00:00"], utc=True))
    # 23:59:59 on the last day is in; midnight after is out; 21:00 UTC Dec 31 = 00:00 Jan 1 MSK is in
    assert c.Period(p.date_from, p.date_to, p.tz).contains(ts.dt.tz_convert(p.tz)).tolist() == [True, False, True]
    assert p.days == 31


def test_pct_and_ratio_rules():
    assert c.pct(1, 3) == 33.3
    assert c.pct(2, 0) is None
    assert c.ratio(7, 3) == 2.33
    s = c.pct(pd.Series([1, 0, 5]), pd.Series([4, 0, 0]))
    assert s.tolist() == [25.0, None, None]


def test_period_keys_and_buckets():
    ts = pd.Series(pd.to_datetime(["2026-02-15T10:00:00+03:00", "2025-11-01T00:00:00+03:00"]))
    assert c.period_key(ts, "month").tolist() == ["2026-02", "2025-11"]
    assert c.period_key(ts, "quarter").tolist() == ["2026-Q1", "2025-Q4"]
    assert c.period_key(ts, "year").tolist() == ["2026", "2025"]
    # the wall time in the series' zone decides (23:30 UTC on 31 Dec is 1 Jan at +03:00); NaT -> None;
    # the index is kept (a filtered frame's keys align with its rows)
    ts = pd.Series(pd.to_datetime(["2025-12-31T23:30:00+00:00", None, "2025-12-31T20:00:00+00:00"], utc=True)
                   .tz_convert("Etc/GMT-3"), index=[7, 3, 5])
    assert c.period_key(ts, "month").to_dict() == {7: "2026-01", 3: None, 5: "2025-12"}
    assert c.period_key(ts, "quarter").to_dict() == {7: "2026-Q1", 3: None, 5: "2025-Q4"}
    assert c.period_key(ts, "year").to_dict() == {7: "2026", 3: None, 5: "2025"}
    assert c.period_buckets(dt.date(2025, 11, 20), dt.date(2026, 2, 3), "month") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert c.period_buckets(dt.date(2025, 11, 20), dt.date(2026, 2, 3), "quarter") == ["2025-Q4", "2026-Q1"]
    assert c.shift_key("2026-01", "month", -1) == "2025-12"
    assert c.shift_key("2026-Q1", "quarter", -4) == "2025-Q1"


def test_lookback_window_is_calendar_months_open_start():
    as_of = pd.Timestamp("2026-03-31T12:00:00+03:00")
    # 2026-03-31 − 1 month = 2026-02-28 (clipped); window (2026-02-28 12:00, 2026-03-31 12:00]
    ts = pd.Series(pd.to_datetime(["2026-02-28T12:00:00+03:00", "2026-02-28T12:00:01+03:00", "2026-03-31T12:00:01+03:00"]))
    assert c.in_lookback(ts, as_of, 1).tolist() == [False, True, False]


def test_stage_order_progress_path_then_lost():
    so = c.stage_order(Dataset.from_frames(statuses=STATUSES).statuses)
    p0 = so[so.pipeline_id == 0]
    assert p0.stage_id.tolist() == ["NEW", "PREP", "INVOICE", "WON", "LOSE"]
    assert p0.path_index.tolist()[:4] == [0, 1, 2, 3] and pd.isna(p0.path_index.iloc[4])
    assert so[so.pipeline_id == 1].stage_id.tolist() == ["C1:NEW", "C1:WON", "C1:LOSE"]


def test_deal_facts_closed_at_fallbacks_and_money():
    deals = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "category_id": [0, 0, 0, 0, 1],
            "stage_id": ["WON", "LOSE", "WON", "PREP", "C1:WON"],
            "stage_semantic_id": ["S", "F", "S", "P", "S"],
            "opportunity": [100.0, 50.0, None, 10.0, 2.0],
            "currency_id": ["RUB", "RUB", "RUB", "RUB", "USD"],
            "assigned_by_id": [7, 7, 8, 8, 9],
            "date_create": ["2026-01-01T10:00:00+03:00"] * 5,
            "moved_time": [None, "2026-01-20T09:00:00+03:00", None, None, None],
            "closedate": [None, None, "2026-01-25T00:00:00+03:00", None, "2026-01-26T00:00:00+03:00"],
        }
    )
    hist = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "owner_id": [1, 1, 1, 1, 4],
            "created_time": ["2026-01-01T10:00:00+03:00", "2026-01-05T10:00:00+03:00", "2026-01-06T10:00:00+03:00",
                             "2026-01-10T10:00:00+03:00", "2026-01-01T10:00:00+03:00"],
            "stage_id": ["NEW", "LOSE", "PREP", "WON", "NEW"],
            "stage_semantic_id": ["P", "F", "P", "S", "P"],
        }
    )
    ds = ds_with(deals, hist)
    f, warns = deal_facts(ds, pd.Timestamp("2026-02-01T00:00:00+03:00"))
    f = f.set_index("id")
    # deal 1: last S/F record = WON 01-10 (the earlier LOSE was reopened)
    assert f.loc[1, "closed_at"] == pd.Timestamp("2026-01-10T10:00:00+03:00")
    # deal 2: no history -> MOVED_TIME; deal 3: no history, no MOVED_TIME -> CLOSEDATE midnight
    assert f.loc[2, "closed_at"] == pd.Timestamp("2026-01-20T09:00:00+03:00")
    assert f.loc[3, "closed_at"] == pd.Timestamp("2026-01-25T00:00:00+03:00")
    assert pd.isna(f.loc[4, "closed_at"]) and f.loc[4, "outcome"] == "open"
    assert f.loc[2, "outcome"] == "lost" and pd.isna(f.loc[2, "won_at"])
    # USD 2 × 90 = 180 RUB; empty OPPORTUNITY -> 0 and a warning naming deal 3
    assert f.loc[5, "amount"] == 180.0 and f.loc[3, "amount"] == 0.0
    assert warns == ["deals with empty OPPORTUNITY counted as 0: 3"]
    # as_of before the win: deal 1 was in PREP (open) then
    g, _ = deal_facts(ds, pd.Timestamp("2026-01-07T00:00:00+03:00"))
    g = g.set_index("id")
    assert g.loc[1, "outcome"] == "open" and g.loc[1, "stage_id"] == "PREP" and pd.isna(g.loc[1, "closed_at"])
    # report currency USD: 100 RUB = 100/90 USD
    h, _ = deal_facts(ds, pd.Timestamp("2026-02-01T00:00:00+03:00"), currency="USD")
    assert h.set_index("id").loc[1, "amount"] == pytest.approx(100 / 90)
    with pytest.raises(BadParameter, match="currency='EUR'"):
        deal_facts(ds, pd.Timestamp("2026-02-01T00:00:00+03:00"), currency="EUR")


def test_reached_skipped_backward_lost_and_won():
    deals = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "category_id": [0, 0, 0, 0],
            "stage_id": ["LOSE", "PREP", "WON", "LOSE"],
            "stage_semantic_id": ["F", "P", "S", "F"],
            "date_create": ["2026-01-01T10:00:00+03:00"] * 4,
        }
    )
    hist = pd.DataFrame(
        {
            "id": range(1, 7),
            "owner_id": [1, 1, 1, 2, 2, 2],
            # deal 1: NEW -> INVOICE (skips PREP) -> LOSE: reached index 2
            # deal 2: NEW -> INVOICE -> PREP (backward): furthest is still INVOICE (2)
            "stage_id": ["NEW", "INVOICE", "LOSE", "NEW", "INVOICE", "PREP"],
            "stage_semantic_id": ["P", "P", "F", "P", "P", "P"],
            "created_time": [f"2026-01-0{i}T10:00:00+03:00" for i in (1, 2, 3, 1, 2, 3)],
        }
    )
    ds = ds_with(deals, hist)
    as_of = pd.Timestamp("2026-02-01T00:00:00+03:00")
    f, _ = deal_facts(ds, as_of)
    so = c.stage_order(ds.statuses)
    r = reached_index(f, ds.deal_stage_history, so, as_of)
    # deal 3 won without history: reached every stage (WON index 3); deal 4 lost without history: -1
    assert r.tolist() == [2, 2, 3, -1]


def test_departments_include_subdepartments_and_inactive_users():
    deps = pd.DataFrame({"id": [1, 2, 3, 4], "parent": [None, 1, 2, 1]})
    users = pd.DataFrame({"id": [10, 11, 12, 13], "active": [True, False, True, True], "uf_department": [[2], [3], [4], []]})
    ds = Dataset.from_frames(departments=deps, users=users)
    assert c.department_subtree(ds.departments, [2]) == {2, 3}
    assert c.users_in_departments(ds.users, ds.departments, [2]) == {10, 11}
    assert c.employee_filter(ds, [10, 12], [2]) == {10}
    assert c.employee_filter(ds, None, None) is None


def test_urls_use_portal_host_only():
    ids = pd.Series([5], dtype="Int64")
    assert c.deal_url("https://acme.bitrix24.ru", ids).tolist() == ["https://acme.bitrix24.ru/crm/deal/details/5/"]
    assert c.task_url("https://acme.bitrix24.ru/", pd.Series([3]), ids).tolist() == [
        "https://acme.bitrix24.ru/company/personal/user/3/tasks/task/view/5/"
    ]
    # a task without RESPONSIBLE_ID links through user 0 (the portal redirects to the task)
    two = pd.Series([7, 8], index=[10, 11])
    got = c.task_url("https://acme.bitrix24.ru", pd.Series([None, 4.0], index=[10, 11]), two)
    assert got.tolist() == ["https://acme.bitrix24.ru/company/personal/user/0/tasks/task/view/7/",
                            "https://acme.bitrix24.ru/company/personal/user/4/tasks/task/view/8/"]
    assert got.index.tolist() == [10, 11]


def test_stage_reach_counts_and_conversions():
    deals = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "category_id": [0, 0, 0, 0],
            "stage_id": ["LOSE", "PREP", "WON", "LOSE"],
            "stage_semantic_id": ["F", "P", "S", "F"],
            "date_create": ["2026-01-01T10:00:00+03:00"] * 4,
        }
    )
    hist = pd.DataFrame({"id": [1, 2], "owner_id": [1, 1], "stage_id": ["NEW", "PREP"], "stage_semantic_id": ["P", "P"],
                         "created_time": ["2026-01-01T10:00:00+03:00", "2026-01-02T10:00:00+03:00"]})
    ds = ds_with(deals, hist)
    as_of = pd.Timestamp("2026-02-01T00:00:00+03:00")
    f, _ = deal_facts(ds, as_of)
    so = c.stage_order(ds.statuses)
    sr = c.stage_reach(f, reached_index(f, ds.deal_stage_history, so, as_of), so)
    p0 = sr[sr.pipeline_id == 0].set_index("stage_id")
    # reached index: d1 = 1 (PREP), d2 = 1 (current PREP), d3 = 3 (won), d4 = -1
    assert p0["reached"].tolist() == [3, 3, 1, 1]  # NEW, PREP, INVOICE, WON
    assert p0.loc["NEW", "conversion_from_prev"] == pytest.approx(3 / 4)
    assert p0.loc["INVOICE", "conversion_from_prev"] == pytest.approx(1 / 3)
    assert p0.loc["PREP", "conversion_to_won"] == pytest.approx(1 / 3)
    assert p0.loc["WON", "conversion_to_won"] == 1.0


def test_activity_kinds_and_call_duration_sources():
    acts = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6, 7],
            "type_id": [2, 2, 1, 4, 4, 6, 3],
            "direction": [2, 1, 0, 2, 1, 0, 0],
            "responsible_id": [5] * 7,
            "completed": [True] * 7,
            "start_time": ["2026-01-01T10:00:00+03:00"] * 7,
            "end_time": ["2026-01-01T10:00:08+03:00", "2026-01-01T10:02:00+03:00"] + ["2026-01-01T11:00:00+03:00"] * 5,
        }
    )
    calls = pd.DataFrame({"id": [100], "crm_activity_id": [2], "call_duration": [95]})
    af = activity_facts(Dataset.from_frames(activities=acts, calls=calls)).set_index("id")
    assert af["kind"].tolist() == ["call_out", "call_in", "meeting", "email_out", "email_in", "other", "task"]
    # call 1: no telephony row -> END−START = 8 s; call 2: telephony 95 s wins over 120 s
    assert af.loc[1, "duration_sec"] == 8.0 and af.loc[1, "duration_source"] == "activity"
    assert af.loc[2, "duration_sec"] == 95.0 and af.loc[2, "duration_source"] == "telephony"
    assert pd.isna(af.loc[3, "duration_sec"])


def test_run_rate_fractional_elapsed_days():
    rr = c.run_rate(300_000.0, pd.Timestamp("2026-11-11T12:00:00+03:00"))
    # elapsed = 10.5 days of November (30 days): 300000 / 10.5 * 30 = 857142.857...
    assert rr["elapsed_days"] == 10.5 and rr["days_in_month"] == 30
    assert rr["run_rate"] == pytest.approx(857142.857142857)


def test_outcome_from_own_fields_unless_history_moves_after_as_of():
    # deal 1: STAGE_SEMANTIC_ID empty on a WON stage -> open (METRICS.md: "P or empty open");
    # deal 2: history is stale (last record PREP) but nothing happened after as_of -> own fields (won);
    # deal 3: won on 01-20, after as_of 01-15 -> state from its history record of 01-05 (PREP, open)
    deals = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "category_id": [0, 0, 0],
            "stage_id": ["WON", "WON", "WON"],
            "stage_semantic_id": ["", "S", "S"],
            "date_create": ["2026-01-01T10:00:00+03:00"] * 3,
            "moved_time": ["2026-01-10T10:00:00+03:00", "2026-01-11T10:00:00+03:00", "2026-01-20T10:00:00+03:00"],
        }
    )
    hist = pd.DataFrame({"id": [1, 2, 3], "owner_id": [2, 3, 3], "stage_id": ["PREP", "PREP", "WON"],
                         "stage_semantic_id": ["P", "P", "S"],
                         "created_time": ["2026-01-02T10:00:00+03:00", "2026-01-05T10:00:00+03:00", "2026-01-20T10:00:00+03:00"]})
    f, _ = deal_facts(ds_with(deals, hist), pd.Timestamp("2026-01-15T00:00:00+03:00"))
    f = f.set_index("id")
    assert f["outcome"].tolist() == ["open", "won", "open"]
    assert f.loc[3, "stage_id"] == "PREP"
    # deal 2 has no S/F history record -> closed_at falls back to MOVED_TIME
    assert f.loc[2, "won_at"] == pd.Timestamp("2026-01-11T10:00:00+03:00")


def test_lead_outcome_from_own_fields_unless_history_moves_after_as_of():
    leads = pd.DataFrame({"id": [1, 2, 3], "status_id": ["CONVERTED", "JUNK", "CONVERTED"],
                          "status_semantic_id": ["S", "F", "S"], "date_create": ["2026-01-01T10:00:00+03:00"] * 3})
    hist = pd.DataFrame({"id": [1, 2], "owner_id": [3, 3], "status_id": ["NEW", "CONVERTED"], "status_semantic_id": ["P", "S"],
                         "created_time": ["2026-01-01T10:00:00+03:00", "2026-01-20T10:00:00+03:00"]})
    ds = Dataset.from_frames(leads=leads, lead_status_history=hist, statuses=STATUSES, timezone=TZ)
    lf = lead_facts(ds, pd.Timestamp("2026-01-15T00:00:00+03:00")).set_index("id")
    # lead 3 was converted on 01-20, after as_of: in work as of 01-15
    assert lf["outcome"].tolist() == ["converted", "junk", "in_work"]


def test_deal_reached_is_reached_index_of_any_subset(demo_dataset, demo_as_of):
    """The cached per-dataset reached index equals reached_index computed on the subset itself."""
    from b24reports.metrics import common as c

    as_of = c.to_timestamp(demo_as_of, demo_dataset.timezone)
    facts, _ = deal_facts(demo_dataset, as_of)
    sub = facts[(facts["employee_id"] == facts["employee_id"].iloc[0]) | (facts["outcome"] == c.WON)].iloc[::3]
    stages = c.stage_order(demo_dataset.statuses, None)
    want = reached_index(sub, demo_dataset.deal_stage_history, stages, as_of)
    got = deal_reached(demo_dataset, sub, as_of)
    assert len(sub) > 50 and got.index.equals(sub.index)
    assert got.tolist() == want.tolist()
    assert deal_reached(demo_dataset, sub.iloc[:0], as_of).tolist() == []


def test_won_in_a_window_is_one_definition_with_both_boundaries():
    """metrics.common.won_mask: won and start <= won_at < end; through_end keeps won_at == end."""
    from b24reports.metrics.common import won_in, won_mask

    ts = pd.Timestamp
    start, end = ts("2026-10-01T00:00:00+03:00"), ts("2026-11-01T00:00:00+03:00")
    facts = pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6],
        "outcome": ["won", "won", "won", "lost", "won", "open"],
        "won_at": [start, end - pd.Timedelta(seconds=1), end, start, pd.NaT, start],
    })
    # 1 at the start (in), 2 one second before the end (in), 3 at the end (out: half-open),
    # 4 lost, 5 won without a moment, 6 open: never in a window
    assert won_mask(facts, start, end).tolist() == [True, True, False, False, False, False]
    assert won_in(facts, start, end, through_end=True)["id"].tolist() == [1, 2, 3]
