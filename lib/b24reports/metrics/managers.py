"""managers — activity and result per manager (METRICS.md "managers").

Pure functions over :func:`b24reports.metrics.facts.activity_facts` and
:func:`~b24reports.metrics.facts.deal_facts` frames. Sources: ``crm.activity.list``
(TYPE_ID, DIRECTION, COMPLETED, START_TIME, END_TIME, RESPONSIBLE_ID),
``voximplant.statistic.get`` (CALL_DURATION, CRM_ACTIVITY_ID) when synced, ``crm.deal.list`` +
``crm.stagehistory.list`` (won_at, DATE_CREATE, ASSIGNED_BY_ID).

Choices where METRICS.md is silent (written here, kept by the tests):

* **Rows.** One row per employee who, in the period, has a counted activity (any kind,
  ``emails_in`` and ``tasks`` included) or a created or won deal; after the employee /
  department filter. A manager with deals but no activity gets zeros and index 0.
* **Weights.** ``activity_weights`` keys ``call`` (outgoing and incoming calls), ``meeting``,
  ``email`` (outgoing e-mails), ``other``; missing keys keep the defaults 1/5/1/1.
  ``tasks`` and ``emails_in`` are not touches and carry no weight.
* **Call durations.** Per call: the telephony CALL_DURATION when the call statistics were
  synced and name the activity, else END_TIME − START_TIME (``activity_facts``). A call with
  no usable duration (missing or negative) adds no minutes and is not short.
* **Index.** ``activity_index`` is ``None`` when nobody shown has weighted > 0.
* **Flags.** ``busy_no_result`` / ``efficient`` need a team mean (someone with weighted > 0);
  ``efficient`` additionally needs won_amount > 0 (with a team mean of 0 every idle manager
  would otherwise be "efficient"). ``suspicious_calls`` needs at least one call.
  ``record_streak``: in each of the 3 full calendar months before as_of's month the employee
  had the highest won_amount (won_at in that month, > 0; ties all count) among the employees
  the filters allow — independent of the period.
* **Pipelines filter** restricts the deals (won/created); activities are not pipeline-bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import pandas as pd

from b24reports.ingest.dataset import memoized
from b24reports.core.errors import BadParameter
from b24reports.metrics import common as c
from b24reports.metrics.facts import activity_facts, deal_facts
from b24reports.metrics.scope import Scope

#: Default weights of METRICS.md: call 1, meeting 5, email 1, other 1.
DEFAULT_WEIGHTS: dict[str, float] = {"call": 1.0, "meeting": 5.0, "email": 1.0, "other": 1.0}

#: Count columns of the ``managers`` table, in order.
COUNT_COLUMNS = ("calls_out", "calls_in", "meetings", "emails_out", "emails_in", "tasks", "other")
_KIND_TO_COLUMN = {
    "call_out": "calls_out",
    "call_in": "calls_in",
    "meeting": "meetings",
    "email_out": "emails_out",
    "email_in": "emails_in",
    "task": "tasks",
    "other": "other",
}

#: Flag ids of METRICS.md "managers".
FLAGS = ("busy_no_result", "efficient", "suspicious_calls", "record_streak")

MANAGER_COLUMNS = [
    "employee_id", "calls_out", "calls_in", "call_minutes", "short_calls", "meetings", "emails_out",
    "emails_in", "tasks", "other", "touches", "weighted", "activity_index", "won_deals", "won_amount",
    "created_deals", "conversion_pct", "flags",
]


def parse_weights(value: Mapping | None) -> dict[str, float]:
    """``activity_weights`` parameter → ``{"call", "meeting", "email", "other": weight}``.

    ``None``/empty → :data:`DEFAULT_WEIGHTS`; given keys replace defaults. Raises
    ``BadParameter('activity_weights', …)`` for an unknown key or a negative / non-numeric weight.
    """
    out = dict(DEFAULT_WEIGHTS)
    for k, v in dict(value or {}).items():
        if k not in DEFAULT_WEIGHTS:
            raise BadParameter("activity_weights", dict(value), f"unknown key {k!r}; keys: {', '.join(DEFAULT_WEIGHTS)}")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise BadParameter("activity_weights", dict(value), f"weight of {k!r} is not a number: {v!r}") from None
        if not math.isfinite(f) or f < 0:
            raise BadParameter("activity_weights", dict(value), f"weight of {k!r} must be a number ≥ 0")
        out[k] = f
    return out


def period_activities(acts: pd.DataFrame, period: c.Period, employees: set[int] | None = None) -> pd.DataFrame:
    """Activities counted in the period: ``completed`` and ``end_time`` in the period.

    In/out: :func:`facts.activity_facts` rows (same columns), restricted to ``employees``
    (RESPONSIBLE_ID) when given. Source: METRICS.md "managers" first line.
    """
    m = acts["completed"] & period.contains(acts["end_time"]).fillna(False)
    if employees is not None:
        m &= acts["employee_id"].isin(list(employees)).fillna(False)
    return acts[m]


def _short_call_limit(short_call_seconds: float | None) -> float:
    """``short_call_seconds`` as a float; ``BadParameter('short_call_seconds', …)`` when missing
    or negative."""
    if short_call_seconds is None or short_call_seconds < 0:
        raise BadParameter("short_call_seconds", short_call_seconds, "must be ≥ 0 seconds")
    return float(short_call_seconds)


def activity_counts(acts: pd.DataFrame, short_call_seconds: float = 10) -> pd.DataFrame:
    """Per-employee activity counts of already period-filtered activities.

    In: :func:`period_activities` rows (``employee_id``, ``kind``, ``duration_sec``).
    Out, one row per ``employee_id`` (Int64) present: ``calls_out``, ``calls_in``,
    ``meetings``, ``emails_out``, ``emails_in``, ``tasks``, ``other`` (int counts),
    ``call_minutes`` (float, unrounded: Σ call duration / 60), ``short_calls`` (calls with
    duration < ``short_call_seconds`` seconds; still counted in calls), ``calls``
    (calls_out + calls_in). Raises ``BadParameter('short_call_seconds', …)`` when negative.
    """
    short_call_seconds = _short_call_limit(short_call_seconds)
    a = acts.dropna(subset=["employee_id"])
    cols = ["employee_id", *COUNT_COLUMNS, "call_minutes", "short_calls", "calls"]
    if a.empty:
        return pd.DataFrame({k: pd.Series(dtype="Int64" if k == "employee_id" else "float64" if k == "call_minutes" else "int64") for k in cols})
    col = a["kind"].map(_KIND_TO_COLUMN).fillna("other")
    # groupby-size-unstack: the counts pd.crosstab gives, ~2x faster (a dashboard refilter)
    counts = a.assign(_col=col).groupby(["employee_id", "_col"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=list(COUNT_COLUMNS), fill_value=0)
    counts.columns.name = None
    is_call = a["kind"].isin(["call_out", "call_in"])
    dur = a["duration_sec"].where(a["duration_sec"] >= 0)
    call_dur = dur.where(is_call)
    minutes = (call_dur.fillna(0.0) / 60.0).groupby(a["employee_id"]).sum()
    short = (is_call & (dur < float(short_call_seconds)).fillna(False)).groupby(a["employee_id"]).sum()
    out = counts.astype("int64")
    out["call_minutes"] = minutes.reindex(out.index).fillna(0.0).astype("float64")
    out["short_calls"] = short.reindex(out.index).fillna(0).astype("int64")
    out["calls"] = out["calls_out"] + out["calls_in"]
    out.index.name = "employee_id"
    out = out.reset_index()
    out["employee_id"] = out["employee_id"].astype("Int64")
    return out[cols]


def touches(counts: pd.DataFrame) -> pd.Series:
    """``touches`` = calls_out + calls_in + meetings + emails_out + other (METRICS.md)."""
    return counts["calls_out"] + counts["calls_in"] + counts["meetings"] + counts["emails_out"] + counts["other"]


def weighted_activity(counts: pd.DataFrame, weights: Mapping[str, float] | None = None) -> pd.Series:
    """``weighted`` = Σ weight × count: call × (calls_out + calls_in) + meeting × meetings +
    email × emails_out + other × other (float; weights from :func:`parse_weights`)."""
    w = parse_weights(weights)
    return (
        w["call"] * (counts["calls_out"] + counts["calls_in"])
        + w["meeting"] * counts["meetings"]
        + w["email"] * counts["emails_out"]
        + w["other"] * counts["other"]
    ).astype("float64")


def activity_index(weighted: pd.Series) -> pd.Series:
    """ИАС = 100 × weighted / mean(weighted over the rows with weighted > 0), 1 decimal.

    In: weighted per employee (float Series). Out: object Series (float or ``None`` when no
    row has weighted > 0). 100 = the team average.
    """
    active = weighted[weighted > 0]
    if active.empty:
        return pd.Series([None] * len(weighted), index=weighted.index, dtype=object)
    return (100.0 * weighted / float(active.mean())).round(1).astype(object)


def deal_results(facts: pd.DataFrame, period: c.Period) -> pd.DataFrame:
    """Per-employee deal result (deals belong to ASSIGNED_BY_ID).

    In: :func:`facts.deal_facts` rows (already restricted to allowed employees/pipelines).
    Out, one row per ``employee_id`` with a created or won deal in the period:
    ``won_deals`` (won, ``won_at`` in the period), ``won_amount`` (their Σ amount, report
    currency, unrounded), ``created_deals`` (DATE_CREATE in the period),
    ``created_won`` (of those, won as of as_of). ``conversion_pct`` is computed by the caller.
    """
    f = facts.dropna(subset=["employee_id"])
    won = c.won_in(f, period.start, period.end)
    created = f[period.contains(f["created"]).fillna(False)]
    g_won = won.groupby("employee_id").agg(won_deals=("id", "size"), won_amount=("amount", "sum"))
    g_cr = created.assign(_won=created["outcome"] == c.WON).groupby("employee_id").agg(
        created_deals=("id", "size"), created_won=("_won", "sum"))
    out = g_won.join(g_cr, how="outer").fillna(0)
    out.index.name = "employee_id"
    out = out.reset_index()
    for k in ("won_deals", "created_deals", "created_won"):
        out[k] = out[k].astype("int64")
    out["won_amount"] = out["won_amount"].astype("float64")
    out["employee_id"] = out["employee_id"].astype("Int64")
    return out[["employee_id", "won_deals", "won_amount", "created_deals", "created_won"]]


def record_streak(facts: pd.DataFrame, as_of: pd.Timestamp, months: int = 3) -> set[int]:
    """Employees with the top won_amount in each of the ``months`` full calendar months
    before as_of's month (a burnout watch).

    In: :func:`facts.deal_facts` rows (restricted to the allowed employees/pipelines).
    Per month: won deals by ``won_at`` in that month, Σ amount per ``employee_id``; the top
    is every employee at the maximum when it is > 0. Out: ids on top in every month.
    """
    start = c.month_start(as_of)
    won = facts[(facts["outcome"] == c.WON) & facts["won_at"].notna() & facts["employee_id"].notna()]
    result: set[int] | None = None
    for k in range(months, 0, -1):
        m_start = start - pd.DateOffset(months=k)
        m_end = start - pd.DateOffset(months=k - 1)
        w = c.won_in(won, m_start, m_end)
        sums = w.groupby("employee_id")["amount"].sum()
        top = set() if sums.empty or sums.max() <= 0 else {int(e) for e in sums[sums == sums.max()].index}
        result = top if result is None else result & top
    return result or set()


def manager_flags(table: pd.DataFrame, streak: Iterable[int] = ()) -> tuple[pd.Series, float | None]:
    """Flags per row of the managers table and the team mean they use.

    In: rows with ``employee_id``, ``weighted``, ``activity_index``, ``won_amount``,
    ``short_calls``, ``calls``. Team mean = mean won_amount over rows with weighted > 0
    (``None`` when there are none). Out: (object Series of flag-id lists in :data:`FLAGS`
    order, team mean). Definitions: METRICS.md "managers" Flags; see the module docstring.
    """
    active = table[table["weighted"] > 0]
    team_mean = float(active["won_amount"].mean()) if len(active) else None
    streak = {int(e) for e in streak}
    out = []
    for _, r in table.iterrows():
        f = []
        idx = r["activity_index"]
        has_idx = idx is not None and not (isinstance(idx, float) and math.isnan(idx))
        if team_mean is not None and has_idx:
            if idx >= 120 and r["won_amount"] < 0.8 * team_mean:
                f.append("busy_no_result")
            if idx <= 80 and r["won_amount"] >= 1.2 * team_mean and r["won_amount"] > 0:
                f.append("efficient")
        if r["calls"] > 0 and r["short_calls"] > 0.3 * r["calls"]:
            f.append("suspicious_calls")
        if int(r["employee_id"]) in streak:
            f.append("record_streak")
        out.append(f)
    return pd.Series(out, index=table.index, dtype=object), team_mean


def managers_table(
    acts: pd.DataFrame,
    facts: pd.DataFrame,
    period: c.Period,
    as_of: pd.Timestamp,
    *,
    employees: set[int] | None = None,
    short_call_seconds: float = 10,
    weights: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The ``managers`` table (METRICS.md "managers"), one row per employee shown.

    In: ``acts`` = :func:`facts.activity_facts` (all), ``facts`` = :func:`facts.deal_facts`
    restricted to the pipelines filter; ``employees`` the allowed ids (None = all).
    Out: (frame with :data:`MANAGER_COLUMNS` plus ``calls``, ``created_won``; sorted by
    won_amount desc, weighted desc, employee_id; counts int, ``call_minutes`` 1 decimal,
    ``weighted`` float, ``activity_index`` 1 decimal or None, ``won_amount`` money unrounded,
    ``conversion_pct`` 1 decimal or None; ``flags`` lists) and notes ``{"team_mean_won_amount",
    "team_mean_weighted", "duration_sources": {"telephony": n, "activity": n, "none": n}}``.
    """
    pa = period_activities(acts, period, employees)
    return managers_from_counts(activity_counts(pa, short_call_seconds), call_duration_sources(pa), facts, period,
                                as_of, employees=employees, weights=weights)


