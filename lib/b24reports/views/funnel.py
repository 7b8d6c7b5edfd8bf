"""Plotly figures of the funnel report (METRICS.md "funnel"), drawn from its result tables.

Every function takes a table of :mod:`b24reports.metrics.funnel` (canonical column ids),
``labels`` (``{column id: {raw value: display name}}``, as ``nb.ReportView.labels`` gives:
stage, pipeline and employee names) and ``lang`` (``ru`` | ``en``), and returns a
``plotly.graph_objects.Figure`` — or ``None`` when the table has nothing to draw (the
notebook then shows the "no data" message). Styling (width, template) is applied by
``views.common.style_figure`` when the notebook shows the figure. CRM names go into the
figure as data (plotly escapes them as text); nothing here computes a metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from b24reports.core.columns import header
from b24reports.core.i18n import add_strings, currency_symbol, format_number, format_pct, plural, quoted, t
from b24reports.views.common import OUTCOME_COLORS, PALETTE

Labels = Mapping[str, Mapping[Any, str]]

# the funnel's own UI words (i18n.STRINGS, prefixed "funnel_")
add_strings("ru", {"funnel_from_prev": "из предыдущей", "funnel_from_created": "от созданных",
                   "funnel_win_rate": "доля выигранных", "funnel_cycle": "Длительность закрытой сделки, дней",
                   "funnel_won": "Выиграна", "funnel_lost": "Проиграна", "funnel_visits": "заходов",
                   "funnel_open_stages": "Открытые стадии", "funnel_closed_stages": "Закрытые стадии"})
add_strings("en", {"funnel_from_prev": "of previous", "funnel_from_created": "of created",
                   "funnel_win_rate": "win rate", "funnel_cycle": "Closed deal cycle, days",
                   "funnel_won": "Won", "funnel_lost": "Lost", "funnel_visits": "visits",
                   "funnel_open_stages": "Open stages", "funnel_closed_stages": "Closed stages"})


def _t(key: str, lang: str) -> str:
    return t(f"funnel_{key}", lang)


def _name(labels: Labels | None, column: str, value: Any) -> str:
    """Display name of a key value (``labels[column][value]``), else the value itself."""
    if labels and column in labels and value in labels[column]:
        return str(labels[column][value])
    return str(value)


def pipelines_of(stages: pd.DataFrame) -> list[int]:
    """Pipeline ids present in the ``stages`` table, in table order."""
    return [int(p) for p in dict.fromkeys(stages["pipeline_id"].tolist())] if len(stages) else []


def funnel_chart(stages: pd.DataFrame, pipeline_id: int, labels: Labels | None = None, lang: str = "ru") -> go.Figure | None:
    """Funnel of one pipeline: deals of the cohort that reached each progress-path stage,
    each bar labelled with the count and ``conversion_from_prev_pct``.

    In: table ``stages`` (``pipeline_id``, ``stage_id``, ``reached``,
    ``conversion_from_prev_pct``). ``None`` when the pipeline has no progress stage or no
    deal reached any.
    """
    s = stages[(stages["pipeline_id"] == pipeline_id) & stages["reached"].notna()]
    if s.empty or int(s["reached"].sum()) == 0:
        return None
    names = [_name(labels, "stage_id", x) for x in s["stage_id"]]
    # the first stage's conversion is reached / the pipeline's cohort deals, the others' from the previous stage
    # the bar says the count and the share; what the share is of goes in the hover (long labels
    # spilled past the chart's edge on narrow bars under long stage names: layout check)
    text = [f"{int(r)} · {format_pct(p, lang)}" for r, p in zip(s["reached"], s["conversion_from_prev_pct"])]
    hover = [f"{int(r)} · {format_pct(p, lang)} {_t('from_created' if i == 0 else 'from_prev', lang)}"
             for i, (r, p) in enumerate(zip(s["reached"], s["conversion_from_prev_pct"]))]
    fig = go.Figure(go.Funnel(y=names, x=[int(r) for r in s["reached"]], text=text, textinfo="text",
                              customdata=[str(x) for x in s["stage_id"]],  # the stage a click refilters to (dashboard)
                              hovertext=hover, hovertemplate="%{y}: %{hovertext}<extra></extra>",
                              marker={"color": PALETTE[0]}, name=header("reached", lang)))
    fig.update_layout(margin={"l": 160, "r": 40})
    return fig


def losses_text(stages: pd.DataFrame, pipeline_id: int, labels: Labels | None = None, lang: str = "ru") -> str | None:
    """One sentence under a pipeline's funnel (Markdown): after which stage most deals were lost,
    and, when the lowest step percentage is elsewhere, that deals still open explain it.

    In: table ``stages`` of one pipeline's progress path in order (``stage_id``, ``reached``,
    ``conversion_from_prev_pct``, ``current_deals``). For a stage k before the last, the deals
    that reached it but not the next (reached(k) − reached(k+1)) are either open at k now
    (``current_deals``) or lost after it: lost ≈ the difference minus those open ("около": a deal
    moved back counts as lost here). A fresh reader read «самое узкое место — стадия с наименьшим
    процентом: там теряется больше всего сделок» and chose «Сделка успешна» (72,2 %), where 43 of
    the 108 missing deals were still open at «Финальный счёт», over «Новая» (~205 lost of 938).
    ``None`` without two progress stages or without a lost deal."""
    s = stages[(stages["pipeline_id"] == pipeline_id) & stages["reached"].notna()]
    if len(s) < 2:
        return None
    reached = [int(x) for x in s["reached"]]
    open_now = [0 if pd.isna(x) else int(x) for x in s["current_deals"]]
    ids = list(s["stage_id"])
    lost = [max(0, reached[k] - reached[k + 1] - open_now[k]) for k in range(len(s) - 1)]
    if not any(lost):
        return None
    k = max(range(len(lost)), key=lambda i: (lost[i], -i))
    name = _name(labels, "stage_id", ids[k])
    share = format_pct(100.0 * lost[k] / reached[k], lang, 0) if reached[k] else "—"
    text = {"ru": f"Больше всего сделок проиграно после стадии {quoted(name, lang)}: около {lost[k]} из {reached[k]} дошедших "
                  f"({share}).",
            "en": f"Most deals were lost after the stage {quoted(name, lang)}: about {lost[k]} of the {reached[k]} that "
                  f"reached it ({share})."}[lang]
    conv = [float(x) for x in s["conversion_from_prev_pct"]]
    j = min(range(1, len(s)), key=lambda i: (conv[i], i))  # the lowest step from a stage to the next
    if j - 1 != k and open_now[j - 1] > 0:
        low, prev = _name(labels, "stage_id", ids[j]), _name(labels, "stage_id", ids[j - 1])
        gone = reached[j - 1] - reached[j]
        text += {"ru": f" Процент ниже всего при переходе в {quoted(low, lang)} ({format_pct(conv[j], lang)}), но из {gone} "
                       f"не перешедших туда {open_now[j - 1]} ещё открыты на стадии {quoted(prev, lang)}: процент считает "
                       "и сделки, которые ещё в работе.",
                 "en": f" The lowest step is into {quoted(low, lang)} ({format_pct(conv[j], lang)}), but of the {gone} that "
                       f"did not get there {open_now[j - 1]} are still open at {quoted(prev, lang)}: the percentage counts "
                       "deals still in progress too."}[lang]
    return text


def current_stage_chart(stages: pd.DataFrame, pipeline_id: int, labels: Labels | None = None, lang: str = "ru") -> go.Figure | None:
    """Where the cohort's deals of one pipeline are now: bars of ``current_deals`` per stage
    (progress path, won, lost stages), hover with ``current_amount``. ``None`` without deals."""
    s = stages[stages["pipeline_id"] == pipeline_id]
    if s.empty or int(s["current_deals"].sum()) == 0:
        return None
    names = [_name(labels, "stage_id", x) for x in s["stage_id"]]
    won = won_stages(stages)
    colors = [OUTCOME_COLORS["won"] if sid in won else OUTCOME_COLORS["open"] if pd.notna(r) else OUTCOME_COLORS["lost"]
              for sid, r in zip(s["stage_id"], s["reached"])]
    fig = go.Figure(go.Bar(x=names, y=[int(n) for n in s["current_deals"]], marker={"color": colors},
                           customdata=[[float(a), str(x)] for a, x in zip(s["current_amount"], s["stage_id"])],
                           hovertemplate="%{x}: %{y}<br>" + header("current_amount", lang) + ": %{customdata[0]:,.0f}<extra></extra>",
                           name=header("current_deals", lang)))
    fig.update_layout(yaxis_title=header("current_deals", lang), xaxis={"tickangle": -30, "automargin": True}, height=440)
    return fig


def managers_chart(managers: pd.DataFrame, labels: Labels | None = None, lang: str = "ru",
                   currency: str = "RUB") -> go.Figure | None:
    """Won amount per manager (horizontal bars, largest on top), each bar labelled with what
    its length is: the won amount (compact money) and the number of won deals; the win rate
    is in the hover (a label of the win rate on a bar of the amount read as if short bars had
    big numbers).

    In: table ``managers`` (``employee_id``, ``won_amount``, ``won_deals``, ``win_rate_pct``).
    ``None`` when empty.
    """
    from b24reports.views.forgotten import compact_money

    if managers.empty:
        return None
    m = managers.sort_values("won_amount", kind="stable")
    names = [_name(labels, "employee_id", e) for e in m["employee_id"]]
    text = [f"{compact_money(a, currency, lang)} · {int(n)} {plural(int(n), 'deal', lang)}"
            for a, n in zip(m["won_amount"], m["won_deals"])]
    rate = [f"{format_pct(p, lang)} {_t('win_rate', lang)}" for p in m["win_rate_pct"]]
    fig = go.Figure(go.Bar(x=[float(a) for a in m["won_amount"]], y=names, orientation="h", text=text,
                           textposition="auto", insidetextfont={"color": "white"}, outsidetextfont={"color": "#333"},
                           customdata=rate, hovertemplate="%{y}: %{text} · %{customdata}<extra></extra>",
                           cliponaxis=False, marker={"color": OUTCOME_COLORS["won"]}, name=header("won_amount", lang)))
    fig.update_layout(xaxis_title=f"{header('won_amount', lang)}, {currency_symbol(currency, lang)}",
                      yaxis={"automargin": True}, margin={"l": 160, "r": 40}, height=max(300, 28 * len(m) + 120))
    return fig


def manager_stage_heatmap(manager_stages: pd.DataFrame, stages: pd.DataFrame, pipeline_id: int,
                          labels: Labels | None = None, lang: str = "ru") -> go.Figure | None:
    """Stage × manager matrix of one pipeline: how many cohort deals each manager has in each
    stage now (cell text: the count). Columns in stage order (table ``stages``), rows by
    manager. Two heatmap traces on their own scales: the open (progress) stages in blue, zmax =
    the busiest open cell; the won/lost stages in grey, zmax = the busiest closed cell (so the
    closed columns, where deals pile up by nature, do not flatten the open ones). ``None``
    when nobody has a deal in the pipeline."""
    ms = manager_stages[manager_stages["pipeline_id"] == pipeline_id]
    if ms.empty:
        return None
    order = [s for s in stages.loc[stages["pipeline_id"] == pipeline_id, "stage_id"]]
    order += [s for s in dict.fromkeys(ms["stage_id"]) if s not in order]
    grid = ms.groupby(["employee_id", "stage_id"])["current_deals"].sum().unstack(fill_value=0)
    grid = grid.reindex(columns=order, fill_value=0)
    emp = list(grid.index)
    # two scales: the open stages (where deals pile up) in blue, each cell against the busiest
    # open cell; the won/lost columns in grey on their own scale — closed deals pile up by
    # nature, and on one scale their dark columns made every open stage look the same
    st = stages[stages["pipeline_id"] == pipeline_id]
    won = won_stages(stages)
    open_cols = {s for s, r in zip(st["stage_id"], st["reached"]) if pd.notna(r) and s not in won}
    x = [_name(labels, "stage_id", s) for s in order]
    y = [_name(labels, "employee_id", int(e)) for e in emp]
    fig = go.Figure()
    for is_open, scale in ((True, "Blues"), (False, [[0, "#ffffff"], [1, "#9e9e9e"]])):
        cols = [s for s in order if (s in open_cols) == is_open]
        if not cols:
            continue
        part = grid[cols]
        zmax = float(part.to_numpy().max()) if len(part) else 0.0
        z = [[(float(v) if s in cols else None) for s, v in zip(order, row)] for row in grid.to_numpy(dtype=float).tolist()]
        fig.add_trace(go.Heatmap(
            z=z, x=x, y=y, text=[[str(int(v)) if v else "" for v in row] for row in z],
            texttemplate="%{text}", colorscale=scale, showscale=False, zmin=0, zmax=zmax or 1, hoverongaps=False,
            name=_t("open_stages" if is_open else "closed_stages", lang),
            hovertemplate="%{y} · %{x}: %{z}<extra></extra>"))
    fig.update_layout(yaxis={"autorange": "reversed"}, xaxis={"tickangle": -30, "automargin": True}, margin={"l": 160},
                      height=max(300, 26 * len(emp) + 150))
    return fig


def won_stages(stages: pd.DataFrame) -> set[str]:
    """Stage ids of the won (S) stage of each pipeline in table ``stages``: the last row of
    each pipeline's progress path (rows with ``reached``)."""
    path = stages[stages["reached"].notna()]
    return set(path.groupby("pipeline_id", sort=False)["stage_id"].last())


