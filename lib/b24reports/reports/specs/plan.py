"""Registry entry of the plan report (METRICS.md "plan"): plan versus fact, this month to
date versus the previous month, and the reverse funnel (what the plan requires).

Parameters: the common ones (``pipelines`` filters deals; ``employees``/``departments``
restrict the team and drop plan rows outside it; the period does not apply: plan rows carry
their months) plus ``plan`` (path of the plan .csv/.xlsx, default ``params/plan.csv`` in the
working directory; see :mod:`b24reports.ingest.plan_file`) and ``lookback_months`` (window of the
reverse funnel's rates, default 6). Metrics: :mod:`b24reports.metrics.plan`; views:
:mod:`b24reports.views.plan`; notebook: ``notebooks/plan.ipynb``.
"""

from __future__ import annotations

from b24reports.core import columns
from b24reports.ingest.plan_file import plan_path, read_plan
from b24reports.metrics import plan as m
from b24reports.metrics.scope import Scope
from b24reports.reports import Params, ParamSpec, ReportSpec, TableSpec

columns.define("deals_completion_pct", "pct", "Выполнение по сделкам, %", "Deals completion, %")
columns.define("basis", "code", "Основа расчёта", "Basis")
columns.define("won_in_window", "int", "Выиграно за окно", "Won in the window")
columns.define("deals_per_won", "ratio", "Сделок на одну выигранную", "Deals per won deal")
columns.define("lead_conversion_pct", "pct", "Конверсия лид → сделка, %", "Lead to deal conversion, %")

KEY = ["line", "month", "employee_id", "department_id"]

#: plan_fact columns that mean nothing for a month that has not started (blank on the page and in Excel)
NOT_STARTED_COLUMNS = ("completion_pct", "deals_completion_pct", "projection", "needed_per_day")


def plan_fact_display(result):
    """Table ``plan_fact`` as people see it (page and Excel): for a month after as_of's month (not
    started), completion, projection and needed-per-day are blank ("—") instead of a misleading
    0,0 %; ``metrics.json`` keeps the computed values."""
    import pandas as pd

    pf = result.tables["plan_fact"]
    cur = pd.Timestamp(result.as_of).strftime("%Y-%m")
    future = pf["month"].astype(str) > cur
    if not future.any():
        return pf
    out = pf.copy()
    for c in NOT_STARTED_COLUMNS:
        if c in out.columns:
            out[c] = out[c].astype(object).where(~future, None)
    return out


def check(ds, params) -> None:
    """Read the plan file before any render work, so a missing/unreadable one is bad input
    (exit 2, nothing written) rather than a failed render.

    Raises:
        PlanFileError: the file is missing, empty, unreadable or lacks the required columns
        (``b24reports.ingest.plan_file.read_plan``; the message names the file and ``--plan``).
    """
    read_plan(plan_path(params.get("plan")), getattr(ds, "users", None), getattr(ds, "departments", None))


def compute(ds, scope: Scope, params: Params) -> tuple[dict, list[str], dict]:
    """Every table of METRICS.md "plan" for the run's ``scope`` and the plan file of parameter
    ``plan`` (see :func:`b24reports.metrics.plan.report_tables`). Raises
    :class:`b24reports.core.errors.PlanFileError` when the file is missing or empty."""
    plan = read_plan(plan_path(params.plan), ds.users, ds.departments)
    return m.report_tables(ds, scope, plan=plan, lookback_months=params.lookback_months)


SPEC = ReportSpec(
    name="plan",
    headlines=(("plan_fact", "plan_amount", "sum"), ("plan_fact", "fact_amount", "sum"), ("plan_fact", "gap", "sum")),
    period=False,  # plan rows carry their months; month to date is as_of's month
    title={"ru": "План продаж и обратная воронка", "en": "Sales plan and the reverse funnel"},
    description={
        "ru": "План из файла против факта выигранных сделок: выполнение, остаток, прогноз на конец месяца и сколько "
              "нужно продавать в день; текущий месяц против прошлого к той же дате; обратная воронка — сколько "
              "сделок, лидов и звонков нужно, чтобы закрыть остаток плана при нынешних конверсиях.",
        "en": "The plan file against won deals: completion, gap, month-end projection and what is needed per day; "
              "this month to date against the previous month to the same day; the reverse funnel — how many "
              "deals, leads and calls it takes to close the gap at today's conversion rates.",
    },
    notebook="plan.ipynb",
    params=[
        ParamSpec("plan", "str", "params/plan.csv", "plan file (.csv or .xlsx: month, employee_id|department_id, amount, deals)"),
        ParamSpec("lookback_months", "int", 6, "months of history for the reverse funnel's rates", min=1, max=120),
    ],
    compute=compute,
    check=check,
    tables={
        "plan_fact": TableSpec([*KEY, "plan_amount", "plan_deals", "fact_amount", "fact_deals", "completion_pct",
                                "deals_completion_pct", "gap", "projection", "remaining_days", "needed_per_day"],
                               {"ru": "План и факт", "en": "Plan vs fact"}, "plan_fact", team_row=True,
                               display=plan_fact_display),
        "mtd_compare": TableSpec(["employee_id", "month", "mtd_amount", "prev_mtd_amount", "mtd_deals", "prev_mtd_deals",
                                  "change_pct"],
                                 {"ru": "Месяц к прошлому на ту же дату", "en": "Month to date vs previous month"},
                                 "mtd_compare", team_row=True),
        "required": TableSpec([*KEY, "gap", "basis", "won_in_window", "avg_won_amount", "calls_per_won", "needed_won",
                               "deals_per_won", "lead_conversion_pct", "needed_leads", "needed_calls"],
                              {"ru": "Что нужно для плана", "en": "What the plan requires"}, "required", team_row=True),
        "required_stages": TableSpec([*KEY, "pipeline_id", "stage_id", "conversion_to_won_pct", "needed_at_stage"],
                                     {"ru": "Нужно на стадиях", "en": "Needed at each stage"}, "required_stages",
                                     team_row=True),
        "plan_errors": TableSpec(["line", "error"], {"ru": "Ошибки в файле плана", "en": "Plan file errors"}, "plan_errors"),
    },
)
