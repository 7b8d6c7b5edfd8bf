"""Registry entry of the forgotten report (METRICS.md "forgotten"): deals and leads nobody touches.

Parameters: the common ones (``pipelines`` filters deals, ``employees``/``departments`` the
owner, ``currency`` the amounts; the period does not apply — the state is "open as of
as_of") plus ``deal_idle_days`` and ``lead_idle_days`` (default 14) and ``stage_idle_days``
(per-stage thresholds for deals, JSON ``{"STAGE_ID": days}`` or ``STAGE=days,...``).
Metrics: :mod:`b24reports.metrics.forgotten`; views: :mod:`b24reports.views.forgotten`;
notebook: ``notebooks/forgotten.ipynb``.
"""

from __future__ import annotations

from b24reports.core.errors import BadParameter
from b24reports.ingest.dataset import Dataset
from b24reports.metrics.scope import Scope
from b24reports.metrics import forgotten as m
from b24reports.reports import (
    Params,
    ParamSpec,
    ReportSpec,
    TableSpec,
)


def _stage_days(params: Params) -> dict[str, int]:
    raw = params.stage_idle_days or {}
    out = {}
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or v < 0 or float(v) != int(v):
            raise BadParameter("stage_idle_days", raw, f"stage {k!r}: days must be a whole number ≥ 0, got {v!r}")
        out[str(k)] = int(v)
    return out


def compute(ds: Dataset, scope: Scope, params: Params) -> tuple[dict, list[str], dict]:
    """Tables ``deals``, ``leads``, ``by_employee`` of METRICS.md "forgotten" for the run's
    ``scope`` and the idle thresholds (:func:`b24reports.metrics.forgotten.report_tables`)."""
    return m.report_tables(ds, scope, deal_idle_days=params.deal_idle_days, lead_idle_days=params.lead_idle_days,
                           stage_idle_days=_stage_days(params))



def check(ds: Dataset, params: Params) -> None:
    """``stage_idle_days`` values must be whole days ≥ 0 (BadParameter names it)."""
    _stage_days(params)


SPEC = ReportSpec(
    name="forgotten",
    # the lists are the state as of the data date: a header «Период: …» over them read as if it
    # applied (a ninth fresh reader), and the dashboard's period control changed nothing
    period=False,
    headlines=(("deals", "forgotten", "count_true"), ("leads", "forgotten", "count_true"),
               ("by_employee", "forgotten_deals_amount", "sum")),
    title={"ru": "Забытые сделки и лиды", "en": "Forgotten deals and leads"},
    description={
        "ru": "Открытые сделки и лиды в работе, которых давно никто не касался (нет завершённых дел, "
              "смен стадии), и те, у которых нет следующего шага (запланированного дела). Сначала — самые запущенные. "
              "Период отчёта на список не влияет: это состояние на момент «Данные на».",
        "en": "Open deals and leads in work nobody has touched for a while (no completed activity, no stage "
              "move), and those without a next step (a planned activity). Worst first. The report period does not "
              "apply: this is the state as of \"Data as of\".",
    },
    notebook="forgotten.ipynb",
    params=[
        ParamSpec("deal_idle_days", "int", m.DEFAULT_IDLE_DAYS, "a deal idle this many days is forgotten", min=0),
        ParamSpec("lead_idle_days", "int", m.DEFAULT_IDLE_DAYS, "a lead idle this many days is forgotten", min=0),
        ParamSpec("stage_idle_days", "json", None,
                  "per-stage deal thresholds ('rotting'), JSON {\"STAGE_ID\": days} or STAGE=days,..."),
    ],
    compute=compute,
    check=check,
    tables={
        "deals": TableSpec(m.DEAL_COLUMNS, {"ru": "Сделки", "en": "Deals"}, "deals"),
        "leads": TableSpec(m.LEAD_COLUMNS, {"ru": "Лиды", "en": "Leads"}, "leads"),
        "by_employee": TableSpec(m.BY_EMPLOYEE_COLUMNS, {"ru": "По менеджерам", "en": "By manager"}, "by_employee"),
    },
)