#: width of a cycle histogram bin, days
CYCLE_BIN_DAYS = 5


def cycle_histogram(deals: pd.DataFrame, stages: pd.DataFrame, lang: str = "ru") -> go.Figure | None:
    """Distribution of the cycle of the cohort's closed deals (``duration_days`` of ``deals``
    rows with ``closed_at``), won (stage is a pipeline's won stage, :func:`won_stages`) and
    lost stacked, in :data:`CYCLE_BIN_DAYS`-day bins ``[a, a + 5)`` from the shortest cycle's bin.
    The bins are counted here, so the figure carries one bar per bin, not one value per deal
    (on 100k deals: kilobytes instead of a megabyte per redraw). ``None`` when nothing closed."""
    closed = deals[deals["closed_at"].notna()]
    if closed.empty:
        return None
    days = closed["duration_days"].astype(float).to_numpy()
    lo = math.floor(float(np.nanmin(days)) / CYCLE_BIN_DAYS) * CYCLE_BIN_DAYS
    hi = math.floor(float(np.nanmax(days)) / CYCLE_BIN_DAYS) * CYCLE_BIN_DAYS + CYCLE_BIN_DAYS
    edges = np.arange(lo, hi + CYCLE_BIN_DAYS / 2, CYCLE_BIN_DAYS, dtype=float)
    bins = [f"{format_number(a, lang, 0)}–{format_number(b, lang, 0)}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    is_won = closed["stage_id"].isin(won_stages(stages)).to_numpy()
    fig = go.Figure()
    for key, part in (("won", days[is_won]), ("lost", days[~is_won])):
        if len(part):
            counts, _ = np.histogram(part, bins=edges)
            fig.add_trace(go.Bar(x=edges[:-1] + CYCLE_BIN_DAYS / 2, y=counts, width=CYCLE_BIN_DAYS, customdata=bins,
                                 name=_t(key, lang), marker={"color": OUTCOME_COLORS[key]},
                                 hovertemplate="%{customdata}: %{y}<extra>%{fullData.name}</extra>"))
    fig.update_layout(barmode="stack", bargap=0, xaxis_title=_t("cycle", lang), yaxis_title=header("deals", lang))
    return fig


def time_in_stage_chart(time_in_stage: pd.DataFrame, labels: Labels | None = None, lang: str = "ru") -> go.Figure | None:
    """Mean days a visit to each progress stage lasted: horizontal bars (stage names on the
    y axis read whole, however long; the first stage on top), one colour per pipeline, the
    label shows the days, the hover the number of visits. A stage name two pipelines share
    gets its pipeline's name in front. ``None`` when no stage was visited."""
    visited = time_in_stage[time_in_stage["visits"] > 0]
    if visited.empty:
        return None
    stage_names = [_name(labels, "stage_id", s) for s in visited["stage_id"]]
    shared = {n for n in stage_names if stage_names.count(n) > 1}
    fig = go.Figure()
    for i, (pid, g) in enumerate(visited.groupby("pipeline_id", sort=False)):
        pname = _name(labels, "pipeline_id", int(pid))
        y = [(f"{pname}: {n}" if n in shared else n) for n in (_name(labels, "stage_id", s) for s in g["stage_id"])]
        fig.add_trace(go.Bar(
            y=y, x=[float(d) for d in g["avg_days_in_stage"]], orientation="h",
            text=[format_number(d, lang, 1) for d in g["avg_days_in_stage"]], textposition="outside", cliponaxis=False,
            customdata=[int(n) for n in g["visits"]],
            hovertemplate="%{y}: %{x} · %{customdata} " + _t("visits", lang) + "<extra></extra>",
            name=pname, marker={"color": PALETTE[i % len(PALETTE)]}))
    n = len(visited)
    fig.update_layout(xaxis_title=header("avg_days_in_stage", lang),
                      yaxis={"autorange": "reversed", "automargin": True, "type": "category"},
                      margin={"r": 40}, height=max(300, 24 * n + 150))
    return fig


def kpis(managers: pd.DataFrame, lang: str = "ru") -> list[tuple[str, Any, str]]:
    """Headline numbers of the cohort, as ``nb.ReportView.kpis`` items ``(label, value, kind)``:
    deals, won deals, won amount (report currency) and the win rate won/(won+lost) in % —
    sums over table ``managers`` (cohort deals that have an owner, ASSIGNED_BY_ID)."""
    from b24reports.metrics.common import pct

    deals, won, lost = (int(managers[c].sum()) if len(managers) else 0 for c in ("deals", "won_deals", "lost_deals"))
    amount = float(managers["won_amount"].sum()) if len(managers) else 0.0
    return [
        (header("deals", lang, "funnel"), deals, "int"),
        (header("won_deals", lang, "funnel"), won, "int"),
        (header("won_amount", lang, "funnel"), amount, "money"),
        (header("win_rate_pct", lang), pct(won, won + lost), "pct"),
    ]


def deals_by_amount(deals: pd.DataFrame) -> pd.DataFrame:
    """The ``deals`` table with open deals first, each group by amount descending (the list a
    head of sales scans: biggest open deals on top)."""
    if deals.empty:
        return deals
    # np.lexsort: the last key is the primary one; NaN amounts sort last as in sort_values
    amount = deals["amount"].to_numpy(dtype="float64", na_value=np.nan)
    order = np.lexsort((deals["id"].to_numpy(dtype="float64", na_value=np.inf),
                        np.where(np.isnan(amount), np.inf, -amount),
                        deals["closed_at"].notna().to_numpy()))
    return deals.take(order)
