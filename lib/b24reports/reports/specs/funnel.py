"""Registry entry of the funnel report (METRICS.md "funnel"): deals by pipeline, stage and manager.

Parameters: the common ones (period, as_of, lang, currency, timezone, pipelines,
departments, employees) plus ``stages`` (STAGE_ID list: only deals now in these stages; what a
click on a stage in the live dashboard sets). Metrics: :mod:`b24reports.metrics.funnel`; views:
:mod:`b24reports.views.funnel`; notebook: ``notebooks/funnel.ipynb``.
"""

from __future__ import annotations

from b24reports.core.errors import BadParameter
from b24reports.ingest.dataset import Dataset
from b24reports.metrics import common as c
from b24reports.metrics import funnel as m
from b24reports.metrics.scope import Scope
from b24reports.reports import Params, ParamSpec, ReportSpec, TableSpec


def compute(ds: Dataset, scope: Scope, params: Params) -> tuple[dict, list[str], dict]:
    """Every table of METRICS.md "funnel" for the run's ``scope`` and the ``stages`` filter
    (:func:`b24reports.metrics.funnel.report_tables`)."""
    return m.report_tables(ds, scope, stage_ids=params.stages)


def check(ds: Dataset, params: Params) -> None:
    """``stages`` must be deal stages of the portal (crm.status.list ENTITY_ID DEAL_STAGE*):
    else ``BadParameter('stages', …)``."""
    known = set(c.pipeline_stages(ds)["stage_id"].astype(str))
    unknown = [s for s in params.stages if s not in known]
    if unknown:
        raise BadParameter("stages", ",".join(unknown), "not a deal stage of the portal (crm.status.list DEAL_STAGE)")


SPEC = ReportSpec(
    name="funnel",
    headlines=(("managers", "deals", "sum"), ("managers", "won_deals", "sum"),
               ("managers", "won_amount", "sum"), ("managers", "lost_deals", "sum")),
    title={"ru": "Воронка продаж", "en": "Sales funnel"},
    description={
        "ru": "Сделки, созданные за период: где они сейчас, сколько дошло до каждой стадии, "
              "кто из менеджеров сколько выиграл и как долго сделки живут.",
        "en": "Deals created in the period: where they are now, how many reached each stage, "
              "what each manager won and how long deals take.",
    },
    notebook="funnel.ipynb",
    params=[ParamSpec("stages", "code_list", (), "deal stages (STAGE_ID, e.g. NEW or C1:NEW): only deals whose "
                      "stage as of as_of is one of these; empty = all")],
    compute=compute,
    check=check,
    tables={
        "stages": TableSpec(m.STAGES_COLUMNS, {"ru": "Стадии", "en": "Stages"}, "stages"),
        "managers": TableSpec(m.MANAGERS_COLUMNS, {"ru": "Менеджеры", "en": "Managers"}, "managers"),
        "manager_stages": TableSpec(m.MANAGER_STAGES_COLUMNS, {"ru": "Менеджеры по стадиям", "en": "Managers by stage"},
                                    "manager_stages"),
        "deals": TableSpec(m.DEALS_COLUMNS, {"ru": "Сделки", "en": "Deals"}, "deals"),
        "time_in_stage": TableSpec(m.TIME_IN_STAGE_COLUMNS, {"ru": "Время в стадии", "en": "Time in stage"},
                                   "time_in_stage"),
    },
)
