"""Metrics of the "plan" report: plan versus fact, month-to-date comparison, and the reverse
funnel (what the plan requires).

Source: ``/work/shared/METRICS.md`` section "plan" (and "Conventions"); the plan file is
parsed by :mod:`b24reports.ingest.plan_file`. Money is in the report currency, unrounded here (the
report rounds final aggregates on output).

Choices where METRICS.md is silent:

* **Who a plan row covers.** An ``employee_id`` row: deals assigned to (ASSIGNED_BY_ID) and
  calls of (RESPONSIBLE_ID) that employee, dismissed or not. A ``department_id`` row: every
  user (active or not) of the department and its sub-departments.
* **fact** = won deals (as of as_of) with ``won_at`` in the plan month, in the chosen
  pipelines. ``deals_completion_pct`` = fact_deals / plan deals (when the row gives deals).
* **projection**: a month already over → the fact; as_of's month → the run rate
  (fact ÷ elapsed days × days in month, :func:`common.run_rate`); a future month → ``None``.
* **remaining_days** = calendar days left in the month counting as_of's day (on the last
  day of the month: 1, the whole gap is needed today), 0 for a past month, the whole month
  for a future one. Whole days, as a head of sales counts them: a fractional remainder would
  make ``needed_per_day`` explode in the last hours of a month. ``needed_per_day`` = gap /
  remaining_days (``None`` when no day remains).
* **mtd_compare**: first a team row (``employee_id`` null), then one row per employee with a
  won deal in either window. This month to date = [first day of as_of's month, as_of];
  the previous month to the same day = [first day of the previous month, as_of − 1 month]
  (day clipped to the month's end). ``change_pct`` compares amounts.
* **required**: ``basis`` = ``own`` or ``team`` (the fallback when the row's people won under
  3 deals in the window; then both avg_won_amount and calls_per_won are the team's).
  ``needed_won`` = 0 when the gap is 0, and then every "needed" is 0. A rate that is missing
  (no won deal, no lead) gives ``None`` for what depends on it. Ceilings are taken after
  rounding to 9 decimals (so 2.0000000001 stays 2).
* The **team** is everyone, or the ``employees``/``departments`` filter when given. Under a
  filter a plan row stays only when the filter covers all its people: an employee's row when
  the employee is shown, a department's row when all of the department (with sub-departments) is
  shown. A department row compared with the fact of only some of its people would read as a
  missed plan.
"""

from __future__ import annotations

import math

import pandas as pd

from b24reports.ingest.dataset import memoized
from b24reports.metrics.common import (
    WON,
    in_lookback,
    month_start,
    months_back,
    pipeline_stages,
    run_rate,
    stage_reach,
    users_in_departments,
    won_mask,
)
from b24reports.metrics.facts import activity_facts, deal_facts, deal_reached, lead_facts
from b24reports.metrics.scope import Scope

#: A row's own rates are used from this many won deals in the window (else the team's).
MIN_OWN_WON = 3


