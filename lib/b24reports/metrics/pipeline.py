"""What changed in the open pipeline between two moments (METRICS.md / docs/metrics.md "pipeline").

Pure functions, frames in, frames out. Source: ``deal_versions`` (every version of a deal a
sync saw: pipeline, owner, OPPORTUNITY, CURRENCY_ID, CLOSEDATE, ``valid_from`` = DATE_MODIFY,
``seen_at`` = the sync that first saw it), ``deal_stage_history`` (crm.stagehistory.list:
stage moves with their own times) and ``deals`` (title, DATE_CREATE).

Definitions (the contract; docs/metrics.md "## pipeline" says the same in prose):

* **Moments.** ``t1`` = as_of; ``t0`` = the compare moment (:func:`compare_moment`:
  ``week`` = t1 − 7 days, ``month`` = t1 − 1 calendar month, a date = the end of that day).
* **State of a deal at t.** Stage and outcome (won / lost / open) as of t exactly as every
  report reads them (:func:`facts.deal_facts`: stage history, METRICS.md Conventions).
  Pipeline, owner, OPPORTUNITY, currency and CLOSEDATE from the version valid at t
  (``valid_from ≤ t < valid_to``). A deal that existed at t but whose first version a sync
  saw only later (created between two syncs and changed before the next one) takes its first
  known version and is warned about: its state at t is not known exactly.
* **Amount** = OPPORTUNITY × rate(currency → report currency) at today's rates (METRICS.md
  Money), so a change of rate is never a change of the pipeline.
* **Measured pipeline M(t)**: deals open at t, in the chosen pipelines (pipeline at t),
  owned at t by the chosen employees/departments, with CLOSEDATE at t no later than the
  horizon's end (``horizon``: the end of as_of's month / quarter / year; ``all`` = every open
  deal, with or without a date). Overdue deals stay in (still expected). Value = Σ amount.
* **Waterfall steps** (each deal lands in exactly one, so the steps add up exactly from
  ``start`` = value of M(t0) to ``end`` = value of M(t1)), with v0 = amount at t0, v1 at t1:

  - in M(t0) and M(t1): ``amount_up`` (+ v1 − v0 > 0) or ``amount_down`` (v1 − v0 < 0);
    unchanged amounts add 0;
  - only in M(t1): ``new`` (+ v1; created after t0), ``pulled_in`` (+ v1; open at t0 in the
    same pipeline and owner scope, its CLOSEDATE then after the horizon or empty), else
    ``other`` (+ v1: reopened, moved in from another pipeline or owner outside the filter);
  - only in M(t0): ``won`` (− v0; won at t1), ``lost`` (− v0; lost at t1), ``pushed_out``
    (− v0; still open in the same scope, CLOSEDATE now after the horizon or cleared), else
    ``other`` (− v0: moved to another pipeline, to an owner outside the filter).

  A deal deleted from the portal since t0 is absent from the store's deals and from both
  moments (the deal table cannot show a deal that no longer exists).
* **Changes of a deal** (list ``changes``; none = unchanged): ``new`` (created in (t0, t1]),
  ``won``, ``lost`` (outcome at t1, open at t0 or new), ``advanced`` / ``moved_back``
  (open at both, same pipeline: ``stages_moved`` = progress-path index at t1 − at t0),
  ``slipped`` / ``closedate_earlier`` (CLOSEDATE later / earlier; ``slip_days`` = difference
  in days, positive = later), ``amount_up`` / ``amount_down`` (OPPORTUNITY or currency
  changed so that the amount in report currency rose / fell), ``owner_changed``,
  ``pipeline_changed``. ``change`` is the first of them in that order (the row's headline).
* **When.** Stage moves carry their time (``stage_moved_at``: last stage-history record in
  (t0, t1]). Pipeline, owner, amount and close date changes are known only between two syncs:
  ``sync_before`` = the last sync that still saw the old state, ``sync_after`` = the sync
  that saw the state of t1 (sync moments = ``seen_at`` of versions, in the portal's clock).
* **History start** = the first sync that recorded versions (min ``seen_at``). A compare
  moment before it is not compared at all: the tables stay empty and ``notes["too_early"]``
  says so (never zeros that look like "nothing changed").
"""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np
import pandas as pd