def call_duration_sources(acts: pd.DataFrame) -> pd.DataFrame:
    """Calls per employee by where their duration comes from.

    In: :func:`period_activities` rows (``employee_id``, ``kind``, ``duration_source``). Out, one
    row per ``employee_id`` (Int64; <NA> for calls without RESPONSIBLE_ID) having a call:
    ``telephony``, ``activity``, ``none`` (int counts; ``none`` = no usable duration).
    """
    calls = acts[acts["kind"].isin(["call_out", "call_in"])]
    src = calls["duration_source"].astype(object).where(calls["duration_source"].notna(), "none")
    g = pd.DataFrame({"employee_id": calls["employee_id"].astype("Int64"), "src": src}).groupby(
        ["employee_id", "src"], dropna=False).size().unstack(fill_value=0)
    g = g.reindex(columns=list(DURATION_SOURCES), fill_value=0).astype("int64")
    g.columns.name = None
    return g.reset_index()


#: Where a call's duration comes from (``activity_facts`` ``duration_source``; ``none`` = unknown).
DURATION_SOURCES = ("telephony", "activity", "none")


def managers_from_counts(
    counts: pd.DataFrame,
    sources: pd.DataFrame,
    facts: pd.DataFrame,
    period: c.Period,
    as_of: pd.Timestamp,
    *,
    employees: set[int] | None = None,
    weights: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """:func:`managers_table` from per-employee activity aggregates: ``counts``
    (:func:`activity_counts`) and ``sources`` (:func:`call_duration_sources`) of the period's
    activities, of any set of employees that includes the ones shown (rows of others are left
    out here), so the aggregates of every employee can be computed once and reused by every
    filter. Other inputs and the output as :func:`managers_table`.
    """
    w = parse_weights(weights)
    if employees is not None:
        keep = sorted(int(e) for e in employees)
        counts = counts[counts["employee_id"].isin(keep).fillna(False)]
        sources = sources[sources["employee_id"].isin(keep).fillna(False)]
    f = facts if employees is None else facts[facts["employee_id"].isin(list(employees)).fillna(False)]
    res = deal_results(f, period)
    t = counts.merge(res, on="employee_id", how="outer")
    for k in (*COUNT_COLUMNS, "short_calls", "calls", "won_deals", "created_deals", "created_won"):
        t[k] = t[k].fillna(0).astype("int64")
    for k in ("call_minutes", "won_amount"):
        t[k] = t[k].fillna(0.0).astype("float64")
    t["employee_id"] = t["employee_id"].astype("Int64")
    t["call_minutes"] = t["call_minutes"].round(1)
    t["touches"] = touches(t).astype("int64")
    t["weighted"] = weighted_activity(t, w)
    t["activity_index"] = activity_index(t["weighted"])
    t["conversion_pct"] = c.pct(t["created_won"], t["created_deals"])
    # a record streak is being on top of a team: with one employee shown (a filter to one manager)
    # there is no one to be ahead of, so nobody gets the flag
    streak = record_streak(f, as_of) if len(t) > 1 else set()
    t["flags"], team_mean = manager_flags(t, streak)
    t = t.sort_values(["won_amount", "weighted", "employee_id"], ascending=[False, False, True], kind="stable")
    t = t.reset_index(drop=True)
    active = t[t["weighted"] > 0]
    notes = {
        "team_mean_won_amount": team_mean,
        "team_mean_weighted": float(active["weighted"].mean()) if len(active) else None,
        "duration_sources": {k: int(sources[k].sum()) for k in DURATION_SOURCES},
        "weights": w,
    }
    return t[[*MANAGER_COLUMNS, "calls", "created_won"]], notes


def monthly_activity(
    acts: pd.DataFrame,
    facts: pd.DataFrame,
    period: c.Period,
    employee_ids: Iterable[int],
    weights: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Month-by-month activity dynamics per manager (table ``by_month``).

    In: :func:`facts.activity_facts`, :func:`facts.deal_facts` (filtered as for
    :func:`managers_table`), the employees shown. Out, one row per month overlapping the
    period × employee (zeros included), sorted by employee then month: ``month``
    (``YYYY-MM`` of END_TIME / won_at, only inside the period), ``employee_id``,
    ``calls_out``, ``calls_in``, ``meetings``, ``emails_out``, ``other``, ``touches``,
    ``weighted``, ``won_deals``, ``won_amount``.
    """
    ids = {int(e) for e in employee_ids}
    return monthly_from_counts(month_counts(period_activities(acts, period, ids)), facts, period, ids, weights)


#: Count columns of table ``by_month``.
MONTH_COUNT_COLUMNS = ["calls_out", "calls_in", "meetings", "emails_out", "other"]


def month_counts(acts: pd.DataFrame) -> pd.DataFrame:
    """Activity counts per employee and month.

    In: :func:`period_activities` rows (``employee_id``, ``kind``, ``end_time`` in the report's
    zone). Out: frame indexed by (``employee_id`` int, ``month`` ``YYYY-MM`` of END_TIME) with
    :data:`MONTH_COUNT_COLUMNS` (int counts), only pairs holding an activity; activities
    without RESPONSIBLE_ID are left out.
    """
    a = acts[acts["employee_id"].notna()]
    cnt = pd.DataFrame({"employee_id": a["employee_id"].astype("int64"), "month": c.period_key(a["end_time"], "month"),
                        "col": a["kind"].map(_KIND_TO_COLUMN)}).groupby(["employee_id", "month", "col"]).size()
    cnt = cnt.unstack(fill_value=0).reindex(columns=MONTH_COUNT_COLUMNS, fill_value=0).astype("int64")
    cnt.columns.name = None
    return cnt


def monthly_from_counts(
    counts: pd.DataFrame,
    facts: pd.DataFrame,
    period: c.Period,
    employee_ids: Iterable[int],
    weights: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """:func:`monthly_activity` from :func:`month_counts` of the period's activities of any set
    of employees that includes ``employee_ids`` (others are left out), so the counts of every
    employee can be computed once and reused by every filter. Output as :func:`monthly_activity`."""
    w = parse_weights(weights)
    ids = sorted({int(e) for e in employee_ids})
    months = c.period_buckets(period.date_from, period.date_to, "month")
    cols = ["month", "employee_id", *MONTH_COUNT_COLUMNS, "touches", "weighted", "won_deals", "won_amount"]
    if not ids:
        return pd.DataFrame({k: pd.Series(dtype="object") for k in cols})
    grid = pd.MultiIndex.from_product([ids, months], names=["employee_id", "month"])
    cnt = counts.reindex(index=grid, columns=MONTH_COUNT_COLUMNS, fill_value=0)
    won = facts[c.won_mask(facts, period.start, period.end) & facts["employee_id"].isin(ids).fillna(False)]
    won = won.assign(month=c.period_key(won["won_at"], "month"), employee_id=won["employee_id"].astype("int64"))
    wg = won.groupby(["employee_id", "month"]).agg(won_deals=("id", "size"), won_amount=("amount", "sum"))
    out = cnt.join(wg.reindex(grid)).reset_index()
    out["won_deals"] = out["won_deals"].fillna(0).astype("int64")
    out["won_amount"] = out["won_amount"].fillna(0.0).astype("float64")
    for k in MONTH_COUNT_COLUMNS:
        out[k] = out[k].fillna(0).astype("int64")
    out["touches"] = touches(out.assign(emails_in=0)).astype("int64")
    out["weighted"] = weighted_activity(out, w)
    out["employee_id"] = out["employee_id"].astype("Int64")
    return out[cols]


DURATION_FROM_ACTIVITY = ("call durations are taken from the activities' START_TIME/END_TIME "
                          "(telephony statistics were not synced)")


@memoized
def _period_aggregates(ds, period: c.Period, short_call_seconds: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(:func:`activity_counts`, :func:`call_duration_sources`, :func:`month_counts`) of every
    employee's activities counted in ``period`` (``end_time`` read in ``period.tz``), cached on
    the dataset: a refilter to other employees only picks rows instead of scanning every
    activity again (1.6 M on a big portal)."""
    acts = activity_facts(ds)
    acts["end_time"] = acts["end_time"].dt.tz_convert(period.tz)
    pa = period_activities(acts, period)
    return activity_counts(pa, short_call_seconds), call_duration_sources(pa), month_counts(pa)


def report_tables(
    ds,
    scope: Scope,
    *,
    short_call_seconds: float = 10,
    weights: Mapping[str, float] | None = None,
) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    """Every table of the managers report (METRICS.md "managers") for one Dataset and the run's
    :class:`Scope` (period, as_of, currency, pipelines, people): the entry point of this module.

    Returns (tables, warnings, notes): ``managers`` (:func:`managers_table`) and ``by_month``
    (:func:`monthly_activity`, the employees of ``managers``); warnings = empty OPPORTUNITY of
    deals and, without telephony statistics, the note that call durations come from activity
    times; notes as :func:`managers_table` plus ``telephony`` (bool). Times are read in
    ``period.tz`` (month keys). Raises ``BadParameter`` for an unknown currency,
    ``BadParameter`` for bad weights or ``short_call_seconds``.
    """
    period, as_of, currency, pipelines, employees = scope.period, scope.as_of, scope.currency, scope.pipelines, scope.people
    tz = period.tz
    facts, warnings = deal_facts(ds, as_of, currency, tz=tz)
    if pipelines:
        facts = facts[facts["pipeline_id"].isin([int(p) for p in pipelines])]
    counts, sources, months = _period_aggregates(ds, period, _short_call_limit(short_call_seconds))
    table, notes = managers_from_counts(counts, sources, facts, period, as_of, employees=employees, weights=weights)
    by_month = monthly_from_counts(months, facts, period, table["employee_id"].dropna().tolist(), weights)
    notes["telephony"] = bool(getattr(ds, "telephony", False))
    if not notes["telephony"]:
        warnings = [*warnings, DURATION_FROM_ACTIVITY]
    return {"managers": table, "by_month": by_month}, warnings, notes
