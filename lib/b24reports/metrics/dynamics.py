"""Metrics of the "dynamics" report: won sales over time, velocity and three forecasts.

Source: ``/work/shared/METRICS.md`` section "dynamics" (and "Conventions"). Inputs are the
frames of :mod:`b24reports.metrics.common` (``deal_facts``, ``reached_index``,
``stage_order``), all in the report currency and portal time. Outputs use the canonical
column ids of METRICS.md; money is unrounded here (the spec rounds final aggregates).

Choices where METRICS.md is silent:

* **Won by period.** A deal counts in the bucket of its ``won_at`` if it is won as of
  as_of. ``won_by_period_employee`` lists every employee with at least one won deal in the
  period's buckets, each with every bucket (zeros included). ``change_prev_pct`` /
  ``change_yoy_pct`` compare with buckets outside the period too (the bucket before the first
  one, the year before); a zero base → ``None``.
* **forecast_pipeline.** A deal without CLOSEDATE goes to ``month`` = ``no_date``. A deal's p
  is the p of its stage as of as_of; a stage off the progress path gets the pipeline's win
  rate. The window of "closed within lookback_months" is ``(as_of − N months, as_of]`` by
  ``closed_at``.
* **velocity** (issue 3): over deals closed in the ``lookback_months`` window —
  ``open_deals`` (open as of as_of) × ``avg_won_amount`` × ``win_rate_pct``/100 ÷
  ``avg_cycle_days`` (closed deals' ``closed_at − DATE_CREATE``) = ``velocity_per_day``
  (money per day).
* **forecast_trend.** Monthly won amount of *full* months: from the month of the first
  deal's DATE_CREATE (that month only if the first deal was created on its 1st day at 00:00,
  else the month after) to the month before as_of's month; empty months are zeros. Model:
  :func:`b24reports.metrics.forecast.forecast_monthly` (issue 17): candidates scored by a
  rolling-origin backtest inside this history (MASE), the forecast = the mean of the three
  best, the 80% band from their backtest errors (split-conformal per horizon); forecasts and
  bounds are clipped at 0 (won amount cannot be negative). ``mape_pct`` = the forecast's
  backtest MAPE, ``None`` when a month it was scored on is 0 or under 10 % of the mean month.
  Table ``forecast_backtest`` lists every candidate's MASE. Fewer than 12 full months → empty
  tables and a note.
* **close_date_slips.** Deals open as of as_of whose CLOSEDATE moved to a later date 2+ times
  between consecutive versions in ``deal_versions`` (``valid_from ≤ as_of``).
"""

from __future__ import annotations

import pandas as pd

from b24reports.metrics.forecast import CANDIDATES, ForecastRecord, forecast_monthly
from b24reports.metrics.common import (
    OPEN,
    WON,
    days_between,
    deal_url,
    in_lookback,
    month_start,
    period_buckets,
    period_key,
    pipeline_stages,
    run_rate,
    shift_key,
    won_in,
    won_mask,
    year_ago_key,
)
from b24reports.metrics.facts import deal_facts, deal_reached
from b24reports.metrics.scope import Scope

#: Minimum number of full months of history for the time-series forecast (METRICS.md).
MIN_TREND_MONTHS = 12
#: Forecast horizon, months.
HORIZON = 3
#: Minimum closed deals that reached a stage to use its own p (else the pipeline win rate).
MIN_STAGE_DEALS = 5


def _safe_div(num: float, den: float):
    return None if den is None or den == 0 or pd.isna(den) or num is None or pd.isna(num) else num / den


def _change_pct(cur: float, base: float):
    """(cur − base) / base × 100, unrounded; base 0 → None."""
    return None if not base else 100.0 * (cur - base) / base


# --------------------------------------------------------------------------------------
# Won by period
# --------------------------------------------------------------------------------------


def won_deals(facts: pd.DataFrame) -> pd.DataFrame:
    """Deals won as of as_of: the rows of :func:`facts.deal_facts` with outcome won and a won_at."""
    return facts[(facts["outcome"] == WON) & facts["won_at"].notna()]


