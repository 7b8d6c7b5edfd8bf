"""Deals and leads nobody touches (METRICS.md "forgotten"). Pure functions, frames in/out.

Source: ``crm.deal.list`` / ``crm.lead.list`` (``deals``, ``leads``), ``crm.stagehistory.list``
(``deal_stage_history``, ``lead_status_history``), ``crm.activity.list`` (``activities``).

Definitions (METRICS.md "forgotten"): open deals (stage semantic P/empty as of as_of) and
leads in work (status semantic neither S nor F as of as_of). A *touch* is a completed activity
(``COMPLETED = Y``) bound to the entity (OWNER_TYPE_ID 2 deal / 1 lead, OWNER_ID); its time is
``END_TIME``. ``last_touch = max(DATE_CREATE, last stage move, last touch)``; ``idle_days`` =
⌊(as_of − last_touch) / 24 h⌋; forgotten when ``idle_days ≥`` the threshold (parameters
``deal_idle_days``, ``lead_idle_days``, default 14). ``no_next_step``: no incomplete activity
(``COMPLETED = N``) bound, whatever its deadline.

Choices where METRICS.md is silent (written here, kept consistent):

* **as_of.** Touches count only with END_TIME ≤ as_of; a completed activity without END_TIME
  is not a touch (it has no time). Stage moves count up to as_of: the stage-history records
  with ``created_time ≤ as_of`` and MOVED_TIME when ≤ as_of. An incomplete activity counts as
  a next step when it was created by as_of (CREATED empty → counted); COMPLETED is the
  current flag (the store keeps no completion time).
* **Per-stage thresholds** (``stage_idle_days``, a JSON object ``{"STAGE_ID": days}``, like
  Pipedrive's "rotting" days) replace ``deal_idle_days`` for deals in those stages. They
  apply to deals only (lead status codes such as ``NEW`` collide with stage codes of the
  default pipeline).
* Lists hold entities that are forgotten or have no next step, worst first: forgotten
  before not-forgotten, then idle days descending, then amount descending, then id.
* ``by_employee``: one row per employee (ASSIGNED_BY_ID) owning at least one open deal or
  lead in scope (zeros included: a clean manager is news too), sorted by forgotten deals
  amount, forgotten deals, forgotten leads (all descending), then employee id. Dismissed
  users' entities are included.
* Amounts: deals as METRICS.md Conventions (report currency); leads likewise from the lead's
  OPPORTUNITY. Empty OPPORTUNITY of a listed open deal/lead counts as 0 and is warned.
* The period (``date_from..date_to``) does not apply: the state is "open as of as_of".
  Filters: ``pipelines`` (deals), ``employees``/``departments`` (owner).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from b24reports.ingest.dataset import Dataset, memoized
from b24reports.metrics import common as c
from b24reports.metrics.facts import deal_facts, lead_facts
from b24reports.metrics.scope import Scope

DEFAULT_IDLE_DAYS = 14
#: OWNER_TYPE_ID of crm.activity.list.
OWNER_LEAD, OWNER_DEAL = 1, 2

DEAL_COLUMNS = ["id", "title", "employee_id", "pipeline_id", "stage_id", "amount", "last_touch", "idle_days",
                "forgotten", "no_next_step", "url"]
LEAD_COLUMNS = ["id", "title", "employee_id", "status_id", "amount", "last_touch", "idle_days", "forgotten",
                "no_next_step", "url"]
BY_EMPLOYEE_COLUMNS = ["employee_id", "forgotten_deals", "forgotten_deals_amount", "forgotten_leads",
                       "no_next_step_deals", "no_next_step_leads"]


def touches(activities: pd.DataFrame, owner_type_id: int, as_of: pd.Timestamp) -> tuple[pd.Series, set[int]]:
    """Last touch time and next-step holders among activities bound to one entity type.

    In: store table ``activities`` (crm.activity.list), ``owner_type_id`` (1 lead, 2 deal).
    Out: (``last_touch`` Series indexed by OWNER_ID: max END_TIME of completed activities with
    END_TIME ≤ as_of; set of OWNER_IDs with an incomplete activity created by as_of).
    """
    a = activities[activities["owner_type_id"] == owner_type_id]
    done = a["completed"].fillna(False).astype(bool)
    t = a[done & a["end_time"].notna() & (a["end_time"] <= as_of)]
    last = t.groupby("owner_id")["end_time"].max()
    planned = a[~done & (a["created"].isna() | (a["created"] <= as_of))]
    return last, set(int(x) for x in planned["owner_id"].dropna())


def _aware(s: pd.Series, tz) -> pd.Series:
    """Any Series of instants (datetime64 aware, object, all-NaT) → datetime64[ns, tz]."""
    return pd.to_datetime(s, utc=True).dt.tz_convert(tz).dt.as_unit("ns")


def _tmax(*series: pd.Series) -> pd.Series:
    """Element-wise latest instant of aligned Series, NaT ignored (NaT when all are NaT)."""
    out = series[0]
    for s in series[1:]:
        out = out.where(s.isna() | (out >= s), s)
    return out


def last_history_time(history: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Latest ``created_time`` ≤ as_of per ``owner_id`` of a stage/status history table
    (crm.stagehistory.list), indexed by owner_id."""
    h = history[history["created_time"] <= as_of]
    return h.groupby("owner_id")["created_time"].max()


