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


def won_mask(facts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, *, through_end: bool = False) -> pd.Series:
    """The one definition of "won in a window" (METRICS.md "Conventions"): a boolean mask over
    ``facts`` rows (:func:`b24reports.metrics.facts.deal_facts`: ``outcome``, ``won_at``) with
    outcome won and ``start <= won_at < end``; with ``through_end``, ``won_at <= end`` (a window that
    ends at an instant such as as_of, included). A missing ``won_at`` is never in a window."""
    w = facts["won_at"]
    inside = (w >= start) & ((w <= end) if through_end else (w < end))
    return ((facts["outcome"] == WON) & inside).fillna(False).astype(bool)


def won_in(facts: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, *, through_end: bool = False) -> pd.DataFrame:
    """The rows of ``facts`` won in the window (see :func:`won_mask`), same columns."""
    return facts[won_mask(facts, start, end, through_end=through_end)]


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