def ceil_count(x) -> int | None:
    """``ceil(x)`` after rounding to 9 decimals; None/NaN → None."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return int(math.ceil(round(float(x), 9)))


def row_people(plan_rows: pd.DataFrame, users: pd.DataFrame, departments: pd.DataFrame) -> list[set[int]]:
    """Employee ids each plan row covers (see module docstring), aligned with ``plan_rows``."""
    out = []
    for emp, dep in zip(plan_rows["employee_id"], plan_rows["department_id"]):
        if pd.notna(emp):
            out.append({int(emp)})
        else:
            out.append(users_in_departments(users, departments, [int(dep)]))
    return out


def _month_bounds(month: str, tz) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = pd.Timestamp(f"{month}-01").tz_localize(tz)
    return start, start + pd.DateOffset(months=1)


def plan_fact(plan_rows: pd.DataFrame, people: list[set[int]], won: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Plan versus fact per plan row (METRICS.md plan ``plan_fact``).

    In: ``plan_rows`` (:class:`b24reports.ingest.plan_file.Plan` ``rows``), ``people`` (:func:`row_people`),
    ``won`` = won deals as of as_of (:func:`facts.deal_facts` rows: ``employee_id``,
    ``won_at``, ``amount``). Out, one row per plan row: ``line, month, employee_id,
    department_id, plan_amount, plan_deals, fact_amount, fact_deals, completion_pct (%),
    deals_completion_pct (%), gap (= max(plan − fact, 0)), projection, remaining_days,
    needed_per_day`` (money per day) — unrounded; percentages None on a zero plan.
    """
    tz = as_of.tzinfo
    rows = []
    for (_, r), ppl in zip(plan_rows.iterrows(), people):
        start, end = _month_bounds(r["month"], tz)
        m = won["employee_id"].isin(sorted(ppl)) & won_mask(won, start, end)
        fact, n = float(won.loc[m, "amount"].sum()), int(m.sum())
        plan_amt = float(r["amount"])
        plan_deals = r["deals"]
        dim = int(start.days_in_month)
        if end <= as_of:
            projection, remaining = fact, 0.0
        elif start > as_of:
            projection, remaining = None, float(dim)
        else:
            rr = run_rate(fact, as_of)
            projection, remaining = rr["run_rate"], float(dim - as_of.day + 1)
        gap = max(plan_amt - fact, 0.0)
        rows.append({
            "line": int(r["line"]), "month": r["month"],
            "employee_id": r["employee_id"], "department_id": r["department_id"],
            "plan_amount": plan_amt, "plan_deals": plan_deals,
            "fact_amount": fact, "fact_deals": n,
            "completion_pct": 100.0 * fact / plan_amt if plan_amt else None,
            "deals_completion_pct": 100.0 * n / plan_deals if pd.notna(plan_deals) and plan_deals else None,
            "gap": gap, "projection": projection, "remaining_days": remaining,
            "needed_per_day": gap / remaining if remaining > 0 else None,
        })
    cols = ["line", "month", "employee_id", "department_id", "plan_amount", "plan_deals", "fact_amount", "fact_deals",
            "completion_pct", "deals_completion_pct", "gap", "projection", "remaining_days", "needed_per_day"]
    out = pd.DataFrame(rows, columns=cols)
    for c in ("employee_id", "department_id", "plan_deals"):
        out[c] = out[c].astype("Int64")
    return out


