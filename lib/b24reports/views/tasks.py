"""Figures of the tasks report (METRICS.md "tasks"), from a computed ``ReportResult``.

Every function takes the result (tables with canonical ids), the language, and, where it
draws people, ``names`` (``{employee_id: display name}``, e.g. ``ReportView.labels
["employee_id"]``). It returns a plotly ``Figure`` or ``None`` when there is nothing to
draw (the notebook then shows the no-data message). The 64 % benchmark (80 % × 80 %) is
drawn as a dashed line on coefficient charts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from b24reports.core.i18n import count_text
from b24reports.metrics.tasks import BENCHMARK_PCT
from b24reports.views.common import PALETTE
from b24reports.views.dynamics import period_axis

TEXT = {
    "ru": {
        "coef": "Коэффициент исполнения, %", "benchmark": "Ориентир 64 % (80 % × 80 %)",
        "benchmark_line": "пунктир — ориентир 64 %", "coef_short": "Коэффициент, %",
        "started": "Начаты вовремя, %", "finished": "Завершены в срок, %",
        "on_time": "Завершены в срок", "late": "Завершены с опозданием", "overdue": "Просрочены и открыты",
        "open_other": "Открыты, срок не прошёл",
        "coef_by_emp": "Коэффициент исполнения по сотрудникам", "coef_by_period": "Дисциплина исполнения по периодам",
        "outcomes": "Чем закончились задачи со сроком в периоде",
        "backlog": "Просроченные открытые задачи на конец месяца (любой срок)",
        "no_project": "Без проекта",
    },
    "en": {
        "coef": "Execution coefficient, %", "benchmark": "Benchmark 64% (80% × 80%)",
        "benchmark_line": "dashed: benchmark 64%", "coef_short": "Coefficient, %",
        "started": "Started on time, %", "finished": "Finished on time, %",
        "on_time": "Finished on time", "late": "Finished late", "overdue": "Overdue, open",
        "open_other": "Open, not yet due",
        "coef_by_emp": "Execution coefficient by employee", "coef_by_period": "Execution discipline by period",
        "outcomes": "What became of the tasks due in the period",
        "backlog": "Overdue open tasks at month end (any deadline)",
        "no_project": "No project",
    },
}


def _t(lang: str, key: str) -> str:
    return TEXT.get(lang, TEXT["en"])[key]


def _name(names: Mapping[Any, str] | None, eid: Any) -> str:
    return (names or {}).get(int(eid), f"#{int(eid)}") if eid is not None else "—"


def coefficient_by_employee(result: Any, lang: str = "ru", names: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Horizontal bars: ``execution_coefficient_pct`` per employee (table ``employees``,
    best on top), green at or above the 64 % benchmark, orange below; dashed benchmark line.
    Employees with a null coefficient (no task due) are left out."""
    e = result.tables["employees"]
    e = e[e["execution_coefficient_pct"].notna()]
    if e.empty:
        return None
    e = e.assign(_v=e["execution_coefficient_pct"].astype(float)).sort_values("_v")
    colors = [PALETTE[2] if v >= BENCHMARK_PCT else PALETTE[1] for v in e["_v"]]
    fig = go.Figure(go.Bar(
        x=e["_v"], y=[_name(names, i) for i in e["employee_id"]], orientation="h", marker_color=colors,
        texttemplate="%{x:.1f}", textposition="outside",
        customdata=[count_text(n, "task", lang) for n in e["total"]],  # 1 задача, 3 задачи, 21 задача
        hovertemplate="%{y}: %{x:.1f} % (%{customdata})<extra></extra>"))
    # the benchmark is named in the axis title, not by a label on the line (it sat on the bars)
    fig.add_vline(x=BENCHMARK_PCT, line_dash="dash", line_color=PALETTE[3])
    # (short: the whole «… (80 % × 80 %)» was clipped beside 30 long names, layout check)
    fig.update_layout(xaxis={"title": f"{_t(lang, 'coef_short')} · {_t(lang, 'benchmark_line')}", "range": [0, 105]},
                      showlegend=False,
                      height=max(300, 28 * len(e) + 120))
    return fig


def coefficient_by_period(result: Any, lang: str = "ru") -> go.Figure | None:
    """Lines per bucket of table ``by_period``: started-on-time %, finished-on-time % and the
    execution coefficient %, with the 64 % benchmark line; day buckets get readable ticks
    (:func:`views.dynamics.period_axis`). ``None`` when no bucket has tasks."""
    p = result.tables["by_period"]
    if p.empty or not (p["total"] > 0).any():
        return None
    fig = go.Figure()
    for col, key, color, width in (("started_on_time_pct", "started", PALETTE[0], 1.5),
                                   ("finished_on_time_pct", "finished", PALETTE[5], 1.5),
                                   ("execution_coefficient_pct", "coef", PALETTE[2], 3)):
        fig.add_trace(go.Scatter(x=p["period"], y=p[col].astype(float), name=_t(lang, key), mode="lines+markers",
                                 line={"color": color, "width": width}))
    # the benchmark as a legend entry, not a label drawn over the lines
    fig.add_trace(go.Scatter(x=[p["period"].iloc[0], p["period"].iloc[-1]], y=[BENCHMARK_PCT, BENCHMARK_PCT],
                             mode="lines", name=_t(lang, "benchmark"), hoverinfo="skip",
                             line={"color": PALETTE[3], "dash": "dash", "width": 1.5}))
    fig.update_layout(yaxis={"range": [0, 105], "ticksuffix": " %"}, xaxis=period_axis(p["period"], lang))
    return fig


