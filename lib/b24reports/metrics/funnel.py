"""Funnel report: deals by pipeline, stage and manager (METRICS.md section "funnel").

Pure functions: frames in, frames out. Every frame a function returns carries the canonical
column ids of METRICS.md (the keys of ``metrics.json``); rounding happens once, on the final
aggregates (money 2 decimals, ``_pct`` 1 decimal, days 1 decimal).

Cohort: deals with ``DATE_CREATE`` in the period (portal time, inclusive) that exist as of
``as_of``, in the chosen pipelines (``CATEGORY_ID``), owned (``ASSIGNED_BY_ID``) by the chosen
employees/departments. Stages and outcomes are as of ``as_of`` (:func:`facts.deal_facts`).

Choices where METRICS.md is silent (written here, kept consistent with the other reports):

* ``stages`` lists every stage of every chosen pipeline (``crm.status.list`` order: progress
  path, then lost stages), also stages no cohort deal is in (zeros), so the funnel shape is
  always complete. A pipeline that has no cohort deal at all is left out. A cohort deal
  whose stage is not in ``crm.status.list`` (deleted stage) gets its own row after the
  pipeline's lost stages, with ``reached`` and conversions null, and a warning.
* Lost-stage rows have ``reached``, ``conversion_from_prev_pct`` and
  ``conversion_to_won_pct`` null (they are not on the progress path).
* ``managers``: one row per employee owning at least one cohort deal, sorted by
  ``won_amount`` descending, then ``deals`` descending, then ``employee_id``. The cycle of a
  closed deal is ``closed_at − DATE_CREATE`` in fractional days; mean and median are taken
  over the unrounded values and rounded to 1 decimal; null when the manager closed nothing.
* ``manager_stages``: only employee × stage pairs that hold a cohort deal (sparse), in
  employee, pipeline, stage order.
* ``deals``: sorted by ``id``.
* ``time_in_stage``: a *visit* is a run of consecutive ``crm.stagehistory.list`` records
  (≤ as_of) of one deal in one stage; it lasts until the deal's next record in another
  stage, or until as_of when it is the deal's last record. An open deal with no history
  record has one visit of its current stage from ``DATE_CREATE`` to as_of. Only visits of
  progress stages (semantics P) count: a visit of a won/lost stage has no end, and its
  "time in stage" would only be the time since closing. Rows: every P stage of the
  pipelines that hold cohort deals, as in ``stages`` (``visits`` 0 and
  ``avg_days_in_stage`` null when nobody visited it).
"""

from __future__ import annotations


import pandas as pd

from b24reports.ingest.dataset import Dataset, memoized
from b24reports.metrics import common as c
from b24reports.metrics.facts import deal_facts, deal_reached
from b24reports.metrics.scope import Scope

#: Table ids of the report, in display order (METRICS.md "funnel").
TABLES = ("stages", "managers", "manager_stages", "deals", "time_in_stage")

STAGES_COLUMNS = ["pipeline_id", "stage_id", "current_deals", "current_amount", "reached",
                  "conversion_from_prev_pct", "conversion_to_won_pct"]
MANAGERS_COLUMNS = ["employee_id", "deals", "open_deals", "won_deals", "won_amount", "lost_deals",
                    "win_rate_pct", "avg_cycle_days", "median_cycle_days"]
MANAGER_STAGES_COLUMNS = ["employee_id", "pipeline_id", "stage_id", "current_deals", "current_amount"]
DEALS_COLUMNS = ["id", "title", "employee_id", "pipeline_id", "stage_id", "amount", "created",
                 "closed_at", "duration_days", "url"]
TIME_IN_STAGE_COLUMNS = ["pipeline_id", "stage_id", "visits", "avg_days_in_stage"]


def cohort(
    facts: pd.DataFrame,
    period: c.Period,
    pipelines: list[int] | None = None,
    employees: set[int] | None = None,
) -> pd.DataFrame:
    """The report's cohort: ``facts`` rows created in ``period`` in the chosen pipelines/owners.

    In: ``facts`` as :func:`facts.deal_facts` gives; ``pipelines`` (CATEGORY_ID list, None or
    empty = all); ``employees`` (ASSIGNED_BY_ID set from :func:`common.employee_filter`, None =
    everyone). Out: the matching rows, same columns, index reset.
    """
    mask = period.contains(facts["created"]).fillna(False)
    if pipelines:
        mask &= facts["pipeline_id"].isin([int(p) for p in pipelines])
    if employees is not None:
        mask &= facts["employee_id"].isin(sorted(employees))
    return facts[mask.astype(bool)].reset_index(drop=True)