from b24reports.ingest.dataset import Dataset, memoized
from b24reports.core.errors import BadParameter
from b24reports.metrics import common as c
from b24reports.metrics.facts import deal_facts
from b24reports.metrics.scope import Scope

HORIZONS = ("month", "quarter", "year", "all")
COMPARE_WORDS = ("week", "month")
STEPS = ("start", "new", "amount_up", "amount_down", "won", "lost", "pushed_out", "pulled_in", "other", "end")
#: order of ``changes`` ids; the first present is the row's ``change``
CHANGE_ORDER = ("new", "won", "lost", "slipped", "closedate_earlier", "advanced", "moved_back", "amount_up",
                "amount_down", "owner_changed", "pipeline_changed")
UNCHANGED = "unchanged"

WATERFALL_COLUMNS = ["pipeline_id", "step", "deals", "amount"]
WATERFALL_TOTAL_COLUMNS = ["step", "deals", "amount"]
DEAL_COLUMNS = ["id", "title", "pipeline_id", "employee_id", "change", "changes", "step", "delta", "stage_from",
                "stage_id", "stages_moved", "stage_moved_at", "amount_from", "amount", "closedate_from", "closedate",
                "slip_days", "employee_from", "sync_before", "sync_after", "url"]
BY_EMPLOYEE_COLUMNS = ["employee_id", "open_amount_start", "open_amount_end", "net_change", "new_deals",
                       "advanced_deals", "moved_back_deals", "slipped_deals", "slipped_amount", "won_deals", "lost_deals", "won_out_amount",
                       "lost_out_amount"]


# --------------------------------------------------------------------------------------
# Moments
# --------------------------------------------------------------------------------------


def compare_moment(compare_to: str | None, as_of: pd.Timestamp) -> pd.Timestamp:
    """``t0`` of parameter ``compare_to``: ``week`` (default, also None/empty) = as_of − 7 days;
    ``month`` = as_of − 1 calendar month; ``YYYY-MM-DD`` = the end of that day (23:59:59.999999)
    in as_of's timezone, like a date-only as_of. Raises ``BadParameter("compare_to")`` for
    anything else or a moment not before as_of."""
    text = (compare_to or "week").strip().lower()
    if text == "week":
        t0 = as_of - pd.Timedelta(days=7)
    elif text == "month":
        t0 = as_of - pd.DateOffset(months=1)
    else:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise BadParameter("compare_to", compare_to, "expected week, month or a date YYYY-MM-DD") from None
        t0 = pd.Timestamp(day).tz_localize(as_of.tzinfo) + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    if t0 >= as_of:
        raise BadParameter("compare_to", compare_to, f"must be before as_of ({as_of.isoformat()})")
    return pd.Timestamp(t0)


