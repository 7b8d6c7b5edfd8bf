"""Registry entry of the pipeline report: what changed in the open pipeline since last week.

Parameters: the common ones (``pipelines`` and ``employees``/``departments`` filter the
deals by their pipeline and owner *at each moment*, ``currency`` the amounts; the period
does not apply: two moments are compared) plus ``compare_to`` (``week`` — default —,
``month`` or a date ``YYYY-MM-DD``: the moment compared with as_of) and ``horizon``
(``month`` | ``quarter`` — default — | ``year`` | ``all``: the open pipeline measured is the
deals expected to close, by CLOSEDATE, no later than the end of as_of's month/quarter/year).
Metrics: :mod:`b24reports.metrics.pipeline` (definitions in its docstring and in
docs/metrics.md "## pipeline"); views: :mod:`b24reports.views.pipeline`; notebook:
``notebooks/pipeline.ipynb``.
"""

from __future__ import annotations

from b24reports.core import columns
from b24reports.core import texts
from b24reports.core.errors import BadParameter
from b24reports.ingest.dataset import Dataset
from b24reports.metrics import common as c
from b24reports.metrics.scope import Scope
from b24reports.metrics import pipeline as m
from b24reports.reports import (
    Params,
    ParamSpec,
    ReportSpec,
    TableSpec,
)

columns.define("step", "code", "Шаг", "Step")
columns.define("change", "code", "Главное изменение", "Main change")
columns.define("changes", "list", "Изменения", "Changes")
columns.define("delta", "money", "Изменение воронки", "Pipeline change")
columns.define("stage_from", "code", "Стадия было", "Stage before")
columns.define("stages_moved", "int", "Сдвиг по стадиям", "Stages moved")
columns.define("stage_moved_at", "datetime", "Смена стадии", "Stage moved at")
columns.define("amount_from", "money", "Сумма было", "Amount before")
columns.define("closedate_from", "date", "Дата закрытия было", "Expected close before")
columns.define("closedate", "date", "Ожидаемая дата закрытия", "Expected close")
columns.define("slip_days", "int", "Сдвиг даты, дней", "Close date moved, days")
columns.define("employee_from", "id", "Ответственный было", "Owner before")
# Excel's name columns beside the two «было» keys (metrics.labels.NAME_COLUMNS)
columns.define("stage_from_name", "text", "Стадия было", "Stage before")
columns.define("employee_from_name", "text", "Ответственный было", "Owner before")
columns.define("sync_before", "datetime", "Синхронизация до изменения", "Sync before the change")
columns.define("sync_after", "datetime", "Синхронизация после изменения", "Sync after the change")
columns.define("open_amount_start", "money", "Воронка в начале", "Pipeline at start")
columns.define("open_amount_end", "money", "Воронка в конце", "Pipeline at end")
columns.define("net_change", "money", "Изменение", "Net change")
columns.define("new_deals", "int", "Новые", "New")
columns.define("advanced_deals", "int", "Продвинулись", "Advanced")
columns.define("moved_back_deals", "int", "Откатились", "Moved back")
columns.define("slipped_deals", "int", "Перенесли дату", "Slipped")
columns.define("slipped_amount", "money", "Сумма перенесённых", "Slipped amount")
columns.define("won_out_amount", "money", "Ушло выигранными", "Left as won")
columns.define("lost_out_amount", "money", "Ушло проигранными", "Left as lost")
columns.define("change_text", "text", "Что изменилось", "What changed")  # page only (views.pipeline)

