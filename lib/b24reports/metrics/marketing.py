"""marketing — lead sources and UTM (METRICS.md "marketing").

Pure functions over :func:`b24reports.metrics.facts.lead_facts` and
:func:`~b24reports.metrics.facts.deal_facts`. Sources: ``crm.lead.list`` (SOURCE_ID,
STATUS_SEMANTIC_ID, UTM_*, DATE_CREATE, ASSIGNED_BY_ID), ``crm.stagehistory.list``
(lead statuses as of as_of; deals' won_at), ``crm.deal.list`` (LEAD_ID, OPPORTUNITY),
``crm.status.list`` ENTITY_ID ``SOURCE`` (source names).

Choices where METRICS.md is silent (written here, kept by the tests):

* **Cohort** = leads with DATE_CREATE in the period, status as of as_of; filters: sources
  (``-`` stands for "not set"), UTM source/medium/campaign (exact values), employees /
  departments (ASSIGNED_BY_ID of the lead). ``share_pct`` is over the filtered cohort.
* **Sales** are attributed to the *lead's* source/UTM (not the deal's); a deal's
  ``amount`` is in the report currency. The pipelines filter restricts the sales deals.
* **Rows.** ``sources`` has one row per source with at least one cohort lead, sorted by
  leads desc then source id ("not set" last), followed by a zero row (counts 0,
  ``share_pct`` 0, other ratios "—") for every dictionary source (``crm.status.list``
  SOURCE, narrowed by the ``sources`` filter) without cohort leads
  (:func:`add_silent_sources`). ``what_if`` and ``top5`` use the sources with leads only.
* **won_cycle_days** = mean over the sales deals of (won_at − lead DATE_CREATE) in days;
  it is the table ``won_cycle_days`` (one row, all sales) and a column of ``sources``.
* **top5** rows: every day (period ≤ 62 days) or month of the period × the 5 sources with
  most leads (ties: source id order, "not set" last), zeros included.
* **what_if**: ``planned_leads`` (total for next month; default: the period's leads) is
  split across sources by their share of the period's leads; ``projected_revenue`` =
  planned × revenue_per_lead (unrounded inputs), so the sources add up to the total.
* **Deals-only portals** (the store has no leads at all): the cohort is the deals created in
  the period, each counted as a "lead" that became a deal (junk 0, converted = leads,
  ``status_id`` = the deal's stage), sales = those deals won with won_at in the period;
  source/UTM from the deal. The report says so in its warnings.
"""

from __future__ import annotations

import pandas as pd

from b24reports.metrics import common as c
from b24reports.metrics.facts import deal_facts, lead_facts
from b24reports.metrics.scope import Scope

NOT_SET = "-"  # filter token for "no source"
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign")

SOURCE_COLUMNS = [
    "leads", "junk", "junk_pct", "quality_leads", "converted", "in_work", "conversion_to_deal_pct", "sales",
    "sales_amount", "conversion_to_sale_pct", "revenue_per_lead", "share_pct",
]

DEALS_ONLY_WARNING = "the portal has no leads: the source/UTM view is built from deals created in the period"


def _blank(s: pd.Series) -> pd.Series:
    s = s.astype(object)
    return s.where(s.notna() & (s.astype(str).str.strip() != ""), None)


def lead_cohort(
    leads: pd.DataFrame,
    period: c.Period,
    *,
    sources: tuple[str, ...] = (),
    utm_source: tuple[str, ...] = (),
    utm_medium: tuple[str, ...] = (),
    utm_campaign: tuple[str, ...] = (),
    employees: set[int] | None = None,
) -> pd.DataFrame:
    """Leads created in the period after the filters.

    In: :func:`facts.lead_facts` rows (``id``, ``employee_id``, ``status_id``, ``outcome``,
    ``source_id``, ``utm_*``, ``created``, ``title``). Out: the same columns, filtered; empty
    UTM values are ``None``. ``sources`` may hold ``-`` for "not set".
    """
    keep = period.contains(leads["created"]).fillna(False)
    if employees is not None:  # before the copy: a manager's leads are a small part of the portal's
        keep &= leads["employee_id"].isin(list(employees)).fillna(False)
    x = leads[keep].copy()
    x["source_id"] = _blank(x["source_id"])
    for f in UTM_FIELDS:
        x[f] = _blank(x[f])
    if sources:
        want = set(sources)
        x = x[x["source_id"].map(lambda s: (NOT_SET if s is None else s) in want).astype(bool)]
    for f, vals in (("utm_source", utm_source), ("utm_medium", utm_medium), ("utm_campaign", utm_campaign)):
        if vals:
            x = x[x[f].isin(list(vals))]
    return x.reset_index(drop=True)


