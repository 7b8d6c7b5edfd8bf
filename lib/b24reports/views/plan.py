"""Figures of the plan report (METRICS.md "plan"), from a computed ``ReportResult``.

Every function takes the result, the language and ``labels`` (``ReportView.labels``: names
for ``employee_id`` and ``department_id``); it returns a plotly ``Figure`` or ``None`` when
there is nothing to draw. Money is in the report currency.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from b24reports.core.i18n import team_row_label
from b24reports.views.common import PALETTE

TEXT = {
    "ru": {"plan": "План", "fact": "Факт", "projection": "Прогноз на конец месяца", "mtd": "Этот месяц",
           "prev": "Прошлый месяц к той же дате", "team": "Команда", "leads": "Лиды", "calls": "Звонки",
           "won": "Выигранные сделки", "dept": "отдел"},
    "en": {"plan": "Plan", "fact": "Actual", "projection": "Month-end projection", "mtd": "This month",
           "prev": "Previous month to the same day", "team": "Team", "leads": "Leads", "calls": "Calls",
           "won": "Won deals", "dept": "dept."},
}


def _t(lang: str, key: str) -> str:
    return TEXT.get(lang, TEXT["en"])[key]


def row_label(emp: Any, dep: Any, labels: Mapping[str, Mapping[Any, str]] | None, lang: str = "ru") -> str:
    """"Name" of an employee plan row, "Department (dept.)" of a department row, or the
    whole-team label (``i18n.team_row_label``: "Вся команда", as in the HTML and Excel tables)."""
    labels = labels or {}
    if pd.notna(emp):
        return labels.get("employee_id", {}).get(int(emp), f"#{int(emp)}")
    if pd.notna(dep):
        return f"{labels.get('department_id', {}).get(int(dep), f'#{int(dep)}')} ({_t(lang, 'dept')})"
    return team_row_label("plan_fact", "employee_id", {"employee_id": emp, "department_id": dep}, lang) or _t(lang, "team")


#: room right of a row's longest bar or marker for its completion label, share of the axis
LABEL_ROOM = 0.18
#: px per plan row (bar thickness stays the same with or without a department/team row)
ROW_PX = 34


def _plan_rows(fig: go.Figure, pf: pd.DataFrame, labels: Mapping[str, Mapping[Any, str]] | None, lang: str,
               row: int | None, legend: bool) -> None:
    """Plan (grey), fact (colored) bars, the projection marker and the completion labels of
    the rows ``pf`` (already in display order) into ``fig`` (subplot ``row`` or the figure).
    The label of a row sits right of its longest bar or marker, so the marker never covers it."""
    y = [row_label(e, d, labels, lang) for e, d in zip(pf["employee_id"], pf["department_id"])]
    plan, fact = pf["plan_amount"].astype(float), pf["fact_amount"].astype(float)
    proj = pf["projection"].astype(float)
    colors = [PALETTE[2] if f >= p else PALETTE[1] for f, p in zip(fact, plan)]
    text = [f"{c:.0f} %" if pd.notna(c) else "—" for c in pf["completion_pct"]]
    ends = pd.concat([plan, fact, proj], axis=1).max(axis=1, skipna=True).fillna(0.0)
    at = {"row": row, "col": 1} if row is not None else {}
    fig.add_trace(go.Bar(x=plan, y=y, orientation="h", name=_t(lang, "plan"), marker_color="#D0D0D0",
                         legendgroup="plan", showlegend=legend), **at)
    fig.add_trace(go.Bar(x=fact, y=y, orientation="h", name=_t(lang, "fact"), marker_color=colors, width=0.45,
                         legendgroup="fact", showlegend=legend), **at)
    fig.add_trace(go.Scatter(x=proj, y=y, mode="markers", name=_t(lang, "projection"), legendgroup="projection",
                             showlegend=legend,
                             marker={"symbol": "line-ns-open", "size": 18, "line": {"width": 3}, "color": PALETTE[0]}), **at)
    gap = "\u2002"  # an en space: the label starts clear of the marker's stroke
    fig.add_trace(go.Scatter(x=ends, y=y, mode="text", text=[gap + x for x in text], textposition="middle right",
                             cliponaxis=False,
                             showlegend=False, hoverinfo="skip"), **at)
    top = float(ends.max()) if len(ends) else 0.0
    fig.update_xaxes(range=[0, (top or 1.0) * (1 + LABEL_ROOM)], **at)


def plan_fact_chart(result: Any, lang: str = "ru", labels: Mapping[str, Mapping[Any, str]] | None = None,
                    month: str | None = None) -> go.Figure | None:
    """Horizontal bars per plan row of ``month`` (default: as_of's month, else the latest
    month in the plan): plan (grey), fact (green if ≥ plan, orange otherwise), a marker at
    the month-end projection, and the completion % right of the row's longest bar or marker
    (never under the marker). Department (and team) rows get their own panel below the
    managers with its own money axis, so a department's plan (the sum of its managers')
    does not shrink the managers' bars; every row is :data:`ROW_PX` px high either way.
    Money in the report currency. ``None`` without rows (table ``plan_fact``)."""
    pf = result.tables["plan_fact"]
    if pf.empty:
        return None
    if month is None:
        cur = pd.Timestamp(result.as_of).strftime("%Y-%m")
        month = cur if (pf["month"] == cur).any() else max(pf["month"])
    pf = pf[pf["month"] == month]
    if pf.empty:
        return None
    people = pf[pf["employee_id"].notna()].iloc[::-1]
    groups = pf[pf["employee_id"].isna()].iloc[::-1]
    parts = [p for p in (people, groups) if len(p)]
    height = ROW_PX * len(pf) + 140
    if len(parts) == 2:
        gap_px = 70  # the upper panel's money axis labels
        height += gap_px
        plot_px = height - 140  # the template's top/bottom margins and the legend
        fig = make_subplots(rows=2, cols=1, row_heights=[len(people), len(groups)],
                            vertical_spacing=gap_px / plot_px)
    else:
        fig = go.Figure()
    for i, part in enumerate(parts, start=1):
        _plan_rows(fig, part, labels, lang, row=i if len(parts) == 2 else None, legend=i == 1)
    fig.update_layout(barmode="overlay", title_text=month, height=max(300, height))
    return fig


def mtd_chart(result: Any, lang: str = "ru", labels: Mapping[str, Mapping[Any, str]] | None = None) -> go.Figure | None:
    """Grouped horizontal bars per employee (table ``mtd_compare`` without the team row):
    this month to date vs the previous month to the same day."""
    m = result.tables["mtd_compare"]
    m = m[m["employee_id"].notna()]
    if m.empty:
        return None
    m = m.sort_values("mtd_amount")
    y = [row_label(e, None, labels, lang) for e in m["employee_id"]]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=m["prev_mtd_amount"], y=y, orientation="h", name=_t(lang, "prev"), marker_color="#C8C8C8"))
    fig.add_trace(go.Bar(x=m["mtd_amount"], y=y, orientation="h", name=_t(lang, "mtd"), marker_color=PALETTE[0]))
    fig.update_layout(barmode="group", height=max(300, 30 * len(m) + 140))
    return fig


def reverse_funnel_chart(result: Any, line: int | None = None, lang: str = "ru", labels: Mapping[str, Mapping[Any, str]] | None = None,
                         pipeline_id: int | None = None) -> go.Figure | None:
    """Funnel of what plan row ``line`` (default: the row with the largest gap) needs: leads,
    then deals at each stage of ``pipeline_id`` (default: the first pipeline) down to won
    deals; the row, its month and the calls needed in a note above. ``None`` when no row has
    a gap or the numbers are unknown."""
    rq = result.tables["required"]
    rq = rq[rq["needed_won"].notna() & (rq["needed_won"] > 0)]
    if rq.empty:
        return None
    row = rq.sort_values(["gap", "line"], ascending=[False, True]).iloc[0] if line is None else rq[rq["line"] == line].iloc[0]
    st = result.tables["required_stages"]
    st = st[st["line"] == row["line"]]
    if pipeline_id is None and len(st):
        pipeline_id = int(st["pipeline_id"].min())
    st = st[st["pipeline_id"] == pipeline_id]
    stage_names = (labels or {}).get("stage_id", {})
    steps = []
    if pd.notna(row["needed_leads"]):
        steps.append((_t(lang, "leads"), row["needed_leads"]))
    for sid, n in zip(st["stage_id"], st["needed_at_stage"]):
        if pd.notna(n):
            steps.append((stage_names.get(sid, sid), n))
    if not steps:
        return None
    fig = go.Figure(go.Funnel(y=[s for s, _ in steps], x=[int(n) for _, n in steps], textinfo="value",
                              marker={"color": PALETTE[0]}))
    note = f"{row_label(row['employee_id'], row['department_id'], labels, lang)} · {row['month']}"
    if pd.notna(row["needed_calls"]):
        note += f" · {_t(lang, 'calls')}: {int(row['needed_calls'])}"
    # the row under the title (an annotation above the plot ran into the title: layout check)
    fig.update_layout(title={"subtitle": {"text": html.escape(note)}}, margin={"t": 80},
                      height=max(300, 40 * len(steps) + 150))
    return fig


#: plan_fact columns that mean nothing for a month that has not started (shown "—" on the page)
NOT_STARTED_COLUMNS = ("completion_pct", "deals_completion_pct", "projection", "needed_per_day")


def plan_fact_display(result: Any) -> pd.DataFrame:
    """Table ``plan_fact`` as the page shows it: for a month after as_of's month (not started),
    completion, projection and needed-per-day are blank ("—") instead of a misleading 0,0 %;
    ``metrics.json`` and Excel keep the computed values."""
    pf = result.tables["plan_fact"]
    cur = pd.Timestamp(result.as_of).strftime("%Y-%m")
    future = pf["month"].astype(str) > cur
    if not future.any():
        return pf
    out = pf.copy()
    for c in NOT_STARTED_COLUMNS:
        if c in out.columns:
            out[c] = out[c].astype(object).where(~future, None)
    return out


def current_month(result: Any) -> str | None:
    """as_of's month (``YYYY-MM``) when the plan has rows for it, else the plan's latest month
    (None without plan rows)."""
    pf = result.tables["plan_fact"]
    if pf.empty:
        return None
    cur = pd.Timestamp(result.as_of).strftime("%Y-%m")
    return cur if (pf["month"] == cur).any() else str(max(pf["month"]))


def stage_needs_html(result: Any, lang: str = "ru", labels: Mapping[str, Mapping[Any, str]] | None = None,
                     month: str | None = None) -> str:
    """The reverse funnel at a glance: for plan rows of ``month`` (default :func:`current_month`)
    one table per pipeline, a row per plan row (who) and a column per progress stage (the won
    stage last) holding ``needed_at_stage``, the rows with the largest need first. Replaces the
    long list of ``required_stages`` (plan row × pipeline × stage; Excel keeps it). '' when
    there is nothing to show."""
    from b24reports.core.i18n import format_int
    from b24reports.views.common import no_data

    month = month or current_month(result)
    st = result.tables["required_stages"]
    if month is None or st.empty:
        return ""
    st = st[(st["month"] == month) & st["needed_at_stage"].notna()]
    if st.empty:
        return no_data(lang)
    names = (labels or {}).get("stage_id", {})
    pipes = (labels or {}).get("pipeline_id", {})
    owner = {ln: row_label(e, d, labels, lang) for ln, e, d in zip(st["line"], st["employee_id"], st["department_id"])}
    out = []
    for pid, g in st.groupby("pipeline_id", sort=True):
        stages = list(dict.fromkeys(g["stage_id"]))  # progress path order, as the table lists them
        grid = g.pivot_table(index="line", columns="stage_id", values="needed_at_stage", aggfunc="first")
        grid = grid.reindex(columns=stages).sort_values(stages[0], ascending=False, kind="stable")
        head = "".join(f"<th>{html.escape(str(names.get(s, s)))}</th>" for s in stages)
        who = {"ru": "Кто", "en": "Who"}[lang]
        rows = "".join(
            f"<tr><td>{html.escape(owner[ln])}</td>"
            + "".join(f'<td class="num">{format_int(v, lang) if pd.notna(v) else "—"}</td>' for v in grid.loc[ln])
            + "</tr>" for ln in grid.index)
        title = {"ru": f"{pipes.get(int(pid), pid)}: сколько сделок должно дойти до стадии, {month}",
                 "en": f"{pipes.get(int(pid), pid)}: deals that must reach each stage, {month}"}[lang]
        out.append(f'<div class="b24-caption">{html.escape(title)}</div><table class="b24-table">'
                   f"<thead><tr><th>{who}</th>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return "".join(out)