def outcomes_by_employee(result: Any, lang: str = "ru", names: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Stacked horizontal bars per employee (table ``employees``): finished on time,
    finished late, overdue open, and open not yet due (total − the three)."""
    e = result.tables["employees"]
    e = e[e["total"] > 0]
    if e.empty:
        return None
    e = e.sort_values("total")
    y = [_name(names, i) for i in e["employee_id"]]
    rest = e["total"] - e["finished_on_time"] - e["finished_late"] - e["overdue_open"]
    fig = go.Figure()
    for vals, key, color in ((e["finished_on_time"], "on_time", PALETTE[2]), (e["finished_late"], "late", PALETTE[1]),
                             (e["overdue_open"], "overdue", PALETTE[3]), (rest, "open_other", PALETTE[6])):
        if not (vals > 0).any():  # a legend entry for what no bar holds (a period long past has no task not yet due)
            continue
        fig.add_trace(go.Bar(x=vals, y=y, orientation="h", name=_t(lang, key), marker_color=color))
    fig.update_layout(barmode="stack", height=max(300, 28 * len(e) + 140))
    return fig


def backlog_chart(result: Any, lang: str = "ru", names: Mapping[Any, str] | None = None, top: int = 8) -> go.Figure | None:
    """Lines of ``overdue`` per month end (table ``accumulation``): every employee with a
    ``growing_backlog`` month (the ones the «Где просрочка растёт» table lists), then the
    employees with the most overdue tasks at the last month end, ``top`` lines in all (more
    when more are flagged); markers ✕ where ``growing_backlog``."""
    a = result.tables["accumulation"]
    if a.empty or not (a["overdue"] > 0).any():
        return None
    last = a[a["month"] == a["month"].max()].sort_values(["overdue", "employee_id"], ascending=[False, True])
    # everyone «Где просрочка растёт» names is drawn (the table named people absent from the
    # chart), then the largest backlogs up to ``top`` lines
    growing = list(dict.fromkeys(last.loc[last["employee_id"].isin(a.loc[a["growing_backlog"].astype(bool), "employee_id"]),
                                          "employee_id"]))
    emps = growing + [e for e in last["employee_id"] if e not in growing][:max(0, top - len(growing))]
    fig = go.Figure()
    for i, eid in enumerate(emps):
        g = a[a["employee_id"] == eid]
        flag = g["growing_backlog"].astype(bool)
        fig.add_trace(go.Scatter(x=g["month"], y=g["overdue"], name=_name(names, eid), mode="lines+markers",
                                 line={"color": PALETTE[i % len(PALETTE)]},
                                 marker={"symbol": ["x" if f else "circle" for f in flag],
                                         "size": [11 if f else 6 for f in flag]}))
    fig.update_layout(xaxis=period_axis(sorted(a["month"].astype(str).unique()), lang), yaxis={"rangemode": "tozero"})
    return fig


def busiest_first(df: Any) -> Any:
    """Rows of table ``employees`` / ``departments`` / ``groups`` with the most tasks due in the
    period (``total``) first, ties in table order — where a talk about deadlines starts, not
    the order of employee IDs."""
    if len(df) == 0:
        return df
    return df.assign(_n=-df["total"].astype(float), _i=range(len(df))).sort_values(["_n", "_i"]).drop(columns=["_n", "_i"])


#: Columns the page shows (Excel and metrics.json keep every column).
# «Без срока» stands last: next to «Всего» it read as a part of the total (it is not)
EMPLOYEES_PAGE = ["employee_id", "total", "finished_on_time", "overdue_open", "started_on_time_pct",
                  "finished_on_time_pct", "execution_coefficient_pct", "no_deadline"]
DEPARTMENTS_PAGE = ["department_id", *EMPLOYEES_PAGE[1:-1], "tasks_per_executor", "no_deadline"]
GROUPS_PAGE = ["group_id", *EMPLOYEES_PAGE[1:-1], "tasks_per_executor", "no_deadline"]
TEAM_PAGE = [*EMPLOYEES_PAGE[1:-1], "tasks_per_executor", "no_deadline"]
BY_PERIOD_PAGE = ["period", "total", "finished_on_time", "finished_late", "overdue_open", "started_on_time_pct",
                  "finished_on_time_pct", "execution_coefficient_pct"]
ACCUMULATION_PAGE = ["month", "employee_id", "open", "overdue"]
TASKS_PAGE = ["title", "employee_id", "state", "deadline", "closed_date", "url"]


def table_html(view: Any, table_id: str, columns: list[str], df: Any = None, *, max_rows: int | None = 50,
               title: str | None = None) -> str:
    """A page-width HTML table of ``columns`` of table ``table_id`` (or ``df``) of a
    ``nb.ReportView``: localized headers, names for key columns (``view.labels``), escaped
    text; the title defaults to the table's title. Excel keeps every column. Tasks outside
    any project (``group_id`` 0, Bitrix24 ``GROUP_ID`` = 0) show "Без проекта" / "No project"."""
    from b24reports.views.common import table_html as _table_html

    ts = view.spec.tables[table_id]
    frame = view.result.tables[table_id] if df is None else df
    title = title if title is not None else (ts.title.get(view.lang) or next(iter(ts.title.values())))
    labels = dict(view.labels)
    labels["group_id"] = {0: _t(view.lang, "no_project"), **labels.get("group_id", {})}
    return _table_html(frame, columns, view.lang, view.currency, max_rows=max_rows, title=title, labels=labels,
                       keys=getattr(view, "live", ()), report=view.spec.name, table_id=table_id)