def won_by_period(facts: pd.DataFrame, date_from, date_to, granularity: str = "month", by_employee: bool = False) -> pd.DataFrame:
    """Won deals and amount per bucket of ``won_at`` (METRICS.md dynamics ``won_by_period``).

    In: ``facts`` = :func:`facts.deal_facts` rows (already filtered by pipeline/employee),
    ``date_from``/``date_to`` (dates, inclusive), ``granularity`` month | quarter | year
    (METRICS.md) or day (an extension for the dashboard's drill-down into a month: keys
    ``YYYY-MM-DD``). Out: one row per bucket overlapping the period (empty ones as zeros), in order; with
    ``by_employee`` one row per employee × bucket (employees with a won deal in the
    buckets): ``[employee_id,] period, won_deals (int), won_amount (report currency),
    avg_deal (= won_amount / won_deals; None with no deal), change_prev_pct (won_amount vs the
    previous bucket — for day the previous calendar day, %), change_yoy_pct (vs the same
    bucket a year earlier, :func:`common.year_ago_key`; for day the same calendar date, 29
    February vs 28 February, %)`` — unrounded. Raises ``ValueError`` for an unknown granularity.
    """
    buckets = period_buckets(date_from, date_to, granularity)
    won = won_deals(facts).copy()
    won["period"] = period_key(won["won_at"], granularity)
    cols = (["employee_id"] if by_employee else []) + [
        "period", "won_deals", "won_amount", "avg_deal", "change_prev_pct", "change_yoy_pct"]

    def rows_for(sub: pd.DataFrame, extra: dict) -> list[dict]:
        amount = sub.groupby("period")["amount"].sum().to_dict()
        count = sub.groupby("period").size().to_dict()
        out = []
        for b in buckets:
            a, n = float(amount.get(b, 0.0)), int(count.get(b, 0))
            prev = float(amount.get(shift_key(b, granularity, -1), 0.0))
            yoy = float(amount.get(year_ago_key(b, granularity), 0.0))
            out.append({**extra, "period": b, "won_deals": n, "won_amount": a,
                        "avg_deal": _safe_div(a, n), "change_prev_pct": _change_pct(a, prev),
                        "change_yoy_pct": _change_pct(a, yoy)})
        return out

    rows: list[dict] = []
    if not by_employee:
        rows = rows_for(won, {})
    else:
        in_period = won[won["period"].isin(buckets)]
        for emp in sorted(int(e) for e in in_period["employee_id"].dropna().unique()):
            rows += rows_for(won[won["employee_id"] == emp], {"employee_id": emp})
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------------------
# Stage probabilities and the weighted pipeline
# --------------------------------------------------------------------------------------


def stage_probabilities(facts: pd.DataFrame, reached: pd.Series, stages: pd.DataFrame, as_of: pd.Timestamp,
                        lookback_months: int = 12) -> tuple[pd.DataFrame, list[str]]:
    """Historical win probability p(stage) per pipeline × progress-path stage.

    In: ``facts`` (:func:`facts.deal_facts`), ``reached`` (:func:`facts.reached_index`
    aligned with facts), ``stages`` (:func:`common.stage_order`). Closed deals = won or lost
    with ``closed_at`` in ``(as_of − lookback_months, as_of]``. Out (one row per pipeline ×
    path stage): ``pipeline_id, stage_id, path_index, closed_reached`` (closed deals of the
    pipeline that reached the stage), ``closed_won`` (of those, won), ``probability``
    (fraction 0–1), ``basis`` (``stage`` when closed_reached ≥ 5; else ``pipeline`` = the
    pipeline's win rate won/(won+lost) in the window; ``none`` when the pipeline has no closed
    deal → p = 0). Also returns warnings for pipelines with open deals but no closed deal.
    Source: METRICS.md dynamics ``forecast_pipeline``.
    """
    closed = facts["outcome"].isin([WON, "lost"]) & in_lookback(facts["closed_at"], as_of, lookback_months)
    rows, warns = [], []
    path = stages.dropna(subset=["path_index"])
    for pid, g in path.groupby("pipeline_id", sort=True):
        m = closed & (facts["pipeline_id"] == pid)
        n_closed = int(m.sum())
        n_won = int((m & (facts["outcome"] == WON)).sum())
        win_rate = n_won / n_closed if n_closed else None
        has_open = bool(((facts["pipeline_id"] == pid) & (facts["outcome"] == OPEN)).any())
        if not n_closed and has_open:
            warns.append(f"pipeline {int(pid)}: no deal closed in the last {lookback_months} months, "
                         f"its open deals are weighted with probability 0")
        r = reached[m]
        won_m = facts.loc[m, "outcome"] == WON
        for sid, k in zip(g["stage_id"], g["path_index"].astype(int)):
            nr = int((r >= k).sum())
            nw = int(((r >= k) & won_m).sum())
            if nr >= MIN_STAGE_DEALS:
                p, basis = nw / nr, "stage"
            elif win_rate is not None:
                p, basis = win_rate, "pipeline"
            else:
                p, basis = 0.0, "none"
            rows.append({"pipeline_id": int(pid), "stage_id": sid, "path_index": k, "closed_reached": nr,
                         "closed_won": nw, "probability": p, "basis": basis})
    cols = ["pipeline_id", "stage_id", "path_index", "closed_reached", "closed_won", "probability", "basis"]
    return pd.DataFrame(rows, columns=cols), warns