@memoized
def _touches(ds: Dataset, owner_type_id: int, as_of: pd.Timestamp) -> tuple[pd.Series, set[int]]:
    return touches(ds.activities, owner_type_id, as_of)


@memoized
def _history_times(ds: Dataset, table: str, as_of: pd.Timestamp) -> pd.Series:
    return last_history_time(getattr(ds, table), as_of)


def _at(ids: pd.Series, times_by_id: pd.Series) -> pd.Series:
    """``times_by_id`` looked up for each of ``ids`` (NaT where missing), aligned with ``ids``."""
    if not len(times_by_id) or not len(ids):
        return pd.Series(pd.NaT, index=ids.index, dtype="datetime64[ns, UTC]")
    return ids.map(times_by_id)


def last_moves(history: pd.DataFrame, moved_time: pd.Series, ids: pd.Series, as_of: pd.Timestamp,
               *, last_by_owner: pd.Series | None = None) -> pd.Series:
    """Last stage/status move of each entity up to as_of: max of its history records
    (``created_time ≤ as_of``) and its MOVED_TIME when ≤ as_of. Aligned with ``ids``.
    ``last_by_owner``: :func:`last_history_time` of ``history`` when already known."""
    tz = as_of.tzinfo
    last = last_history_time(history, as_of) if last_by_owner is None else last_by_owner
    by_hist = _aware(_at(ids, last), tz)
    mt = _aware(moved_time, tz)
    mt = mt.where(mt <= as_of)
    return _tmax(by_hist, mt.set_axis(ids.index))


