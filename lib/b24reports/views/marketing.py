"""Figures of the marketing report (METRICS.md "marketing"), from a computed ``ReportResult``.

Each function takes the result, the language and, where it names things, ``sources``
(``{SOURCE_ID: name}``, e.g. ``ReportView.labels["source_id"]``) / ``names``
(``{employee_id: name}``) / ``statuses`` (``{STATUS_ID: name}``). A null ``source_id`` is
"not set" (localized). Returns a plotly ``Figure`` or ``None`` when there is nothing to draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from b24reports.core.i18n import count_text, currency_symbol, format_money, plural
from b24reports.core.i18n import t as _ui
from b24reports.views.common import OUTCOME_COLORS, PALETTE
from b24reports.views.dynamics import period_axis

TEXT = {
    "ru": {
        "converted": "Сконвертированы в сделку", "in_work": "В работе", "junk": "Некачественные",
        "leads": "Лиды", "quality_leads": "Качественные", "sales": "Продажи", "rpl": "Выручка на лид",
        "conv_sale": "Конверсия в продажу, %", "projected": "Прогноз выручки",
    },
    "en": {
        "converted": "Converted to deal", "in_work": "In work", "junk": "Junk", "leads": "Leads",
        "quality_leads": "Quality leads", "sales": "Sales", "rpl": "Revenue per lead",
        "conv_sale": "Conversion to sale, %", "projected": "Projected revenue",
    },
}


def _t(lang: str, key: str) -> str:
    return TEXT.get(lang, TEXT["en"])[key]


def _not_set(lang: str) -> str:
    """Localized "not set" as a table / chart value: capitalized like the CRM names beside it."""
    text = _ui("not_set", lang)
    return text[:1].upper() + text[1:]


def source_label(source_id: Any, lang: str = "ru", sources: Mapping[Any, str] | None = None) -> str:
    """Display name of a source id: its ``crm.status.list`` name, the id itself, or
    localized "not set" for null."""
    if source_id is None or (isinstance(source_id, float) and pd.isna(source_id)):
        return _not_set(lang)
    return (sources or {}).get(source_id, str(source_id))


def table_part(view: Any, table_id: str, columns: list[str], df: pd.DataFrame | None = None,
               title: str | None = None, max_rows: int | None = 50) -> str:
    """Localized HTML of some ``columns`` of a result table (wide tables are split for A4),
    with names for id columns and null source / UTM values shown as localized "not set".
    ``view``: an ``nb.ReportView``."""
    from b24reports.views.common import table_html

    frame = view.result.tables[table_id] if df is None else df
    fill = {c: _not_set(view.lang) for c in ("source_id", "utm_source", "utm_medium", "utm_campaign")
            if c in frame.columns and c in columns}
    if fill and len(frame):
        frame = frame.assign(**{c: frame[c].astype(object).where(frame[c].notna(), v) for c, v in fill.items()})
    if title is None:
        title = view.spec.tables[table_id].title.get(view.lang)
    return table_html(frame, columns, view.lang, view.currency, max_rows=max_rows, title=title, labels=view.labels, keys=getattr(view, "live", ()))


def lead_states_by_source(result: Any, lang: str = "ru", sources: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Stacked horizontal bars per source (table ``sources``): converted / in work / junk
    leads, biggest source on top. ``None`` without leads."""
    s = result.tables["sources"]
    if s.empty or int(s["leads"].sum()) == 0:
        return None
    s = s.iloc[::-1]
    y = [source_label(v, lang, sources) for v in s["source_id"]]
    fig = go.Figure()
    for col, color in (("converted", OUTCOME_COLORS["won"]), ("in_work", OUTCOME_COLORS["open"]),
                       ("junk", OUTCOME_COLORS["lost"])):
        fig.add_trace(go.Bar(x=s[col], y=y, name=_t(lang, col), orientation="h", marker_color=color))
    fig.update_layout(barmode="stack", height=max(300, 28 * len(s) + 140))
    return fig


