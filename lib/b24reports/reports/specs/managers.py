"""Registry entry of the managers report (METRICS.md "managers"): activity and result per manager.

Parameters: the common ones plus ``short_call_seconds`` (int, default 10) and
``activity_weights`` (JSON object or ``name=value`` pairs with keys call, meeting, email,
other; default call 1, meeting 5, email 1, other 1). Metrics:
:mod:`b24reports.metrics.managers`; views: :mod:`b24reports.views.managers`; notebook:
``notebooks/managers.ipynb``.
"""

from __future__ import annotations

from b24reports.ingest.dataset import Dataset
from b24reports.metrics.scope import Scope
from b24reports.metrics import managers as m
from b24reports.reports import (
    Params,
    ParamSpec,
    ReportSpec,
    TableSpec,
)

BY_MONTH_COLUMNS = ["month", "employee_id", "calls_out", "calls_in", "meetings", "emails_out", "other", "touches",
                    "weighted", "won_deals", "won_amount"]


def compute(ds: Dataset, scope: Scope, params: Params) -> tuple[dict, list[str], dict]:
    """Tables ``managers`` and ``by_month`` for the run's ``scope`` (see
    :func:`b24reports.metrics.managers.report_tables`). Raises ``BadParameter`` for an
    unknown currency or bad ``activity_weights``."""
    return m.report_tables(ds, scope, short_call_seconds=params.short_call_seconds, weights=params.activity_weights)


def check(ds: Dataset, params: Params) -> None:
    """Validate ``activity_weights`` early (``BadParameter`` naming it)."""
    m.parse_weights(params.activity_weights)


SPEC = ReportSpec(
    name="managers",
    headlines=(("managers", "touches", "sum"), ("managers", "won_deals", "sum"), ("managers", "won_amount", "sum")),
    title={"ru": "Эффективность менеджеров", "en": "Manager efficiency"},
    description={
        "ru": "Активность каждого менеджера (звонки, встречи, письма, прочие касания) рядом с результатом "
              "(выигранные сделки и конверсия): кто занят без результата, кто эффективен, где подозрительно "
              "короткие звонки и кто третий месяц подряд лучший (риск выгорания).",
        "en": "Each manager's activity (calls, meetings, e-mails, other touches) next to the result (won deals "
              "and conversion): who is busy without result, who is efficient, where calls are suspiciously "
              "short and who has been on top for three months in a row (burnout watch).",
    },
    notebook="managers.ipynb",
    params=[
        ParamSpec("short_call_seconds", "int", 10, "calls shorter than this many seconds are 'short'", min=0),
        ParamSpec("activity_weights", "json", None,
                  "weights of the activity index: JSON or call=1,meeting=5,email=1,other=1"),
    ],
    compute=compute,
    check=check,
    tables={
        "managers": TableSpec(m.MANAGER_COLUMNS, {"ru": "Менеджеры", "en": "Managers"}, "managers"),
        "by_month": TableSpec(BY_MONTH_COLUMNS, {"ru": "Динамика по месяцам", "en": "Month by month"}, "by_month"),
    },
)
