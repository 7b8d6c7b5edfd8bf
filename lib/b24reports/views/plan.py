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

from b24reports.core.i18n import quoted
from b24reports.core.texts import team_row_label
from b24reports.views.common import PALETTE

TEXT = {
    "ru": {"plan": "План", "fact": "Факт", "projection": "Прогноз на конец месяца", "mtd": "Этот месяц",
           "prev": "Прошлый месяц к той же дате", "team": "Команда", "leads": "Лиды", "calls": "Звонки",
           "won": "Выигранные сделки", "dept": "отдел", "pipeline": "воронка", "leads_all": "Лиды, если все сделки из лидов",
           "lead_base": "Лиды: {won} {won_w} × {dpw} сделки на выигрыш ÷ конверсия лидов {conv} (округлены) — вся команда, все воронки",
           "stage_base": "Стадии: {won} {won_w} ÷ конверсия стадии в выигрыш — воронка «{pipe}»",
           "lead_share": "**Лиды посчитаны так, будто каждая сделка начинается с лида.** За {months} из лидов пришли "
                         "{pct} сделок ({n} из {total}); остальные заведены без лида, поэтому лидов для плана, скорее "
                         "всего, нужно меньше — примерно {scaled}, если эта доля сохранится."},
    "en": {"plan": "Plan", "fact": "Actual", "projection": "Month-end projection", "mtd": "This month",
           "prev": "Previous month to the same day", "team": "Team", "leads": "Leads", "calls": "Calls",
           "won": "Won deals", "dept": "dept.", "pipeline": "pipeline", "leads_all": "Leads if every deal came from a lead",
           "lead_base": "Leads: {won} {won_w} × {dpw} deals per win ÷ lead conversion {conv} (rounded): whole team, all pipelines",
           "stage_base": "Stages: {won} {won_w} ÷ the stage's conversion to won: pipeline \u201c{pipe}\u201d",
           "lead_share": "**Leads are counted as if every deal started as a lead.** Over {months}, {pct} of the deals "
                         "came from leads ({n} of {total}); the others were entered without a lead, so the plan most "
                         "likely needs fewer leads: about {scaled} if that share holds."},
}


def _t(lang: str, key: str) -> str:
    return TEXT.get(lang, TEXT["en"])[key]


def row_label(emp: Any, dep: Any, labels: Mapping[str, Mapping[Any, str]] | None, lang: str = "ru") -> str:
    """"Name" of an employee plan row, "Department (dept.)" of a department row, or the
    whole-team label (``texts.team_row_label``: "Вся команда", as in the HTML and Excel tables)."""
    labels = labels or {}
    if pd.notna(emp):
        return labels.get("employee_id", {}).get(int(emp), f"#{int(emp)}")
    if pd.notna(dep):
        return f"{labels.get('department_id', {}).get(int(dep), f'#{int(dep)}')} ({_t(lang, 'dept')})"
    return team_row_label(True, "employee_id", {"employee_id": emp, "department_id": dep}, lang) or _t(lang, "team")


#: room right of a row's longest bar or marker for its completion label, share of the axis
LABEL_ROOM = 0.18
#: px per plan row (bar thickness stays the same with or without a department/team row)
ROW_PX = 34


#: a projection marker this close right of a bar's end (share of the axis) would sit on the label
MARKER_NEAR = 0.12


def label_positions(plan: pd.Series, fact: pd.Series, proj: pd.Series, top: float) -> list[float]:
    """Where each row's completion label starts: at the end of its plan or fact bar (whichever
    is longer), so the % reads with its bar; only when the projection marker falls just right of
    that end (within :data:`MARKER_NEAR` of the axis ``top``) does the label move past the
    marker. (Placing every label past the farthest marker left labels far from their bars: a
    7,5 M projection beside a 1,6 M bar.)"""
    out = []
    for p, f, j in zip(plan.fillna(0.0), fact.fillna(0.0), proj):
        end = max(float(p), float(f))
        if pd.notna(j) and end <= float(j) <= end + MARKER_NEAR * (top or 1.0):
            end = float(j)
        out.append(end)
    return out


