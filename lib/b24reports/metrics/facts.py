"""Facts: each deal, lead and activity once, as the metrics read them (METRICS.md "Conventions").

The intermediate layer between the store's tables (:class:`b24reports.ingest.dataset.Dataset`) and
every report's metrics: a deal's state, outcome, amount in the report currency and close moment as
of ``as_of`` (:func:`deal_facts`), the stages it reached (:func:`deal_reached`), a lead's outcome
(:func:`lead_facts`), every activity with its kind (:func:`activity_facts`). Pure functions,
memoized on the dataset; they import only :mod:`b24reports.metrics.common`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from b24reports.ingest.dataset import Dataset, memoized

from b24reports.metrics.common import LOST, OPEN, WON, currency_rates, days_between, empty_opportunity_warnings, lead_status_semantics, stage_order, to_report_currency


# --------------------------------------------------------------------------------------
# Deals: state as of as_of, closed_at, reached
# --------------------------------------------------------------------------------------


def outcome_of(semantic: pd.Series) -> pd.Series:
    """``STAGE_SEMANTIC_ID`` → ``'won'`` (S), ``'lost'`` (F), ``'open'`` (P/empty)."""
    s = semantic.astype(object)
    return s.map({"S": WON, "F": LOST}).fillna(OPEN).astype(object)


@memoized
def deal_facts(
    ds: Dataset, as_of: pd.Timestamp, currency: str | None = None, tz: dt.tzinfo | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """One row per deal that exists as of ``as_of`` (``DATE_CREATE <= as_of``), with its state then.

    Out columns: ``id``, ``title``, ``employee_id`` (ASSIGNED_BY_ID), ``pipeline_id``,
    ``stage_id`` and ``semantic`` (stage as of as_of), ``outcome`` (won/lost/open),
    ``amount`` (report currency), ``currency_id``, ``opportunity``, ``created`` (DATE_CREATE),
    ``closed_at`` (METRICS.md: last stage-history record ≤ as_of entering an S/F stage;
    fallback MOVED_TIME; fallback CLOSEDATE 00:00 portal time; NaT when open), ``won_at``
    (closed_at of won deals), ``closedate`` (expected close, a date), ``lead_id``,
    ``source_id``, ``utm_source``, ``utm_medium``, ``utm_campaign``, ``moved_time``.
    ``created``, ``closed_at`` and ``won_at`` are in ``tz`` (the report timezone) when given,
    else in portal time. Also returns data-quality warnings (empty OPPORTUNITY). Raises
    ``BadParameter`` for an unknown report currency.
    """
    currency = currency or ds.base_currency
    portal_tz = ds.timezone
    d = ds.deals
    d = d[d["date_create"].isna() | (d["date_create"] <= as_of)]
    hist = ds.deal_stage_history
    hist = hist[hist["created_time"] <= as_of]

    # stage as of as_of = last history record up to as_of; else current stage
    if len(hist):
        last = _last_per_owner(hist)
        pos = _positions(last.index, d["id"])
        stage_then = _take(last["stage_id"], pos, d.index)
        sem_then = _take(last["stage_semantic_id"], pos, d.index)
        has_hist = pd.Series(pos >= 0, index=d.index)
    else:
        stage_then = pd.Series(None, index=d.index, dtype=object)
        sem_then = pd.Series(None, index=d.index, dtype=object)
        has_hist = pd.Series(False, index=d.index)
    # The deal's own fields hold its state unless stage history shows a move after as_of:
    # then the state as of as_of is the last record up to as_of.
    all_hist = ds.deal_stage_history
    moved_later = d["id"].isin(all_hist.loc[all_hist["created_time"] > as_of, "owner_id"])
    use_hist = has_hist & moved_later
    stage_sem = _stage_semantics_map(ds.statuses)
    stage = stage_then.where(use_hist, d["stage_id"]).astype(object)
    sem_hist = sem_then.where(sem_then.notna() & (sem_then.astype(object) != ""), stage.map(stage_sem))
    # METRICS.md Conventions: STAGE_SEMANTIC_ID S won, F lost, P or empty open
    semantic = sem_hist.where(use_hist, d["stage_semantic_id"])
    outcome = outcome_of(semantic)

    # closed_at: last S/F history record <= as_of; fallback MOVED_TIME; fallback CLOSEDATE
    hsem = hist["stage_semantic_id"].to_numpy(dtype=object)
    empty = pd.isna(hsem) | (hsem == "")
    if empty.any():  # history rows without a semantic: read it from the stage
        hsem = hsem.copy()
        hsem[empty] = pd.Series(hist["stage_id"].to_numpy(dtype=object)[empty]).map(stage_sem).to_numpy(dtype=object)
    final_hist = hist[np.isin(hsem, ["S", "F"])]
    closed_at = pd.Series(pd.NaT, index=d.index, dtype=d["moved_time"].dtype)
    if len(final_hist):
        last_final = _last_per_owner(final_hist)  # the latest S/F record = max created_time
        pos = _positions(last_final.index, d["id"])
        got = pos >= 0
        if got.any():
            closed_at[got] = last_final["created_time"].array.take(pos[got])
    closedate_ts = d["closedate"].dt.tz_localize(portal_tz)
    closed_at = closed_at.where(closed_at.notna(), d["moved_time"])
    closed_at = closed_at.where(closed_at.notna(), closedate_ts)
    closed_at = closed_at.where(outcome != OPEN)

    rates = currency_rates(ds.currencies, currency)
    amount = to_report_currency(d["opportunity"], d["currency_id"], rates, ds.base_currency)
    out = pd.DataFrame(
        {
            "id": d["id"].astype("Int64"),
            "title": d["title"],
            "employee_id": d["assigned_by_id"].astype("Int64"),
            "pipeline_id": d["category_id"].fillna(0).astype("Int64"),
            "stage_id": stage,
            "semantic": semantic.fillna("P"),
            "outcome": outcome,
            "amount": amount,
            "currency_id": d["currency_id"],
            "opportunity": d["opportunity"],
            "created": d["date_create"],
            "closed_at": closed_at,
            "won_at": closed_at.where(outcome == WON),
            "closedate": d["closedate"],
            "lead_id": d["lead_id"].astype("Int64"),
            "source_id": d["source_id"],
            "utm_source": d["utm_source"],
            "utm_medium": d["utm_medium"],
            "utm_campaign": d["utm_campaign"],
            "moved_time": d["moved_time"],
        }
    ).reset_index(drop=True)
    if tz is not None:
        for col in ("created", "closed_at", "won_at"):
            out[col] = out[col].dt.tz_convert(tz)
    return out, empty_opportunity_warnings(d, "deals")


def _last_per_owner(hist: pd.DataFrame) -> pd.DataFrame:
    """Stage-history rows, the last one per ``owner_id`` by (``created_time``, ``id``), indexed
    by owner_id (ascending); rows with an empty owner_id or created_time are left out. Same as
    ``hist.sort_values(["owner_id", "created_time", "id"]).groupby("owner_id").tail(1)`` but
    on int64 arrays (the 100k-deal funnel target)."""
    h = hist[hist["owner_id"].notna() & hist["created_time"].notna()]
    owner = h["owner_id"].to_numpy(dtype="int64")
    created = h["created_time"].array.asi8
    rid = h["id"].to_numpy(dtype="int64", na_value=np.iinfo(np.int64).max)  # NA sorts last
    order = np.lexsort((rid, created, owner))
    o = owner[order]
    keep = order[np.append(o[1:] != o[:-1], True)]
    return h.iloc[keep].set_index("owner_id")


def _positions(index: pd.Index, ids: pd.Series) -> np.ndarray:
    """Position of each of ``ids`` in ``index`` (-1 when absent or empty)."""
    return pd.Index(index.to_numpy(dtype="float64")).get_indexer(ids.to_numpy(dtype="float64", na_value=np.nan))


def _take(values: pd.Series, pos: np.ndarray, index: pd.Index) -> pd.Series:
    """``values`` at ``pos`` (NaN where pos is -1) as a Series on ``index``, dtype inferred like ``Series.map``."""
    arr = values.to_numpy(dtype=object)
    out = np.full(len(pos), np.nan, dtype=object)
    out[pos >= 0] = arr[pos[pos >= 0]]
    return pd.Series(out, index=index).infer_objects()


def _stage_semantics_map(statuses: pd.DataFrame) -> dict[str, str]:
    st = statuses[statuses["entity_id"].astype(str).str.startswith("DEAL_STAGE")]
    return dict(zip(st["status_id"], st["semantics"].fillna("P").replace("", "P")))


def reached_index(deals: pd.DataFrame, history: pd.DataFrame, stages: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Furthest progress-path index each deal reached, as of ``as_of`` (METRICS.md "reached").

    In: ``deals`` as :func:`deal_facts` gives (``id``, ``pipeline_id``, ``stage_id``,
    ``outcome``), ``history`` = ``deal_stage_history``, ``stages`` = :func:`stage_order`.
    Out: Int64 Series aligned with ``deals``: a won deal → the S stage's index (it reached
    every stage); otherwise the max path index over its history records ≤ as_of and its stage
    as of as_of; -1 when none is on the path (e.g. a lost deal with no history).
    ``reached(deal, k)`` is ``reached_index >= k``.
    """
    # vectorized (merges, groupby max): ~100k deals and ~400k history rows in well under 1 s
    path = stages.dropna(subset=["path_index"])
    lookup = pd.DataFrame({"pipeline_id": path["pipeline_id"].astype("int64").to_numpy(),
                           "stage_id": path["stage_id"].astype(object).to_numpy(),
                           "k": path["path_index"].astype("int64").to_numpy()})
    won_idx = lookup.groupby("pipeline_id")["k"].max()

    def path_index(pipeline: pd.Series, stage: pd.Series) -> np.ndarray:
        left = pd.DataFrame({"pipeline_id": pipeline.to_numpy(dtype="float64"), "stage_id": stage.astype(object).to_numpy()})
        right = lookup.assign(pipeline_id=lookup["pipeline_id"].astype("float64"))
        return left.merge(right, how="left", on=["pipeline_id", "stage_id"])["k"].fillna(-1).to_numpy(dtype="int64")

    pipe = deals["pipeline_id"].astype("Float64").fillna(0).astype("float64")
    current = path_index(pipe, deals["stage_id"])
    h = history[(history["created_time"] <= as_of) & history["owner_id"].isin(deals["id"])]
    best = np.full(len(deals), -1, dtype="int64")
    if len(h):
        # positions instead of Series.map on Int64 (slow pointwise path); deal ids are unique
        at = _positions(pd.Index(deals["id"].to_numpy(dtype="float64", na_value=np.nan)), h["owner_id"])
        pipe_arr = deals["pipeline_id"].astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
        hk = path_index(pd.Series(pipe_arr[at]), h["stage_id"])
        np.maximum.at(best, at, hk)  # max path index over each deal's history records
    won = pipe.map(won_idx).fillna(-1).to_numpy(dtype="int64")
    out = np.where((deals["outcome"] == WON).to_numpy(dtype=bool), won, np.maximum(current, best))
    return pd.Series(out, index=deals.index, dtype="Int64")


