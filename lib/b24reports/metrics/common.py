"""Shared definitions of METRICS.md "Conventions", used by every report. Defined once here.

All functions are pure: frames in (as :class:`b24reports.ingest.dataset.Dataset` gives them), frames or
scalars out. Times are tz-aware in portal time. Money is in the report currency.

Choices where METRICS.md is silent (kept consistent across reports):

* **State as of as_of.** A deal's stage and outcome come from its own fields
  (``STAGE_ID``, ``STAGE_SEMANTIC_ID``: S won, F lost, P or empty open) unless its stage
  history has a record after as_of; then they are those of its last history record up to
  as_of (a record's empty semantics is read from ``crm.status.list``). Deals created after
  as_of do not exist yet for any report. Leads likewise (``STATUS_SEMANTIC_ID``, lead status
  history).
* **closed_at** of a deal that is open as of as_of is ``NaT``; a closed deal's ``closed_at``
  never exceeds as_of when it comes from stage history.
* **reached** counts only stage-history records up to as_of, plus the stage the deal is in
  as of as_of.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from b24reports.ingest.dataset import Dataset, memoized
from b24reports.core.errors import BadParameter

WON, LOST, OPEN = "won", "lost", "open"

# --------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------


def to_timestamp(value, tz: dt.tzinfo) -> pd.Timestamp:
    """A date, datetime, ISO string or Timestamp → tz-aware Timestamp in ``tz``.

    Naive values are read as portal time (``tz``); aware ones are converted.
    """
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        return ts.tz_localize(tz)
    return ts.tz_convert(tz)


@dataclass(frozen=True)
class Period:
    """An inclusive report period ``date_from..date_to`` in portal time.

    ``start`` = date_from 00:00:00, ``end`` = the day after date_to 00:00:00 (exclusive),
    which is the same as "to date_to 23:59:59.999999 inclusive" (METRICS.md Conventions).
    """

    date_from: dt.date
    date_to: dt.date
    tz: dt.tzinfo

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.date_from).tz_localize(self.tz)

    @property
    def end(self) -> pd.Timestamp:
        return (pd.Timestamp(self.date_to) + pd.Timedelta(days=1)).tz_localize(self.tz)

    @property
    def days(self) -> int:
        """Number of calendar days in the period (inclusive)."""
        return (self.date_to - self.date_from).days + 1

    def contains(self, ts: pd.Series) -> pd.Series:
        """Boolean mask: ``start <= ts < end`` (NaT → False)."""
        return (ts >= self.start) & (ts < self.end)


#: Bucket sizes of time tables. ``month | quarter | year`` are METRICS.md's (the contract for
#: the default and for snapshots); ``day`` is an extension, mainly for the dashboard's
#: drill-down (a month clicked on a time chart is shown day by day).
GRANULARITIES = ("month", "quarter", "year", "day")


def _check_granularity(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity {granularity!r}: expected month, quarter, year or day")


def period_key(ts: pd.Series, granularity: str) -> pd.Series:
    """Bucket keys of timestamps: ``YYYY-MM`` (month), ``YYYY-Qn`` (quarter), ``YYYY`` (year)
    or ``YYYY-MM-DD`` (day, the calendar date of the wall time in ``ts``'s timezone).

    In: a datetime Series (tz-aware in portal/report time). Out: object Series of str keys on
    ``ts``' index; NaT → None. Raises ``ValueError`` for another granularity.
    """
    _check_granularity(granularity)
    # each distinct bucket is formatted once (Series.dt.strftime formats every row: ~13x slower
    # on a million activities); the bucket of a row is a whole number, e.g. 202605 for 2026-05
    d = ts.dt
    if granularity == "month":
        code, fmt = d.year * 100 + d.month, lambda x: f"{x // 100:04d}-{x % 100:02d}"
    elif granularity == "quarter":
        code, fmt = d.year * 10 + d.quarter, lambda x: f"{x // 10:04d}-Q{x % 10}"
    elif granularity == "year":
        code, fmt = d.year, lambda x: f"{x:04d}"
    else:
        code, fmt = d.year * 10_000 + d.month * 100 + d.day, lambda x: f"{x // 10_000:04d}-{x // 100 % 100:02d}-{x % 100:02d}"
    buckets = pd.Categorical(code)  # NaT -> NaN -> code -1
    names = np.array([None, *(fmt(int(x)) for x in buckets.categories)], dtype=object)
    return pd.Series(names[buckets.codes + 1], index=ts.index, dtype=object)


def period_buckets(date_from: dt.date, date_to: dt.date, granularity: str) -> list[str]:
    """Every bucket key (``period_key`` format) that overlaps ``date_from..date_to``, in order.

    For ``day``: every calendar day from ``date_from`` to ``date_to`` inclusive. Raises
    ``ValueError`` for an unknown granularity.
    """
    _check_granularity(granularity)
    start = pd.Timestamp(date_from)
    if granularity == "day":
        return [d.strftime("%Y-%m-%d") for d in pd.date_range(start, pd.Timestamp(date_to), freq="D")]
    freq = {"month": "MS", "quarter": "QS", "year": "YS"}[granularity]
    anchor = {"month": start.replace(day=1),
              "quarter": pd.Timestamp(year=start.year, month=3 * ((start.month - 1) // 3) + 1, day=1),
              "year": pd.Timestamp(year=start.year, month=1, day=1)}[granularity]
    starts = pd.date_range(anchor, pd.Timestamp(date_to), freq=freq)
    return list(period_key(pd.Series(starts), granularity))


def shift_key(key: str, granularity: str, n: int) -> str:
    """The bucket ``n`` buckets after ``key`` (negative n: before). ``'2026-01', month, -1`` →
    ``'2025-12'``; ``'2026-02-28', day, 1`` → ``'2026-03-01'`` (n days later). Raises
    ``ValueError`` for an unknown granularity or a key not in its format."""
    _check_granularity(granularity)
    if granularity == "month":
        p = pd.Period(key, freq="M") + n
        return p.strftime("%Y-%m")
    if granularity == "quarter":
        p = pd.Period(key.replace("-", ""), freq="Q") + n
        return f"{p.year}-Q{p.quarter}"
    if granularity == "year":
        return str(int(key) + n)
    return (dt.date.fromisoformat(key) + dt.timedelta(days=n)).isoformat()


def year_ago_key(key: str, granularity: str) -> str:
    """The same bucket one year before ``key`` (the base of ``change_yoy_pct``, METRICS.md
    dynamics): month → 12 months back (``2026-03`` → ``2025-03``), quarter → 4 quarters back,
    year → the year before, day → the same calendar date a year before (``2028-02-29`` →
    ``2027-02-28``: a 29 February maps to the 28th). Raises ``ValueError`` for an unknown
    granularity or a key not in its format."""
    _check_granularity(granularity)
    if granularity == "day":
        d = dt.date.fromisoformat(key)
        if d.month == 2 and d.day == 29:
            d = d.replace(day=28)
        return d.replace(year=d.year - 1).isoformat()
    return shift_key(key, granularity, -{"month": 12, "quarter": 4, "year": 1}[granularity])


def months_back(as_of: pd.Timestamp, months: int) -> pd.Timestamp:
    """``as_of − N calendar months`` (same wall time; day clipped to the month's end).

    A lookback window of N months is ``(months_back(as_of, N), as_of]`` (METRICS.md).
    """
    return as_of - pd.DateOffset(months=months)


def in_lookback(ts: pd.Series, as_of: pd.Timestamp, months: int) -> pd.Series:
    """Mask of ``(as_of − N months, as_of]``."""
    return (ts > months_back(as_of, months)) & (ts <= as_of)


def month_start(ts: pd.Timestamp) -> pd.Timestamp:
    """First day of ``ts``'s month, 00:00, same tz."""
    return ts.normalize().replace(day=1)


def days_between(later: pd.Series, earlier: pd.Series) -> pd.Series:
    """``(later − earlier)`` in fractional days (float; NaN where either is missing)."""
    return (later - earlier).dt.total_seconds() / 86400.0


# --------------------------------------------------------------------------------------
# Rounding and ratios
# --------------------------------------------------------------------------------------


def pct(num, den):
    """Percentage 0–100, 1 decimal; zero/missing denominator → ``None`` (shown as "—").

    Works on scalars and on Series (element-wise; returns an object Series with None).
    Round final aggregates only: pass the unrounded sums.
    """
    return _ratio(num, den, 100.0, 1)


def ratio(num, den, digits: int = 2):
    """A ratio that is not a percentage (e.g. ``calls_per_won``), 2 decimals; zero den → None."""
    return _ratio(num, den, 1.0, digits)


def _ratio(num, den, scale: float, digits: int):
    if isinstance(num, pd.Series) or isinstance(den, pd.Series):
        num_s = pd.Series(num, dtype="float64") if not isinstance(num, pd.Series) else num.astype("float64")
        den_s = pd.Series(den, dtype="float64") if not isinstance(den, pd.Series) else den.astype("float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            val = (scale * num_s / den_s).round(digits)
        ok = den_s.notna() & (den_s != 0) & num_s.notna()
        return val.astype(object).where(ok, None)
    if den is None or num is None or pd.isna(den) or den == 0 or pd.isna(num):
        return None
    return round(scale * float(num) / float(den), digits)


def round_half(x, digits: int = 2):
    """Round a scalar for output; None/NaN → None."""
    if x is None or (isinstance(x, float) and math.isnan(x)) or x is pd.NA:
        return None
    return round(float(x), digits)


# --------------------------------------------------------------------------------------
# Money
# --------------------------------------------------------------------------------------


def currency_rates(currencies: pd.DataFrame, report_currency: str) -> dict[str, float]:
    """``{CURRENCY_ID: rate}`` converting 1 unit of a currency into ``report_currency``.

    Source: ``crm.currency.list``: a currency's value in base units is ``AMOUNT / AMOUNT_CNT``;
    rate(c → r) = value(c) / value(r). Raises ``BadParameter("currency", ...)`` when the
    portal does not have ``report_currency``.
    """
    if currencies.empty:
        return {report_currency: 1.0}
    cnt = currencies["amount_cnt"].astype("float64").fillna(1.0).replace(0, 1.0)
    value = currencies["amount"].astype("float64") / cnt
    per_base = dict(zip(currencies["currency"], value))
    if report_currency not in per_base or not per_base[report_currency]:
        raise BadParameter("currency", report_currency, f"not among the portal's currencies {sorted(per_base)}")
    r = per_base[report_currency]
    return {c: v / r for c, v in per_base.items() if v == v}


def to_report_currency(
    opportunity: pd.Series, currency_id: pd.Series, rates: dict[str, float], default_currency: str
) -> pd.Series:
    """``amount = OPPORTUNITY × rate(CURRENCY_ID → report currency)``; empty OPPORTUNITY → 0.

    An empty CURRENCY_ID is read as ``default_currency`` (the portal base). A currency without
    a rate raises ``KeyError`` naming it.
    """
    cur = currency_id.astype(object).where(currency_id.notna() & (currency_id.astype(object) != ""), default_currency)
    missing = sorted(set(cur.unique()) - set(rates))
    if missing:
        raise KeyError(f"no exchange rate for currencies {missing} (crm.currency.list)")
    rate = cur.map(rates).astype("float64")
    return opportunity.astype("float64").fillna(0.0) * rate


def empty_opportunity_warnings(df: pd.DataFrame, entity: str) -> list[str]:
    """Data-quality warnings for rows with empty OPPORTUNITY (counted as 0), by id."""
    ids = df.loc[df["opportunity"].isna(), "id"].dropna().astype(int).tolist()
    if not ids:
        return []
    shown = ", ".join(str(i) for i in sorted(ids)[:50]) + (" …" if len(ids) > 50 else "")
    return [f"{entity} with empty OPPORTUNITY counted as 0: {shown}"]


# --------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------


def stage_entity_id(pipeline_id: int) -> str:
    """``crm.status.list`` ENTITY_ID of a pipeline's stages: ``DEAL_STAGE`` or ``DEAL_STAGE_{id}``."""
    return "DEAL_STAGE" if int(pipeline_id) == 0 else f"DEAL_STAGE_{int(pipeline_id)}"


def stage_order(statuses: pd.DataFrame, pipelines: list[int] | None = None) -> pd.DataFrame:
    """Stages of deal pipelines in funnel order.

    In: ``statuses`` (store table). Out, one row per pipeline × stage, sorted by pipeline then
    ``SORT``: ``pipeline_id`` (int), ``stage_id``, ``name``, ``sort``, ``semantics`` (P/S/F),
    ``path_index`` (Int64: position on the progress path — P stages in SORT order then the S
    stage; <NA> for F stages), ``order`` (0.. position in the pipeline's list: progress path
    first, then lost stages). Source: METRICS.md Conventions "Stage order".
    """
    st = statuses[statuses["entity_id"].astype(str).str.match(r"^DEAL_STAGE(_\d+)?$")].copy()
    st["pipeline_id"] = st["entity_id"].str.extract(r"^DEAL_STAGE(?:_(\d+))?$")[0].fillna("0").astype(int)
    if pipelines:
        st = st[st["pipeline_id"].isin([int(p) for p in pipelines])]
    st["semantics"] = st["semantics"].fillna("P").replace("", "P")
    rows = []
    for pid, g in st.sort_values(["pipeline_id", "sort", "status_id"], kind="stable").groupby("pipeline_id", sort=True):
        prog = g[g["semantics"] == "P"]
        won = g[g["semantics"] == "S"].head(1)
        lost = g[(g["semantics"] == "F") | ((g["semantics"] == "S") & ~g.index.isin(won.index))]
        path = pd.concat([prog, won])
        path = path.assign(path_index=range(len(path)))
        lost = lost.assign(path_index=pd.NA)
        both = pd.concat([path, lost])
        both = both.assign(order=range(len(both)))
        rows.append(both)
    cols = ["pipeline_id", "stage_id", "name", "sort", "semantics", "path_index", "order"]
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
    out = pd.concat(rows, ignore_index=True).rename(columns={"status_id": "stage_id"})
    out["path_index"] = out["path_index"].astype("Int64")
    out["sort"] = out["sort"].astype("Int64")
    return out[cols].reset_index(drop=True)


def pipeline_stages(ds: Dataset, pipelines: list[int] | tuple[int, ...] | None = None) -> pd.DataFrame:
    """:func:`stage_order` of ``ds.statuses`` for ``pipelines`` (CATEGORY_ID list; None or
    empty = all), cached on the dataset (``Dataset.memo``): the stage list is the same for every
    filter of a live dashboard. Same columns as :func:`stage_order`."""
    return _pipeline_stages(ds, tuple(sorted({int(p) for p in pipelines or ()})))


@memoized
def _pipeline_stages(ds: Dataset, pipelines: tuple[int, ...]) -> pd.DataFrame:
    return stage_order(ds.statuses, list(pipelines) or None)


def lead_status_semantics(statuses: pd.DataFrame) -> dict[str, str]:
    """``{STATUS_ID: 'P'|'S'|'F'}`` for lead statuses (ENTITY_ID ``STATUS``)."""
    st = statuses[statuses["entity_id"] == "STATUS"]
    return dict(zip(st["status_id"], st["semantics"].fillna("P").replace("", "P")))


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
# People
# --------------------------------------------------------------------------------------


def department_subtree(departments: pd.DataFrame, roots: list[int]) -> set[int]:
    """``roots`` and every department below them (``department.get`` PARENT tree)."""
    children: dict[int, list[int]] = {}
    for did, parent in zip(departments["id"], departments["parent"]):
        if pd.notna(parent):
            children.setdefault(int(parent), []).append(int(did))
    seen: set[int] = set()
    stack = [int(r) for r in roots]
    while stack:
        d = stack.pop()
        if d in seen:
            continue
        seen.add(d)
        stack.extend(children.get(d, []))
    return seen


def users_in_departments(users: pd.DataFrame, departments: pd.DataFrame, roots: list[int]) -> set[int]:
    """Ids of users (active or not) whose ``UF_DEPARTMENT`` is in ``roots`` or below."""
    tree = department_subtree(departments, roots)
    out = set()
    for uid, deps in zip(users["id"], users["uf_department"]):
        if deps is None or (isinstance(deps, float) and math.isnan(deps)):
            continue
        if any(int(x) in tree for x in list(deps)):
            out.add(int(uid))
    return out


def employee_filter(ds: Dataset, employees: list[int] | None, departments: list[int] | None) -> set[int] | None:
    """The set of employee ids a report is restricted to, or ``None`` for everyone.

    Both filters given → their intersection. Source: METRICS.md Conventions "Who".
    """
    allowed: set[int] | None = None
    if departments:
        allowed = users_in_departments(ds.users, ds.departments, departments)
    if employees:
        emp = {int(e) for e in employees}
        allowed = emp if allowed is None else allowed & emp
    return allowed


def user_names(users: pd.DataFrame) -> dict[int, str]:
    """``{user id: "Last_name Name"}`` — surname first, as a Russian staff list reads (falls back
    to ``#id``). The one definition of a person's name in every output: tables, charts, Excel,
    the dashboard's employee list and the plan template."""
    out = {}
    for uid, n, ln in zip(users["id"], users["name"], users["last_name"]):
        full = " ".join(x.strip() for x in (ln, n) if isinstance(x, str) and x.strip())
        out[int(uid)] = full or f"#{int(uid)}"
    return out


def user_department(users: pd.DataFrame) -> dict[int, int | None]:
    """``{user id: first UF_DEPARTMENT id}`` (None when the user has no department)."""
    out: dict[int, int | None] = {}
    for uid, deps in zip(users["id"], users["uf_department"]):
        deps = list(deps) if deps is not None and not (isinstance(deps, float) and math.isnan(deps)) else []
        out[int(uid)] = int(deps[0]) if deps else None
    return out


# --------------------------------------------------------------------------------------
# Links into the portal (scheme and host of the webhook, never its path)
# --------------------------------------------------------------------------------------


def _entity_urls(portal: str, ids: pd.Series, path: str) -> pd.Series:
    """``{portal}/{path}/{id}/`` per id (None for a missing id); object Series on ``ids``' index."""
    base = f"{portal.rstrip('/')}/{path}/"
    num = pd.to_numeric(ids, errors="coerce").astype("Int64")
    urls = (base + num.astype(str) + "/").astype(object)
    return urls.where(num.notna(), None)


def deal_url(portal: str, ids: pd.Series) -> pd.Series:
    """``{portal}/crm/deal/details/{id}/``."""
    return _entity_urls(portal, ids, "crm/deal/details")


def lead_url(portal: str, ids: pd.Series) -> pd.Series:
    """``{portal}/crm/lead/details/{id}/``."""
    return _entity_urls(portal, ids, "crm/lead/details")


def task_url(portal: str, responsible_ids: pd.Series, ids: pd.Series) -> pd.Series:
    """``{portal}/company/personal/user/{responsible_id}/tasks/task/view/{id}/``."""
    base = portal.rstrip("/")
    who = pd.to_numeric(responsible_ids, errors="coerce").astype("Int64").fillna(0).astype("int64").astype(str)
    task = pd.to_numeric(ids, errors="coerce").astype("int64").astype(str)
    urls = base + "/company/personal/user/" + who.to_numpy(dtype=object) + "/tasks/task/view/" + task.to_numpy(dtype=object) + "/"
    return pd.Series(urls, index=ids.index, dtype=object)


# --------------------------------------------------------------------------------------
# Stage conversion (funnel, plan's reverse funnel, dynamics' stage probabilities)
# --------------------------------------------------------------------------------------


def stage_reach(facts: pd.DataFrame, reached: pd.Series, stages: pd.DataFrame) -> pd.DataFrame:
    """How many of ``facts``' deals reached each progress-path stage, and how many of those won.

    In: ``facts`` (:func:`deal_facts` rows, any subset), ``reached`` (:func:`reached_index`
    aligned with facts), ``stages`` (:func:`stage_order`). Out, one row per pipeline ×
    progress-path stage (path order): ``pipeline_id``, ``stage_id``, ``path_index``,
    ``deals`` (facts' deals of the pipeline), ``reached``, ``won`` (reached and won — every won
    deal reached every stage), ``conversion_from_prev`` (reached(k)/reached(k−1); first stage:
    reached/deals) and ``conversion_to_won`` (won/reached(k)) as unrounded fractions 0–1
    (NaN on a zero denominator). Source: METRICS.md "funnel" stages.
    """
    path = stages.dropna(subset=["path_index"])
    pipe = facts["pipeline_id"].to_numpy(dtype="float64", na_value=np.nan)
    r_all = reached.to_numpy(dtype="float64", na_value=np.nan)  # NaN never compares >= k
    won_all = (facts["outcome"] == WON).to_numpy(dtype=bool, na_value=False)
    rows = []
    for pid, g in path.groupby("pipeline_id", sort=True):
        in_pipe = pipe == pid
        n = int(in_pipe.sum())
        r, won = r_all[in_pipe], won_all[in_pipe]
        prev = n
        for sid, k in zip(g["stage_id"], g["path_index"].astype(int)):
            at_k = r >= k
            reached_k = int(at_k.sum())
            won_k = int((at_k & won).sum())
            rows.append(
                {
                    "pipeline_id": int(pid),
                    "stage_id": sid,
                    "path_index": k,
                    "deals": n,
                    "reached": reached_k,
                    "won": won_k,
                    "conversion_from_prev": reached_k / prev if prev else float("nan"),
                    "conversion_to_won": won_k / reached_k if reached_k else float("nan"),
                }
            )
            prev = reached_k
    cols = ["pipeline_id", "stage_id", "path_index", "deals", "reached", "won", "conversion_from_prev", "conversion_to_won"]
    return pd.DataFrame(rows, columns=cols)


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


# --------------------------------------------------------------------------------------
# Run rate (dynamics, plan)
# --------------------------------------------------------------------------------------


def run_rate(won_amount_mtd: float, as_of: pd.Timestamp) -> dict:
    """Month-to-date run rate of METRICS.md "dynamics".

    ``elapsed_days`` = (as_of − first day of as_of's month 00:00) / 24 h (fractional),
    ``days_in_month``, ``run_rate`` = won_amount_mtd ÷ elapsed_days × days_in_month (None when
    elapsed_days is 0). Returns ``{"month", "won_amount_mtd", "elapsed_days",
    "days_in_month", "run_rate"}`` unrounded.
    """
    start = month_start(as_of)
    elapsed = (as_of - start).total_seconds() / 86400.0
    dim = int(as_of.days_in_month)
    return {
        "month": as_of.strftime("%Y-%m"),
        "won_amount_mtd": float(won_amount_mtd),
        "elapsed_days": elapsed,
        "days_in_month": dim,
        "run_rate": (won_amount_mtd / elapsed * dim) if elapsed > 0 else None,
    }