def _plan_rows(fig: go.Figure, pf: pd.DataFrame, labels: Mapping[str, Mapping[Any, str]] | None, lang: str,
               row: int | None, legend: bool) -> None:
    """Plan (grey), fact (colored) bars, the projection marker and the completion labels of
    the rows ``pf`` (already in display order) into ``fig`` (subplot ``row`` or the figure).
    The label of a row sits at the end of its bar, past the marker only when the marker is
    right there (:func:`label_positions`)."""
    y = [row_label(e, d, labels, lang) for e, d in zip(pf["employee_id"], pf["department_id"])]
    plan, fact = pf["plan_amount"].astype(float), pf["fact_amount"].astype(float)
    proj = pf["projection"].astype(float)
    colors = [PALETTE[2] if f >= p else PALETTE[1] for f, p in zip(fact, plan)]
    from b24reports.core.i18n import format_pct

    # «158 %» in Russian, "158%" in English, as the tables write it (a seventh reader saw both on one page)
    text = [format_pct(c, lang, 0) if pd.notna(c) else "—" for c in pf["completion_pct"]]
    ends = pd.concat([plan, fact, proj], axis=1).max(axis=1, skipna=True).fillna(0.0)
    top = float(ends.max()) if len(ends) else 0.0
    at_x = label_positions(plan, fact, proj, top)
    at = {"row": row, "col": 1} if row is not None else {}
    fig.add_trace(go.Bar(x=plan, y=y, orientation="h", name=_t(lang, "plan"), marker_color="#D0D0D0",
                         legendgroup="plan", showlegend=legend), **at)
    fig.add_trace(go.Bar(x=fact, y=y, orientation="h", name=_t(lang, "fact"), marker_color=colors, width=0.45,
                         legendgroup="fact", showlegend=legend), **at)
    fig.add_trace(go.Scatter(x=proj, y=y, mode="markers", name=_t(lang, "projection"), legendgroup="projection",
                             showlegend=legend,
                             marker={"symbol": "line-ns-open", "size": 18, "line": {"width": 3}, "color": PALETTE[0]}), **at)
    gap = "\u2002"  # an en space: the label starts clear of the marker's stroke
    fig.add_trace(go.Scatter(x=at_x, y=y, mode="text", text=[gap + x for x in text], textposition="middle right",
                             cliponaxis=False,
                             showlegend=False, hoverinfo="skip"), **at)
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
    # 26 px a manager (two bars): at 30 px the 14-manager chart with its heading did not fit below
    # the plan table and left that PDF page 38 % filled (print check, demo as of the 30th)
    fig.update_layout(barmode="group", height=max(300, 26 * len(m) + 140))
    return fig