@memoized
def _reached_by_deal(ds: Dataset, as_of: pd.Timestamp) -> pd.Series:
    facts, _ = deal_facts(ds, as_of)
    r = reached_index(facts, ds.deal_stage_history, stage_order(ds.statuses, None), as_of)
    return pd.Series(r.to_numpy(), index=facts["id"].to_numpy(dtype="int64"))


def deal_reached(ds: Dataset, deals: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """:func:`reached_index` of ``deals`` (rows of :func:`deal_facts` for this ``as_of``, any
    subset, any currency/timezone), computed once per dataset and as_of for all deals and cached
    (``Dataset.memo``): a deal's reached index depends only on its own pipeline, stage, outcome and
    history. Out: Int64 Series aligned with ``deals``."""
    by_id = _reached_by_deal(ds, as_of)
    vals = by_id.reindex(deals["id"].to_numpy(dtype="int64")).to_numpy() if len(deals) else []
    return pd.Series(vals, index=deals.index, dtype="Int64")


@memoized
def lead_facts(ds: Dataset, as_of: pd.Timestamp) -> pd.DataFrame:
    """One row per lead created by ``as_of``, with its status as of as_of.

    Out: ``id``, ``title``, ``employee_id``, ``status_id``, ``semantic`` ('P'/'S'/'F' as of
    as_of, from ``lead_status_history`` records ≤ as_of, else the current status),
    ``outcome`` ('converted' S, 'junk' F, 'in_work'), ``source_id`` (None for empty),
    ``utm_source``, ``utm_medium``, ``utm_campaign``, ``created``, ``opportunity``,
    ``currency_id``. Source: METRICS.md Conventions "Lead outcome".
    """
    leads = ds.leads
    leads = leads[leads["date_create"].isna() | (leads["date_create"] <= as_of)].copy()
    sem_map = lead_status_semantics(ds.statuses)
    hist = ds.lead_status_history
    hist = hist[hist["created_time"] <= as_of]
    # METRICS.md Conventions: STATUS_SEMANTIC_ID S converted, F junk, else in work
    cur_sem = leads["status_semantic_id"].astype(object)
    status = leads["status_id"].astype(object)
    semantic = cur_sem
    all_hist = ds.lead_status_history
    moved_later = leads["id"].isin(all_hist.loc[all_hist["created_time"] > as_of, "owner_id"])
    if len(hist):
        last = hist.sort_values(["owner_id", "created_time", "id"]).groupby("owner_id").tail(1).set_index("owner_id")
        has = leads["id"].isin(last.index) & moved_later
        h_status = leads["id"].map(last["status_id"])
        h_sem = leads["id"].map(last["status_semantic_id"])
        h_sem = h_sem.where(h_sem.notna() & (h_sem.astype(object) != ""), h_status.map(sem_map))
        status = h_status.where(has, status)
        semantic = h_sem.where(has, cur_sem)
    semantic = semantic.fillna("P").replace("", "P")
    src = leads["source_id"].astype(object)
    src = src.where(src.notna() & (src != ""), None)
    return pd.DataFrame(
        {
            "id": leads["id"].astype("Int64"),
            "title": leads["title"],
            "employee_id": leads["assigned_by_id"].astype("Int64"),
            "status_id": status,
            "semantic": semantic,
            "outcome": semantic.map({"S": "converted", "F": "junk"}).fillna("in_work").astype(object),
            "source_id": src,
            "utm_source": leads["utm_source"],
            "utm_medium": leads["utm_medium"],
            "utm_campaign": leads["utm_campaign"],
            "created": leads["date_create"],
            "opportunity": leads["opportunity"],
            "currency_id": leads["currency_id"],
        }
    ).reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Activities (managers, plan's calls per won deal, forgotten's touches)
# --------------------------------------------------------------------------------------

#: Activity kinds of METRICS.md "managers" (TYPE_ID, DIRECTION).
ACTIVITY_KINDS = ("call_out", "call_in", "meeting", "email_out", "email_in", "task", "other")


@memoized
def activity_facts(ds: Dataset) -> pd.DataFrame:
    """One row per activity with its METRICS.md "managers" kind and call duration.

    Out: ``id``, ``employee_id`` (RESPONSIBLE_ID), ``owner_type_id``, ``owner_id``,
    ``type_id``, ``direction``, ``kind`` (call_out: TYPE_ID 2 DIRECTION 2; call_in: 2/1 — a call
    with another direction counts as call_in only when DIRECTION 1, else call_out when 2, else
    other; meeting: 1; email_out: 4/2; email_in: 4/1; task: 3; other: every other TYPE_ID and
    e-mails with no direction), ``completed`` (bool), ``start_time``, ``end_time``,
    ``deadline``, ``duration_sec`` (calls only: the telephony CALL_DURATION of the
    voximplant.statistic.get record whose CRM_ACTIVITY_ID is the activity when synced, else
    END_TIME − START_TIME; NaN for other kinds), ``duration_source`` ('telephony' |
    'activity' | None).
    """
    a = ds.activities
    t = a["type_id"].astype("Int64")
    d = a["direction"].astype("Int64")
    kind = pd.Series("other", index=a.index, dtype=object)
    kind[(t == 2) & (d == 2)] = "call_out"
    kind[(t == 2) & (d == 1)] = "call_in"
    kind[(t == 2) & ~d.isin([1, 2]).fillna(False)] = "other"
    kind[t == 1] = "meeting"
    kind[(t == 4) & (d == 2)] = "email_out"
    kind[(t == 4) & (d == 1)] = "email_in"
    kind[t == 3] = "task"
    is_call = kind.isin(["call_out", "call_in"])
    act_dur = days_between(a["end_time"], a["start_time"]) * 86400.0
    duration = pd.Series(float("nan"), index=a.index)
    source = pd.Series(None, index=a.index, dtype=object)
    calls = ds.calls
    if len(calls):
        tel = calls.dropna(subset=["crm_activity_id"]).drop_duplicates("crm_activity_id", keep="last")
        tel_dur = a["id"].map(dict(zip(tel["crm_activity_id"], tel["call_duration"].astype("float64"))))
    else:
        tel_dur = pd.Series(float("nan"), index=a.index)
    use_tel = is_call & tel_dur.notna()
    duration[use_tel] = tel_dur[use_tel]
    source[use_tel] = "telephony"
    use_act = is_call & ~use_tel & act_dur.notna()
    duration[use_act] = act_dur[use_act]
    source[use_act] = "activity"
    return pd.DataFrame(
        {
            "id": a["id"].astype("Int64"),
            "employee_id": a["responsible_id"].astype("Int64"),
            "owner_type_id": a["owner_type_id"].astype("Int64"),
            "owner_id": a["owner_id"].astype("Int64"),
            "type_id": t,
            "direction": d,
            "kind": kind,
            "completed": a["completed"].fillna(False).astype(bool),
            "start_time": a["start_time"],
            "end_time": a["end_time"],
            "deadline": a["deadline"],
            "duration_sec": duration,
            "duration_source": source,
        }
    ).reset_index(drop=True)