def idle(last_touch: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """``idle_days`` = ⌊(as_of − last_touch) / 24 h⌋ (Int64; NA when last_touch is missing)."""
    secs = (as_of - last_touch).dt.total_seconds()
    return np.floor(secs / 86400.0).astype("Int64")


def _last_touch(created: pd.Series, moved: pd.Series, touched: pd.Series, tz) -> pd.Series:
    return _tmax(_aware(created, tz), _aware(moved, tz), _aware(touched, tz))


def _sort_list(df: pd.DataFrame) -> pd.DataFrame:
    return df.sort_values(["forgotten", "idle_days", "amount", "id"], ascending=[False, False, False, True], kind="stable",
                          na_position="last").reset_index(drop=True)


def deal_rows(
    ds: Dataset,
    as_of: pd.Timestamp,
    *,
    currency: str | None = None,
    idle_days: int = DEFAULT_IDLE_DAYS,
    stage_idle_days: dict[str, int] | None = None,
    pipelines: list[int] | None = None,
    employees: set[int] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Every open deal in scope with its touch facts (not only the listed ones).

    Out columns: :data:`DEAL_COLUMNS` plus ``threshold`` (days used) and ``created``; plus
    data-quality warnings (empty OPPORTUNITY among these deals). Raises ``BadParameter`` for an
    unknown currency.
    """
    facts, _ = deal_facts(ds, as_of, currency)
    d = facts[facts["outcome"] == c.OPEN]
    if pipelines:
        d = d[d["pipeline_id"].isin([int(p) for p in pipelines])]
    if employees is not None:
        d = d[d["employee_id"].isin(employees)]
    d = d.reset_index(drop=True)
    last, planned = _touches(ds, OWNER_DEAL, as_of)
    moved = last_moves(ds.deal_stage_history, d["moved_time"], d["id"], as_of,
                       last_by_owner=_history_times(ds, "deal_stage_history", as_of))
    lt = _last_touch(d["created"], moved, _at(d["id"], last), as_of.tzinfo)
    days = idle(lt, as_of)
    stage_idle_days = stage_idle_days or {}
    threshold = d["stage_id"].map(stage_idle_days).fillna(idle_days).astype("Int64")
    out = pd.DataFrame(
        {
            "id": d["id"],
            "title": d["title"],
            "employee_id": d["employee_id"],
            "pipeline_id": d["pipeline_id"],
            "stage_id": d["stage_id"],
            "amount": d["amount"],
            "last_touch": lt,
            "idle_days": days,
            "forgotten": (days >= threshold).fillna(False).astype(bool),
            "no_next_step": ~d["id"].isin(np.fromiter(planned, dtype="int64", count=len(planned))),
            "url": c.deal_url(ds.portal, d["id"]),
            "threshold": threshold,
            "created": d["created"],
        }
    )
    warnings = c.empty_opportunity_warnings(d, "deals")
    return out, warnings


def lead_rows(
    ds: Dataset,
    as_of: pd.Timestamp,
    *,
    currency: str | None = None,
    idle_days: int = DEFAULT_IDLE_DAYS,
    employees: set[int] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Every lead in work in scope with its touch facts. Out: :data:`LEAD_COLUMNS` plus
    ``threshold`` and ``created``; plus warnings (empty OPPORTUNITY among these leads)."""
    lf = lead_facts(ds, as_of)
    lf = lf[lf["outcome"] == "in_work"]
    if employees is not None:
        lf = lf[lf["employee_id"].isin(employees)]
    lf = lf.reset_index(drop=True)
    moved_time = _at(lf["id"], ds.leads.set_index("id")["moved_time"])
    last, planned = _touches(ds, OWNER_LEAD, as_of)
    moved = last_moves(ds.lead_status_history, moved_time, lf["id"], as_of,
                       last_by_owner=_history_times(ds, "lead_status_history", as_of))
    lt = _last_touch(lf["created"], moved, _at(lf["id"], last), as_of.tzinfo)
    days = idle(lt, as_of)
    rates = c.currency_rates(ds.currencies, currency or ds.base_currency)
    amount = c.to_report_currency(lf["opportunity"], lf["currency_id"], rates, ds.base_currency)
    out = pd.DataFrame(
        {
            "id": lf["id"],
            "title": lf["title"],
            "employee_id": lf["employee_id"],
            "status_id": lf["status_id"],
            "amount": amount,
            "last_touch": lt,
            "idle_days": days,
            "forgotten": (days >= idle_days).fillna(False).astype(bool),
            "no_next_step": ~lf["id"].isin(np.fromiter(planned, dtype="int64", count=len(planned))),
            "url": c.lead_url(ds.portal, lf["id"]),
            "threshold": pd.Series(idle_days, index=lf.index, dtype="Int64"),
            "created": lf["created"],
        }
    )
    return out, c.empty_opportunity_warnings(lf, "leads")


def listed(rows: pd.DataFrame) -> pd.DataFrame:
    """The report list: rows that are forgotten or have no next step, worst first."""
    return _sort_list(rows[rows["forgotten"] | rows["no_next_step"]])


def by_employee(deals: pd.DataFrame, leads: pd.DataFrame) -> pd.DataFrame:
    """Table ``by_employee`` from *all* open rows of :func:`deal_rows` / :func:`lead_rows`.

    Out: :data:`BY_EMPLOYEE_COLUMNS` — ``forgotten_deals``, ``forgotten_deals_amount``
    (report currency, unrounded), ``forgotten_leads``, ``no_next_step_deals``,
    ``no_next_step_leads`` per ``employee_id``."""
    emps = sorted(set(deals["employee_id"].dropna().astype(int)) | set(leads["employee_id"].dropna().astype(int)))
    rows = []
    for e in emps:
        d = deals[deals["employee_id"] == e]
        ld = leads[leads["employee_id"] == e]
        rows.append({
            "employee_id": e,
            "forgotten_deals": int(d["forgotten"].sum()),
            "forgotten_deals_amount": float(d.loc[d["forgotten"], "amount"].sum()),
            "forgotten_leads": int(ld["forgotten"].sum()),
            "no_next_step_deals": int(d["no_next_step"].sum()),
            "no_next_step_leads": int(ld["no_next_step"].sum()),
        })
    df = pd.DataFrame(rows, columns=BY_EMPLOYEE_COLUMNS)
    return df.sort_values(["forgotten_deals_amount", "forgotten_deals", "forgotten_leads", "employee_id"],
                          ascending=[False, False, False, True], kind="stable").reset_index(drop=True)


def summary(deals: pd.DataFrame, leads: pd.DataFrame) -> dict:
    """Totals for the one-line summary: ``forgotten_deals``, ``forgotten_deals_amount``
    (unrounded), ``forgotten_leads``, ``no_next_step_deals``, ``no_next_step_leads``,
    ``open_deals``, ``open_leads`` (all open rows in scope)."""
    return {
        "forgotten_deals": int(deals["forgotten"].sum()),
        "forgotten_deals_amount": float(deals.loc[deals["forgotten"], "amount"].sum()),
        "forgotten_leads": int(leads["forgotten"].sum()),
        "no_next_step_deals": int(deals["no_next_step"].sum()),
        "no_next_step_leads": int(leads["no_next_step"].sum()),
        "open_deals": int(len(deals)),
        "open_leads": int(len(leads)),
    }


def report_tables(
    ds: Dataset,
    scope: Scope,
    *,
    deal_idle_days: int = DEFAULT_IDLE_DAYS,
    lead_idle_days: int = DEFAULT_IDLE_DAYS,
    stage_idle_days: dict[str, int] | None = None,
) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    """The entry point of this module: for the run's :class:`Scope` (as_of, currency, pipelines,
    people; the period does not apply), tables ``deals``, ``leads`` (lists), ``by_employee``;
    warnings; notes = :func:`summary` plus the two thresholds (``deal_idle_days``, ``lead_idle_days``)."""
    as_of, currency, employees = scope.as_of, scope.currency, scope.people
    pipelines = list(scope.pipelines) or None
    d, wd = deal_rows(ds, as_of, currency=currency, idle_days=deal_idle_days, stage_idle_days=stage_idle_days,
                      pipelines=pipelines, employees=employees)
    ld, wl = lead_rows(ds, as_of, currency=currency, idle_days=lead_idle_days, employees=employees)
    tables = {"deals": listed(d), "leads": listed(ld), "by_employee": by_employee(d, ld)}
    return tables, wd + wl, {**summary(d, ld), "deal_idle_days": deal_idle_days, "lead_idle_days": lead_idle_days}