def pipeline_win_rates(facts: pd.DataFrame, as_of: pd.Timestamp, lookback_months: int = 12) -> dict[int, float]:
    """``{pipeline_id: won/(won+lost)}`` of deals closed in the lookback window (0 without closed deals)."""
    closed = facts[facts["outcome"].isin([WON, "lost"]) & in_lookback(facts["closed_at"], as_of, lookback_months)]
    out = {}
    for pid, g in closed.groupby("pipeline_id"):
        out[int(pid)] = float((g["outcome"] == WON).sum() / len(g))
    return out


def open_deal_probabilities(facts: pd.DataFrame, probs: pd.DataFrame, win_rates: dict[int, float]) -> pd.DataFrame:
    """Open deals (as of as_of) with their p: ``id, pipeline_id, stage_id, employee_id, amount,
    closedate, probability`` (stage p; off-path stage → pipeline win rate; else 0)."""
    op = facts[facts["outcome"] == OPEN].copy()
    pmap = {(int(p), s): float(v) for p, s, v in zip(probs["pipeline_id"], probs["stage_id"], probs["probability"])}
    op["probability"] = [
        pmap.get((int(p), s), win_rates.get(int(p), 0.0)) if pd.notna(p) else 0.0
        for p, s in zip(op["pipeline_id"], op["stage_id"])
    ]
    return op


