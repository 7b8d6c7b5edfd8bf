"""Registry entry of the marketing report (METRICS.md "marketing"): lead sources and UTM.

Parameters: the common ones plus ``sources`` (source ids, ``-`` = not set),
``utm_source``, ``utm_medium``, ``utm_campaign`` (exact values, comma-separated),
``utm_group`` (UTM fields of the ``utm`` table, default ``utm_source``) and
``planned_leads`` (next month's leads for the what-if; default the period's leads).
Metrics: :mod:`b24reports.metrics.marketing`; views: :mod:`b24reports.views.marketing`;
notebook: ``notebooks/marketing.ipynb``.
"""

from __future__ import annotations

from b24reports.core import columns
from b24reports.ingest.dataset import Dataset
from b24reports.metrics.scope import Scope
from b24reports.metrics import marketing as m
from b24reports.reports import (
    Params,
    ParamSpec,
    ReportSpec,
    TableSpec,
)

# the what-if shown for one month (views.marketing.what_if_month): the period's leads and
# projection ÷ months of the period; metrics.json keeps the period's planned_leads/projected_revenue
columns.define("leads_per_month", "number", "Лидов в месяц (среднее за период)", "Leads a month (the period's mean)")
columns.define("revenue_per_month", "money", "Прогноз выручки за месяц", "Projected revenue for a month")


def months_of_period(result) -> int:
    """Calendar months the report period touches (at least 1)."""
    import pandas as pd

    d0, d1 = pd.Timestamp(result.params["date_from"]), pd.Timestamp(result.params["date_to"])
    return max(1, (d1.year - d0.year) * 12 + d1.month - d0.month + 1)


def what_if_month(result, table: str = "what_if"):
    """Table ``what_if`` (or ``what_if_total``) for one month, when the planned leads are the
    default (the whole period's leads): ``leads_per_month`` = planned_leads ÷ months of the
    period, ``revenue_per_month`` = projected_revenue ÷ months, beside ``source_id`` and
    ``revenue_per_lead``. ``None`` when parameter ``planned_leads`` is given (then the table is
    that number of leads as it is). Display only (page and Excel): ``metrics.json`` keeps the
    period's numbers."""
    if result.params.get("planned_leads") is not None:
        return None
    n = months_of_period(result)
    w = result.tables[table]
    return w.assign(leads_per_month=w["planned_leads"].astype(float) / n,
                    revenue_per_month=w["projected_revenue"].astype(float) / n)


#: the what-if columns of one month, in place of the period's (page and Excel alike: an Excel
#: sheet of the period's 43 320 000 ₽ under «Прогноз выручки» read as a month's, 12× the page's)
_MONTH_OF = {"planned_leads": "leads_per_month", "projected_revenue": "revenue_per_month"}


def _what_if_display(table: str):
    def display(result):
        month = what_if_month(result, table)
        return result.tables[table] if month is None else month
    return display


def _what_if_columns(table: str):
    def shown(result):
        cols = COLUMNS[table]
        return cols if result.params.get("planned_leads") is not None else [_MONTH_OF.get(c, c) for c in cols]
    return shown

_SRC = ["source_id", *m.SOURCE_COLUMNS, "won_cycle_days"]
COLUMNS = {
    "sources": _SRC,
    "sources_total": [*m.SOURCE_COLUMNS, "won_cycle_days"],
    "utm": [*m.UTM_FIELDS, *m.SOURCE_COLUMNS, "won_cycle_days"],
    "top5": None,  # source_id, day|month, leads: set per run (see TOP5_*)
    "funnel": ["stage", "count", "conversion_from_prev_pct"],
    "won_cycle_days": ["sales", "won_cycle_days"],
    "by_employee": ["employee_id", "status_id", "leads"],
    "what_if": ["source_id", "planned_leads", "revenue_per_lead", "projected_revenue"],
    "what_if_total": ["planned_leads", "revenue_per_lead", "projected_revenue"],
    "leads": ["id", "title", "employee_id", "status_id", "source_id", "utm_source", "utm_medium", "utm_campaign",
              "created", "url"],
}