def cohort_sales(deals: pd.DataFrame, cohort: pd.DataFrame, period: c.Period) -> pd.DataFrame:
    """Sales of the cohort: deals whose LEAD_ID is a cohort lead, won with won_at in the period.

    In: :func:`facts.deal_facts` rows, :func:`lead_cohort` rows. Out: one row per sale deal:
    ``id`` (deal), ``lead_id``, ``amount`` (report currency), ``won_at``, plus the lead's
    ``source_id``, ``utm_*`` and ``lead_created``.
    """
    d = c.won_in(deals, period.start, period.end)
    d = d[d["lead_id"].isin(cohort["id"].dropna().tolist()).fillna(False)]
    lead = cohort.set_index("id")
    out = pd.DataFrame({"id": d["id"].astype("Int64"), "lead_id": d["lead_id"].astype("Int64"),
                        "amount": d["amount"].astype("float64"), "won_at": d["won_at"]})
    for f in ("source_id", *UTM_FIELDS):
        out[f] = out["lead_id"].map(lead[f]).astype(object)
        out[f] = out[f].where(out[f].notna(), None)
    created = dict(zip(cohort["id"], cohort["created"]))
    out["lead_created"] = pd.Series([created.get(i, pd.NaT) for i in out["lead_id"]], index=out.index,
                                    dtype=cohort["created"].dtype)
    return out.reset_index(drop=True)


