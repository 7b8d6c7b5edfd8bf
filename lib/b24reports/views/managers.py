"""Figures of the managers report (METRICS.md "managers"), from a computed ``ReportResult``.

Each function takes the result, the language and ``names`` (``{employee_id: display name}``,
e.g. ``ReportView.labels["employee_id"]``) and returns a plotly ``Figure``, or ``None`` when
there is nothing to draw (the notebook then shows the no-data message).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from b24reports.core.i18n import format_money, format_pct
from b24reports.views.common import PALETTE
from b24reports.views.dynamics import period_axis

TEXT = {
    "ru": {
        "index": "Индекс активности (100 = средний по команде)", "won": "Сумма выигранных сделок",
        "team_mean": "Средняя сумма по команде", "busy_no_result": "Занят без результата", "efficient": "Эффективен",
        "suspicious_calls": "Подозрительно короткие звонки", "record_streak": "3 месяца лучший: риск выгорания",
        "none": "Без флагов", "activity_vs_result": "Активность и результат",
        "calls_out": "Исходящие звонки", "calls_in": "Входящие звонки", "meetings": "Встречи",
        "emails_out": "Исходящие письма", "other": "Прочие касания (чаты, линии)",
        "touches": "Касания по видам", "count": "Количество", "monthly": "Взвешенная активность по месяцам",
        "conv": "Конверсия созданных сделок в выигранные, %",
    },
    "en": {
        "index": "Activity index (100 = team average)", "won": "Won amount", "team_mean": "Team mean won amount",
        "busy_no_result": "Busy, no result", "efficient": "Efficient", "suspicious_calls": "Suspiciously short calls",
        "record_streak": "Top 3 months running: burnout watch", "none": "No flags",
        "activity_vs_result": "Activity versus result",
        "calls_out": "Outgoing calls", "calls_in": "Incoming calls", "meetings": "Meetings",
        "emails_out": "E-mails sent", "other": "Other touches (chats, open lines)",
        "touches": "Touches by kind", "count": "Count", "monthly": "Weighted activity by month",
        "conv": "Created deals won, %",
    },
}
FLAG_COLORS = {"busy_no_result": PALETTE[3], "efficient": PALETTE[2], "suspicious_calls": PALETTE[1],
               "record_streak": PALETTE[4], "none": PALETTE[6]}


def _t(lang: str, key: str) -> str:
    return TEXT.get(lang, TEXT["en"])[key]


def _name(names: Mapping[Any, str] | None, eid: Any) -> str:
    return (names or {}).get(int(eid), f"#{int(eid)}") if eid is not None and not pd.isna(eid) else "—"


def table_part(view: Any, table_id: str, columns: list[str], df: pd.DataFrame | None = None,
               title: str | None = None, max_rows: int | None = 50) -> str:
    """Localized HTML of some ``columns`` of a result table (wide tables are split for A4),
    with names for id columns and flag ids translated. ``view``: an ``nb.ReportView``."""
    from b24reports.views.common import table_html

    frame = view.result.tables[table_id] if df is None else df
    if "short_calls_pct" in columns and "short_calls_pct" not in frame.columns:
        frame = with_short_calls_pct(frame)
    if "flags" in frame.columns:
        frame = frame.assign(flags=frame["flags"].map(lambda f: [flag_label(x, view.lang) for x in (f or [])]))
    if title is None:
        title = view.spec.tables[table_id].title.get(view.lang)
    return table_html(frame, columns, view.lang, view.currency, max_rows=max_rows, title=title, labels=view.labels,
                      keys=getattr(view, "live", ()), report=view.spec.name, table_id=table_id)


def with_short_calls_pct(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (rows of table ``managers``) with ``short_calls_pct`` = short_calls ÷
    (calls_out + calls_in) × 100 (None without calls): the share the "suspiciously short calls"
    flag tests against 30 %, so the page shows the number the rule speaks of. Display only
    (``metrics.json`` keeps the count)."""
    calls = frame["calls_out"].astype(float) + frame["calls_in"].astype(float)
    pct = (100.0 * frame["short_calls"].astype(float) / calls.where(calls > 0)).astype(object)
    return frame.assign(short_calls_pct=pct.where(calls > 0, None))


def flag_label(flag: str, lang: str = "ru") -> str:
    """Localized name of a flag id (``busy_no_result``, ``efficient``, ``suspicious_calls``,
    ``record_streak``)."""
    return _t(lang, flag) if flag in TEXT["en"] else flag


#: height of the activity-versus-result scatter: 480 px did not fit under its heading and intro
#: on page 1 of the PDF (the page was left 37 % filled, demo, measured)
SCATTER_PX = 420