def stages_table(deals: pd.DataFrame, reached: pd.Series, stages: pd.DataFrame) -> pd.DataFrame:
    """Table ``stages``: one row per pipeline × stage (progress path first, then lost stages).

    In: ``deals`` (cohort rows of :func:`facts.deal_facts`), ``reached``
    (:func:`facts.reached_index` aligned with ``deals``), ``stages``
    (:func:`common.stage_order` of the chosen pipelines). Out columns: ``pipeline_id`` (int),
    ``stage_id``, ``current_deals`` (cohort deals in the stage as of as_of), ``current_amount``
    (their amount, report currency, 2 decimals), ``reached`` (progress path only),
    ``conversion_from_prev_pct`` = reached(k)/reached(k−1) × 100, first stage: reached /
    cohort deals of the pipeline, ``conversion_to_won_pct`` = won/reached(k) × 100 (1 decimal,
    null on a zero denominator). Pipelines with no cohort deal are left out.
    """
    pipes = sorted(int(p) for p in deals["pipeline_id"].dropna().unique())
    st = stages[stages["pipeline_id"].isin(pipes)]
    reach = c.stage_reach(deals, reached, st)
    # the denominator of conversion_from_prev: reached(k−1), for the first stage the cohort deals
    reach["prev"] = reach.groupby("pipeline_id")["reached"].shift(1).fillna(reach["deals"])
    path = {(int(p), sid): (int(r), int(pr), int(w))
            for p, sid, r, pr, w in zip(reach["pipeline_id"], reach["stage_id"], reach["reached"], reach["prev"], reach["won"])}
    g = deals.groupby(["pipeline_id", "stage_id"]).agg(current_deals=("id", "size"), current_amount=("amount", "sum"))
    now = {(int(p), sid): (int(n), float(a)) for (p, sid), n, a in zip(g.index, g["current_deals"], g["current_amount"])}
    rows = []
    for pid in pipes:
        known = st.loc[st["pipeline_id"] == pid, "stage_id"].tolist()
        extra = sorted({s for (p, s) in now if p == pid} - set(known))
        for sid in [*known, *extra]:
            n, amt = now.get((pid, sid), (0, 0.0))
            reached_k, prev, won = path.get((pid, sid), (None, None, None))
            on_path = reached_k is not None
            rows.append(
                {
                    "pipeline_id": pid,
                    "stage_id": sid,
                    "current_deals": n,
                    "current_amount": round(amt, 2),
                    "reached": reached_k,
                    # from the counts, with the shared rounding and zero-denominator rule
                    "conversion_from_prev_pct": c.pct(reached_k, prev) if on_path else None,
                    "conversion_to_won_pct": c.pct(won, reached_k) if on_path else None,
                }
            )
    return _frame(rows, STAGES_COLUMNS, ints=["pipeline_id", "current_deals", "reached"])


def unknown_stage_warnings(deals: pd.DataFrame, stages: pd.DataFrame) -> list[str]:
    """Warnings for cohort deals whose stage is not in ``crm.status.list`` (by deal id)."""
    known = pd.MultiIndex.from_arrays([stages["pipeline_id"].astype("int64"), stages["stage_id"].astype(object)])
    have = pd.MultiIndex.from_arrays([deals["pipeline_id"].astype("int64"), deals["stage_id"].astype(object)])
    bad = deals.loc[~have.isin(known), "id"].astype(int).tolist()
    if not bad:
        return []
    return [f"deals in a stage missing from crm.status.list (shown as its own row): {', '.join(map(str, sorted(bad)[:50]))}"]