def reverse_funnel_chart(result: Any, line: int | None = None, lang: str = "ru", labels: Mapping[str, Mapping[Any, str]] | None = None,
                         pipeline_id: int | None = None) -> go.Figure | None:
    """Funnel of what plan row ``line`` (default: the row with the largest gap) needs: leads,
    then deals at each stage of ``pipeline_id`` (default: the first pipeline) down to won
    deals; the row, its month and the calls needed in a subtitle. ``None`` when no row has
    a gap or the numbers are unknown.

    The two chains have different bases (metrics.plan.required): the leads bar is ``needed_won``
    × ``deals_per_won`` ÷ ``lead_conversion_pct``, whole team and all pipelines; each stage bar
    is ``needed_won`` ÷ that stage's conversion to won in this pipeline. So the leads bar is
    named «Лиды, если все сделки из лидов» (the table's header; all pipelines: the subtitle) and a second subtitle line gives both formulas with this row's
    figures (the second reader of issue 20 read 222 leads → 66 deals as a 29,7 % conversion
    where the page says 28,8 %)."""
    from b24reports.core.columns import DISPLAY_DIGITS
    from b24reports.core.i18n import format_number, format_pct
    from b24reports.core.i18n import plural as _plural

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
        steps.append((_t(lang, "leads_all"), row["needed_leads"]))
    for sid, n in zip(st["stage_id"], st["needed_at_stage"]):
        if pd.notna(n):
            steps.append((stage_names.get(sid, sid), n))
    if not steps:
        return None
    fig = go.Figure(go.Funnel(y=[s for s, _ in steps], x=[int(n) for _, n in steps], textinfo="value",
                              marker={"color": PALETTE[0]}))
    pname = (labels or {}).get("pipeline_id", {}).get(int(pipeline_id), pipeline_id) if pipeline_id is not None else None
    note = f"{row_label(row['employee_id'], row['department_id'], labels, lang)} · {row['month']}"
    if pname is not None:
        note += f" · {_t(lang, 'pipeline')} {quoted(pname, lang)}"
    if pd.notna(row["needed_calls"]):
        note += f" · {_t(lang, 'calls')}: {int(row['needed_calls'])}"
    won = int(row["needed_won"])
    won_w = _plural(won, "win", lang if lang in ("ru", "en") else "en")
    bases = []
    if pd.notna(row["needed_leads"]) and pd.notna(row["deals_per_won"]) and pd.notna(row["lead_conversion_pct"]):
        bases.append(_t(lang, "lead_base").format(won=won, won_w=won_w, dpw=format_number(row["deals_per_won"], lang, DISPLAY_DIGITS["deals_per_won"]),
                                                  conv=format_pct(row["lead_conversion_pct"], lang, 1)))
    if pname is not None and len(steps) > (1 if bases else 0):
        bases.append(_t(lang, "stage_base").format(won=won, won_w=won_w, pipe=pname))
    sub = "<br>".join(html.escape(t, quote=False) for t in [note, *bases])
    # the row under the title (an annotation above the plot ran into the title: layout check)
    # 28 px a step: the two formula lines keep the chart as tall as before them (a taller one moved
    # the section to the next page and left the page before 38 % filled: print check)
    fig.update_layout(title={"subtitle": {"text": sub}}, margin={"t": 90 + 16 * len(bases)},
                      height=max(300, 28 * len(steps) + 150 + 16 * len(bases)))
    return fig