def forecast_pipeline(open_deals: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Weighted pipeline by month of expected close (METRICS.md dynamics ``forecast_pipeline``).

    In: :func:`open_deal_probabilities` rows (``closedate`` a naive date, ``amount``,
    ``probability``). Out, one row per month: ``month`` (``overdue`` for CLOSEDATE before the
    first day of as_of's month, first; then ``YYYY-MM`` ascending; ``no_date`` last),
    ``deals`` (int), ``amount``, ``weighted_amount`` = Σ amount × p (report currency, unrounded).
    """
    cols = ["month", "deals", "amount", "weighted_amount"]
    if open_deals.empty:
        return pd.DataFrame(columns=cols)
    first = pd.Timestamp(as_of.year, as_of.month, 1)
    cd = open_deals["closedate"]
    month = cd.dt.strftime("%Y-%m").astype(object)
    month = month.where(cd.notna(), "no_date")
    month = month.where(~(cd < first).fillna(False), "overdue")
    df = pd.DataFrame({"month": month.values, "amount": open_deals["amount"].values,
                       "w": (open_deals["amount"] * open_deals["probability"]).values})
    g = df.groupby("month").agg(deals=("amount", "size"), amount=("amount", "sum"), weighted_amount=("w", "sum")).reset_index()
    g["_o"] = g["month"].map(lambda m: "0" if m == "overdue" else ("2" if m == "no_date" else "1" + m))
    g = g.sort_values("_o").drop(columns="_o").reset_index(drop=True)
    g["deals"] = g["deals"].astype(int)
    return g[cols]


# --------------------------------------------------------------------------------------
# Run rate and velocity
# --------------------------------------------------------------------------------------


def won_amount_between(facts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> tuple[float, int]:
    """(Σ amount, count) of deals won with ``start <= won_at <= end``."""
    m = won_mask(facts, start, end, through_end=True)
    return float(facts.loc[m, "amount"].sum()), int(m.sum())


def velocity(facts: pd.DataFrame, as_of: pd.Timestamp, lookback_months: int = 12) -> dict:
    """Sales velocity and its parts (issue 3), unrounded.

    ``open_deals`` (open as of as_of), ``avg_won_amount`` (mean amount of deals won in the
    window), ``win_rate_pct`` (won/(won+lost) closed in the window, %), ``avg_cycle_days``
    (mean ``closed_at − DATE_CREATE`` of those closed deals, days), ``velocity_per_day`` =
    open_deals × avg_won_amount × win_rate ÷ avg_cycle_days (money per day; None when a part
    is missing or the cycle is 0). Window ``(as_of − lookback_months, as_of]`` by closed_at.
    """
    closed = facts[facts["outcome"].isin([WON, "lost"]) & in_lookback(facts["closed_at"], as_of, lookback_months)]
    won = closed[closed["outcome"] == WON]
    n_open = int((facts["outcome"] == OPEN).sum())
    avg_won = float(won["amount"].mean()) if len(won) else None
    win_rate = len(won) / len(closed) if len(closed) else None
    cyc = days_between(closed["closed_at"], closed["created"]).dropna()
    avg_cycle = float(cyc.mean()) if len(cyc) else None
    vel = None
    if avg_won is not None and win_rate is not None and avg_cycle:
        vel = n_open * avg_won * win_rate / avg_cycle
    return {"open_deals": n_open, "avg_won_amount": avg_won,
            "win_rate_pct": 100.0 * len(won) / len(closed) if len(closed) else None,
            "avg_cycle_days": avg_cycle, "velocity_per_day": vel}


# --------------------------------------------------------------------------------------
# Time-series forecast
# --------------------------------------------------------------------------------------


def monthly_won_history(facts: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Won amount per *full* month before as_of's month (see module docstring), zeros included.

    Out: float Series indexed by ``YYYY-MM`` strings, ascending; empty without deals.
    """
    created = facts["created"].dropna()
    if created.empty:
        return pd.Series(dtype="float64")
    first = created.min()
    start = month_start(first)
    if first != start:
        start = month_start(start + pd.Timedelta(days=32))
    end = month_start(as_of)  # exclusive
    if start >= end:
        return pd.Series(dtype="float64")
    months = pd.period_range(start.tz_localize(None), end.tz_localize(None) - pd.Timedelta(days=1), freq="M")
    keys = [p.strftime("%Y-%m") for p in months]
    w = won_in(facts, start, end)
    amount = w.groupby(period_key(w["won_at"], "month"))["amount"].sum()
    return pd.Series([float(amount.get(k, 0.0)) for k in keys], index=keys, dtype="float64")


TREND_COLUMNS = ["month", "forecast", "lower_80", "upper_80", "mape_pct"]
BACKTEST_COLUMNS = ["method", "mase", "in_forecast"]


def forecast_trend(history: pd.Series, horizon: int = HORIZON,
                   min_months: int = MIN_TREND_MONTHS) -> tuple[pd.DataFrame, pd.DataFrame, ForecastRecord | None, str | None]:
    """Next ``horizon`` months of won amount with an 80% band (METRICS.md ``forecast_trend``),
    by :func:`b24reports.metrics.forecast.forecast_monthly` (method chosen by a backtest in the history).

    In: :func:`monthly_won_history` (full months, ``YYYY-MM`` index). Out: (trend, backtest,
    record, note). ``trend`` rows ``month, forecast, lower_80, upper_80, mape_pct`` (money
    clipped at 0; ``mape_pct`` the chosen method's backtest MAPE, the same on every row, ``None``
    when a month it was scored on is 0 or small — :class:`ForecastRecord`). ``backtest`` rows
    ``method, mase, in_forecast``: every candidate that took part (its backtest MASE, whether it
    is one of the forecast's parts), then ``combination`` (the forecast itself, in_forecast
    True) when it averages several. ``record`` the :class:`ForecastRecord`; ``note`` ``None``.
    With fewer than ``min_months`` months: empty frames, ``None`` and a note saying how many
    full months there are.
    """
    n = len(history)
    if n < min_months:
        return (pd.DataFrame(columns=TREND_COLUMNS), pd.DataFrame(columns=BACKTEST_COLUMNS), None,
                f"forecast_trend: {n} full months of history, the model needs at least {min_months}")
    fc = forecast_monthly(history, horizon)
    rec: ForecastRecord = fc.attrs["record"]
    trend = fc.assign(mape_pct=rec.mape_pct)[TREND_COLUMNS]
    rows = [{"method": c, "mase": v, "in_forecast": c in rec.parts} for c, v in rec.mase.items() if c in CANDIDATES]
    if len(rec.parts) > 1:
        rows.append({"method": "combination", "mase": rec.mase[rec.method], "in_forecast": True})
    return trend, pd.DataFrame(rows, columns=BACKTEST_COLUMNS), rec, None


# --------------------------------------------------------------------------------------
# Close-date slips
# --------------------------------------------------------------------------------------


def close_date_slips(versions: pd.DataFrame, open_deals: pd.DataFrame, as_of: pd.Timestamp, min_slips: int = 2) -> pd.DataFrame:
    """Open deals whose expected close date (CLOSEDATE) moved later ``min_slips``+ times.

    In: ``versions`` = store ``deal_versions`` (``id, valid_from, closedate``), ``open_deals``
    = open rows of :func:`facts.deal_facts`. Versions with ``valid_from <= as_of`` in
    ``valid_from`` order; a slip is a version whose CLOSEDATE is later than the previous
    version's (missing dates skipped). Out: ``id, title, employee_id, stage_id, amount,
    slips (int), first_closedate, closedate`` (dates ``YYYY-MM-DD``), most slips first.
    """
    cols = ["id", "title", "employee_id", "stage_id", "amount", "slips", "first_closedate", "closedate"]
    if versions.empty or open_deals.empty:
        return pd.DataFrame(columns=cols)
    v = versions[(versions["valid_from"] <= as_of) & versions["id"].isin(open_deals["id"]) & versions["closedate"].notna()]
    v = v.sort_values(["id", "valid_from"])
    prev = v.groupby("id")["closedate"].shift(1)
    slip = (v["closedate"] > prev).fillna(False)
    counts = slip.groupby(v["id"]).sum()
    firsts = v.groupby("id")["closedate"].first()
    lasts = v.groupby("id")["closedate"].last()
    ids = counts[counts >= min_slips].index
    d = open_deals.set_index("id").loc[[i for i in ids if i in set(open_deals["id"])]]
    out = pd.DataFrame({
        "id": [int(i) for i in d.index],
        "title": d["title"].values,
        "employee_id": d["employee_id"].values,
        "stage_id": d["stage_id"].values,
        "amount": d["amount"].values,
        "slips": [int(counts[i]) for i in d.index],
        "first_closedate": [firsts[i].strftime("%Y-%m-%d") for i in d.index],
        "closedate": [lasts[i].strftime("%Y-%m-%d") for i in d.index],
    }, columns=cols)
    return out.sort_values(["slips", "id"], ascending=[False, True]).reset_index(drop=True)


# --------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------


def filtered_facts(ds, scope: Scope) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """:func:`facts.deal_facts` as of ``scope.as_of`` in ``scope.currency``, times in the
    report timezone. Returns (facts of the scope's pipelines and people, facts of its pipelines
    only — the base of stage probabilities, which belong to a pipeline, not to a person —,
    warnings). Raises ``BadParameter`` for an unknown currency."""
    facts, warns = deal_facts(ds, scope.as_of, scope.currency, tz=scope.tz)
    facts = scope.of_pipelines(facts)
    pipeline_facts = facts.reset_index(drop=True)
    return scope.of_people(facts).reset_index(drop=True), pipeline_facts, warns


def report_tables(ds, scope: Scope, *, granularity: str = "month", lookback_months: int = 12
                  ) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    """Every table of the dynamics report (canonical ids, unrounded) plus warnings and notes: the
    entry point of this module.

    In: the run's :class:`Scope` (period, as_of, currency, timezone, pipelines, people);
    ``granularity`` (month | quarter | year; day for the dashboard's drill-down; only
    ``won_by_period*`` use it), ``lookback_months`` (int ≥ 1). Stage probabilities use every deal
    of the scope's pipelines (the people filter applies to the deals weighted, not to p). Tables:
    ``won_by_period``, ``won_by_period_employee``, ``velocity``, ``forecast_pipeline``,
    ``stage_probabilities``, ``run_rate``, ``forecast_trend``, ``forecast_backtest``,
    ``close_date_slips`` (with each deal's ``url``). Source: METRICS.md "dynamics".
    """
    facts, pipeline_facts, warns = filtered_facts(ds, scope)
    as_of = scope.as_of
    gran = granularity or "month"
    lookback = int(lookback_months or 12)
    tables: dict[str, pd.DataFrame] = {}
    tables["won_by_period"] = won_by_period(facts, scope.date_from, scope.date_to, gran)
    tables["won_by_period_employee"] = won_by_period(facts, scope.date_from, scope.date_to, gran, by_employee=True)
    tables["velocity"] = pd.DataFrame([velocity(facts, as_of, lookback)])

    def pipeline_probabilities() -> tuple[pd.DataFrame, list[str], dict[int, float]]:
        stages = pipeline_stages(ds, list(scope.pipelines))
        reached = deal_reached(ds, pipeline_facts, as_of)
        probs, pwarn = stage_probabilities(pipeline_facts, reached, stages, as_of, lookback)
        return probs, pwarn, pipeline_win_rates(pipeline_facts, as_of, lookback)

    # p(stage) and win rates belong to the pipelines, not to the people filtered: computed once
    # per pipelines × as_of × window × currency × timezone and reused by every employee filter
    key = (__name__, "pipeline_probabilities", tuple(sorted(scope.pipelines)), as_of, lookback, scope.currency,
           str(as_of.tz))
    probs, pwarn, win_rates = ds.memo(key, pipeline_probabilities)
    warns += pwarn
    op = open_deal_probabilities(facts, probs, win_rates)
    tables["forecast_pipeline"] = forecast_pipeline(op, as_of)
    probs = probs.assign(probability_pct=100.0 * probs["closed_won"] / probs["closed_reached"])
    probs.loc[probs["basis"] != "stage", "probability_pct"] = 100.0 * probs["probability"]
    tables["stage_probabilities"] = probs

    mtd, _ = won_amount_between(facts, month_start(as_of), as_of)
    tables["run_rate"] = pd.DataFrame([run_rate(mtd, as_of)])

    history = monthly_won_history(facts, as_of)
    trend, backtest, record, note = forecast_trend(history)
    tables["forecast_trend"] = trend
    tables["forecast_backtest"] = backtest
    notes = {"trend_history": history, "trend_note": note, "forecast_record": record, "as_of": as_of, "granularity": gran,
             "lookback_months": lookback, "open_deals": op}
    if note:
        warns.append(note)

    slips = close_date_slips(ds.deal_versions, facts[facts["outcome"] == OPEN], as_of)
    tables["close_date_slips"] = slips.assign(url=deal_url(ds.portal, slips["id"]) if len(slips) else pd.Series(dtype=object))
    # slips are seen only from the first sync that kept deal versions: the page says since when
    seen = ds.deal_versions["seen_at"].dropna() if len(ds.deal_versions) else pd.Series(dtype=object)
    notes["versions_since"] = None if seen.empty else pd.Timestamp(seen.min()).tz_convert(scope.period.tz)
    return tables, warns, notes