def revenue_per_lead(result: Any, lang: str = "ru", sources: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Bars of ``revenue_per_lead`` per source (table ``sources``), conversion to sale in
    the hover. ``None`` when no source has a sale."""
    s = result.tables["sources"]
    if s.empty or not (s["sales"] > 0).any():
        return None
    s = s.assign(_v=s["revenue_per_lead"].astype(float)).sort_values("_v")
    fig = go.Figure(go.Bar(
        x=s["_v"], y=[source_label(v, lang, sources) for v in s["source_id"]], orientation="h", marker_color=PALETTE[2],
        customdata=[("—" if v is None else f"{v:.1f} %") for v in s["conversion_to_sale_pct"]],
        hovertemplate="%{y}: %{x:,.0f} (" + _t(lang, "conv_sale") + " %{customdata})<extra></extra>"))
    fig.update_layout(xaxis={"title": f"{_t(lang, 'rpl')}, {currency_symbol(result.params['currency'], lang)}"}, showlegend=False,
                      height=max(300, 28 * len(s) + 120))
    return fig


def top5_dynamics(result: Any, lang: str = "ru", sources: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Lines of leads per day or month (table ``top5``) for the 5 biggest sources.
    ``None`` when empty."""
    d = result.tables["top5"]
    if d.empty:
        return None
    col = "day" if d["day"].notna().any() else "month"
    fig = go.Figure()
    for i, (src, g) in enumerate(d.groupby(d["source_id"].astype(object).fillna("\x00"), sort=False)):
        sid = None if src == "\x00" else src
        fig.add_trace(go.Scatter(x=g[col], y=g["leads"], mode="lines+markers", name=source_label(sid, lang, sources),
                                 line={"color": PALETTE[i % len(PALETTE)]}))
    fig.update_layout(yaxis={"title": _t(lang, "leads"), "rangemode": "tozero"},
                      xaxis=period_axis(sorted(d[col].dropna().astype(str).unique()), lang))
    return fig


def funnel_chart(result: Any, lang: str = "ru") -> go.Figure | None:
    """Marketing + sales funnel (table ``funnel``): leads → quality → converted → sales.
    ``None`` without leads."""
    f = result.tables["funnel"]
    if f.empty or int(f["count"].iloc[0]) == 0:
        return None
    labels = [_t(lang, k) for k in ("leads", "quality_leads", "converted", "sales")]
    fig = go.Figure(go.Funnel(y=labels, x=f["count"].astype(int), textinfo="value+percent initial",
                              marker={"color": [PALETTE[0], PALETTE[5], PALETTE[2], PALETTE[1]]}))
    return fig


def what_if_chart(result: Any, lang: str = "ru", sources: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Bars of ``projected_revenue`` per source (table ``what_if``) with the planned leads
    in the label. ``None`` when nothing is projected."""
    w = result.tables["what_if"]
    w = w[w["projected_revenue"].notna()]
    if w.empty or not (w["projected_revenue"].astype(float) > 0).any():
        return None
    w = w.assign(_v=w["projected_revenue"].astype(float)).sort_values("_v")
    fig = go.Figure(go.Bar(
        x=w["_v"], y=[source_label(v, lang, sources) for v in w["source_id"]], orientation="h", marker_color=PALETTE[4],
        text=[count_text(round(p), "lead", lang) for p in w["planned_leads"].astype(float)], textposition="auto",
        hovertemplate="%{y}: %{x:,.0f}<extra></extra>"))
    fig.update_layout(xaxis={"title": f"{_t(lang, 'projected')}, {currency_symbol(result.params['currency'], lang)}"}, showlegend=False,
                      height=max(300, 28 * len(w) + 120))
    return fig


#: colours of lead statuses still in work (never the green of "converted" or the red of "junk")
IN_WORK_COLORS = [OUTCOME_COLORS["open"], PALETTE[1], PALETTE[5], PALETTE[4], PALETTE[6], PALETTE[8], PALETTE[9]]


def lead_status_semantics(dataset: Any) -> dict[str, str]:
    """``{STATUS_ID: semantics}`` of the portal's lead statuses (``S`` converted, ``F`` junk,
    ``P`` in work) in their ``SORT`` order, from ``dataset.statuses``; ``{}`` when unknown."""
    try:
        st = dataset.statuses
        st = st[st["entity_id"].astype(str) == "STATUS"].sort_values("sort")
        return {str(i): (str(m) if isinstance(m, str) else "P") for i, m in zip(st["status_id"], st["semantics"])}
    except (AttributeError, KeyError, TypeError):
        return {}


def leads_by_employee_chart(result: Any, lang: str = "ru", names: Mapping[Any, str] | None = None,
                            statuses: Mapping[Any, str] | None = None,
                            semantics: Mapping[str, str] | None = None) -> go.Figure | None:
    """Stacked bars: leads per employee split by status (table ``by_employee``). Colours
    follow the chart of sources above: converted statuses (``semantics`` ``S``) green, junk
    (``F``) red, statuses in work blue, orange, teal… (:data:`IN_WORK_COLORS`); statuses in the
    portal's order (``semantics``: :func:`lead_status_semantics`), in work first. ``None`` when
    empty."""
    b = result.tables["by_employee"]
    if b.empty:
        return None
    p = b.pivot_table(index="employee_id", columns=b["status_id"].astype(object).fillna("—"), values="leads",
                      aggfunc="sum", fill_value=0)
    p = p.loc[p.sum(axis=1).sort_values().index]
    sem = dict(semantics or {})
    order = {st: i for i, st in enumerate(sem)}
    rank = {"P": 0, "S": 1, "F": 2}
    cols = sorted(p.columns, key=lambda st: (rank.get(sem.get(st, "P"), 0), order.get(st, len(order)), str(st)))
    y = [(names or {}).get(int(e), f"#{int(e)}") for e in p.index]
    fig = go.Figure()
    in_work = 0
    for st in cols:
        kind = sem.get(st, "P")
        if kind == "S":
            color = OUTCOME_COLORS["won"]
        elif kind == "F":
            color = OUTCOME_COLORS["lost"]
        else:
            color = IN_WORK_COLORS[in_work % len(IN_WORK_COLORS)]
            in_work += 1
        fig.add_trace(go.Bar(x=p[st], y=y, name=(statuses or {}).get(st, str(st)), orientation="h",
                             marker_color=color))
    fig.update_layout(barmode="stack", height=max(300, 26 * len(p) + 140))
    return fig


def what_if_text(result: Any, lang: str = "ru") -> str:
    """The what-if section's lead-in (Markdown). It says what the planned leads are: with the
    default (parameter ``planned_leads`` not given) they are the whole period's leads, so the
    projection is a period's worth of revenue, and the text adds the same per month on average
    (leads and revenue ÷ months in the period), what a "next month" reading needs; with the
    parameter given it is that number of leads."""
    wt = result.tables["what_if_total"].iloc[0]
    planned = float(wt["planned_leads"])
    cur = result.params["currency"]
    projected = wt["projected_revenue"]
    leads = count_text(round(planned), "lead", lang)
    money = format_money(projected, cur, lang)
    if result.params.get("planned_leads") is not None:
        return {"ru": f"Если придёт **{leads}** в той же пропорции по источникам, то при нынешней выручке на лид "
                      f"продажи составят **{money}** (число лидов задано параметром «Плановые лиды»).",
                "en": f"If **{leads}** come in, split by source as now, the current revenue per lead gives "
                      f"**{money}** of sales (the number of leads is the “Planned leads” parameter)."}[lang]
    d0, d1 = pd.Timestamp(result.params["date_from"]), pd.Timestamp(result.params["date_to"])
    months = max(1, (d1.year - d0.year) * 12 + d1.month - d0.month + 1)
    per_month = count_text(round(planned / months), "lead", lang)
    money_month = format_money(float(projected) / months if projected is not None else None, cur, lang)
    period = {"ru": f"{months} {plural(months, 'month', lang)}", "en": f"{months} {plural(months, 'month', lang)}"}[lang]
    if months == 1:
        return {"ru": f"Если за месяц придёт **{leads}**, как за период отчёта, в той же пропорции по источникам, то при "
                      f"нынешней выручке на лид продажи составят **{money}**.",
                "en": f"If a month brings **{leads}**, as the report's period did, split by source as now, the current "
                      f"revenue per lead gives **{money}** of sales."}[lang]
    return {"ru": f"За весь период отчёта ({period}) пришло **{leads}**; при нынешней выручке на лид такой же поток "
                  f"принесёт **{money}** за {period}, то есть в среднем **{per_month}** и **{money_month}** в месяц. "
                  "Таблицы и график ниже — на весь период; другое число лидов задаёт параметр «Плановые лиды».",
            "en": f"The report's whole period ({period}) brought **{leads}**; at the current revenue per lead the same "
                  f"flow brings **{money}** over {period}, that is **{per_month}** and **{money_month}** a month on "
                  "average. The tables and chart below are for the whole period; the “Planned leads” parameter sets "
                  "another number of leads."}[lang]