def managers_table(deals: pd.DataFrame) -> pd.DataFrame:
    """Table ``managers``: one row per employee (ASSIGNED_BY_ID) owning cohort deals.

    In: cohort rows of :func:`facts.deal_facts`. Out columns: ``employee_id``, ``deals``,
    ``open_deals``, ``won_deals``, ``won_amount`` (report currency, 2 decimals),
    ``lost_deals``, ``win_rate_pct`` = won/(won+lost) × 100 (1 decimal, null when nothing
    closed), ``avg_cycle_days`` and ``median_cycle_days`` over closed deals
    (``closed_at − DATE_CREATE`` in days, 1 decimal, null when nothing closed).
    Sorted by won_amount desc, deals desc, employee_id.
    """
    d = deals[deals["employee_id"].notna()]
    won, lost = d["outcome"] == c.WON, d["outcome"] == c.LOST
    g = pd.DataFrame(
        {
            "employee_id": d["employee_id"].astype("int64"),
            "open": d["outcome"] == c.OPEN,
            "won": won,
            "lost": lost,
            "won_amount": d["amount"].where(won, 0.0),
            # unrounded cycle of closed deals; NaN for open ones (skipped by mean/median)
            "cycle": c.days_between(d["closed_at"], d["created"]).where(won | lost),
        }
    ).groupby("employee_id", sort=True)
    agg = g.agg(deals=("won", "size"), open_deals=("open", "sum"), won_deals=("won", "sum"),
                won_amount=("won_amount", "sum"), lost_deals=("lost", "sum"),
                avg_cycle=("cycle", "mean"), median_cycle=("cycle", "median")).reset_index()
    rows = [
        {
            "employee_id": int(r.employee_id),
            "deals": int(r.deals),
            "open_deals": int(r.open_deals),
            "won_deals": int(r.won_deals),
            "won_amount": round(float(r.won_amount), 2),
            "lost_deals": int(r.lost_deals),
            "win_rate_pct": c.pct(int(r.won_deals), int(r.won_deals + r.lost_deals)),
            "avg_cycle_days": c.round_half(r.avg_cycle, 1),
            "median_cycle_days": c.round_half(r.median_cycle, 1),
        }
        for r in agg.itertuples(index=False)
    ]
    out = _frame(rows, MANAGERS_COLUMNS, ints=["employee_id", "deals", "open_deals", "won_deals", "lost_deals"])
    if len(out):
        out = out.sort_values(["won_amount", "deals", "employee_id"], ascending=[False, False, True], kind="stable")
    return out.reset_index(drop=True)


def manager_stages_table(deals: pd.DataFrame, stages: pd.DataFrame) -> pd.DataFrame:
    """Table ``manager_stages``: employee × stage counts of cohort deals now in the stage.

    In: cohort rows of :func:`facts.deal_facts`; ``stages`` (:func:`common.stage_order`) for
    the stage order. Out columns: ``employee_id``, ``pipeline_id``, ``stage_id``,
    ``current_deals``, ``current_amount`` (report currency, 2 decimals). Only pairs holding a
    deal; sorted by employee_id, pipeline_id, stage order (unknown stages last).
    """
    d = deals.loc[deals["employee_id"].notna(), ["employee_id", "pipeline_id", "stage_id", "id", "amount"]]
    if d.empty:
        return _frame([], MANAGER_STAGES_COLUMNS, ints=["employee_id", "pipeline_id", "current_deals"])
    g = d.groupby(["employee_id", "pipeline_id", "stage_id"]).agg(
        current_deals=("id", "size"), current_amount=("amount", "sum")
    ).reset_index()
    order = {(int(p), s): int(o) for p, s, o in zip(stages["pipeline_id"], stages["stage_id"], stages["order"])}
    g["_order"] = [order.get((int(p), s), 10**6) for p, s in zip(g["pipeline_id"], g["stage_id"])]
    g = g.sort_values(["employee_id", "pipeline_id", "_order", "stage_id"], kind="stable")
    g["current_amount"] = g["current_amount"].astype("float64").round(2)
    return _frame(g.to_dict("records"), MANAGER_STAGES_COLUMNS, ints=["employee_id", "pipeline_id", "current_deals"])