def mtd_compare(won: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """This month to date versus the previous month to the same day (METRICS.md ``mtd_compare``).

    In: won deals as of as_of (``employee_id``, ``won_at``, ``amount``). Out: ``employee_id``
    (None on the first, team row), ``month`` (as_of's ``YYYY-MM``), ``mtd_amount``,
    ``prev_mtd_amount``, ``mtd_deals``, ``prev_mtd_deals``, ``change_pct`` (amount, %; None
    when the previous amount is 0).
    """
    cur0 = month_start(as_of)
    prev_end = months_back(as_of, 1)
    prev0 = month_start(prev_end)
    cur = won_mask(won, cur0, as_of, through_end=True)
    prev = won_mask(won, prev0, prev_end, through_end=True)

    def row(mask, emp):
        a, pa = float(won.loc[mask & cur, "amount"].sum()), float(won.loc[mask & prev, "amount"].sum())
        return {"employee_id": emp, "month": as_of.strftime("%Y-%m"), "mtd_amount": a, "prev_mtd_amount": pa,
                "mtd_deals": int((mask & cur).sum()), "prev_mtd_deals": int((mask & prev).sum()),
                "change_pct": 100.0 * (a - pa) / pa if pa else None}

    everyone = pd.Series(True, index=won.index)
    rows = [row(everyone, None)]
    emps = won.loc[cur | prev, "employee_id"].dropna().unique()
    for e in sorted(int(x) for x in emps):
        rows.append(row(won["employee_id"] == e, e))
    out = pd.DataFrame(rows, columns=["employee_id", "month", "mtd_amount", "prev_mtd_amount", "mtd_deals",
                                      "prev_mtd_deals", "change_pct"])
    out["employee_id"] = out["employee_id"].astype("Int64")
    return out


def window_rates(ppl: set[int] | None, won_window: pd.DataFrame, calls_window: pd.DataFrame) -> dict:
    """Won deals, average won amount and calls per won deal of ``ppl`` (None = team) in the window.

    ``won_window``: won deals with won_at in the window; ``calls_window``: completed outgoing
    calls (``employee_id``) with END_TIME in the window. Out: ``won``, ``avg_won_amount``,
    ``calls``, ``calls_per_won`` (unrounded; None on zero won).
    """
    w = won_window if ppl is None else won_window[won_window["employee_id"].isin(sorted(ppl))]
    c = calls_window if ppl is None else calls_window[calls_window["employee_id"].isin(sorted(ppl))]
    n = len(w)
    return {"won": n, "avg_won_amount": float(w["amount"].mean()) if n else None, "calls": len(c),
            "calls_per_won": len(c) / n if n else None}


def required(plan_fact_rows: pd.DataFrame, people: list[set[int]], won_window: pd.DataFrame,
             calls_window: pd.DataFrame, reach: pd.DataFrame, leads_created: int, leads_converted: int
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reverse funnel per plan row (METRICS.md plan ``required`` and ``required_stages``).

    In: ``plan_fact_rows`` (:func:`plan_fact`), ``people``, ``won_window`` (team's won deals
    with won_at in the lookback window), ``calls_window`` (team's completed outgoing calls,
    END_TIME in the window), ``reach`` (:func:`common.stage_reach` of the team's deals created
    in the window), ``leads_created`` / ``leads_converted`` (team's leads created in the
    window / of those converted as of as_of).

    Out ``required`` (one row per plan row): ``line, month, employee_id, department_id, gap,
    basis, won_in_window, avg_won_amount, calls_per_won, needed_won, deals_per_won`` (Σ
    reached(first stage) / Σ won), ``lead_conversion_pct``, ``needed_leads``,
    ``needed_calls``. Out ``required_stages`` (plan row × pipeline × progress stage incl.
    won): ``line, month, employee_id, department_id, pipeline_id, stage_id,
    conversion_to_won_pct, needed_at_stage``.
    """
    team = window_rates(None, won_window, calls_window)
    first = reach[reach["path_index"] == 0]
    sum_first, sum_won = int(first["reached"].sum()), int(first["won"].sum())
    deals_per_won = sum_first / sum_won if sum_won else None
    lead_conv = leads_converted / leads_created if leads_created else None
    rows, stage_rows = [], []
    for (_, r), ppl in zip(plan_fact_rows.iterrows(), people):
        own = window_rates(ppl, won_window, calls_window)
        rates, basis = (own, "own") if own["won"] >= MIN_OWN_WON else (team, "team")
        gap = float(r["gap"])
        avg = rates["avg_won_amount"]
        if gap <= 0:
            needed_won = 0
        else:
            needed_won = ceil_count(gap / avg) if avg else None
        if needed_won == 0:
            needed_leads = needed_calls = 0
        elif needed_won is None:
            needed_leads = needed_calls = None
        else:
            needed_leads = ceil_count(needed_won * deals_per_won / lead_conv) if deals_per_won and lead_conv else None
            cpw = rates["calls_per_won"]
            needed_calls = ceil_count(needed_won * cpw) if cpw is not None else None
        key = {"line": int(r["line"]), "month": r["month"], "employee_id": r["employee_id"], "department_id": r["department_id"]}
        rows.append({**key, "gap": gap, "basis": basis, "won_in_window": rates["won"], "avg_won_amount": avg,
                     "calls_per_won": rates["calls_per_won"], "needed_won": needed_won,
                     "deals_per_won": deals_per_won,
                     "lead_conversion_pct": None if not leads_created else 100.0 * leads_converted / leads_created,
                     "needed_leads": needed_leads, "needed_calls": needed_calls})
        for pid, sid, conv, n_won, n_reached in zip(reach["pipeline_id"], reach["stage_id"], reach["conversion_to_won"],
                                                    reach["won"], reach["reached"]):
            ok = conv == conv and conv > 0
            if needed_won == 0:
                need = 0
            elif needed_won is None or not ok:
                need = None
            else:
                need = ceil_count(needed_won / conv)
            stage_rows.append({**key, "pipeline_id": int(pid), "stage_id": sid,
                               "conversion_to_won_pct": 100.0 * n_won / n_reached if n_reached else None,
                               "needed_at_stage": need})
    rq = pd.DataFrame(rows, columns=["line", "month", "employee_id", "department_id", "gap", "basis", "won_in_window",
                                     "avg_won_amount", "calls_per_won", "needed_won", "deals_per_won",
                                     "lead_conversion_pct", "needed_leads", "needed_calls"])
    st = pd.DataFrame(stage_rows, columns=["line", "month", "employee_id", "department_id", "pipeline_id", "stage_id",
                                           "conversion_to_won_pct", "needed_at_stage"])
    for df in (rq, st):
        for c in ("employee_id", "department_id"):
            df[c] = df[c].astype("Int64")
    return rq, st


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


@memoized
def _calls_window(ds, as_of: pd.Timestamp, lookback: int) -> pd.DataFrame:
    """Completed outgoing calls (:func:`facts.activity_facts` kind ``call_out``) of every
    employee with END_TIME in the ``lookback``-month window of ``as_of``; cached on the dataset."""
    acts = activity_facts(ds)
    return acts[(acts["kind"] == "call_out") & acts["completed"] & in_lookback(acts["end_time"], as_of, lookback)]


def report_tables(ds, scope: Scope, *, plan, lookback_months: int = 6) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    """Every table of the plan report (canonical ids, unrounded) plus warnings and notes: the entry
    point of this module.

    In: the run's :class:`Scope` (as_of, currency, timezone, pipelines, people; the period does not
    apply: the plan's months do); ``plan``: a :class:`b24reports.ingest.plan_file.Plan`;
    ``lookback_months`` (window of the rates the reverse funnel uses). Tables: ``plan_fact``,
    ``mtd_compare``, ``required``, ``required_stages``, ``plan_errors`` (bad plan rows: ``line``,
    ``error``). Source: METRICS.md "plan".
    """
    as_of = scope.as_of
    lookback = int(lookback_months or 6)
    facts, warns = deal_facts(ds, as_of, scope.currency, tz=scope.tz)
    warns = list(warns) + plan.warnings()
    pipes = list(scope.pipelines)
    facts = scope.of_pipelines(facts)
    allowed = scope.people
    rows = plan.rows
    ppl = row_people(rows, ds.users, ds.departments)
    if allowed is not None:
        # a row stays only when the filter covers all its people: a department's plan against the
        # fact of the one manager picked from it would read as a missed plan (16.4 M vs 6.7 M)
        keep = [bool(p) and p <= allowed for p in ppl]
        rows = rows[keep].reset_index(drop=True)
        ppl = [p for p, k in zip(ppl, keep) if k]
        facts = scope.of_people(facts)
    facts = facts.reset_index(drop=True)
    won = facts[(facts["outcome"] == WON) & facts["won_at"].notna()]

    tables: dict[str, pd.DataFrame] = {}
    pf = plan_fact(rows, ppl, won, as_of)
    tables["plan_fact"] = pf
    tables["mtd_compare"] = mtd_compare(won, as_of)

    won_window = won[in_lookback(won["won_at"], as_of, lookback)]
    calls = _calls_window(ds, as_of, lookback)  # every employee's (cached): a refilter picks its people's rows
    if allowed is not None:
        calls = calls[calls["employee_id"].isin(sorted(allowed))]
    created = facts[in_lookback(facts["created"], as_of, lookback)].reset_index(drop=True)
    stages = pipeline_stages(ds, pipes)
    reach = stage_reach(created, deal_reached(ds, created, as_of), stages)
    leads = lead_facts(ds, as_of)
    leads = leads[in_lookback(leads["created"], as_of, lookback)]
    if allowed is not None:
        leads = leads[leads["employee_id"].isin(sorted(allowed))]
    rq, st = required(pf, ppl, won_window, calls, reach, len(leads), int((leads["outcome"] == "converted").sum()))
    tables["required"] = rq
    tables["required_stages"] = st
    tables["plan_errors"] = plan.errors.copy()
    # last month's whole result (the team's won amount), for the headline early in a month:
    # a head of sales on the 6th reads it beside this month's pace (notes only, not metrics.json)
    this_start = month_start(as_of)
    prev_start = month_start(this_start - pd.Timedelta(days=1))
    in_prev = (won["won_at"] >= prev_start) & (won["won_at"] < this_start)
    prev = {"month": prev_start.strftime("%Y-%m"), "won_amount": float(won.loc[in_prev, "amount"].sum()),
            "won_deals": int(in_prev.sum())}
    # how many of the deals created in the window came from a lead (LEAD_ID set): needed_leads
    # assumes every deal does, so the page says how far this portal is from that (notes only)
    from_leads = {"deals": len(created), "from_leads": int(created["lead_id"].notna().sum())}
    notes = {"as_of": as_of, "lookback_months": lookback, "plan_source": plan.source, "prev_month": prev,
             "deals_from_leads": from_leads}
    return tables, warns, notes
