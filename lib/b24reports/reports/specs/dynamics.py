"""Registry entry of the dynamics report (METRICS.md "dynamics"): won sales over time,
sales velocity, and three forecasts side by side (weighted pipeline by expected close month,
run rate, and a time-series forecast chosen by its backtest on the history with an 80% band,
:mod:`b24reports.metrics.forecast`), plus close-date slips.

Parameters: the common ones (period = buckets of ``won_at`` for ``won_by_period``;
``pipelines``, ``employees``/``departments`` filter deals by CATEGORY_ID / ASSIGNED_BY_ID)
plus ``granularity`` (month | quarter | year | day) and ``lookback_months`` (window of closed
deals for stage probabilities and velocity, default 12). METRICS.md's month | quarter | year
is the contract (default month, snapshots); ``day`` is an extension that exists mainly for the
live dashboard's drill-down (a month clicked on a time chart, shown day by day). Metrics: :mod:`b24reports.metrics.dynamics`;
views: :mod:`b24reports.views.dynamics`; notebook: ``notebooks/dynamics.ipynb``.
"""

from __future__ import annotations

from b24reports.core import columns
from b24reports.metrics import dynamics as m
from b24reports.metrics.common import GRANULARITIES
from b24reports.metrics.scope import Scope
from b24reports.reports import Params, ParamSpec, ReportSpec, TableSpec

columns.define("velocity_per_day", "money", "Скорость продаж: ожидаемая выручка открытых сделок за день среднего цикла",
               "Sales velocity: expected revenue of the open deals per day of an average cycle")
columns.define("closed_reached", "int", "Закрытых, дошедших до стадии", "Closed deals that reached the stage")
columns.define("closed_won", "int", "Из них выиграно", "Of them won")
columns.define("basis", "code", "Основа расчёта", "Basis")
columns.define("slips", "int", "Переносов даты закрытия", "Close date moved later")
columns.define("first_closedate", "date", "Первая дата закрытия", "First expected close")
columns.define("closedate", "date", "Ожидаемая дата закрытия", "Expected close")
columns.define("method", "code", "Способ прогноза", "Forecast method")
columns.define("mase", "ratio", "Ошибка на проверке к правилу «как в прошлом месяце» (меньше 1 — точнее)",
               "Test error relative to “same as last month” (under 1: more accurate)")
columns.define("in_forecast", "bool", "Входит в прогноз", "In the forecast")

def compute(ds, scope: Scope, params: Params) -> tuple[dict, list[str], dict]:
    """Every table of METRICS.md "dynamics" for the run's ``scope`` (see
    :func:`b24reports.metrics.dynamics.report_tables`)."""
    return m.report_tables(ds, scope, granularity=params.granularity, lookback_months=params.lookback_months)


PERIOD_COLUMNS = ["period", "won_deals", "won_amount", "avg_deal", "change_prev_pct", "change_yoy_pct"]

SPEC = ReportSpec(
    name="dynamics",
    headlines=(("run_rate", "won_amount_mtd", "first"), ("run_rate", "run_rate", "first"),
               ("forecast_pipeline", "weighted_amount", "sum")),
    title={"ru": "Динамика продаж и прогноз", "en": "Sales dynamics and forecast"},
    description={
        "ru": "Выигранные сделки по месяцам (или кварталам, годам — параметр «Шаг периода») с изменением к прошлому периоду и к прошлому году; "
              "скорость продаж; три независимых прогноза: взвешенная воронка по ожидаемой дате закрытия, "
              "темп текущего месяца и прогноз по истории продаж (способ выбран проверкой на прошлых месяцах); сделки, чью дату закрытия переносили.",
        "en": "Won deals by month (or quarter, year: the \"Granularity\" parameter) with change vs the previous period and year; sales velocity; "
              "three independent forecasts: weighted pipeline by expected close date, this month's run rate and "
              "a forecast from the sales history (the method chosen by testing it on past months); deals whose close date keeps moving.",
    },
    notebook="dynamics.ipynb",
    params=[
        ParamSpec("granularity", "choice", "month", "won_by_period buckets of won_at (day: for a drill-down into a month)",
                  choices=GRANULARITIES),
        ParamSpec("lookback_months", "int", 12, "months of closed deals for stage win probabilities and velocity", min=1, max=120),
    ],
    compute=compute,
    tables={
        "won_by_period": TableSpec(PERIOD_COLUMNS, {"ru": "Продажи по периодам", "en": "Won by period"}, "won_by_period"),
        "won_by_period_employee": TableSpec(["employee_id", *PERIOD_COLUMNS],
                                            {"ru": "Продажи по менеджерам", "en": "Won by period and manager"},
                                            "won_by_period_employee"),
        "velocity": TableSpec(["open_deals", "avg_won_amount", "win_rate_pct", "avg_cycle_days", "velocity_per_day"],
                              {"ru": "Скорость продаж", "en": "Sales velocity"}, "velocity"),
        "forecast_pipeline": TableSpec(["month", "deals", "amount", "weighted_amount"],
                                       {"ru": "Взвешенная воронка по месяцу закрытия",
                                        "en": "Weighted pipeline by expected close month"}, "forecast_pipeline"),
        "stage_probabilities": TableSpec(["pipeline_id", "stage_id", "closed_reached", "closed_won", "probability_pct", "basis"],
                                         {"ru": "Вероятность выигрыша по стадиям", "en": "Win probability by stage"},
                                         "stage_probabilities"),
        "run_rate": TableSpec(["month", "won_amount_mtd", "elapsed_days", "days_in_month", "run_rate"],
                              {"ru": "Темп текущего месяца", "en": "Run rate"}, "run_rate"),
        "forecast_trend": TableSpec(["month", "forecast", "lower_80", "upper_80", "mape_pct"],
                                    {"ru": "Прогноз по истории продаж", "en": "Forecast from the sales history"}, "forecast_trend"),
        "forecast_backtest": TableSpec(["method", "mase", "in_forecast"],
                                       {"ru": "Проверка способов прогноза на истории", "en": "Forecast methods tested on the history"},
                                       "forecast_backtest"),
        "close_date_slips": TableSpec(["id", "title", "employee_id", "stage_id", "amount", "slips", "first_closedate",
                                       "closedate", "url"],
                                      {"ru": "Переносы даты закрытия", "en": "Close date slips"}, "close_date_slips"),
    },
)
