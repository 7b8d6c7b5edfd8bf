"""Figures of the dynamics report (METRICS.md "dynamics"), from a computed ``ReportResult``.

Every function takes the result (tables with canonical ids; ``notes["trend_history"]`` for
the monthly history), the language, and where it draws people ``names`` (``{employee_id:
name}``). It returns a plotly ``Figure`` or ``None`` when there is nothing to draw (the
notebook then shows the no-data message). Money is in the report currency.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from b24reports.core.i18n import count_text, format_money, format_month, format_number, format_pct, quoted, t
from b24reports.core.texts import value_label
from b24reports.views.common import PALETTE

TEXT = {
    "ru": {"won_amount": "Выиграно, сумма", "won_deals": "Выиграно, сделок", "amount": "Сумма", "weighted": "Взвешенная сумма",
           "history": "Выиграно по месяцам", "forecast": "Прогноз по истории", "band": "Полоса 80 %",
           "run_rate": "Темп текущего месяца", "pipeline": "Взвешенная воронка", "overdue": "просрочено",
           "no_date": "без даты", "other": "Остальные"},
    "en": {"won_amount": "Won amount", "won_deals": "Won deals", "amount": "Amount", "weighted": "Weighted amount",
           "history": "Won by month", "forecast": "History forecast", "band": "80% band",
           "run_rate": "This month's run rate", "pipeline": "Weighted pipeline", "overdue": "overdue",
           "no_date": "no date", "other": "Others"},
}


def _t(lang: str, key: str) -> str:
    return TEXT.get(lang, TEXT["en"])[key]


def _name(names: Mapping[Any, str] | None, eid: Any) -> str:
    return (names or {}).get(int(eid), f"#{int(eid)}") if pd.notna(eid) else "—"


#: at most this many labelled ticks on a category axis of day keys (``YYYY-MM-DD``, rotated)
MAX_DAY_TICKS = 11
#: at most this many labelled months on an axis (12 "ноя 2025" labels fit the 660 px figure)
MAX_MONTH_TICKS = 12


def _is_month(k: str) -> bool:
    return len(k) == 7 and k[4] == "-" and k[:4].isdigit() and k[5:].isdigit()


def period_axis(keys: Any, lang: str | None = None, labels: Mapping[str, str] | None = None) -> dict:
    """Plotly ``xaxis`` layout of a category axis of period keys (``won_by_period`` /
    tasks ``by_period`` / ``YYYY-MM`` months of other tables), in the keys' order.

    * Month keys (``YYYY-MM``) with ``lang``: ticks read as users read months, ru ``ноя 2025``
      / en ``Nov 2025`` (``i18n.format_month``), every k-th past :data:`MAX_MONTH_TICKS`
      (first key included); other keys show ``labels[key]`` (e.g.
      "просрочено" for ``overdue``) or the key. The x values stay the keys: a click on a point
      still gives ``YYYY-MM`` (the dashboard's drill-down, ``dashboard.click_target``).
    * Day keys (``YYYY-MM-DD``, granularity ``day``, the dashboard's drill-down into a month,
      ~30 keys): the labels are rotated −45° and, past :data:`MAX_DAY_TICKS` keys, only every
      k-th key is labelled (first key included); every bar stays on the axis and the x values
      stay the keys (a click still gives ``YYYY-MM-DD``).
    * Quarter/year keys, or no ``lang``: ``{"type": "category"}``.
    """
    keys = [str(k) for k in keys]
    if keys and all(len(k) == 10 and k[4] == "-" and k[7] == "-" for k in keys):
        step = -(-len(keys) // MAX_DAY_TICKS)
        return {"type": "category", "tickangle": -45, "tickmode": "array", "tickvals": keys[::step],
                "ticktext": keys[::step], "categoryorder": "array", "categoryarray": keys}
    if lang is None or not any(_is_month(k) for k in keys):
        return {"type": "category"}
    labels = labels or {}
    step = -(-len(keys) // MAX_MONTH_TICKS)  # a long history (forecast: 21 months) labels every k-th month
    shown = keys[::step]
    text = [format_month(k, lang) if _is_month(k) else labels.get(k, k) for k in shown]
    return {"type": "category", "tickmode": "array", "tickvals": shown, "ticktext": text,
            "categoryorder": "array", "categoryarray": keys}


#: at most this many intervals between ticks on a count axis
COUNT_TICK_INTERVALS = 5


def count_dtick(max_count: float, intervals: int = COUNT_TICK_INTERVALS) -> int:
    """Tick step of an axis of counts (deals) from 0 to ``max_count``: the smallest of 1, 2,
    5, 10, 20, 50, … giving at most ``intervals`` steps up to ``max_count`` (ticks 0, 5, 10,
    15, 20 for 20 deals; 0, 2, 4, 6, 8 for 7; never 0, 7, 13, 20). A whole number ≥ 1; a
    max of 0 (or NaN) gives 1."""
    need = float(max_count) / intervals if max_count == max_count and max_count > 0 else 0.0
    scale = 1
    while True:
        for m in (1, 2, 5):
            if m * scale >= need:
                return m * scale
        scale *= 10


def count_axis(max_count: float) -> dict:
    """Plotly axis settings of a count axis (deals) from 0: whole ticks every
    :func:`count_dtick` from ``tick0`` 0, the range up to the first tick at or above
    ``max_count`` (so the top tick is labelled), integer tick labels."""
    step = count_dtick(max_count)
    top = max(step, -(-int(max_count if max_count == max_count else 0) // step) * step)
    return {"tickmode": "linear", "tick0": 0, "dtick": step, "range": [0, top * 1.04], "tickformat": ",d"}


def won_chart(result: Any, lang: str = "ru") -> go.Figure | None:
    """Bars of ``won_amount`` per bucket (table ``won_by_period``) with ``won_deals`` as a
    line on the right axis, whose ticks are whole, round counts (:func:`count_axis`: 0, 5,
    10, …; the money axis on the left keeps plotly's ticks); day buckets get readable ticks (:func:`period_axis`). ``None``
    when no bucket has a won deal."""
    w = result.tables["won_by_period"]
    if w.empty or not (w["won_deals"] > 0).any():
        return None
    fig = go.Figure()
    fig.add_trace(go.Bar(x=w["period"], y=w["won_amount"], name=_t(lang, "won_amount"), marker_color=PALETTE[2]))
    fig.add_trace(go.Scatter(x=w["period"], y=w["won_deals"], name=_t(lang, "won_deals"), yaxis="y2",
                             mode="lines+markers", line={"color": PALETTE[0]}))
    fig.update_layout(xaxis=period_axis(w["period"], lang), yaxis={"title": _t(lang, "won_amount"), "rangemode": "tozero"},
                      yaxis2={"title": _t(lang, "won_deals"), "overlaying": "y", "side": "right",
                              **count_axis(float(w["won_deals"].max())), "showgrid": False})
    return fig


def employee_chart(result: Any, lang: str = "ru", names: Mapping[Any, str] | None = None, top: int = 8) -> go.Figure | None:
    """Stacked bars of won amount per bucket by manager (table ``won_by_period_employee``):
    the ``top`` managers by total, the rest summed as "Others"."""
    e = result.tables["won_by_period_employee"]
    if e.empty or not (e["won_amount"] > 0).any():
        return None
    totals = e.groupby("employee_id")["won_amount"].sum().sort_values(ascending=False)
    keep = list(totals.index[:top])
    fig = go.Figure()
    for i, eid in enumerate(keep):
        g = e[e["employee_id"] == eid]
        fig.add_trace(go.Bar(x=g["period"], y=g["won_amount"], name=_name(names, eid), marker_color=PALETTE[i % len(PALETTE)]))
    rest = e[~e["employee_id"].isin(keep)]
    if len(rest):
        g = rest.groupby("period", sort=True)["won_amount"].sum()
        fig.add_trace(go.Bar(x=list(g.index), y=list(g.values), name=_t(lang, "other"), marker_color="#BBBBBB"))
    fig.update_layout(barmode="stack", xaxis=period_axis(sorted(e["period"].unique()), lang), height=440)
    return fig


#: months of history the forecast chart shows (the text that explains the forecast says so)
FORECAST_CHART_MONTHS = 18


def forecast_chart(result: Any, lang: str = "ru", months: int = FORECAST_CHART_MONTHS) -> go.Figure | None:
    """The last ``months`` of won amount by month, the model's next 3 months with the 80%
    band (table ``forecast_trend``), the weighted pipeline of the coming months (table
    ``forecast_pipeline``) and this month's run rate (table ``run_rate``) — the three
    forecasts on one time axis. ``None`` without history and forecasts."""
    hist = result.notes.get("trend_history")
    hist = hist.iloc[-months:] if isinstance(hist, pd.Series) else pd.Series(dtype=float)
    trend = result.tables["forecast_trend"]
    pipe = result.tables["forecast_pipeline"]
    pipe = pipe[~pipe["month"].isin(["overdue", "no_date"])].head(3)
    rr = result.tables["run_rate"]
    if hist.empty and trend.empty and pipe.empty:
        return None
    fig = go.Figure()
    if len(hist):
        fig.add_trace(go.Scatter(x=list(hist.index), y=list(hist.values), name=_t(lang, "history"), mode="lines+markers",
                                 line={"color": PALETTE[2]}))
    if len(trend):
        x = list(trend["month"])
        fig.add_trace(go.Scatter(x=x + x[::-1], y=list(trend["upper_80"]) + list(trend["lower_80"])[::-1], fill="toself", mode="lines",
                                 fillcolor="rgba(46,111,216,0.15)", line={"width": 0}, name=_t(lang, "band"),
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=x, y=trend["forecast"], name=_t(lang, "forecast"), mode="lines+markers",
                                 line={"color": PALETTE[0], "dash": "dash"}))
    if len(pipe):
        fig.add_trace(go.Bar(x=pipe["month"], y=pipe["weighted_amount"], name=_t(lang, "pipeline"),
                             marker_color="rgba(242,159,5,0.6)"))
    if len(rr) and pd.notna(rr["run_rate"].iloc[0]):
        fig.add_trace(go.Scatter(x=[rr["month"].iloc[0]], y=[rr["run_rate"].iloc[0]], name=_t(lang, "run_rate"),
                                 mode="markers", marker={"symbol": "diamond", "size": 13, "color": PALETTE[3]}))
    cats = sorted(set(hist.index) | set(trend["month"]) | set(pipe["month"]) | set(rr["month"]))
    fig.update_layout(xaxis=period_axis(cats, lang), yaxis={"rangemode": "tozero"}, height=420)
    return fig


def pipeline_chart(result: Any, lang: str = "ru") -> go.Figure | None:
    """Grouped bars per month of expected close (table ``forecast_pipeline``): open amount
    and weighted amount; "overdue" first. ``None`` without open deals."""
    p = result.tables["forecast_pipeline"]
    if p.empty:
        return None
    keys = [str(m) for m in p["month"]]
    axis = period_axis(keys, lang, {m: _t(lang, m) for m in ("overdue", "no_date")})
    shown = dict(zip(axis.get("tickvals", keys), axis.get("ticktext", keys)))
    fig = go.Figure()
    fig.add_trace(go.Bar(x=keys, y=p["amount"], name=_t(lang, "amount"), marker_color="#BBBBBB",
                         customdata=[[n, shown.get(k, k)] for n, k in zip(p["deals"], keys)],
                         hovertemplate="%{customdata[1]}: %{y:,.0f} (%{customdata[0]})<extra></extra>"))
    fig.add_trace(go.Bar(x=keys, y=p["weighted_amount"], name=_t(lang, "weighted"), marker_color=PALETTE[1]))
    fig.update_layout(barmode="group", xaxis=axis)
    return fig


#: a ratio of errors within 5 % of 1 reads "about as accurate"
SAME_RATIO = 0.05


def _rule_text(record: Any, rule: str, lang: str) -> str:
    name = t(f"fc_rule_{rule}", lang)
    x = record.vs.get(rule)
    if x is None:
        return t("fc_no_rule", lang, rule=name)
    if record.parts == (rule,):
        return t("fc_is_rule", lang, rule=name)
    if x >= 1 + SAME_RATIO:
        return t("fc_better", lang, x="∞" if x == float("inf") else format_number(x, lang, 1), rule=name)
    if x > 1 - SAME_RATIO:
        return t("fc_same", lang, rule=name)
    return t("fc_worse", lang, x=format_number(1 / x, lang, 1), rule=name)


#: fewer backtest origins than this, and the 80 % band is said to be a rough estimate
ROUGH_BAND_ORIGINS = 12


def forecast_record_md(record: Any, lang: str = "ru", currency: str = "RUB") -> str:
    """The forecast's track record in words a head of sales reads (markdown, ``lang``):
    how the method was chosen (months of history, backtest origins, candidates, the method or
    the three averaged), its typical error as a range (% of an average month and money — the
    25th–75th percentiles of its backtest errors), the comparison with "same as last month" and
    "same month last year", what the 80 % band means, and MAPE only when no month scored is
    empty or small, and what the MASE of table ``forecast_backtest`` means. ``record``: :class:`b24reports.metrics.forecast.ForecastRecord`. Strings:
    ``i18n.STRINGS`` ``fc_*``, method names ``texts.VALUE_LABELS["method"]``."""
    def label(c: str) -> str:
        return quoted(value_label("method", c, lang), lang)

    tried = [c for c in record.mase if "+" not in c]
    choice = (t("fc_choice_one", lang, method=value_label("method", record.parts[0], lang)) if len(record.parts) == 1
              else t("fc_choice_mean", lang, methods=", ".join(label(c) for c in record.parts)))
    money = {"lo_money": format_money(record.error_low, currency, lang), "hi_money": format_money(record.error_high, currency, lang)}
    if record.error_low_pct is None:
        error = t("fc_error_money", lang, **money)
    else:
        error = t("fc_error", lang, lo=format_pct(record.error_low_pct, lang, 0).replace("\u00a0%", "").replace("%", ""),
                  hi=format_pct(record.error_high_pct, lang, 0), **money)
    parts = [
        t("fc_chosen", lang, months=count_text(record.months, "month", lang), origins=count_text(record.origins, "time", lang),
          shown=count_text(min(record.months, FORECAST_CHART_MONTHS), "month", lang),
          candidates=", ".join(label(c) for c in tried), choice=choice),
        error,
        t("fc_vs", lang, naive=_rule_text(record, "naive", lang), seasonal=_rule_text(record, "seasonal_naive", lang)),
        # with few backtests the band is their largest errors: the page says how rough it is (a tenth reader)
        t("fc_band", lang, rough="" if record.origins >= ROUGH_BAND_ORIGINS else (
            f"; проверок всего {record.origins}, так что это грубая оценка" if lang == "ru"
            else f"; with only {count_text(record.origins, 'test', lang)} it is a rough one")),
        t("fc_mape", lang, mape=format_pct(record.mape_pct, lang, 0)) if record.mape_pct is not None else t("fc_no_mape", lang),
        t("fc_mase_note", lang),
    ]
    return "\n\n".join(parts)


def _months_in(date_from: Any, date_to: Any) -> int:
    """Calendar months the period ``date_from``..``date_to`` touches (both ends counted)."""
    a, b = pd.Timestamp(date_from), pd.Timestamp(date_to)
    return (b.year - a.year) * 12 + b.month - a.month + 1


def velocity_text(result: Any, lang: str = "ru", currency: str = "RUB") -> str:
    """What the sales-velocity figure is, in words with its numbers (markdown, ``lang``): the
    expected revenue of the deals open now (``velocity.open_deals``, created any time) spread
    over the days of one average cycle, × 30 for a month, set against the period's actual
    monthly mean (Σ ``won_by_period.won_amount`` ÷ calendar months of the period), and why it
    counts more open deals than the funnel's «В работе». "" when the velocity is null.
    Source: table ``velocity`` (METRICS.md "dynamics", velocity); the value is not changed."""
    vel = result.tables["velocity"]
    if not len(vel) or pd.isna(vel.iloc[0]["velocity_per_day"]):
        return ""
    row = vel.iloc[0]
    per_day = float(row["velocity_per_day"])
    won = result.tables["won_by_period"]
    months = _months_in(result.params["date_from"], result.params["date_to"])
    monthly = float(won["won_amount"].sum()) / months if months else None
    args = {"v": format_money(per_day, currency, lang), "v30": format_money(per_day * 30, currency, lang),
            "n": count_text(int(row["open_deals"]), "open_deal_gen", lang),
            "cycle": format_number(row["avg_cycle_days"], lang, 1),
            "avg": format_money(monthly, currency, lang) if monthly is not None else "—"}
    above = monthly is not None and per_day * 30 > monthly  # say "above the actuals" only when it is
    args["above"] = ("" if not above else ", поэтому она выше факта" if lang == "ru" else ", so it runs above the actuals")
    if lang == "ru":
        return ("За период выигрывалось в среднем **{avg} в месяц**. Скорость продаж по формуле — {v} в день "
                "(≈ {v30} за 30 дней): ожидаемая выручка от {n} сейчас (любой даты создания), разложенная на "
                "дни одного среднего цикла ({cycle} дн.). Это не прогноз продаж: формула считает и давно "
                "зависшие сделки так, будто они закроются за средний цикл{above}. Открытых сделок здесь больше, "
                "чем в «Воронке продаж»: там — только созданные за период.").format(**args)
    return ("The period won **{avg} a month** on average. Sales velocity by its formula is {v} per day (≈ {v30} "
            "over 30 days): the expected revenue of the {n} now (created any time), spread over the days of one "
            "average cycle ({cycle} days). It is no sales forecast: the formula counts stale open deals too, as if "
            "they closed within one cycle{above}. It counts more open deals than the Sales funnel, which counts "
            "only the deals created in the period.").format(**args)


def run_rate_kpi(result: Any, lang: str = "ru") -> tuple[str, Any, str]:
    """The run-rate headline card ``(label, value, "money")`` from table ``run_rate``
    (``month``, ``run_rate``, ``elapsed_days``, ``days_in_month``): «Темп текущего месяца» when
    that month lies in the report period, else the label names the month and says it is after
    (or before) the period — a card beside the period's figures must not pass for one of them.
    The label says how many days the pace stands on («по темпу первых 6,5 дня из 31»): on the
    7th a fresh reader took a month's projection from 6.5 days for the headline forecast."""
    from b24reports.views.common import pace_basis

    rr = result.tables["run_rate"].iloc[0]
    month = str(rr["month"])
    first, last = str(result.params["date_from"])[:7], str(result.params["date_to"])[:7]
    elapsed, dim = rr.get("elapsed_days"), rr.get("days_in_month")
    basis = ""
    if elapsed is not None and dim is not None and not pd.isna(elapsed) and not pd.isna(dim):
        basis = pace_basis(elapsed, dim, lang)
    if first <= month <= last:
        label = _t(lang, "run_rate")
        return (f"{label} ({basis})" if basis else label), rr["run_rate"], "money"
    where = ("после периода" if month > last else "до периода") if lang == "ru" else (
        "after the period" if month > last else "before the period")
    inner = f"{basis}, {where}" if basis else where
    label = (f"Прогноз на {format_month(month, lang)} по темпу ({inner})" if lang == "ru"
             else f"{format_month(month, lang)} run rate ({inner})")
    return label, rr["run_rate"], "money"


def by_employee_amount(emp: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``won_by_period_employee`` grouped by employee, the employee with the largest
    total ``won_amount`` first (ties: ``employee_id``), each employee's periods in order — a
    table a reader scans by who sold most, not by employee ID (:func:`common.grouped_by_total`)."""
    from b24reports.views.common import grouped_by_total

    return grouped_by_total(emp, "employee_id", "won_amount", "period")


def employee_rows(emp: pd.DataFrame) -> pd.DataFrame:
    """The page's rows of ``won_by_period_employee``: every period of each employee who won
    anything in the report's periods — months without a win too, as zeros — grouped and ordered
    by :func:`by_employee_amount`; employees with no win at all are left out. The table hid the
    zero months, and a «—» in «К предыдущему» (nothing to compare with after a zero month)
    followed a gap nobody could see (second reader of issue 20)."""
    sold = emp.groupby("employee_id")["won_deals"].transform("sum") > 0 if len(emp) else pd.Series(dtype=bool)
    return by_employee_amount(emp[sold] if len(emp) else emp)


def slips_text(result: Any, lang: str = "ru") -> str:
    """The lead-in of «Переносы даты закрытия» (Markdown): what the list holds, and since when a
    slip can be seen at all (notes ``versions_since``: the first sync that kept deal versions;
    Bitrix24 keeps only a deal's current close date). A fresh reader read «4 сделки» as the
    portal's whole count of repeatedly slipped deals on a store one week old."""
    from b24reports.core.i18n import format_datetime

    head = {"ru": "Открытые сделки, у которых ожидаемую дату закрытия переносили на более позднюю два раза и больше — "
                  "частый признак того, что дата выдумана.",
            "en": "Open deals whose expected close date moved later two or more times — a common sign the date is "
                  "fiction."}[lang]
    since = result.notes.get("versions_since")
    if since is None:
        return head + {"ru": " Переносы видны только между синхронизациями, а их история ещё не началась: после "
                             "следующей синхронизации список начнёт заполняться.",
                       "en": " Slips are seen only between syncs, and their history has not started yet: the list "
                             "fills after the next sync."}[lang]
    days = max(0, int((pd.Timestamp(result.as_of) - pd.Timestamp(since)) / pd.Timedelta(days=1)))
    span = count_text(days, "day", lang)
    return head + {"ru": f" Bitrix24 хранит только нынешнюю дату закрытия, поэтому переносы видны лишь с первой "
                         f"синхронизации — **{format_datetime(since, lang)}** ({span} истории); более ранние сюда не "
                         f"попадают.",
                   "en": f" Bitrix24 keeps only the current close date, so slips are seen only since the first sync, "
                         f"**{format_datetime(since, lang)}** ({span} of history); earlier ones are not here."}[lang]