def activity_vs_result(result: Any, lang: str = "ru", names: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Scatter: ``activity_index`` (x) against ``won_amount`` (y) per manager (table
    ``managers``), one trace per flag (a manager with several flags is drawn in each), dashed
    lines at index 80 / 120 and at the team mean won amount; names as labels. ``None``
    when no manager has an index."""
    m = result.tables["managers"]
    m = m[m["activity_index"].notna()]
    if m.empty:
        return None
    currency = result.params["currency"]
    fig = go.Figure()
    for flag in ("none", "busy_no_result", "efficient", "suspicious_calls", "record_streak"):
        sel = m[m["flags"].map(lambda f: (not f) if flag == "none" else flag in f)]
        if sel.empty:
            continue
        fig.add_trace(go.Scatter(
            x=sel["activity_index"].astype(float), y=sel["won_amount"].astype(float), mode="markers+text",
            name=_t(lang, flag), text=[_name(names, e) for e in sel["employee_id"]],
            # label each flagged manager once: no label on unflagged dots nor on overlays of a labelled one
            texttemplate=[" " if flag == "none" or (flag in ("suspicious_calls", "record_streak")
                                                     and {"busy_no_result", "efficient"} & set(f)) else "%{text}"
                          for f in sel["flags"]],
            textposition="top center",
            marker={"size": 12 if flag == "none" else 14, "color": FLAG_COLORS[flag],
                    "symbol": "circle" if flag in ("none", "busy_no_result", "efficient") else "diamond-open",
                    "line": {"width": 2 if flag in ("suspicious_calls", "record_streak") else 0}},
            hovertemplate="%{text}<br>%{x:.1f} / %{y:,.0f}<extra>" + _t(lang, flag) + "</extra>"))
    # the guide lines as plain layout shapes (add_vline/add_hline cost ~10 ms a refilter)
    shapes = [{"type": "line", "xref": "x", "yref": "paper", "x0": x, "x1": x, "y0": 0, "y1": 1,
               "line": {"dash": "dot", "color": "#999"}} for x in (80, 120)]
    mean = result.notes.get("team_mean_won_amount")
    if mean is not None:
        shapes.append({"type": "line", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": mean, "y1": mean,
                       "line": {"dash": "dash", "color": PALETTE[0]}})
        # the mean's label is a legend entry (a line sample): inside the plot, points covered it
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line={"dash": "dash", "color": PALETTE[0]},
                                 name=f"{_t(lang, 'team_mean')}: {format_money(mean, currency, lang)}",
                                 hoverinfo="skip"))
    # room for the names: a name is centred over its point, so the axes reach past the last point
    x_max = float(m["activity_index"].astype(float).max())
    y_max = max(float(m["won_amount"].astype(float).max()), float(mean or 0))
    fig.update_layout(xaxis={"title": _t(lang, "index"), "range": [0, max(x_max, 120) * 1.18 + 5]},
                      yaxis={"title": _t(lang, "won"), "range": [0, (y_max or 1) * 1.15]}, height=SCATTER_PX,
                      shapes=shapes)
    return fig


def touches_by_kind(result: Any, lang: str = "ru", names: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Stacked horizontal bars per manager: calls out, calls in, meetings, e-mails sent,
    other touches (table ``managers``), most touches on top. ``None`` without touches."""
    m = result.tables["managers"]
    m = m[m["touches"] > 0].sort_values("touches")
    if m.empty:
        return None
    y = [_name(names, e) for e in m["employee_id"]]
    fig = go.Figure()
    for i, col in enumerate(("calls_out", "calls_in", "meetings", "emails_out", "other")):
        fig.add_trace(go.Bar(x=m[col], y=y, name=_t(lang, col), orientation="h", marker_color=PALETTE[i]))
    # legend above the bars: below, on a short chart (one manager shown) it covered the axis numbers
    fig.update_layout(barmode="stack", xaxis={"title": _t(lang, "count")}, height=max(300, 26 * len(m) + 140),
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "xanchor": "left"})
    return fig


def monthly_heatmap(result: Any, lang: str = "ru", names: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Heatmap employee × month of ``weighted`` activity (table ``by_month``), hover shows
    touches and won amount. ``None`` when the table is empty or all zero."""
    b = result.tables["by_month"]
    if b.empty or not (b["weighted"] > 0).any():
        return None
    # one row per employee × month; the most active over the period on top (plotly draws the
    # first row at the bottom), ties by employee id. Rows were in id order, which a reader took
    # for a ranking («самые результативные сверху» was said of the table below)
    z = b.pivot(index="employee_id", columns="month", values="weighted").sort_index()
    total = z.sum(axis=1)
    z = z.loc[sorted(z.index, key=lambda e: (total[e], -e))]
    won = b.pivot(index="employee_id", columns="month", values="won_amount").reindex_like(z)
    won_word = "выиграно" if lang == "ru" else "won"
    fig = go.Figure(go.Heatmap(
        z=z.values, x=list(z.columns), y=[_name(names, e) for e in z.index], colorscale="Blues",
        customdata=won.values, hovertemplate="%{y} %{x}: %{z:.0f} (" + won_word + " %{customdata:,.0f})<extra></extra>"))
    fig.update_layout(height=max(300, 24 * len(z) + 140), xaxis=period_axis(list(z.columns), lang))
    return fig


def conversion_bars(result: Any, lang: str = "ru", names: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Bars of ``conversion_pct`` per manager (created deals won as of as_of), best on top;
    managers without created deals left out. ``None`` when nobody created a deal."""
    m = result.tables["managers"]
    m = m[m["conversion_pct"].notna()]
    if m.empty:
        return None
    m = m.assign(_v=m["conversion_pct"].astype(float)).sort_values("_v")
    fig = go.Figure(go.Bar(x=m["_v"], y=[_name(names, e) for e in m["employee_id"]], orientation="h",
                           marker_color=PALETTE[2], text=[format_pct(v, lang, 1) for v in m["_v"]], textposition="outside",
                           customdata=m["created_deals"], hovertemplate="%{y}: %{text} (%{customdata})<extra></extra>"))
    fig.update_layout(xaxis={"title": _t(lang, "conv"), "range": [0, 105]}, showlegend=False,
                      height=max(300, 26 * len(m) + 120))
    return fig