def compute(ds: Dataset, scope: Scope, params: Params) -> tuple[dict, list[str], dict]:
    """Every marketing table for the run's ``scope`` and the source/UTM filters (see
    :func:`b24reports.metrics.marketing.report_tables`)."""
    return m.report_tables(
        ds, scope, sources=tuple(params.sources), utm_source=tuple(params.utm_source), utm_medium=tuple(params.utm_medium),
        utm_campaign=tuple(params.utm_campaign), utm_group=tuple(params.utm_group) or ("utm_source",),
        planned_leads=params.planned_leads)


SPEC = ReportSpec(
    name="marketing",
    headlines=(("sources_total", "leads", "first"), ("sources_total", "conversion_to_deal_pct", "first"),
               ("sources_total", "sales_amount", "first")),
    title={"ru": "Маркетинг: источники лидов и UTM", "en": "Marketing: lead sources and UTM"},
    description={
        "ru": "Лиды, созданные за период, по источникам и UTM-меткам: сколько пришло, сколько некачественных, "
              "сколько стало сделками и продажами, выручка на лид и что будет при N лидах в следующем месяце.",
        "en": "Leads created in the period by source and UTM: how many came, how many were junk, how many "
              "became deals and sales, revenue per lead, and what N leads next month would bring.",
    },
    notebook="marketing.ipynb",
    params=[
        ParamSpec("sources", "code_list", (), "lead sources (SOURCE_ID), comma-separated; '-' = not set; empty = all"),
        ParamSpec("utm_source", "code_list", (), "UTM_SOURCE values; empty = all"),
        ParamSpec("utm_medium", "code_list", (), "UTM_MEDIUM values; empty = all"),
        ParamSpec("utm_campaign", "code_list", (), "UTM_CAMPAIGN values; empty = all"),
        ParamSpec("utm_group", "code_list", ("utm_source",), "UTM fields of the UTM breakdown",
                  choices=m.UTM_FIELDS),
        ParamSpec("planned_leads", "int", None, "leads for the what-if (default: the period's leads)",
                  min=0),
    ],
    compute=compute,
    tables={
        "sources": TableSpec(COLUMNS["sources"], {"ru": "Источники", "en": "Sources"}, "sources"),
        "sources_total": TableSpec(COLUMNS["sources_total"], {"ru": "Итого", "en": "Total"}, "sources_total"),
        "utm": TableSpec(COLUMNS["utm"], {"ru": "UTM-метки", "en": "UTM"}, "utm"),
        "top5": TableSpec(["source_id", "day", "month", "leads"], {"ru": "Топ-5 источников", "en": "Top 5 sources"},
                          "top5"),
        "funnel": TableSpec(COLUMNS["funnel"], {"ru": "Воронка маркетинга и продаж", "en": "Marketing and sales funnel"},
                            "funnel"),
        "won_cycle_days": TableSpec(COLUMNS["won_cycle_days"], {"ru": "Цикл от лида до продажи",
                                                                "en": "Lead to sale cycle"}, "won_cycle_days"),
        "by_employee": TableSpec(COLUMNS["by_employee"], {"ru": "Лиды по сотрудникам и статусам",
                                                          "en": "Leads by employee and status"}, "by_employee"),
        "what_if": TableSpec(COLUMNS["what_if"], {"ru": "Что если: по источникам", "en": "What if: by source"},
                             "what_if", display=_what_if_display("what_if"), display_columns=_what_if_columns("what_if")),
        "what_if_total": TableSpec(COLUMNS["what_if_total"], {"ru": "Что если: итого", "en": "What if: total"},
                                   "what_if_total", display=_what_if_display("what_if_total"),
                                   display_columns=_what_if_columns("what_if_total")),
        "leads": TableSpec(COLUMNS["leads"], {"ru": "Лиды", "en": "Leads"}, "leads"),
    },
)
