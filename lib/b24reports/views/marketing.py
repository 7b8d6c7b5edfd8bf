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

from b24reports.core.i18n import count_text, currency_symbol, format_money, format_pct, plural
from b24reports.core.i18n import t as _ui
# one month of the what-if is defined with the report's tables, so the page and Excel show the same
from b24reports.reports.specs.marketing import months_of_period, what_if_month  # noqa: F401 (re-exported)
from b24reports.views.common import OUTCOME_COLORS, PALETTE
from b24reports.views.dynamics import period_axis

TEXT = {
    "ru": {
        "converted": "Сконвертированы в сделку", "in_work": "Открытые (ещё не закрыты)", "junk": "Некачественные",
        "leads": "Лиды", "quality_leads": "Лиды без некачественных", "sales": "Продажи", "rpl": "Выручка на лид",
        "conv_sale": "Конверсия в продажу, %", "projected": "Прогноз выручки", "projected_month": "Прогноз выручки за месяц",
    },
    "en": {
        "converted": "Converted to deal", "in_work": "In work", "junk": "Junk", "leads": "Leads",
        "quality_leads": "Leads not junk", "sales": "Sales", "rpl": "Revenue per lead",
        "conv_sale": "Conversion to sale, %", "projected": "Projected revenue", "projected_month": "Projected revenue for a month",
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
    return table_html(frame, columns, view.lang, view.currency, max_rows=max_rows, title=title, labels=view.labels,
                      keys=getattr(view, "live", ()), report=view.spec.name, table_id=table_id)


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
        customdata=[("—" if v is None or pd.isna(v) else format_pct(v, lang, 1)) for v in s["conversion_to_sale_pct"]],
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
    """Marketing + sales funnel (table ``funnel``): leads → not junk → converted → sales, each
    bar labelled with its count and ``conversion_from_prev_pct`` (the share of the step above,
    the table's very number, «196 · 40,8 %»; the first step has none). ``None`` without leads."""
    f = result.tables["funnel"]
    if f.empty or int(f["count"].iloc[0]) == 0:
        return None
    labels = [_t(lang, k) for k in ("leads", "quality_leads", "converted", "sales")]
    text = [f"{int(n)}" if i == 0 or pd.isna(p) else f"{int(n)} · {format_pct(p, lang)}"
            for i, (n, p) in enumerate(zip(f["count"], f["conversion_from_prev_pct"]))]
    fig = go.Figure(go.Funnel(y=labels, x=f["count"].astype(int), text=text, textinfo="text",
                              hovertemplate="%{y}: %{text}<extra></extra>",
                              marker={"color": [PALETTE[0], PALETTE[5], PALETTE[2], PALETTE[1]]}))
    return fig


def leads_text(n: float, lang: str = "ru") -> str:
    """A number of leads a month with its noun: whole ``12 лидов``, else one decimal ``7,8 лида``
    (a fraction takes the plural's "other" form). The what-if's months are means: rounded to
    whole leads, 8 leads × 87 660 ₽ did not give the 686 667 ₽ beside them."""
    from b24reports.core.i18n import format_number

    r = round(float(n), 1)
    if r.is_integer():
        return count_text(int(r), "lead", lang)
    return f"{format_number(r, lang, 1)} {plural(r, 'lead', lang)}"


def what_if_chart(result: Any, lang: str = "ru", sources: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Bars of the projected revenue per source (table ``what_if``), labelled with that revenue
    and then the planned leads («687 тыс. ₽ · 7,8 лида»: a label of leads alone on a bar whose
    length is money read «Звонок 7,8 лида» as longer than «Веб-сайт 12 лидов») — for one month
    (:func:`what_if_month`) with the default planned leads, as the parameter gives them
    otherwise. ``None`` when nothing is projected."""
    from b24reports.views.forgotten import compact_money

    month = what_if_month(result)
    w = result.tables["what_if"] if month is None else month
    value, leads = ("projected_revenue", "planned_leads") if month is None else ("revenue_per_month", "leads_per_month")
    w = w[w[value].notna()]
    if w.empty or not (w[value].astype(float) > 0).any():
        return None
    w = w.assign(_v=w[value].astype(float)).sort_values("_v")
    fig = go.Figure(go.Bar(
        x=w["_v"], y=[source_label(v, lang, sources) for v in w["source_id"]], orientation="h", marker_color=PALETTE[4],
        text=[f"{compact_money(m, result.params['currency'], lang)} · {leads_text(p, lang)}"
              for m, p in zip(w["_v"], w[leads].astype(float))], textposition="auto",
        hovertemplate="%{y}: %{x:,.0f}<extra></extra>"))
    title = _t(lang, "projected") if month is None else _t(lang, "projected_month")
    fig.update_layout(xaxis={"title": f"{title}, {currency_symbol(result.params['currency'], lang)}"}, showlegend=False,
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


def status_legend(status_id: Any, semantics: str, statuses: Mapping[Any, str] | None, lang: str = "ru") -> str:
    """A lead status in a legend: its portal name, and for the converted (``S``) status what it
    means — the portal's «Качественный лид» is the converted status, not the report's «лиды
    без некачественных», and the two counts (196 vs 480) read as one name."""
    name = (statuses or {}).get(status_id, str(status_id))
    if semantics == "S":
        return f"{name} (сконвертирован в сделку)" if lang == "ru" else f"{name} (converted to a deal)"
    return name


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
        fig.add_trace(go.Bar(x=p[st], y=y, name=status_legend(st, kind, statuses, lang), orientation="h",
                             marker_color=color))
    fig.update_layout(barmode="stack", height=max(300, 26 * len(p) + 140))
    return fig


def sales_base_text(result: Any, lang: str = "ru") -> str:
    """One sentence under the headline cards (Markdown): the report's «продажи» are only the deals
    won in the period from the period's leads, and what part of every deal won in the period they
    are (notes ``won_in_period``: deals and amount, any origin, same pipelines and people). A
    fresh reader took «Сумма продаж 43 320 000 ₽» for the company's sales (270 772 000 ₽ on the
    demo). ``""`` without leads on the portal (the cohort is then the deals themselves) or without
    the note."""
    won = result.notes.get("won_in_period")
    if result.notes.get("mode") != "leads" or not won:
        return ""
    tot = result.tables["sources_total"].iloc[0]
    cur = result.params["currency"]
    n, amount = int(tot["sales"]), float(tot["sales_amount"])
    share = format_pct(100.0 * amount / won["amount"], lang) if won["amount"] else "—"
    sales = count_text(n, "deal", lang)
    alls = count_text(int(won["deals"]), "deal", lang)
    if lang == "ru":
        return (f"«Продажи» в этом отчёте — только сделки, выигранные за период из лидов этого периода: {sales} "
                f"на {format_money(amount, cur, lang)}, {share} суммы всех выигранных за период ({alls} на "
                f"{format_money(won['amount'], cur, lang)}; все продажи — в отчёте «Динамика продаж и прогноз»).")
    return (f"“Sales” in this report are only the deals won in the period from the period's leads: {sales} for "
            f"{format_money(amount, cur, lang)}, {share} of everything won in the period ({alls} for "
            f"{format_money(won['amount'], cur, lang)}; all sales are in the “Sales dynamics and forecast” report).")


def what_if_text(result: Any, lang: str = "ru") -> str:
    """The what-if section's lead-in (Markdown): a one-month projection with its base said.
    With the default (parameter ``planned_leads`` not given) the month's leads are the period's
    mean (leads ÷ months of the period, the base named: «676 лидов за 12 месяцев ÷ 12») and the
    month's revenue the period's projection ÷ months (:func:`what_if_month`); with the parameter
    given it is that number of leads."""
    wt = result.tables["what_if_total"].iloc[0]
    planned = float(wt["planned_leads"])
    cur = result.params["currency"]
    projected = wt["projected_revenue"]
    leads = count_text(round(planned), "lead", lang)
    money = format_money(projected, cur, lang)
    if result.params.get("planned_leads") is not None:
        return {"ru": f"Если придёт **{leads}** в той же пропорции по источникам, то при нынешней выручке на лид "
                      f"продажи из этих лидов составят **{money}** (число лидов задано параметром «Плановые лиды»).",
                "en": f"If **{leads}** come in, split by source as now, the current revenue per lead gives "
                      f"**{money}** of sales from these leads (the number of leads is the “Planned leads” parameter)."}[lang]
    months = months_of_period(result)
    per_month = leads_text(planned / months, lang)
    money_month = format_money(float(projected) / months if projected is not None else None, cur, lang)
    period = f"{months} {plural(months, 'month', lang)}"
    if months == 1:
        return {"ru": f"**Прогноз на месяц.** Если за месяц придёт **{leads}**, как за период отчёта, в той же пропорции "
                      f"по источникам, то при нынешней выручке на лид продажи из этих лидов за месяц составят **{money}**.",
                "en": f"**A one-month projection.** If a month brings **{leads}**, as the report's period did, split by "
                      f"source as now, the current revenue per lead gives **{money}** of sales from them in the month."}[lang]
    return {"ru": f"**Прогноз на один месяц.** Если в месяц придёт **{per_month}** — в среднем столько, сколько приходило "
                  f"за период отчёта ({leads} за {period} ÷ {months}), в той же пропорции по источникам, — то при "
                  f"нынешней выручке на лид продажи из этих лидов за месяц составят **{money_month}**. Таблица и график ниже — "
                  "на один такой месяц; другое число лидов задаёт параметр «Плановые лиды».",
            "en": f"**A one-month projection.** If a month brings **{per_month}** — the report period's monthly mean "
                  f"({leads} over {period} ÷ {months}), split by source as now — the current revenue per lead gives "
                  f"**{money_month}** of sales from them in the month. The table and chart below are for one such month; the "
                  "“Planned leads” parameter sets another number of leads."}[lang]