_STEP_LABELS = {
    "start": ("Было", "Start"), "new": ("Новые", "New"), "amount_up": ("Сумма выросла", "Amount up"),
    "amount_down": ("Сумма снизилась", "Amount down"), "won": ("Выиграны", "Won"), "lost": ("Проиграны", "Lost"),
    "pushed_out": ("Перенесены за горизонт", "Pushed out"), "pulled_in": ("Перенесены в горизонт", "Pulled in"),
    "other": ("Прочее", "Other"), "end": ("Стало", "End"),
}
_CHANGE_LABELS = {
    "new": ("новая", "new"), "won": ("выиграна", "won"), "lost": ("проиграна", "lost"),
    "slipped": ("дата закрытия позже", "close date later"), "closedate_earlier": ("дата закрытия раньше", "close date earlier"),
    "advanced": ("продвинулась", "advanced"), "moved_back": ("откатилась назад", "moved back"),
    "amount_up": ("сумма выросла", "amount up"), "amount_down": ("сумма снизилась", "amount down"),
    "owner_changed": ("сменился ответственный", "owner changed"), "pipeline_changed": ("сменилась воронка", "pipeline changed"),
    "unchanged": ("без изменений", "unchanged"),
}
texts.VALUE_LABELS["step"] = {k: {"ru": ru, "en": en} for k, (ru, en) in _STEP_LABELS.items()}
texts.VALUE_LABELS["change"] = {k: {"ru": ru, "en": en} for k, (ru, en) in _CHANGE_LABELS.items()}
texts.VALUE_LABELS["changes"] = texts.VALUE_LABELS["change"]


def compute(ds: Dataset, scope: Scope, params: Params) -> tuple[dict, list[str], dict]:
    """Tables ``waterfall``, ``waterfall_total``, ``deals``, ``by_employee`` for the run's ``scope``
    (see :func:`b24reports.metrics.pipeline.report_tables`)."""
    return m.report_tables(ds, scope, compare_to=params.compare_to, horizon=params.horizon, step=params.step)



def check(ds: Dataset, params: Params) -> None:
    """``compare_to`` must be ``week``, ``month`` or a date before as_of; ``step`` one of the
    waterfall's steps (BadParameter names the parameter)."""
    m.compare_moment(params.compare_to, c.to_timestamp(params.as_of, params.tzinfo))
    if params.step and params.step not in m.STEPS[1:-1]:
        raise BadParameter("step", params.step, f"expected one of {', '.join(m.STEPS[1:-1])}")


SPEC = ReportSpec(
    name="pipeline",
    headlines=(("deals", "delta", "sum"), ("by_employee", "slipped_deals", "sum"),
               ("by_employee", "won_deals", "sum"), ("by_employee", "lost_deals", "sum")),
    title={"ru": "Что изменилось в воронке", "en": "What changed in the pipeline"},
    description={
        "ru": "Открытая воронка в двух моментах (по умолчанию — неделю назад и сейчас): водопад от «было» к «стало» "
              "(новые, рост и снижение сумм, выигранные, проигранные, перенесённые), каждая сделка с её изменением "
              "и итоги по менеджерам. Период отчёта не применяется: сравниваются два момента.",
        "en": "The open pipeline at two moments (by default a week ago and now): a waterfall from start to end (new, "
              "amounts up and down, won, lost, pushed out and pulled in), every deal with its change, and a summary "
              "per manager. The report period does not apply: two moments are compared.",
    },
    notebook="pipeline.ipynb",
    params=[
        ParamSpec("compare_to", "str", "week", "moment compared with as_of: week (as_of − 7 days), month, or a date YYYY-MM-DD"),
        ParamSpec("horizon", "choice", "quarter", "open deals expected to close by the end of as_of's month | quarter | year, or all",
                  choices=m.HORIZONS),
        ParamSpec("step", "str", None, "only the deals of this waterfall step in table deals (new, won, pushed_out, …); "
                  "a click on a waterfall bar sets it"),
    ],
    compute=compute,
    check=check,
    period=False,
    tables={
        "waterfall_total": TableSpec(m.WATERFALL_TOTAL_COLUMNS, {"ru": "Водопад воронки", "en": "Pipeline waterfall"},
                                     "waterfall"),
        "waterfall": TableSpec(m.WATERFALL_COLUMNS, {"ru": "Водопад по воронкам", "en": "Waterfall by pipeline"},
                               "waterfall_by_pipeline"),
        "deals": TableSpec(m.DEAL_COLUMNS, {"ru": "Сделки", "en": "Deals"}, "deals"),
        "by_employee": TableSpec(m.BY_EMPLOYEE_COLUMNS, {"ru": "По менеджерам", "en": "By manager"}, "by_employee"),
    },
)