def lead_share_note(result: Any, lang: str = "ru") -> str | None:
    """The sentence under the reverse funnel when under 90 % of the deals created in the lookback
    window came from a lead (``notes["deals_from_leads"]``): ``needed_leads`` (METRICS.md plan
    ``required``) assumes every deal starts as a lead, which reads as "marketing must bring
    4–8× the leads" on a portal where most deals are entered directly (a fresh reader of issue 20).
    The number itself is unchanged; the note gives the share and the leads scaled by it for the
    row the chart shows (the largest gap). ``None`` when the share is ≥ 90 %, unknown, or no row
    needs leads."""
    from b24reports.core.i18n import format_number, format_pct
    from b24reports.core.i18n import plural as _plural

    share = result.notes.get("deals_from_leads") or {}
    total, n = int(share.get("deals") or 0), int(share.get("from_leads") or 0)
    rq = result.tables["required"]
    rq = rq[rq["needed_leads"].notna() & (rq["needed_leads"] > 0)]
    if not total or n >= 0.9 * total or rq.empty:
        return None
    row = rq.sort_values(["gap", "line"], ascending=[False, True]).iloc[0]
    months = int(result.notes.get("lookback_months") or 6)
    lg = lang if lang in ("ru", "en") else "en"
    scaled = -(-int(row["needed_leads"]) * n // total)  # ceil, as needed_leads
    return _t(lang, "lead_share").format(
        months=f"{months} {_plural(months, 'month', lg)}", pct=format_pct(100.0 * n / total, lang, 0),
        n=format_number(n, lang, 0), total=format_number(total, lang, 0), scaled=format_number(scaled, lang, 0))


def plan_fact_display(result: Any) -> pd.DataFrame:
    """Table ``plan_fact`` as the page shows it: its ``TableSpec.display``
    (:func:`b24reports.reports.specs.plan.plan_fact_display`: a month not started shows "—" for
    completion, projection and needed-per-day, as Excel does)."""
    from b24reports.reports.specs.plan import plan_fact_display as display

    return display(result)


def current_month(result: Any) -> str | None:
    """as_of's month (``YYYY-MM``) when the plan has rows for it, else the plan's latest month
    (None without plan rows)."""
    pf = result.tables["plan_fact"]
    if pf.empty:
        return None
    cur = pd.Timestamp(result.as_of).strftime("%Y-%m")
    return cur if (pf["month"] == cur).any() else str(max(pf["month"]))


def _stage_head(stage: Any, pipeline: str, shared: set[str]) -> str:
    """A stage column's header: the stage name, with its pipeline when another pipeline has
    a stage of the same name."""
    return f"{stage} ({pipeline})" if str(stage) in shared else str(stage)


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
    by_pipe = st.groupby("pipeline_id", sort=True)["stage_id"].unique()
    seen: dict[str, set] = {}
    for pid, sids in by_pipe.items():
        for sid in sids:
            seen.setdefault(str(names.get(sid, sid)), set()).add(pid)
    shared = {n for n, p in seen.items() if len(p) > 1}
    out = []
    for pid, g in st.groupby("pipeline_id", sort=True):
        stages = list(dict.fromkeys(g["stage_id"]))  # progress path order, as the table lists them
        grid = g.pivot_table(index="line", columns="stage_id", values="needed_at_stage", aggfunc="first")
        grid = grid.reindex(columns=stages).sort_values(stages[0], ascending=False, kind="stable")
        pname = str(pipes.get(int(pid), pid))
        # a stage name two pipelines share («Сделка успешна») carries its pipeline: the two
        # tables' «Сделка успешна 18» read as 36
        head = "".join(f"<th>{html.escape(_stage_head(names.get(s, s), pname, shared))}</th>" for s in stages)
        who = {"ru": "Кто", "en": "Who"}[lang]
        rows = "".join(
            f"<tr><td>{html.escape(owner[ln])}</td>"
            + "".join(f'<td class="num">{format_int(v, lang) if pd.notna(v) else "—"}</td>' for v in grid.loc[ln])
            + "</tr>" for ln in grid.index)
        title = {"ru": f"Воронка «{pname}»: сколько сделок должно дойти до стадии, если все нужные выигрыши "
                       f"пойдут через неё, {month}",
                 "en": f"Pipeline \u201c{pname}\u201d: deals that must reach each stage if every win needed goes "
                       f"through it, {month}"}[lang]
        out.append(f'<div class="b24-caption">{html.escape(title)}</div><table class="b24-table">'
                   f"<thead><tr><th>{who}</th>{head}</tr></thead><tbody>{rows}</tbody></table>")
    if len(out) > 1:  # the pipelines are alternatives for the same wins, not parts of them
        out.append('<p class="b24-note">' + html.escape(
            {"ru": "Таблицы воронок — варианты, а не слагаемые: каждая считает все нужные выигрыши через свою "
                   "воронку, складывать их нельзя.",
             "en": "The pipelines' tables are alternatives, not parts: each routes every win needed through its "
                   "own pipeline, so they do not add up."}[lang]) + "</p>")
    return "".join(out)


def headline_rows(result: Any, month: str | None = None) -> pd.DataFrame:
    """The ``plan_fact`` rows of ``month`` (default :func:`current_month`) that together are the
    team's plan without counting anyone twice: the employee rows when there are any, else the
    whole-team row, else the department rows."""
    pf = result.tables["plan_fact"]
    month = month or current_month(result)
    pf = pf[pf["month"] == month]
    people = pf[pf["employee_id"].notna()]
    if len(people):
        return people
    team = pf[pf["employee_id"].isna() & pf["department_id"].isna()]
    return team if len(team) else pf[pf["department_id"].notna()]


def headline(result: Any, lang: str = "ru") -> list[tuple[str, Any, str]]:
    """Headline cards of the plan report, as ``nb.ReportView.kpis`` items: the team's plan for
    the current month (:func:`headline_rows` summed: ``plan_amount``), its fact
    (``fact_amount``), completion = fact ÷ plan × 100 (%; None on a zero plan), and for a month
    under way the month-end projection at today's pace (Σ ``projection``). In the first
    :data:`EARLY_DAYS` days of a month, when the pace says little, last month's whole result
    (``notes["prev_month"]``: the team's won amount) stands beside it. ``[]`` without plan rows.
    Source: METRICS.md "plan"; nothing new is computed beyond these sums."""
    from b24reports.core.i18n import format_month

    month = current_month(result)
    if month is None:
        return []
    rows = headline_rows(result, month)
    plan, fact = float(rows["plan_amount"].sum()), float(rows["fact_amount"].sum())
    name = format_month(month, lang)
    ru = lang == "ru"
    whose = ("сотрудники вместе" if ru else "employees together") if rows["employee_id"].notna().any() else (
        "отделы вместе" if ru else "departments together") if rows["department_id"].notna().any() else (
        "вся команда" if ru else "whole team")
    items = [
        ((f"План на {name} ({whose})" if ru else f"Plan for {name} ({whose})"), plan, "money"),
        ((f"Выиграно за {name}" if ru else f"Won in {name}"), fact, "money"),
        (("Выполнение плана" if ru else "Plan completion"), 100.0 * fact / plan if plan else None, "pct"),
    ]
    cur = pd.Timestamp(result.as_of).strftime("%Y-%m")
    if month == cur:
        from b24reports.metrics.common import run_rate
        from b24reports.views.common import pace_basis

        proj = rows["projection"].astype(float)
        # how many days the pace stands on (the dynamics card says it the same way): on the 7th a
        # fresh reader took a projection from 6.5 days for a forecast
        rr = run_rate(0.0, pd.Timestamp(result.as_of))
        basis = pace_basis(rr["elapsed_days"], rr["days_in_month"], lang)
        items.append(((f"Прогноз на конец месяца по темпу ({basis})" if ru
                       else f"Month-end projection at today's pace ({basis})"),
                      float(proj.sum()) if proj.notna().any() else None, "money"))
        prev = (getattr(result, "notes", None) or {}).get("prev_month")
        if prev and pd.Timestamp(result.as_of).day <= EARLY_DAYS:
            pname = format_month(prev["month"], lang)
            items.append(((f"Итог прошлого месяца ({pname}), вся команда" if ru
                           else f"Last month's result ({pname}), whole team"), prev["won_amount"], "money"))
    return items


#: the first days of a month, when the pace says little: last month's result is shown beside it
EARLY_DAYS = 10


def headline_note(result: Any, lang: str = "ru", labels: Mapping[str, Mapping[Any, str]] | None = None) -> str | None:
    """One sentence under the headline cards when the month's plan file has department rows
    beside the employees' rows the cards add up: the department's plan (its amount named) is the
    same department planned as a whole, its people are already in the cards, so it is not added
    (the demo reader saw 25 110 000 ₽ on the card and 16 520 000 ₽ on the department row and
    could not tell which was the plan). ``labels``: ``ReportView.labels`` (department names).
    ``None`` otherwise."""
    from b24reports.core.i18n import format_money

    month = current_month(result)
    if month is None:
        return None
    pf = result.tables["plan_fact"]
    pf = pf[pf["month"] == month]
    deps = pf[pf["employee_id"].isna() & pf["department_id"].notna()]
    if deps.empty or not pf["employee_id"].notna().any():
        return None
    cur = result.params["currency"]
    names = (labels or {}).get("department_id") or {}
    parts = [f"{quoted(names.get(int(d), d), lang)} — {format_money(a, cur, lang)}"
             for d, a in zip(deps["department_id"], deps["plan_amount"])]
    if lang == "ru":
        return ("Карточки складывают планы сотрудников. Планы отделов в файле (" + ", ".join(parts) + ") — это те же "
                "люди, запланированные отделом целиком; к карточкам они не прибавляются, их выполнение — в строке "
                "отдела таблицы «План и факт».")
    return ("The cards add up the employees' plans. The department plans in the file (" + ", ".join(parts) + ") plan the "
            "same people as a whole department; they are not added to the cards, their completion is on the "
            "department's row of \u201cPlan vs fact\u201d.")