def deals_as_cohort(deals: pd.DataFrame, period: c.Period, employees: set[int] | None = None,
                    **filters: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deals-only portals: (cohort, sales) built from deals created in the period.

    In: :func:`facts.deal_facts` rows. The cohort has the :func:`lead_cohort` columns
    (``status_id`` = deal stage, ``outcome`` = ``converted``); sales = cohort deals won with
    won_at in the period, with the :func:`cohort_sales` columns (``lead_id`` = deal id).
    """
    pseudo = pd.DataFrame({
        "id": deals["id"], "title": deals["title"], "employee_id": deals["employee_id"],
        "status_id": deals["stage_id"], "semantic": "S", "outcome": "converted",
        "source_id": deals["source_id"], "utm_source": deals["utm_source"], "utm_medium": deals["utm_medium"],
        "utm_campaign": deals["utm_campaign"], "created": deals["created"],
    })
    cohort = lead_cohort(pseudo, period, employees=employees, **filters)
    d = deals.assign(lead_id=deals["id"])
    return cohort, cohort_sales(d, cohort, period)


def source_metrics(cohort: pd.DataFrame, sales: pd.DataFrame, keys: list[str] | None = None) -> pd.DataFrame:
    """The ``sources`` table (or a UTM breakdown with ``keys`` = UTM fields).

    In: :func:`lead_cohort` and :func:`cohort_sales` rows. Out, one row per key value with
    cohort leads (``None`` = not set): key columns, ``leads``, ``junk`` (F), ``junk_pct``,
    ``quality_leads`` = leads − junk, ``converted`` (S), ``in_work``,
    ``conversion_to_deal_pct`` = converted/leads, ``sales``, ``sales_amount`` (unrounded),
    ``conversion_to_sale_pct`` = sales/leads, ``revenue_per_lead`` = sales_amount/leads
    (unrounded float), ``share_pct`` = leads / all cohort leads, ``won_cycle_days``
    (mean, 1 decimal, None without sales). Sorted by leads desc, keys ("not set" last).
    """
    keys = keys or ["source_id"]
    cols = [*keys, *SOURCE_COLUMNS, "won_cycle_days"]
    if cohort.empty:
        return pd.DataFrame({k: pd.Series(dtype=object) for k in cols})
    total = len(cohort)
    ck = cohort[keys].astype(object).fillna(NOT_SET)
    g = pd.DataFrame({
        "leads": cohort.groupby([ck[k] for k in keys]).size(),
        "junk": (cohort["outcome"] == "junk").groupby([ck[k] for k in keys]).sum(),
        "converted": (cohort["outcome"] == "converted").groupby([ck[k] for k in keys]).sum(),
        "in_work": (cohort["outcome"] == "in_work").groupby([ck[k] for k in keys]).sum(),
    })
    if len(sales):
        sk = sales[keys].astype(object).fillna(NOT_SET)
        grp = [sk[k] for k in keys]
        cyc = c.days_between(sales["won_at"], sales["lead_created"])
        sg = pd.DataFrame({"sales": sales.groupby(grp).size(), "sales_amount": sales["amount"].groupby(grp).sum(),
                           "cycle": cyc.groupby(grp).mean()})
        g = g.join(sg, how="left")
    else:
        g["sales"], g["sales_amount"], g["cycle"] = 0, 0.0, float("nan")
    g = g.reset_index()
    for k in ("leads", "junk", "converted", "in_work"):
        g[k] = g[k].astype("int64")
    g["sales"] = g["sales"].fillna(0).astype("int64")
    g["sales_amount"] = g["sales_amount"].fillna(0.0).astype("float64")
    g["quality_leads"] = g["leads"] - g["junk"]
    g["junk_pct"] = c.pct(g["junk"], g["leads"])
    g["conversion_to_deal_pct"] = c.pct(g["converted"], g["leads"])
    g["conversion_to_sale_pct"] = c.pct(g["sales"], g["leads"])
    g["revenue_per_lead"] = (g["sales_amount"] / g["leads"]).astype("float64")
    g["share_pct"] = c.pct(g["leads"], pd.Series(total, index=g.index))
    g["won_cycle_days"] = g["cycle"].round(1).astype(object).where(g["cycle"].notna(), None)
    g["_notset"] = g[keys[0]] == NOT_SET
    g = g.sort_values(["leads", "_notset", *keys], ascending=[False, True, *[True] * len(keys)], kind="stable")
    g = g[cols].reset_index(drop=True)
    for k in keys:
        g[k] = pd.Series([None if v == NOT_SET else v for v in g[k]], index=g.index, dtype=object)
    return g


def add_silent_sources(src: pd.DataFrame, source_ids: list[str], total_leads: int) -> pd.DataFrame:
    """Append a zero row for every dictionary source (``crm.status.list`` SOURCE) that brought
    no cohort lead, so a head of sales sees which channels went silent.

    In: ``src`` (:func:`source_metrics` on ``source_id``), the source ids to show (the
    dictionary, already narrowed by the ``sources`` filter), ``total_leads`` of the cohort.
    Out: ``src`` plus rows with counts 0, ``sales_amount`` 0, ``share_pct`` 0.0 (None when the
    cohort is empty) and every other ratio ``None`` (zero denominator), after the sources with
    leads, in dictionary order.
    """
    have = set(src["source_id"].dropna().astype(str)) if len(src) else set()
    rows = []
    for sid in source_ids:
        if sid in have:
            continue
        row = {k: 0 for k in ("leads", "junk", "quality_leads", "converted", "in_work", "sales")}
        row.update(source_id=sid, junk_pct=None, conversion_to_deal_pct=None, conversion_to_sale_pct=None,
                   revenue_per_lead=None, sales_amount=0.0, won_cycle_days=None,
                   share_pct=0.0 if total_leads else None)
        rows.append(row)
    if not rows:
        return src
    extra = pd.DataFrame(rows, columns=list(src.columns) if len(src.columns) else None)
    if src.empty:
        return extra.reset_index(drop=True)
    return pd.concat([src.astype(object), extra.astype(object)], ignore_index=True)


def source_total(cohort: pd.DataFrame, sales: pd.DataFrame) -> pd.DataFrame:
    """``sources_total``: one row with the :func:`source_metrics` columns over all cohort
    leads (no key); with no leads every ratio is ``None`` and counts are 0."""
    one = cohort.assign(_all="all")
    t = source_metrics(one, sales.assign(_all="all"), keys=["_all"])
    if t.empty:
        row = {k: 0 for k in SOURCE_COLUMNS}
        row.update({k: None for k in ("junk_pct", "conversion_to_deal_pct", "conversion_to_sale_pct",
                                      "revenue_per_lead", "share_pct")})
        row["sales_amount"] = 0.0
        row["won_cycle_days"] = None
        return pd.DataFrame([row])
    return t.drop(columns=["_all"])


def won_cycle(sales: pd.DataFrame) -> pd.DataFrame:
    """``won_cycle_days`` table: one row, ``sales`` (count) and ``won_cycle_days`` = mean
    days from lead DATE_CREATE to won_at over the sales (1 decimal; None without sales)."""
    d = c.days_between(sales["won_at"], sales["lead_created"]) if len(sales) else pd.Series(dtype="float64")
    mean = float(d.mean()) if d.notna().any() else None
    return pd.DataFrame([{"sales": int(len(sales)), "won_cycle_days": None if mean is None else round(mean, 1)}])


def top5(cohort: pd.DataFrame, period: c.Period, sources_table: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """Top-``n`` source dynamics: the ``n`` first rows of ``sources_table`` (most leads),
    leads per day (period ≤ 62 days: column ``day``, ``YYYY-MM-DD``) or per month (column
    ``month``, ``YYYY-MM``), every bucket of the period, zeros included.

    Out columns: ``source_id``, ``day`` or ``month``, ``leads``; sorted by source rank then time.
    """
    daily = period.days <= 62
    col = "day" if daily else "month"
    top = list(sources_table["source_id"].head(n)) if len(sources_table) else []
    if daily:
        buckets = [d.strftime("%Y-%m-%d") for d in pd.date_range(period.date_from, period.date_to, freq="D")]
        key = cohort["created"].dt.strftime("%Y-%m-%d") if len(cohort) else pd.Series(dtype=object)
    else:
        buckets = c.period_buckets(period.date_from, period.date_to, "month")
        key = c.period_key(cohort["created"], "month") if len(cohort) else pd.Series(dtype=object)
    src = cohort["source_id"].astype(object).fillna(NOT_SET) if len(cohort) else pd.Series(dtype=object)
    counts = pd.Series(1, index=cohort.index).groupby([src, key]).sum().to_dict() if len(cohort) else {}
    rows = []
    for s in top:
        sk = NOT_SET if s is None else s
        for b in buckets:
            rows.append({"source_id": s, col: b, "leads": int(counts.get((sk, b), 0))})
    return pd.DataFrame(rows, columns=["source_id", col, "leads"])


def lead_funnel(total: pd.DataFrame) -> pd.DataFrame:
    """Marketing + sales funnel from ``sources_total``: rows ``stage`` = leads, quality_leads,
    converted, sales with ``count`` and ``conversion_from_prev_pct`` (first row: None)."""
    r = total.iloc[0]
    steps = ["leads", "quality_leads", "converted", "sales"]
    vals = [int(r[s] or 0) for s in steps]
    prev = [None, *vals[:-1]]
    conv = pd.Series([None if p is None else c.pct(v, p) for v, p in zip(vals, prev)], dtype=object)
    return pd.DataFrame({"stage": steps, "count": vals, "conversion_from_prev_pct": conv})


def leads_by_employee(cohort: pd.DataFrame) -> pd.DataFrame:
    """``by_employee``: cohort leads per ``employee_id`` × ``status_id`` (status as of
    as_of) → ``leads``; sorted by employee, then leads desc, status."""
    if cohort.empty:
        return pd.DataFrame({"employee_id": pd.Series(dtype="Int64"), "status_id": pd.Series(dtype=object),
                             "leads": pd.Series(dtype="int64")})
    g = cohort.groupby([cohort["employee_id"], cohort["status_id"].astype(object).fillna("")], dropna=False).size()
    g = g.rename("leads").reset_index()
    g["status_id"] = g["status_id"].where(g["status_id"] != "", None)
    g = g.sort_values(["employee_id", "leads", "status_id"], ascending=[True, False, True], kind="stable")
    g["employee_id"] = g["employee_id"].astype("Int64")
    return g.reset_index(drop=True)


def what_if(sources_table: pd.DataFrame, total: pd.DataFrame, planned_leads: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``what_if`` (per source) and ``what_if_total`` (one row): ``planned_leads``,
    ``revenue_per_lead``, ``projected_revenue`` = planned_leads × revenue_per_lead.

    ``planned_leads`` is next month's total (default: the period's leads); per source it is
    split by the source's share of the period's leads (unrounded). Raises ``ValueError``
    for a negative number. Money unrounded; None where revenue_per_lead is None.
    """
    if planned_leads is not None and planned_leads < 0:
        raise ValueError("planned_leads must be ≥ 0")
    t = total.iloc[0]
    all_leads = int(t["leads"] or 0)
    plan_total = float(all_leads if planned_leads is None else planned_leads)
    rows = []
    for _, r in sources_table.iterrows():
        share = int(r["leads"]) / all_leads if all_leads else 0.0
        p = plan_total * share
        rpl_s = r["revenue_per_lead"]
        rpl_s = None if rpl_s is None or pd.isna(rpl_s) else float(rpl_s)
        rows.append({"source_id": r["source_id"], "planned_leads": p, "revenue_per_lead": rpl_s,
                     "projected_revenue": None if rpl_s is None else p * rpl_s})
    per = pd.DataFrame(rows, columns=["source_id", "planned_leads", "revenue_per_lead", "projected_revenue"])
    rpl = t["revenue_per_lead"]
    rpl = None if rpl is None or pd.isna(rpl) else float(rpl)
    tot = pd.DataFrame([{"planned_leads": plan_total, "revenue_per_lead": rpl,
                         "projected_revenue": None if rpl is None else plan_total * rpl}])
    return per, tot


def source_names(statuses: pd.DataFrame) -> dict[str, str]:
    """``{SOURCE_ID: name}`` from ``crm.status.list`` ENTITY_ID ``SOURCE``."""
    st = statuses[statuses["entity_id"] == "SOURCE"]
    return {str(k): str(v) for k, v in zip(st["status_id"], st["name"]) if v is not None}


def report_tables(
    ds,
    scope: Scope,
    *,
    sources: tuple[str, ...] = (),
    utm_source: tuple[str, ...] = (),
    utm_medium: tuple[str, ...] = (),
    utm_campaign: tuple[str, ...] = (),
    utm_group: tuple[str, ...] = ("utm_source",),
    planned_leads: float | None = None,
) -> tuple[dict[str, pd.DataFrame], list[str], dict]:
    """Every table of the marketing report (METRICS.md "marketing") for one Dataset and the run's
    :class:`Scope` (period, as_of, currency, pipelines, people): the entry point of this module.

    Returns (tables, warnings, notes): tables ``sources``, ``sources_total``, ``utm``
    (grouped by ``utm_group`` ⊆ UTM fields; the other UTM columns are None), ``top5``,
    ``funnel``, ``won_cycle_days``, ``by_employee``, ``what_if``, ``what_if_total``,
    ``leads`` (the cohort list: ``id``, ``title``, ``employee_id``, ``status_id``,
    ``source_id``, ``utm_*``, ``created``, ``url``); warnings = empty OPPORTUNITY of deals
    and the deals-only notice; notes ``{"mode": "leads" | "deals", "source_names": {...},
    "won_in_period": {"deals": int, "amount": float}}`` (every deal won in the period within the
    pipelines and people, whatever its origin: the base the lead-sourced sales are a part of).
    Times (``created``, day/month keys) are read in ``period.tz`` (the report timezone).
    Raises ``BadParameter`` for an unknown currency, ``ValueError`` for bad ``utm_group``.
    """
    period, as_of, currency, pipelines, employees = scope.period, scope.as_of, scope.currency, scope.pipelines, scope.people
    bad = [f for f in utm_group if f not in UTM_FIELDS]
    if bad:
        raise ValueError(f"utm_group {bad[0]!r}: expected one of {', '.join(UTM_FIELDS)}")
    utm_group = tuple(utm_group) or ("utm_source",)
    facts, warnings = deal_facts(ds, as_of, currency, tz=period.tz)  # day/month keys in the report timezone
    if pipelines:
        facts = facts[facts["pipeline_id"].isin([int(p) for p in pipelines])]
    filt = dict(sources=tuple(sources), utm_source=tuple(utm_source), utm_medium=tuple(utm_medium),
                utm_campaign=tuple(utm_campaign))
    if len(ds.leads) == 0:
        mode = "deals"
        cohort, sales = deals_as_cohort(facts, period, employees, **filt)
        warnings = [*warnings, DEALS_ONLY_WARNING]
        url = c.deal_url(ds.portal, cohort["id"]) if len(cohort) else pd.Series(dtype=object)
    else:
        mode = "leads"
        lf = lead_facts(ds, as_of)
        lf["created"] = lf["created"].dt.tz_convert(period.tz)
        cohort = lead_cohort(lf, period, employees=employees, **filt)
        sales = cohort_sales(facts, cohort, period)
        url = c.lead_url(ds.portal, cohort["id"]) if len(cohort) else pd.Series(dtype=object)
    src = source_metrics(cohort, sales)
    total = source_total(cohort, sales)
    utm = source_metrics(cohort, sales, keys=list(utm_group))
    for f in UTM_FIELDS:
        if f not in utm.columns:
            utm[f] = None
    utm = utm[[*UTM_FIELDS, *SOURCE_COLUMNS, "won_cycle_days"]]
    wi, wi_total = what_if(src, total, planned_leads)
    lst = pd.DataFrame({
        "id": cohort["id"].astype("Int64"), "title": cohort["title"], "employee_id": cohort["employee_id"].astype("Int64"),
        "status_id": cohort["status_id"], "source_id": cohort["source_id"], "utm_source": cohort["utm_source"],
        "utm_medium": cohort["utm_medium"], "utm_campaign": cohort["utm_campaign"], "created": cohort["created"],
        "url": url.values if len(cohort) else [],
    }).sort_values(["created", "id"], kind="stable").reset_index(drop=True)
    tables = {
        "sources": add_silent_sources(src, [sid for sid in source_names(ds.statuses) if not sources or sid in sources],
                                      len(cohort)),
        "sources_total": total,
        "utm": utm,
        "top5": top5(cohort, period, src),
        "funnel": lead_funnel(total),
        "won_cycle_days": won_cycle(sales),
        "by_employee": leads_by_employee(cohort),
        "what_if": wi,
        "what_if_total": wi_total,
        "leads": lst,
    }
    top = tables["top5"]  # one shape whatever the granularity: both ``day`` and ``month``, the unused one null
    for col in ("day", "month"):
        if col not in top.columns:
            top[col] = None
    tables["top5"] = top[["source_id", "day", "month", "leads"]]
    lst["created"] = lst["created"].dt.tz_convert(period.tz)
    # every deal won in the period (same pipelines and people, any origin): the page says which
    # part of it came from the period's leads (a reader took 43 M «продаж» for the company's sales)
    won = c.won_in(facts, period.start, period.end)
    if employees is not None:
        won = won[won["employee_id"].isin(list(employees)).fillna(False)]
    notes = {"mode": mode, "source_names": source_names(ds.statuses), "daily": period.days <= 62,
             "won_in_period": {"deals": int(len(won)), "amount": float(won["amount"].sum())}}
    return tables, warnings, notes