def deals_table(deals: pd.DataFrame, as_of: pd.Timestamp, portal: str) -> pd.DataFrame:
    """Table ``deals``: the cohort's deals with links into the portal.

    In: cohort rows of :func:`facts.deal_facts`; ``as_of``; ``portal`` (scheme://host).
    Out columns: ``id``, ``title``, ``employee_id``, ``pipeline_id``, ``stage_id`` (as of
    as_of), ``amount`` (report currency, 2 decimals), ``created`` (DATE_CREATE),
    ``closed_at`` (NaT when open), ``duration_days`` = (closed_at or as_of) − DATE_CREATE in
    days (1 decimal), ``url`` (``{portal}/crm/deal/details/{id}/``). Sorted by id.
    """
    d = deals.sort_values("id", kind="stable").reset_index(drop=True)
    end = d["closed_at"].where(d["closed_at"].notna(), as_of)
    out = pd.DataFrame(
        {
            "id": d["id"].astype("Int64"),
            "title": d["title"].astype(object),
            "employee_id": d["employee_id"].astype("Int64"),
            "pipeline_id": d["pipeline_id"].astype("Int64"),
            "stage_id": d["stage_id"].astype(object),
            "amount": d["amount"].astype("float64").round(2),
            "created": d["created"],
            "closed_at": d["closed_at"],
            "duration_days": c.days_between(end, d["created"]).round(1),
            "url": c.deal_url(portal, d["id"]).astype(object),
        }
    )
    return out[DEALS_COLUMNS]