def horizon_end(horizon: str, as_of: pd.Timestamp) -> dt.date | None:
    """Last CLOSEDATE inside the measured pipeline: the last day of as_of's month, quarter or
    year; ``None`` for ``all`` (no limit). Raises ``BadParameter("horizon")`` for another value."""
    if horizon not in HORIZONS:
        raise BadParameter("horizon", horizon, f"expected one of {', '.join(HORIZONS)}")
    y, m = as_of.year, as_of.month
    if horizon == "all":
        return None
    if horizon == "quarter":
        m = 3 * ((m - 1) // 3) + 3
    elif horizon == "year":
        m = 12
    return dt.date(y, m, calendar.monthrange(y, m)[1])


def history_start(versions: pd.DataFrame) -> pd.Timestamp | None:
    """The first sync that recorded deal versions (min ``seen_at``), or None without versions."""
    s = versions["seen_at"].dropna() if len(versions) else pd.Series(dtype=object)
    return None if s.empty else pd.Timestamp(s.min())


def sync_moments(versions: pd.DataFrame) -> list[pd.Timestamp]:
    """Distinct ``seen_at`` of deal versions, ascending: the syncs that saw a deal change."""
    if not len(versions):
        return []
    return sorted(pd.Timestamp(x) for x in versions["seen_at"].dropna().unique())


# --------------------------------------------------------------------------------------
# State of every deal at one moment
# --------------------------------------------------------------------------------------


def versions_at(versions: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    """The version of each deal valid at ``t`` (``valid_from ≤ t < valid_to``, NULL valid_to =
    still current), indexed by deal id, plus ``known`` = True. Deals whose versions all start
    after t get their first version with ``known`` = False."""
    v = versions.sort_values(["id", "valid_from"], kind="stable")
    valid = v[(v["valid_from"] <= t) & (v["valid_to"].isna() | (v["valid_to"] > t))]
    valid = valid.drop_duplicates("id", keep="last").set_index("id").assign(known=True)
    first = v.drop_duplicates("id", keep="first").set_index("id")
    first = first[~first.index.isin(valid.index)].assign(known=False)
    return pd.concat([valid, first]).sort_index()


@memoized
def deal_states(ds: Dataset, t: pd.Timestamp, currency: str, tz: dt.tzinfo) -> pd.DataFrame:
    """One row per deal existing at ``t`` (DATE_CREATE ≤ t) with its state then.

    Out columns: ``id``, ``title``, ``created``, ``stage_id``, ``outcome`` (won/lost/open,
    :func:`facts.deal_facts`), ``pipeline_id``, ``employee_id``, ``amount`` (report currency),
    ``closedate`` (naive date), ``known`` (False: the version at t was not seen, see module
    doc), ``valid_from``, ``seen_at`` of the version used. Raises ``BadParameter`` for an
    unknown currency. Cached on the dataset (the same for every filter of a dashboard).
    """
    facts, _ = deal_facts(ds, t, currency, tz=tz)
    f = facts.set_index("id")
    ver = versions_at(ds.deal_versions, t) if len(ds.deal_versions) else pd.DataFrame()
    ver = ver.reindex(f.index)
    have = ver["valid_from"].notna() if len(ver.columns) else pd.Series(False, index=f.index)
    # a deal without any version (a store older than versions) reads its current fields
    cur = ds.deals.set_index("id").reindex(f.index)
    pick = lambda vc, dc: ver[vc].where(have, cur[dc]) if len(ver.columns) else cur[dc]  # noqa: E731
    opp = pick("opportunity", "opportunity").astype("float64")
    cur_id = pick("currency_id", "currency_id").astype(object)
    rates = c.currency_rates(ds.currencies, currency)
    amount = c.to_report_currency(opp, cur_id, rates, ds.base_currency)
    known = (ver["known"].where(have, False) if len(ver.columns) else pd.Series(False, index=f.index)).astype(bool)
    out = pd.DataFrame({
        "id": f.index.astype("Int64"),
        "title": f["title"].to_numpy(),
        "created": f["created"].to_numpy(),
        "stage_id": f["stage_id"].to_numpy(),
        "outcome": f["outcome"].to_numpy(),
        "pipeline_id": pick("category_id", "category_id").fillna(0).astype("Int64").to_numpy(),
        "employee_id": pick("assigned_by_id", "assigned_by_id").astype("Int64").to_numpy(),
        "amount": amount.to_numpy(),
        "closedate": pd.to_datetime(pick("closedate", "closedate")).to_numpy(),
        "known": known.to_numpy(),
        "valid_from": ver["valid_from"].to_numpy() if len(ver.columns) else pd.NaT,
        "seen_at": ver["seen_at"].to_numpy() if len(ver.columns) else pd.NaT,
    })
    out["created"] = pd.to_datetime(out["created"], utc=True).dt.tz_convert(tz)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------


def _in_scope(s: pd.DataFrame, pipelines: list[int] | None, employees: set[int] | None) -> pd.Series:
    ok = pd.Series(True, index=s.index)
    if pipelines:
        ok &= s["pipeline_id"].isin([int(p) for p in pipelines])
    if employees is not None:
        ok &= s["employee_id"].isin(sorted(employees))
    return ok.fillna(False).astype(bool)


def _in_horizon(s: pd.DataFrame, end: dt.date | None) -> pd.Series:
    if end is None:
        return pd.Series(True, index=s.index)
    return (s["closedate"].notna() & (s["closedate"] <= pd.Timestamp(end))).astype(bool)


def _path_index(states: pd.DataFrame, stages: pd.DataFrame) -> pd.Series:
    key = dict(zip(zip(stages["pipeline_id"].astype(int), stages["stage_id"]), stages["path_index"]))
    return pd.Series([key.get((int(p), s)) if pd.notna(p) else None for p, s in zip(states["pipeline_id"], states["stage_id"])],
                     index=states.index, dtype="Int64")


def _sync_bounds(versions: pd.DataFrame, ids: pd.Series, from0: pd.Series, seen1: pd.Series,
                 moments: list[pd.Timestamp]) -> tuple[pd.Series, pd.Series]:
    """(``sync_before``, ``sync_after``) per deal: the last sync moment before the first version
    after the t0 version was seen, and the ``seen_at`` of the t1 version."""
    before = pd.Series(pd.NaT, index=ids.index, dtype="object")
    if not len(versions) or not moments:
        return before, seen1
    v = versions[versions["id"].isin(ids)].sort_values(["id", "valid_from"], kind="stable")
    groups = {int(k): g for k, g in v.groupby("id", sort=False)}
    arr = np.array([m.value for m in moments])
    for i, (did, f0) in enumerate(zip(ids, from0)):
        g = groups.get(int(did))
        if g is None or pd.isna(f0):
            continue
        nxt = g[g["valid_from"] > f0]
        if nxt.empty:
            continue
        seen = pd.Timestamp(nxt["seen_at"].iloc[0])
        k = int(np.searchsorted(arr, seen.value, side="left")) - 1
        if k >= 0:
            before.iloc[i] = moments[k]
    return before, seen1


def compare(ds: Dataset, t0: pd.Timestamp, t1: pd.Timestamp, *, currency: str, tz: dt.tzinfo, horizon: str = "quarter",
            pipelines: list[int] | None = None, employees: set[int] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Every deal relevant to the comparison, one row each, with both states, its changes and
    its waterfall step.

    Rows: deals in scope (pipeline/owner filters) at t0 or at t1 that were open at t0, open
    at t1 or created in (t0, t1]. Out: :data:`DEAL_COLUMNS` plus ``in0``/``in1`` (in the
    measured pipeline at t0/t1), ``employee_to`` (= ``employee_id``), ``v0``/``v1`` (value in
    the measured pipeline, 0 when out), ``known0``. Warnings: deals whose state at t0 is not
    known exactly. Raises ``BadParameter`` for a bad horizon or currency.
    """
    end = horizon_end(horizon, t1)
    s0 = deal_states(ds, t0, currency, tz).set_index("id")
    s1 = deal_states(ds, t1, currency, tz).set_index("id")
    open0 = s0["outcome"] == c.OPEN
    open1 = s1["outcome"] == c.OPEN
    scope0 = _in_scope(s0, pipelines, employees)
    scope1 = _in_scope(s1, pipelines, employees)
    new = s1["created"] > t0
    keep1 = scope1 & (open1 | new)
    keep0 = scope0 & open0
    ids = sorted(set(s1.index[keep1]) | set(s0.index[keep0]) | set(s1.index[scope1 & s1.index.isin(s0.index[keep0])]))
    # a deal open at t0 in scope, whatever it became (won, lost, moved away) is a row
    a = s0.reindex(ids)
    b = s1.reindex(ids)
    in0 = (a["outcome"] == c.OPEN).fillna(False) & _in_scope(a, pipelines, employees) & _in_horizon(a, end)
    in1 = (b["outcome"] == c.OPEN).fillna(False) & _in_scope(b, pipelines, employees) & _in_horizon(b, end)
    in0, in1 = in0.astype(bool), in1.astype(bool)
    v0 = a["amount"].where(in0, 0.0).fillna(0.0)
    v1 = b["amount"].where(in1, 0.0).fillna(0.0)
    is_new = b["created"].notna() & (b["created"] > t0)
    same_scope_open1 = (b["outcome"] == c.OPEN).fillna(False) & _in_scope(b, pipelines, employees)
    same_scope_open0 = (a["outcome"] == c.OPEN).fillna(False) & _in_scope(a, pipelines, employees)
    step = pd.Series("", index=a.index, dtype=object)
    both = in0 & in1
    step[both & (v1 > v0)] = "amount_up"
    step[both & (v1 < v0)] = "amount_down"
    only1 = in1 & ~in0
    step[only1 & is_new] = "new"
    step[only1 & ~is_new & same_scope_open0] = "pulled_in"
    step[only1 & (step == "")] = "other"
    only0 = in0 & ~in1
    step[only0 & (b["outcome"] == c.WON).fillna(False)] = "won"
    step[only0 & (b["outcome"] == c.LOST).fillna(False)] = "lost"
    step[only0 & (step == "") & same_scope_open1] = "pushed_out"
    step[only0 & (step == "")] = "other"
    samepipe = (a["pipeline_id"] == b["pipeline_id"]).fillna(False).astype(bool)
    pipe_ch = (~is_new & a["pipeline_id"].notna() & ~samepipe).fillna(False).astype(bool)
    step[(in0 | in1) & pipe_ch] = "other"  # left one pipeline, entered another: "other" in each
    delta = v1 - v0

    # changes
    stages = c.pipeline_stages(ds)
    pi0, pi1 = _path_index(a, stages), _path_index(b, stages)
    bothopen = ((a["outcome"] == c.OPEN) & (b["outcome"] == c.OPEN)).fillna(False).astype(bool)
    moved = (pi1 - pi0).where(bothopen & samepipe & ~is_new)
    # a close date moves the forecast only while the deal stays open (closing a deal resets it)
    slip = ((b["closedate"] - a["closedate"]).dt.days).where(~is_new & a["closedate"].notna() & b["closedate"].notna()
                                                            & (b["outcome"] == c.OPEN).fillna(False))
    amt_d = (b["amount"] - a["amount"]).where(~is_new)
    owner_ch = (~is_new & a["employee_id"].notna() & (a["employee_id"] != b["employee_id"])).fillna(False)
    flags = {
        "new": is_new,
        "won": (b["outcome"] == c.WON).fillna(False) & ((a["outcome"] == c.OPEN).fillna(False) | is_new),
        "lost": (b["outcome"] == c.LOST).fillna(False) & ((a["outcome"] == c.OPEN).fillna(False) | is_new),
        "slipped": (slip > 0).fillna(False),
        "closedate_earlier": (slip < 0).fillna(False),
        "advanced": (moved > 0).fillna(False),
        "moved_back": (moved < 0).fillna(False),
        "amount_up": (amt_d > 0.005).fillna(False),
        "amount_down": (amt_d < -0.005).fillna(False),
        "owner_changed": owner_ch,
        "pipeline_changed": pipe_ch,
    }
    changes = [[k for k in CHANGE_ORDER if bool(flags[k].iloc[i])] for i in range(len(a))]
    change = [ch[0] if ch else UNCHANGED for ch in changes]

    hist = ds.deal_stage_history
    h = hist[(hist["created_time"] > t0) & (hist["created_time"] <= t1)]
    last_move = h.groupby("owner_id")["created_time"].max() if len(h) else pd.Series(dtype="datetime64[ns, UTC]")
    stage_moved_at = pd.Series([last_move.get(i, pd.NaT) for i in ids], index=a.index)
    stage_moved_at = pd.to_datetime(stage_moved_at, utc=True).dt.tz_convert(tz)
    field_change = pd.Series([any(f in ch for f in ("slipped", "closedate_earlier", "amount_up", "amount_down",
                                                      "owner_changed", "pipeline_changed")) for ch in changes], index=a.index)
    fc = field_change.to_numpy()
    sb, sa = _sync_bounds(ds.deal_versions, pd.Series(ids, index=a.index)[fc], a["valid_from"][fc], b["seen_at"][fc],
                          sync_moments(ds.deal_versions))
    sb, sa = sb.reindex(a.index), sa.reindex(a.index)
    sb = pd.to_datetime(sb.where(field_change), utc=True).dt.tz_convert(tz)
    sa = pd.to_datetime(sa.where(field_change), utc=True).dt.tz_convert(tz)
    idx = pd.Index(ids)
    out = pd.DataFrame({
        "id": pd.array(ids, dtype="Int64"),
        "title": b["title"].where(b["title"].notna(), a["title"]).to_numpy(),
        "pipeline_id": b["pipeline_id"].where(b["pipeline_id"].notna(), a["pipeline_id"]).astype("Int64").to_numpy(),
        "employee_id": b["employee_id"].astype("Int64").to_numpy(),
        "change": change,
        "changes": changes,
        "step": step.where(step != "", None).to_numpy(),
        "delta": delta.to_numpy(),
        "stage_from": a["stage_id"].to_numpy(),
        "stage_id": b["stage_id"].to_numpy(),
        "stages_moved": moved.astype("Int64").to_numpy(),
        "stage_moved_at": stage_moved_at.to_numpy(),
        "amount_from": a["amount"].to_numpy(),
        "amount": b["amount"].to_numpy(),
        "closedate_from": a["closedate"].to_numpy(),
        "closedate": b["closedate"].to_numpy(),
        "slip_days": slip.astype("Int64").to_numpy(),
        "employee_from": a["employee_id"].astype("Int64").to_numpy(),
        "sync_before": sb.to_numpy(),
        "sync_after": sa.to_numpy(),
        "url": c.deal_url(ds.portal, pd.Series(ids, dtype="Int64")).to_numpy(),
        "in0": in0.to_numpy(), "in1": in1.to_numpy(), "v0": v0.to_numpy(), "v1": v1.to_numpy(),
        "known0": a["known"].where(a["known"].notna(), True).astype(bool).to_numpy(),
        "employee_to": b["employee_id"].astype("Int64").to_numpy(),
        "pipeline_from": a["pipeline_id"].where(~is_new, b["pipeline_id"]).astype("Int64").to_numpy(),
    }, index=range(len(idx)))
    for col in ("stage_moved_at", "sync_before", "sync_after"):
        out[col] = pd.to_datetime(out[col], utc=True).dt.tz_convert(tz)
    unknown = out.loc[~out["known0"] & out["in0"], "id"].astype(int).tolist()
    warnings = []
    if unknown:
        shown = ", ".join(str(i) for i in unknown[:50]) + (" …" if len(unknown) > 50 else "")
        warnings.append(f"deals whose state at the compare moment no sync saw (first known version used): {shown}")
    return out, warnings


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------


def waterfall(rows: pd.DataFrame, pipelines: list[int]) -> pd.DataFrame:
    """Table ``waterfall`` from :func:`compare` rows: per ``pipeline_id`` × step of
    :data:`STEPS`, ``deals`` and ``amount`` (start/end: the measured pipeline's deals and value;
    other steps: the deals in that step and their signed contribution). Start + steps = end
    exactly (each deal is in one step). A deal that changed pipeline counts in each pipeline
    with its own side (− in the old, + in the new)."""
    out = []
    for pid in pipelines:
        r0 = rows[rows["in0"] & (rows["pipeline_from"] == pid)]
        r1 = rows[rows["in1"] & (rows["pipeline_id"] == pid)]
        parts = _pipeline_parts(rows, pid)
        out.append({"pipeline_id": pid, "step": "start", "deals": int(len(r0)), "amount": float(r0["v0"].sum())})
        for s in STEPS[1:-1]:
            p = parts[parts["step_p"] == s]
            out.append({"pipeline_id": pid, "step": s, "deals": int(p["id"].nunique()), "amount": float(p["delta_p"].sum())})
        out.append({"pipeline_id": pid, "step": "end", "deals": int(len(r1)), "amount": float(r1["v1"].sum())})
    return pd.DataFrame(out, columns=WATERFALL_COLUMNS)


def _pipeline_parts(rows: pd.DataFrame, pid: int) -> pd.DataFrame:
    """Each deal's contribution to pipeline ``pid``: (id, step_p, delta_p). Deals that stay in
    the pipeline keep their step; a deal leaving it (pipeline changed) is "other" −v0 here, a
    deal entering it "other" +v1."""
    same = rows[(rows["pipeline_from"] == pid) & (rows["pipeline_id"] == pid)]
    parts = [pd.DataFrame({"id": same["id"], "step_p": same["step"], "delta_p": same["delta"]})]
    left = rows[(rows["pipeline_from"] == pid) & (rows["pipeline_id"] != pid) & rows["in0"]]
    parts.append(pd.DataFrame({"id": left["id"], "step_p": "other", "delta_p": -left["v0"]}))
    came = rows[(rows["pipeline_id"] == pid) & (rows["pipeline_from"] != pid) & rows["in1"]]
    parts.append(pd.DataFrame({"id": came["id"], "step_p": "other", "delta_p": came["v1"]}))
    return pd.concat(parts, ignore_index=True)


def waterfall_total(wf: pd.DataFrame) -> pd.DataFrame:
    """Table ``waterfall_total``: ``waterfall`` summed over pipelines per step (deals counted
    per pipeline side: a deal moved between two shown pipelines counts in both "other")."""
    g = wf.groupby("step", sort=False)[["deals", "amount"]].sum().reindex(list(STEPS)).fillna(0).reset_index()
    g["deals"] = g["deals"].astype(int)
    return g[WATERFALL_TOTAL_COLUMNS]


def by_employee(rows: pd.DataFrame, employees: set[int] | None = None) -> pd.DataFrame:
    """Table ``by_employee``: per employee owning a deal of ``rows`` at t0 or t1:
    ``open_amount_start`` (Σ v0 of deals owned at t0), ``open_amount_end`` (Σ v1 owned at t1),
    ``net_change`` = end − start, and counts among the deals owned at t1: ``new_deals``,
    ``advanced_deals``, ``moved_back_deals``, ``slipped_deals`` with ``slipped_amount`` (their
    amount at t1), ``won_deals``, ``lost_deals``; ``won_out_amount`` and ``lost_out_amount``: Σ v0 of the
    deals owned at t0 that were won / lost, the part of the fall that a win or a loss took out of
    the open pipeline (a win lowers ``net_change`` too). Sorted by net change ascending (the biggest
    fall first), then employee id. ``employees``: only these (the other side of a handover is
    not listed under an employee filter)."""
    emps = sorted(set(rows["employee_from"].dropna().astype(int)) | set(rows["employee_to"].dropna().astype(int)))
    if employees is not None:
        emps = [e for e in emps if e in employees]
    has = lambda k: rows["changes"].map(lambda ch: k in ch).astype(bool)  # noqa: E731
    flags = {k: has(k) for k in ("new", "advanced", "moved_back", "slipped", "won", "lost")}
    out = []
    for e in emps:
        had = (rows["in0"] & (rows["employee_from"] == e)).fillna(False).astype(bool)
        start = float(rows.loc[had, "v0"].sum())
        end = float(rows.loc[rows["in1"] & (rows["employee_to"] == e), "v1"].sum())
        mine = (rows["employee_to"] == e).fillna(False).astype(bool)
        slipped = mine & flags["slipped"]
        out.append({
            "employee_id": e, "open_amount_start": start, "open_amount_end": end, "net_change": end - start,
            "new_deals": int((mine & flags["new"]).sum()), "advanced_deals": int((mine & flags["advanced"]).sum()),
            "moved_back_deals": int((mine & flags["moved_back"]).sum()), "slipped_deals": int(slipped.sum()),
            "slipped_amount": float(rows.loc[slipped, "amount"].sum()),
            "won_deals": int((mine & flags["won"]).sum()), "lost_deals": int((mine & flags["lost"]).sum()),
            "won_out_amount": float(rows.loc[had & flags["won"], "v0"].sum()),
            "lost_out_amount": float(rows.loc[had & flags["lost"], "v0"].sum()),
        })
    df = pd.DataFrame(out, columns=BY_EMPLOYEE_COLUMNS)
    return df.sort_values(["net_change", "employee_id"], kind="stable").reset_index(drop=True)


def _sort_deals(rows: pd.DataFrame) -> pd.DataFrame:
    """Changed deals first (by |delta| descending, then headline change order), unchanged last; then id."""
    rank = {k: i for i, k in enumerate((*CHANGE_ORDER, UNCHANGED))}
    r = rows.assign(_u=rows["change"] == UNCHANGED, _a=-rows["delta"].abs(), _r=rows["change"].map(rank))
    return r.sort_values(["_u", "_a", "_r", "id"], kind="stable").drop(columns=["_u", "_a", "_r"]).reset_index(drop=True)


def report_tables(ds: Dataset, scope: Scope, *, compare_to: str | None = "week", horizon: str = "quarter",
                  step: str | None = None) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    """The entry point of this module: for the run's :class:`Scope` (as_of = the later moment, currency,
    timezone, pipelines, people; the period does not apply), tables ``waterfall``, ``waterfall_total``, ``deals``, ``by_employee``; warnings; notes
    (``t0``, ``t1``, ``history_start``, ``too_early``, ``horizon_end``, ``syncs`` in (t0, t1]
    and the last one before, ``start``/``end`` totals, ``changed`` deals). ``step``: table ``deals`` keeps only
    the deals of that waterfall step (the waterfall and the summary stay whole)."""
    tz = scope.tz
    currency = scope.currency or ds.base_currency
    pipelines, employees = list(scope.pipelines) or None, scope.people
    t1 = scope.as_of
    t0 = compare_moment(compare_to, t1)
    end = horizon_end(horizon, t1)
    hs = history_start(ds.deal_versions)
    moments = sync_moments(ds.deal_versions)
    notes = {"t0": t0, "t1": t1, "history_start": hs.tz_convert(tz) if hs is not None else None, "horizon": horizon,
             "horizon_end": end, "too_early": hs is None or t0 < hs,
             "syncs": [m.tz_convert(tz) for m in moments if t0 < m <= t1],
             "sync_before": next((m.tz_convert(tz) for m in reversed(moments) if m <= t0), None)}
    shown = sorted(int(p) for p in (pipelines or ds.pipelines["id"].dropna().astype(int).tolist()))
    if notes["too_early"]:
        empty = {"waterfall": pd.DataFrame(columns=WATERFALL_COLUMNS),
                 "waterfall_total": pd.DataFrame(columns=WATERFALL_TOTAL_COLUMNS),
                 "deals": pd.DataFrame(columns=DEAL_COLUMNS), "by_employee": pd.DataFrame(columns=BY_EMPLOYEE_COLUMNS)}
        notes.update(start=None, end=None, changed=None)
        return empty, [], notes
    rows, warnings = compare(ds, t0, t1, currency=currency, tz=tz, horizon=horizon, pipelines=pipelines,
                             employees=employees)
    wf = waterfall(rows, shown)
    total = waterfall_total(wf)
    notes.update(start=float(rows["v0"].sum()), end=float(rows["v1"].sum()),
                 changed=int((rows["change"] != UNCHANGED).sum()))
    deals = _sort_deals(rows if not step else rows[rows["step"] == step])
    tables = {"waterfall": wf, "waterfall_total": total, "deals": deals, "by_employee": by_employee(rows, employees)}
    return tables, warnings, notes