def stage_visits(
    deals: pd.DataFrame, history: pd.DataFrame, stages: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame:
    """Every visit of a cohort deal to a stage, with its length (see module docstring).

    In: cohort rows of :func:`facts.deal_facts` (``id``, ``stage_id``, ``outcome``,
    ``created``), ``history`` = ``deal_stage_history`` (crm.stagehistory.list), ``stages``
    (:func:`common.stage_order`). Out columns: ``deal_id``, ``pipeline_id`` (the stage's
    pipeline, from crm.status.list; NA for an unknown stage), ``stage_id``, ``start``,
    ``end``, ``days`` (fractional). All stages, all semantics: callers choose.
    """
    h = history[(history["created_time"] <= as_of) & history["owner_id"].isin(deals["id"])]
    h = h[["owner_id", "created_time", "id", "stage_id"]].sort_values(["owner_id", "created_time", "id"], kind="stable")
    h = h[["owner_id", "created_time", "stage_id"]].rename(columns={"owner_id": "deal_id", "created_time": "start"})
    # collapse consecutive records of one deal in one stage (e.g. a pipeline-change record)
    same = (h["deal_id"] == h["deal_id"].shift()) & (h["stage_id"] == h["stage_id"].shift())
    h = h[~same]
    h["start"] = h["start"].dt.tz_convert(as_of.tz)
    nxt = h.groupby("deal_id")["start"].shift(-1)
    h = h.assign(end=nxt.where(nxt.notna(), as_of))
    # open deals without any history record: one visit of the current stage
    no_hist = deals[~deals["id"].isin(h["deal_id"]) & (deals["outcome"] == c.OPEN) & deals["created"].notna()]
    extra = pd.DataFrame(
        {"deal_id": no_hist["id"], "start": no_hist["created"].dt.tz_convert(as_of.tz), "stage_id": no_hist["stage_id"],
         "end": pd.Series([as_of] * len(no_hist), index=no_hist.index, dtype=h["start"].dtype)}
    )
    v = pd.concat([h, extra], ignore_index=True) if len(extra) else h.reset_index(drop=True)
    pipe_of = dict(zip(stages["stage_id"], stages["pipeline_id"].astype(int)))
    v["pipeline_id"] = v["stage_id"].map(pipe_of).astype("Int64")
    v["days"] = c.days_between(v["end"], v["start"])
    v["deal_id"] = v["deal_id"].astype("Int64")
    return v[["deal_id", "pipeline_id", "stage_id", "start", "end", "days"]].reset_index(drop=True)


def deal_visits(ds: Dataset, deals: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """:func:`stage_visits` of ``deals`` (rows of :func:`facts.deal_facts` for this ``as_of``,
    any subset), from the visits of every deal, computed once per dataset and as_of and cached
    (``Dataset.memo``): a deal's visits depend only on its own history, stage and outcome, so a
    refilter only picks rows. Same columns and row order as :func:`stage_visits`; ``pipeline_id``
    is the stage's pipeline among all of the portal's."""
    every = _visits_of_every_deal(ds, as_of, str(as_of.tz))  # equal instants in other zones differ
    return every[every["deal_id"].isin(deals["id"].to_numpy(dtype="int64"))].reset_index(drop=True)


@memoized
def _visits_of_every_deal(ds: Dataset, as_of: pd.Timestamp, zone: str) -> pd.DataFrame:
    facts, _ = deal_facts(ds, as_of)
    return stage_visits(facts, ds.deal_stage_history, c.pipeline_stages(ds), as_of)


def time_in_stage_table(visits: pd.DataFrame, stages: pd.DataFrame) -> pd.DataFrame:
    """Table ``time_in_stage``: per progress stage, mean days a visit lasted.

    In: :func:`stage_visits`, ``stages`` (:func:`common.stage_order` of the chosen pipelines).
    Out columns: ``pipeline_id``, ``stage_id`` (every P stage, path order), ``visits``,
    ``avg_days_in_stage`` (mean of the unrounded visit lengths, days, 1 decimal; null with
    no visit).
    """
    prog = stages[stages["semantics"] == "P"]
    agg = visits.groupby("stage_id")["days"].agg(["size", "mean"])
    rows = []
    for pid, sid in zip(prog["pipeline_id"], prog["stage_id"]):
        n = int(agg.loc[sid, "size"]) if sid in agg.index else 0
        rows.append(
            {
                "pipeline_id": int(pid),
                "stage_id": sid,
                "visits": n,
                "avg_days_in_stage": c.round_half(agg.loc[sid, "mean"], 1) if n else None,
            }
        )
    return _frame(rows, TIME_IN_STAGE_COLUMNS, ints=["pipeline_id", "visits"])


def report_tables(ds: Dataset, scope: Scope, *, stage_ids: list[str] | tuple[str, ...] = ()
                  ) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    """Every table of METRICS.md "funnel" for one run: the entry point of this module.

    In: a :class:`Dataset`; the run's :class:`Scope` (period = the creation cohort, as_of,
    currency, pipelines, people); ``stage_ids`` (STAGE_ID list; empty = all): only cohort deals
    whose stage as of as_of is one of these (the dashboard's click on a stage; an extension of
    METRICS.md, which has no stage filter). Out: ``({table id: frame}, warnings, notes)`` with the
    tables of :data:`TABLES`; notes are empty. Warnings: the Dataset's own, empty OPPORTUNITY of
    cohort deals (by id), unknown stages. Raises ``BadParameter`` for an unknown ``currency``.
    """
    as_of = scope.as_of
    facts, _ = deal_facts(ds, as_of, scope.currency, tz=scope.tz)
    pipelines = list(scope.pipelines) or None
    stages = c.pipeline_stages(ds, pipelines)
    deals = cohort(facts, scope.period, pipelines, scope.people)
    if stage_ids:
        deals = deals[deals["stage_id"].isin(list(stage_ids))].reset_index(drop=True)
    reached = deal_reached(ds, deals, as_of)
    visits = deal_visits(ds, deals, as_of)
    tables = {
        "stages": stages_table(deals, reached, stages),
        "managers": managers_table(deals),
        "manager_stages": manager_stages_table(deals, stages),
        "deals": deals_table(deals, as_of, ds.portal),
        # like ``stages``: only pipelines holding cohort deals
        "time_in_stage": time_in_stage_table(visits, stages[stages["pipeline_id"].isin(deals["pipeline_id"].unique())]),
    }
    warnings = [*ds.warnings, *c.empty_opportunity_warnings(deals, "deals"), *unknown_stage_warnings(deals, stages)]
    return tables, warnings, {}


# ------------------------------------------------------------------------------------------


def _frame(rows: list[dict], columns: list[str], ints: list[str]) -> pd.DataFrame:
    """Rows → frame with exactly ``columns``; ``ints`` as nullable Int64; other columns with a
    null become object columns holding ``None`` (the convention of :func:`common.pct`)."""
    df = pd.DataFrame(rows, columns=columns)
    for col in ints:
        df[col] = pd.array(df[col].tolist(), dtype="Int64") if len(df) else pd.Series(dtype="Int64")
    for col in columns:
        if col not in ints and df[col].isna().any():
            # nullable numbers (pct, days) as common.pct gives them: object with None, never NaN
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df.reset_index(drop=True)


__all__ = [
    "TABLES", "cohort", "stages_table", "managers_table", "manager_stages_table", "deals_table",
    "stage_visits", "deal_visits", "time_in_stage_table", "report_tables", "unknown_stage_warnings",
]
