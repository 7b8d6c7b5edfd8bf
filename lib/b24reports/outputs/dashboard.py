"""Live dashboards: the same report notebook, under Voila, with a filter bar.

Under papermill/nbconvert nothing here runs: :func:`b24reports.outputs.nb.open_report` checks
:func:`is_voila` (``VOILA_KERNEL_ID`` set in the kernel) and only then calls :func:`open_live`,
so static snapshots hold no widget code or output.

How one notebook becomes a dashboard (no second copy of the logic):

* :func:`open_live` computes the report, displays the filter bar (:class:`Dashboard`), and
  from then on wraps the output of the rest of the current cell and of every later cell in an
  ``ipywidgets.Output`` (IPython ``pre_run_cell``/``post_run_cell`` hooks), remembering each
  cell's source.
* A filter change recomputes the report (``ReportSpec.run`` with the new parameters), swaps
  the result inside the notebook's ``ReportView`` and re-runs the remembered cell sources into
  their outputs, so every view of the report is redrawn by the notebook's own code.

Filters (the report's declared parameters, METRICS.md "Parameters"): period (presets
:data:`PRESETS` + custom dates), ``pipelines``, ``departments`` (the metrics include
sub-departments), ``employees``; on reports that declare them ``sources`` and the UTM tags.
Clicks on a chart point whose label is a manager (or a lead source) refilter to it and show
a chip that clears it; a click on a month of a time axis drills the period down to that month.
URL query parameters (:func:`query_to_raw`) prefill the filters.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import html as _html
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from b24reports import reports
from b24reports.core.errors import B24ReportsError, BadParameter
from b24reports.core.i18n import translate_parameter_error

#: Period presets of the filter bar, in display order.
PRESETS = ("this_month", "last_month", "quarter_to_date", "last_12_months", "custom")

PRESET_LABELS = {
    "ru": {"this_month": "Этот месяц", "last_month": "Прошлый месяц", "quarter_to_date": "Квартал до сегодня",
           "last_12_months": "12 месяцев", "custom": "Свой период"},
    "en": {"this_month": "This month", "last_month": "Last month", "quarter_to_date": "Quarter to date",
           "last_12_months": "Last 12 months", "custom": "Custom"},
}

_UI = {
    "ru": {"period": "Период", "from": "с", "to": "по", "pipeline": "Воронка", "department": "Отдел",
           "employee": "Сотрудник", "stage": "Стадия", "step": "Шаг водопада", "source": "Источник", "utm_source": "UTM: источник", "utm_medium": "UTM: канал",
           "utm_campaign": "UTM: кампания", "all": "Все", "not_set": "не указан", "busy": "Пересчёт…",
           "ready": "Готово", "excel": "Скачать Excel", "excel_ready": "Файл Excel готов: ",
           "clear": "снять фильтр", "error": "Ошибка", "drill_up": "вернуть прежний период",
           "dates_reversed": "дата «с» позже даты «по», показан прежний период", "dismissed": "не работает", "excel_busy": "Готовлю Excel…",
           "lost": "Отчёт не отвечает: сеанс закрыт после простоя или сервер остановлен. Обновите страницу.",
           "reload": "Обновить", "waiting": "Жду ответа отчёта…"},
    "en": {"period": "Period", "from": "from", "to": "to", "pipeline": "Pipeline", "department": "Department",
           "employee": "Employee", "stage": "Stage", "step": "Waterfall step", "source": "Source", "utm_source": "UTM source", "utm_medium": "UTM medium",
           "utm_campaign": "UTM campaign", "all": "All", "not_set": "not set", "busy": "Recomputing…",
           "ready": "Ready", "excel": "Download Excel", "excel_ready": "Excel file ready: ",
           "clear": "clear filter", "error": "Error", "drill_up": "back to the previous period",
           "dates_reversed": "the 'from' date is after the 'to' date; the previous period is shown",
           "dismissed": "dismissed", "excel_busy": "Preparing Excel…",
           "lost": "The report is not responding: the session was closed after being idle, or the server stopped. "
                   "Reload the page.",
           "reload": "Reload", "waiting": "Waiting for the report…"},
}

#: Filter names of the bar -> report parameter they set (one value each; "" = all).
DIMENSIONS = ("pipelines", "departments", "employees", "stages", "sources", "utm_source", "utm_medium", "utm_campaign",
              "step")

#: Key columns of report tables -> the filter a click on such a cell sets (live tables carry
#: ``data-b24r-key``/``data-b24r-value`` on these cells: ``views.common.table_html(keys=...)``).
KEY_PARAMS = {"employee_id": "employees", "source_id": "sources", "pipeline_id": "pipelines",
              "department_id": "departments", "stage_id": "stages"}

#: URL query aliases -> parameter names (``?employee=12&from=2026-02-01``).
QUERY_ALIASES = {"from": "date_from", "to": "date_to", "employee": "employees", "pipeline": "pipelines",
                 "department": "departments", "source": "sources", "stage": "stages", "period": "preset"}
#: Parameter names -> the names a link uses for them (the inverse of :data:`QUERY_ALIASES`).
LINK_NAMES = {v: k for k, v in QUERY_ALIASES.items()}


def is_voila() -> bool:
    """True inside a kernel started by Voila (it sets ``VOILA_KERNEL_ID``)."""
    return bool(os.environ.get("VOILA_KERNEL_ID"))


def _month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def _add_months(d: dt.date, n: int) -> dt.date:
    m = d.year * 12 + d.month - 1 + n
    return dt.date(m // 12, m % 12 + 1, 1)


def preset_period(preset: str, today: dt.date) -> tuple[dt.date, dt.date]:
    """Inclusive period ``(date_from, date_to)`` of a preset, relative to ``today`` (the
    report's as_of date, portal time).

    ``this_month``: 1st of today's month .. today; ``last_month``: the previous calendar
    month; ``quarter_to_date``: 1st day of today's quarter .. today; ``last_12_months``: the 12
    full calendar months before today's month (the reports' default period, METRICS.md
    "Parameters"). Raises ``BadParameter('period', preset, …)`` for anything else (``custom``
    has no fixed period).
    """
    if preset == "this_month":
        return _month_start(today), today
    if preset == "last_month":
        start = _add_months(today, -1)
        return start, _month_start(today) - dt.timedelta(days=1)
    if preset == "quarter_to_date":
        return dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1), today
    if preset == "last_12_months":
        return _add_months(today, -12), _month_start(today) - dt.timedelta(days=1)
    raise BadParameter("period", preset, f"unknown period preset; known: {', '.join(p for p in PRESETS if p != 'custom')}")


def detect_preset(date_from: dt.date, date_to: dt.date, today: dt.date) -> str:
    """The preset whose period is exactly ``date_from..date_to`` for ``today``, else ``custom``."""
    for p in PRESETS[:-1]:
        if preset_period(p, today) == (date_from, date_to):
            return p
    return "custom"


def query_to_raw(query: str, spec: reports.ReportSpec) -> dict[str, str]:
    """Raw report parameters from a URL query string (Voila's ``QUERY_STRING``).

    Accepts parameter names (``employees=12``, ``date_from=2026-02-01``) and the aliases of
    :data:`QUERY_ALIASES` (``employee``, ``pipeline``, ``department``, ``source``, ``from``,
    ``to``, ``period`` = a preset name). Keys the report does not declare and Voila's own
    (``voila-template``, ``theme``, …) are ignored; repeated keys join with commas. Values
    stay strings: ``ReportSpec.parse_params`` checks them (``BadParameter``). A ``period``
    preset comes back under the key ``preset``.
    """
    declared = {p.name for p in spec.all_params} | {"preset"}
    out: dict[str, str] = {}
    for k, v in parse_qsl(query or "", keep_blank_values=False):
        name = QUERY_ALIASES.get(k, k)
        if name not in declared:
            continue
        out[name] = f"{out[name]},{v}" if name in out else v
    return out


def _isna(v: Any) -> bool:
    import pandas as pd

    return v is None or bool(pd.isna(v))


def filter_options(dataset: Any, spec: reports.ReportSpec, lang: str = "ru") -> dict[str, list[tuple[str, str]]]:
    """Choices of each filter the report declares: ``{param: [(label, value), ...]}``, the
    first item ``(All, "")``. Values are strings as a URL would carry them.

    Sources: ``crm.category.list`` (pipelines, by sort), ``department.get`` (departments,
    indented by depth under their parent), ``user.get`` (employees by name, active first),
    ``crm.status.list`` entity ``SOURCE`` plus ``-`` = not set (sources), distinct lead
    UTM values (``crm.lead.list``; deals when the portal has no leads).
    """
    ui = _UI[lang]
    declared = {p.name for p in spec.all_params}
    out: dict[str, list[tuple[str, str]]] = {}
    allv = [(ui["all"], "")]
    if "pipelines" in declared:
        p = dataset.pipelines.sort_values(["sort", "id"], na_position="last")
        out["pipelines"] = allv + [(str(n), str(int(i))) for i, n in zip(p["id"], p["name"])]
    if "departments" in declared:
        d = dataset.departments
        children: dict[Any, list[tuple[int, str, int]]] = {}
        for i, n, par, s in zip(d["id"], d["name"], d["parent"], d["sort"]):
            key = None if _isna(par) else int(par)
            children.setdefault(key, []).append((0 if _isna(s) else int(s), str(n), int(i)))
        ids = {int(i) for i in d["id"]}
        roots = [k for k in children if k is None or k not in ids]
        items: list[tuple[str, str]] = []

        def walk(parent: Any, depth: int) -> None:
            for _s, n, i in sorted(children.get(parent, [])):
                items.append(("\u00a0\u00a0" * depth + n, str(i)))
                walk(i, depth + 1)

        for r in roots:
            walk(r, 0)
        out["departments"] = allv + items
    if "employees" in declared:
        from b24reports.metrics.common import user_names

        u = dataset.users
        names = user_names(u)
        rows = sorted(((_isna(a) or not bool(a), names[int(i)], int(i)) for i, a in zip(u["id"], u["active"])))
        out["employees"] = allv + [(f"{name} ({ui['dismissed']})" if inactive else name, str(i)) for inactive, name, i in rows]
    if "sources" in declared:
        st = dataset.statuses
        src = st[st["entity_id"].astype(str) == "SOURCE"].sort_values(["sort", "status_id"], na_position="last")
        out["sources"] = allv + [(str(n), str(c)) for c, n in zip(src["status_id"], src["name"])] + [(ui["not_set"], "-")]
    if "stages" in declared:
        from b24reports.metrics.common import pipeline_stages

        st = pipeline_stages(dataset)
        pnames = dict(zip(dataset.pipelines["id"], dataset.pipelines["name"]))
        many = st["pipeline_id"].nunique() > 1
        out["stages"] = allv + [((f"{pnames.get(p, p)} · {n}" if many else str(n)), str(sid))
                                for p, sid, n in zip(st["pipeline_id"], st["stage_id"], st["name"])]
    if "step" in declared:  # a waterfall step (pipeline report): its deals
        out["step"] = allv + [(by_lang.get(lang) or by_lang["en"], k) for k, by_lang in _step_labels().items()]
    for tag in ("utm_source", "utm_medium", "utm_campaign"):
        if tag in declared:
            frame = dataset.leads if len(dataset.leads) else dataset.deals
            vals = sorted({str(x) for x in frame[tag].dropna() if str(x).strip()}) if tag in frame.columns else []
            out[tag] = allv + [(v, v) for v in vals]
    return out


def _step_labels() -> dict[str, dict[str, str]]:
    """Waterfall steps a click or the filter bar can pick (``i18n.VALUE_LABELS['step']`` without
    the start and end totals)."""
    from b24reports.core.i18n import VALUE_LABELS

    return {k: v for k, v in VALUE_LABELS.get("step", {}).items() if k not in ("start", "end")}


def click_target(point_values: list[Any], labels: Mapping[str, Mapping[Any, str]],
                 declared: set[str]) -> tuple[str, str] | None:
    """What a click on a chart point refilters to: ``(param, value)`` or ``None``.

    ``point_values``: the point's x, y, trace name, customdata items and text, in that order.
    A value equal to a manager's display name (``labels['employee_id']``) or to an employee
    id given as customdata gives ``('employees', id)``; a lead source name
    (``labels['source_id']``) gives ``('sources', code)`` when the report declares
    ``sources``; a month (a date/Timestamp or ``YYYY-MM``/``YYYY-MM-DD`` string) gives
    ``('month', 'YYYY-MM-01')`` (drill down to that month).
    """
    emp = {str(v): k for k, v in (labels.get("employee_id") or {}).items()}
    src = {str(v): k for k, v in (labels.get("source_id") or {}).items()}
    stage_ids = {str(k) for k in (labels.get("stage_id") or {})}
    by_stage_name: dict[str, list[str]] = {}
    for k, v in (labels.get("stage_id") or {}).items():
        by_stage_name.setdefault(str(v), []).append(str(k))
    # chart text is entity-escaped (views.common.escape_figure_text)
    texts = [_html.unescape(str(v)) for v in point_values if v is not None]
    for s in texts:
        if "employees" in declared and s in emp:
            return "employees", str(emp[s])
        if "sources" in declared and s in src:
            return "sources", str(src[s])
    if "step" in declared:  # a waterfall step id (customdata): list that step's deals
        for s in texts:
            if s in _step_labels():
                return "step", s
    if "stages" in declared:  # a stage id (customdata) first, else a stage name used by one stage only
        for s in texts:
            if s in stage_ids:
                return "stages", s
        for s in texts:
            if len(by_stage_name.get(s, ())) == 1:
                return "stages", by_stage_name[s][0]
    for v in point_values[:1]:  # a month is only taken from the x axis
        if isinstance(v, dt.date):
            return "month", v.replace(day=1).isoformat() if not isinstance(v, dt.datetime) else v.date().replace(day=1).isoformat()
        if isinstance(v, str) and len(v) >= 7 and v[4:5] == "-" and v[:4].isdigit() and v[5:7].isdigit():
            return "month", f"{v[:7]}-01"
    return None


class Dashboard:
    """The live filter bar of one report inside a Voila kernel.

    ``spec``: the registry entry; ``dataset``: the loaded store (``data.Dataset``); ``base``:
    raw parameters from the notebook (and the URL query). :meth:`apply` recomputes with new
    filters and redraws; :attr:`view` is the notebook's ``ReportView`` (its ``result`` is
    swapped on every recompute). Widgets are built lazily by :meth:`widget`.
    """

    def __init__(self, spec: reports.ReportSpec, dataset: Any, base: Mapping[str, Any]):
        self.spec, self.dataset = spec, dataset
        self.declared = {p.name for p in spec.all_params}
        base = dict(base)
        preset = base.pop("preset", None)
        self.base = {k: v for k, v in base.items() if k not in DIMENSIONS and k not in ("date_from", "date_to")}
        self.filters: dict[str, str] = {k: ",".join(map(str, v)) if isinstance(v, list | tuple) else str(v)
                                        for k, v in base.items() if k in DIMENSIONS and k in self.declared and v not in (None, "")}
        first = spec.run(dataset, {**self.base, **{k: v for k, v in base.items() if k in ("date_from", "date_to")},
                                   **self.filters})
        self.lang: str = first.params["lang"]
        self.today: dt.date = first.params["as_of"].date()
        # one as_of for the dashboard's life: every refilter reads the same state of the CRM
        # (and reuses the facts cached on the dataset for it, Dataset.memo)
        self.base.setdefault("as_of", first.params["as_of"].isoformat())
        if preset:
            self.date_from, self.date_to = preset_period(str(preset), self.today)
        else:
            self.date_from, self.date_to = first.params["date_from"], first.params["date_to"]
        self.result = first if not preset else self._compute()
        self.view: Any = None
        self.cells: list[tuple[str, Any]] = []
        # every output of a report cell lives in a slot of its own, keyed (cell, kind, n): a chart
        # slot per chart (redrawn in place, see show_figure), an HTML slot per HTML display and an
        # Output per other display (see _item_slot), so a refilter updates only what changed and
        # no cell is re-rendered whole
        self.slots: dict[tuple[int, str, int], Any] = {}
        self._slot_at: tuple[int, int] = (0, 0)
        self.replaying = False
        self.generation = 0
        self.last_refilter_s: float | None = None
        self._w: dict[str, Any] = {}
        self._chip_w: dict[str, Any] = {}
        self._mute = False
        self._open_out: Any = None
        self.drills: list[tuple[dt.date, dt.date, Any]] = []  # periods before each drill-down
        self.on_redraw: list[Callable[[Dashboard], None]] = []

    # ------------------------------------------------------------------ state

    def raw_params(self) -> dict[str, Any]:
        """The raw parameters of the current filter state (what ``ReportSpec.run`` gets)."""
        return {**self.base, "date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat(),
                **{k: v for k, v in self.filters.items() if v}}

    def share_query(self) -> str:
        """The URL query that reopens this page as it is now (filters and period), for the
        address bar: a reload or a copied link shows the same thing. The period is given as a
        preset name (``period=this_month``) when it is one, as ``from``/``to`` when custom, and not
        at all when it is the reports' default (last 12 months), so such a link keeps rolling.
        Filters use the link names of :data:`QUERY_ALIASES` (``employee=12``)."""
        from urllib.parse import urlencode

        q: list[tuple[str, str]] = []
        if self.spec.period:
            preset = detect_preset(self.date_from, self.date_to, self.today)
            if preset == "custom":
                q += [("from", self.date_from.isoformat()), ("to", self.date_to.isoformat())]
            elif preset != "last_12_months":
                q.append(("period", preset))
        q += [(LINK_NAMES.get(k, k), str(v)) for k, v in self.filters.items() if v]
        return urlencode(q)

    def _compute(self) -> reports.ReportResult:
        return self.spec.run(self.dataset, self.raw_params())

    def set_filter(self, name: str, value: str | None, *, redraw: bool = True) -> None:
        """Set one dimension filter (``employees``, ``pipelines``, …; ``None``/"" = all) and
        recompute; or drill down: ``name='month'``, value ``YYYY-MM-01`` = that calendar month
        (capped at today) shown by day (``granularity=day`` on reports that have it);
        ``name='day'``, value ``YYYY-MM-DD`` = that day; ``name='drill_up'`` = back to the
        period before the last drill. A bad value leaves the previous state and shows the error."""
        old = (dict(self.filters), self.date_from, self.date_to, dict(self.base), list(self.drills))
        if name in ("month", "day"):
            start = dt.date.fromisoformat(str(value))
            end = min(_add_months(start, 1) - dt.timedelta(days=1), self.today) if name == "month" else start
            self.drills.append((self.date_from, self.date_to, self.base.get("granularity")))
            self.date_from, self.date_to = start, end
            if "granularity" in self.declared:
                self.base["granularity"] = "day"
        elif name == "drill_up":
            if self.drills:
                self.date_from, self.date_to, gran = self.drills.pop()
                if gran is None:
                    self.base.pop("granularity", None)
                else:
                    self.base["granularity"] = gran
        elif name in DIMENSIONS and name in self.declared:
            if value in (None, ""):
                self.filters.pop(name, None)
            else:
                self.filters[name] = str(value)
        else:
            raise BadParameter(name, value, f"not a filter of report {self.spec.name!r}")
        if redraw:
            try:
                self.refresh()
            except Exception:
                self.filters, self.date_from, self.date_to, self.base, self.drills = old
                raise

    def set_period(self, date_from: dt.date, date_to: dt.date, *, redraw: bool = True) -> None:
        """Set the period (inclusive dates) and recompute. A bad period (``date_from`` after
        ``date_to``: ``BadParameter`` from the report's scope) leaves the previous state."""
        old = (self.date_from, self.date_to, list(self.drills))
        self.date_from, self.date_to = date_from, date_to
        self.drills.clear()
        if redraw:
            try:
                self.refresh()
            except Exception:
                self.date_from, self.date_to, self.drills = old
                raise

    def refresh(self) -> None:
        """Recompute the report for the current filters and redraw every view (re-run the
        remembered cells); updates the widgets, chips and status line."""
        t0 = time.perf_counter()
        self._status(_UI[self.lang]["busy"], busy=True)
        try:
            self.result = self._compute()
        except Exception as e:  # shown on the bar; the previous views stay
            self._status(f"{_UI[self.lang]['error']}: {e}", busy=False, error=True)
            raise
        if self.view is not None:
            self.view.result = self.result
            self.view.params = self.result.params
        self.replay()
        self.generation += 1
        self.last_refilter_s = time.perf_counter() - t0
        self._sync_widgets()
        bridge = getattr(self, "_bridge", None)
        if bridge is not None:
            bridge.query = self.share_query()
        self._status(f"{_UI[self.lang]['ready']} · {self.last_refilter_s:.2f} s", busy=False)
        for cb in self.on_redraw:
            cb(self)

    # ------------------------------------------------------------------ cells

    def replay(self) -> None:
        """Re-run every remembered cell source in the notebook namespace into its output."""
        from IPython import get_ipython

        ip = get_ipython()
        ns = ip.user_ns if ip is not None else {}
        self.replaying = True
        try:
            for i, (src, out) in enumerate(self.cells):
                self._slot_at = (i, 0)
                with _Capture(out, self._item_slot):
                    try:
                        exec(compile(src, "<report cell>", "exec"), ns)
                    except Exception:
                        from IPython.display import HTML, display

                        display(HTML(f"<pre class='b24r-error'>{_html.escape(traceback.format_exc(limit=3))}</pre>"))
        finally:
            self.replaying = False

    def capture_cells(self, current_source: str) -> None:
        """Route the display output of the rest of the current cell and of every later cell
        into ``Output`` widgets and remember the cell sources (IPython ``pre_run_cell``/
        ``post_run_cell`` events; displays are collected by a display-publisher hook and set
        as the widget's ``outputs``, so nothing depends on the frontend's output routing)."""
        from IPython import get_ipython

        ip = get_ipython()
        if ip is None:
            return
        self._begin_cell(current_source)
        ip.events.register("pre_run_cell", self._pre_run_cell)
        ip.events.register("post_run_cell", self._post_run_cell)

    def _begin_cell(self, src: str) -> None:
        import ipywidgets as w
        from IPython.display import display

        out = w.Output()
        out.add_class("b24r-cell")
        display(out)
        self._slot_at = (len(self.cells), 0)
        self._open_out = _Capture(out, self._item_slot)
        self._open_out.__enter__()
        self.cells.append((src, out))

    def _pre_run_cell(self, info: Any) -> None:
        if not self.replaying:
            self._begin_cell(getattr(info, "raw_cell", "") or "")

    def _post_run_cell(self, result: Any) -> None:
        if self._open_out is not None:
            cap, self._open_out = self._open_out, None
            cap.__exit__(None, None, None)

    # ------------------------------------------------------------------ clicks and figures

    def show_figure(self, fig: Any, config: Mapping[str, Any]) -> None:
        """Display a plotly figure in the chart slot (:func:`ChartSlot`) of its place in the
        report: the n-th chart of the n-th cell. The first time the slot is created and
        displayed; on a refilter the same slot gets the new figure (plotly JSON), so the cell's
        output is unchanged and the page redraws only that chart, in place (``Plotly.react``),
        instead of re-rendering the cell and creating every chart in it anew. An unchanged
        figure sends nothing. Clicks on its points reach the kernel through the page's click
        bridge (:class:`ClickBridge`)."""
        from IPython.display import display

        cell, n = self._slot_at
        self._slot_at = (cell, n + 1)
        figure, template = figure_json(fig)
        slot = self._slot("chart", n, lambda: ChartSlot(figure, template, config))
        with slot.hold_sync():  # traitlets send a value only when it changed
            slot.figure, slot.template, slot.config = figure, template, dict(config)
        display(slot)

    def _slot(self, kind: str, n: int, make: Callable[[], Any]) -> Any:
        """The widget of the n-th ``kind`` output of the cell being run, made by ``make()`` the
        first time; the same widget on every refilter (:attr:`slots`)."""
        key = (self._slot_at[0], kind, n)
        if key not in self.slots:
            self.slots[key] = make()
        return self.slots[key]

    def _item_slot(self, n: int, item: dict[str, Any]) -> dict[str, Any]:
        """The n-th display of the cell being captured, moved into a widget of its own: an
        :func:`HtmlSlot` for the report's HTML, an ``Output`` for anything else (made once,
        updated only when the display changed); returns the display of that widget, which stays
        the same across refilters. Widget displays (chart slots) pass."""
        data = item.get("data", {})
        if WIDGET_VIEW in data:
            return item
        html = data.get("text/html")
        if isinstance(html, str) and not item.get("metadata"):
            # the report's own HTML (tables, cards; every CRM value escaped by views.common): set
            # as is, the page skips the sanitizer an Output runs over every table on each redraw
            slot = self._slot("html", n, lambda: HtmlSlot(html))
            slot.html = html  # sent only when it changed
            return _view_item(slot)
        import ipywidgets as w

        out = self._slot("out", n, w.Output)
        if tuple(out.outputs) != (item,):
            out.outputs = (item,)
        return _view_item(out)

    def on_bridge_message(self, content: Mapping[str, Any]) -> None:
        """A click reported by the page (:class:`ClickBridge`): ``{"kind": "point", "values":
        [x, y, trace name, customdata, text, hovertext, label]}`` for a chart point, or
        ``{"kind": "key", "key": "employee_id", "value": "12"}`` for a table cell of a key column
        (:data:`KEY_PARAMS`). Refilters (or drills down) when the click names something the
        report can filter by; anything else is ignored."""
        try:
            target = self.click_target_of(content)
        except (TypeError, ValueError):
            return
        if target is None:
            return
        self._safe(lambda: self.set_filter(*target))

    def click_target_of(self, content: Mapping[str, Any]) -> tuple[str, str] | None:
        """``(filter, value)`` a bridge message asks for, or ``None`` (see :meth:`on_bridge_message`).
        A month on a time axis gives ``('month', 'YYYY-MM-01')``; a day while the report shows
        days gives ``('day', 'YYYY-MM-DD')``."""
        if content.get("kind") == "key":
            param = KEY_PARAMS.get(str(content.get("key")))
            value = str(content.get("value") or "")
            if param in self.declared and value:
                return param, value
            return None
        if content.get("kind") != "point":
            return None
        vals: list[Any] = []
        for v in list(content.get("values") or []):
            vals.extend(v if isinstance(v, list) else [v])
        labels = self.view.labels if self.view is not None else {}
        target = click_target(vals, labels, self.declared)
        if target is not None and target[0] in ("month", "day") and not self.spec.period:
            return None  # a report without a period has nothing to drill into
        x = vals[0] if vals else None
        if (target is not None and target[0] == "month" and self.base.get("granularity") == "day"
                and isinstance(x, str) and len(x) >= 10 and x[7:8] == "-"):
            return "day", x[:10]
        return target

    # ------------------------------------------------------------------ widgets

    def widget(self) -> Any:
        """The filter bar: period preset + dates (for a report that reads a period,
        ``ReportSpec.period``), one dropdown per declared dimension, chips
        of the active dimension filters, an Excel button and a status line (``VBox``)."""
        import ipywidgets as w

        ui = _UI[self.lang]
        opts = filter_options(self.dataset, self.spec, self.lang)
        lay = w.Layout(width="auto")
        preset = w.Dropdown(options=[(PRESET_LABELS[self.lang][p], p) for p in PRESETS],
                            value=detect_preset(self.date_from, self.date_to, self.today),
                            description=ui["period"], layout=lay)
        preset.add_class("b24r-f-preset")
        narrow = {"description_width": "initial"}  # the label takes its own width, the date keeps the rest
        dfrom = w.DatePicker(value=self.date_from, description=ui["from"], layout=w.Layout(width="200px"), style=narrow)
        dto = w.DatePicker(value=self.date_to, description=ui["to"], layout=w.Layout(width="200px"), style=narrow)
        dfrom.add_class("b24r-f-date_from")
        dto.add_class("b24r-f-date_to")
        self._w.update(preset=preset, date_from=dfrom, date_to=dto)
        preset.observe(self._on_preset, "value")
        dfrom.observe(self._on_dates, "value")
        dto.observe(self._on_dates, "value")
        dims = []
        for name in DIMENSIONS:
            if name not in opts:
                continue
            label = ui.get({"pipelines": "pipeline", "departments": "department", "employees": "employee",
                            "sources": "source", "stages": "stage"}.get(name, name), name)
            values = {v for _l, v in opts[name]}
            cur = self.filters.get(name, "")
            if cur and cur not in values:
                opts[name].append((cur, cur))
            dd = w.Dropdown(options=opts[name], value=cur, description=label, layout=lay,
                            style={"description_width": "initial"})
            dd.add_class(f"b24r-f-{name}")
            dd.observe(lambda ch, n=name: self._on_dim(n, ch), "value")
            self._w[name] = dd
            dims.append(dd)
        self._chips = w.HBox([])
        self._chips.add_class("b24r-chips")
        excel = w.Button(description=ui["excel"])  # no icon: the icon font comes from a CDN (blank offline)
        excel.add_class("b24r-excel")
        excel.on_click(lambda _b: self._excel())
        self._link = w.HTML("")
        self._link.add_class("b24r-excel-link")
        self._state = w.HTML("")
        self._state.add_class("b24r-status")
        self._bridge = ClickBridge(self.lang)
        self._bridge.on_msg(lambda _w, content, _buffers: self.on_bridge_message(content))
        period = [preset, dfrom, dto] if self.spec.period else []  # plan reads no period: no control
        bar = w.VBox([self._bridge, plotly_loader(), w.HBox(period, layout=w.Layout(flex_flow="row wrap")),
                      w.HBox(dims, layout=w.Layout(flex_flow="row wrap")),
                      w.HBox([self._chips, excel, self._link, self._state], layout=w.Layout(flex_flow="row wrap"))])
        bar.add_class("b24r-filterbar")
        self._sync_widgets()
        self._status(_UI[self.lang]["ready"], busy=False)
        return bar

    def _status(self, text: str, *, busy: bool, error: bool = False) -> None:
        st = getattr(self, "_state", None)
        if st is None:
            return
        cls = "error" if error else ("busy" if busy else "ready")
        st.value = (f'<span class="b24r-state-{cls}" data-generation="{self.generation}" data-busy="{int(busy)}">'
                    f"{_html.escape(text)}</span>")

    def _sync_widgets(self) -> None:
        if not self._w:
            return
        self._mute = True
        try:
            self._w["date_from"].value = self.date_from
            self._w["date_to"].value = self.date_to
            self._w["preset"].value = detect_preset(self.date_from, self.date_to, self.today)
            for name in DIMENSIONS:
                dd = self._w.get(name)
                if dd is not None:
                    v = self.filters.get(name, "")
                    if v not in {o[1] for o in dd.options}:
                        dd.options = list(dd.options) + [(v, v)]
                    dd.value = v
            self._render_chips()
        finally:
            self._mute = False

    def _render_chips(self) -> None:
        import ipywidgets as w

        def chip(key: str, text: str, tooltip: str, clear: Callable[[], None]) -> Any:
            # one button per filter, made once and relabelled: a refilter sends a new label, not new widgets
            b = self._chip_w.get(key)
            if b is None:
                b = self._chip_w[key] = w.Button(tooltip=tooltip, layout=w.Layout(width="auto"))
                b.add_class("b24r-chip")
                b.add_class(f"b24r-chip-{key}")
                b.on_click(lambda _b: self._safe(clear))
            if b.description != text:
                b.description = text
            return b

        ui = _UI[self.lang]
        chips = []
        if self.drills:
            chips.append(chip("drill", f"{ui['period']}: {self._period_label()} ✕", ui["drill_up"],
                              lambda: self.set_filter("drill_up", None)))
        for name in DIMENSIONS:
            v = self.filters.get(name)
            dd = self._w.get(name)
            if not v or dd is None:
                continue
            label = next((lbl for lbl, val in dd.options if val == v), v).strip()
            chips.append(chip(name, f"{dd.description}: {label} ✕", ui["clear"], lambda n=name: self.set_filter(n, None)))
        if tuple(chips) != tuple(self._chips.children):
            self._chips.children = tuple(chips)

    def _period_label(self) -> str:
        from b24reports.core.i18n import format_date

        if self.date_from == self.date_to:
            return format_date(self.date_from, self.lang)
        return f"{format_date(self.date_from, self.lang)} – {format_date(self.date_to, self.lang)}"

    def _safe(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception:  # the status line shows it (refresh) or the widget keeps the old value
            self._sync_widgets()

    def _on_preset(self, ch: Any) -> None:
        if self._mute or ch["new"] == "custom":
            return
        self._safe(lambda: self.set_period(*preset_period(ch["new"], self.today)))

    def _on_dates(self, _ch: Any) -> None:
        if self._mute:
            return
        a, b = self._w["date_from"].value, self._w["date_to"].value
        if a is None or b is None:
            return
        if a > b:
            self._status(f"{_UI[self.lang]['error']}: {_UI[self.lang]['dates_reversed']}", busy=False, error=True)
            return
        self._safe(lambda: self.set_period(a, b))

    def _on_dim(self, name: str, ch: Any) -> None:
        if self._mute:
            return
        self._safe(lambda: self.set_filter(name, ch["new"] or None))

    def excel_bytes(self) -> bytes:
        """The Excel file of the current result (``render.write_xlsx``: one sheet per table,
        plus the parameters), as bytes."""
        from b24reports.outputs import render

        with tempfile.TemporaryDirectory(prefix="b24r-xlsx-") as tmp:
            path = Path(tmp) / f"{self.spec.name}.xlsx"
            job = render.RenderJob(spec=self.spec, result=self.result, store=Path(tmp), tmp=Path(tmp),
                                   generated_at=dt.datetime.now(dt.timezone.utc).replace(microsecond=0),
                                   dataset=self.dataset)
            render.write_xlsx(job, path)
            return path.read_bytes()

    def excel_filename(self) -> str:
        """``<report>_<date_from>_<date_to>.xlsx``."""
        return f"{self.spec.name}_{self.date_from.isoformat()}_{self.date_to.isoformat()}.xlsx"

    def _excel(self) -> None:
        self._link.value = _html.escape(_UI[self.lang]["excel_busy"])
        data = base64.b64encode(self.excel_bytes()).decode("ascii")
        name = self.excel_filename()
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        self._link.value = (f'{_html.escape(_UI[self.lang]["excel_ready"])}<a download="{_html.escape(name)}" '
                            f'href="data:{mime};base64,{data}">{_html.escape(name)}</a>')
        bridge = getattr(self, "_bridge", None)
        if bridge is not None:  # the page saves the file at once; the link stays for a second copy
            bridge.send({"kind": "download", "name": name, "mime": mime, "b64": data})


_BRIDGE_ESM = r"""
function send(model, msg) { try { model.send(msg); } catch (e) { /* kernel gone: nothing to refilter */ } }
// jupyterlab-plotly's renderer draws every chart a second time, into a PNG (Plotly.toImage), to
// keep it in the notebook file; a dashboard is never saved, so inside report cells that second
// drawing is skipped (the promise never settles, so the renderer stores nothing).
function skipSnapshots() {
  const P = window.Plotly;
  if (!P || typeof P.toImage !== "function" || P.__b24rNoSnapshot) return;
  const toImage = P.toImage;
  P.toImage = function (gd, opts) {
    const inCell = gd && typeof gd.closest === "function" && gd.closest(".b24r-cell, .b24r-plotly-loader");
    if (inCell && opts && opts.format === "png") return new Promise(() => {});
    return toImage.apply(this, arguments);
  };
  P.__b24rNoSnapshot = true;
}
function hookPlots(ask) {
  skipSnapshots();
  for (const gd of document.querySelectorAll(".b24r-cell .js-plotly-plot")) {
    if (gd.__b24rHooked || typeof gd.on !== "function") continue;
    gd.__b24rHooked = true;
    gd.on("plotly_click", (ev) => {
      const p = ev && ev.points && ev.points[0];
      if (!p) return;
      const name = p.data ? p.data.name : null;
      ask({ kind: "point", values: [p.x, p.y, name, p.customdata, p.text, p.hovertext, p.label]
        .map((v) => (v === undefined ? null : v)) });
    });
  }
}
// A page whose kernel is gone (culled after being idle, or the server stopped) would ignore every
// filter without a word: after an action that the kernel answers (a filter, a chip, the Excel
// button, a click on a chart or a table) the status line or the Excel link must change within
// LOST_AFTER_MS, else a banner says so and offers to reload.
const LOST_AFTER_MS = 10000;
const WAITING_AFTER_MS = 2000;  // a refilter answers within ~50 ms: from 2 s the status says it waits
// The address bar follows the filters (history.replaceState), so a reload or a copied link
// reopens the page as it is; query keys that are not filters (e.g. lang) stay.
function mirrorQuery(model) {
  const q = model.get("query");
  if (q === null || q === undefined) return;
  const url = new URL(window.location.href);
  for (const k of model.get("managed") || []) url.searchParams.delete(k);
  for (const [k, v] of new URLSearchParams(q)) url.searchParams.append(k, v);
  if (url.href !== window.location.href) window.history.replaceState(window.history.state, "", url.href);
}
function watchKernel(model) {
  const status = document.querySelector(".b24r-status");
  let timer = null, hint = null;
  const answered = () => {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    if (hint !== null) { clearTimeout(hint); hint = null; }
    for (const n of document.querySelectorAll(".b24r-waiting, .b24r-lost")) n.remove();  // slow, not gone
  };
  const waiting = () => {
    hint = null;
    if (!status || status.querySelector(".b24r-waiting")) return;
    const w = document.createElement("span");
    w.className = "b24r-waiting";
    w.textContent = " · " + model.get("waiting");
    status.appendChild(w);
  };
  const lost = () => {
    timer = null;
    if (document.querySelector(".b24r-lost")) return;
    const box = document.createElement("div");
    box.className = "b24r-lost";
    box.setAttribute("role", "alert");
    box.textContent = model.get("lost") + " ";
    const btn = document.createElement("button");
    btn.textContent = model.get("reload");
    btn.onclick = () => window.location.reload();
    box.appendChild(btn);
    document.body.prepend(box);
  };
  const arm = () => {
    if (timer === null) timer = setTimeout(lost, LOST_AFTER_MS);
    if (hint === null) hint = setTimeout(waiting, WAITING_AFTER_MS);
  };
  const onChange = (e) => { if (e.target.closest(".b24r-filterbar")) arm(); };
  const onClick = (e) => { if (e.target.closest(".b24r-filterbar button")) arm(); };
  document.addEventListener("change", onChange, true);
  document.addEventListener("click", onClick, true);
  // an answer is a change the kernel made, not the waiting hint this page added itself
  const seen = new MutationObserver((records) => {
    const own = records.every((r) => {
      const nodes = [...r.addedNodes, ...r.removedNodes];
      return nodes.length > 0 && nodes.every((n) => n.classList && n.classList.contains("b24r-waiting"));
    });
    if (!own) answered();
  });
  for (const node of [status, document.querySelector(".b24r-excel-link")]) {
    // content only: ipywidgets toggles a class on these nodes when the kernel link drops and comes
    // back (a culled kernel is restarted empty), which is no answer
    if (node) seen.observe(node, { subtree: true, childList: true, characterData: true });
  }
  // ipywidgets marks its views when the kernel link drops; still dropped 5 s later (a culled
  // kernel stays gone) means the page is dead even before the viewer tries a filter
  let dropped = null;
  const link = new MutationObserver(() => {
    const off = status.classList.contains("jupyter-widgets-disconnected");
    if (off && dropped === null) dropped = setTimeout(() => { dropped = null; lost(); }, 5000);
    if (!off && dropped !== null) { clearTimeout(dropped); dropped = null; }
  });
  if (status) link.observe(status, { attributes: true, attributeFilter: ["class"] });
  return { arm, answered, stop: () => {
    answered(); seen.disconnect(); link.disconnect(); if (dropped !== null) clearTimeout(dropped);
    document.removeEventListener("change", onChange, true);
    document.removeEventListener("click", onClick, true);
  } };
}
export default {
  render({ model, el }) {
    el.classList.add("b24r-bridge");
    let watch = null;
    setTimeout(() => { watch = watchKernel(model); }, 0);  // the filter bar is on the page by then
    const onQuery = () => mirrorQuery(model);
    model.on("change:query", onQuery);
    const ask = (msg) => { if (watch) watch.arm(); send(model, msg); };
    const onClick = (e) => {
      if (e.target.closest("a")) return;
      const cell = e.target.closest("[data-b24r-key]");
      if (!cell) return;
      ask({ kind: "key", key: cell.dataset.b24rKey, value: cell.dataset.b24rValue });
    };
    document.addEventListener("click", onClick);
    let queued = false;
    const rescan = () => {
      if (queued) return;
      queued = true;
      setTimeout(() => { queued = false; hookPlots(ask); }, 100);
    };
    model.on("msg:custom", (msg) => {
      if (watch) watch.answered();
      if (!msg || msg.kind !== "download") return;
      const bytes = Uint8Array.from(atob(msg.b64), (c) => c.charCodeAt(0));
      const url = URL.createObjectURL(new Blob([bytes], { type: msg.mime }));
      const a = document.createElement("a");
      a.href = url;
      a.download = msg.name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    });
    const obs = new MutationObserver(rescan);
    obs.observe(document.body, { childList: true, subtree: true });
    rescan();
    return () => {
      document.removeEventListener("click", onClick); obs.disconnect(); if (watch) watch.stop();
      model.off("change:query", onQuery);
    };
  },
};
"""


@functools.cache
def _bridge_class() -> type:
    import anywidget
    import traitlets

    class _Bridge(anywidget.AnyWidget):
        _esm = _BRIDGE_ESM
        #: the banner's text when the kernel does not answer, and its reload button's label
        lost = traitlets.Unicode(_UI["ru"]["lost"]).tag(sync=True)
        reload = traitlets.Unicode(_UI["ru"]["reload"]).tag(sync=True)
        waiting = traitlets.Unicode(_UI["ru"]["waiting"]).tag(sync=True)
        #: the page's filters as a URL query (``Dashboard.share_query``), mirrored in the address bar;
        #: ``managed``: the query keys that belong to the filters (others, e.g. ``lang``, are kept)
        query = traitlets.Unicode("").tag(sync=True)
        managed = traitlets.List(traitlets.Unicode()).tag(sync=True)

    return _Bridge


_HTML_ESM = r"""
export default {
  render({ model, el }) {
    el.classList.add("b24r-html", "jp-RenderedHTMLCommon", "jp-RenderedHTML");  // the look of an HTML output
    const show = () => { el.innerHTML = model.get("html"); };
    show();
    model.on("change:html", show);
    return () => model.off("change:html", show);
  },
};
"""


@functools.cache
def _html_class() -> type:
    import anywidget
    import traitlets

    class _Html(anywidget.AnyWidget):
        _esm = _HTML_ESM
        html = traitlets.Unicode("").tag(sync=True)

    return _Html


def HtmlSlot(html: str) -> Any:  # noqa: N802 - a widget factory named as the widget
    """One live block of the report's own HTML (a table, the headline cards, a note): an
    ``anywidget`` widget whose ``html`` the page sets as the element's content, replaced in place
    when it changes. Only for HTML the report layer built with every CRM value escaped
    (``views.common``), as the static snapshot shows it; scripts in it do not run."""
    return _html_class()(html=html)


def plotly_loader() -> Any:
    """A hidden ``Output`` holding an empty plotly chart (``application/vnd.plotly.v1+json``):
    rendering it makes jupyterlab-plotly load plotly.js, which sets ``window.Plotly`` for the
    chart slots (:func:`ChartSlot`). The renderer is loaded lazily, only when a plotly output is
    shown, and a live dashboard shows its charts in slots, not as plotly outputs."""
    import ipywidgets as w

    out = w.Output()
    out.add_class("b24r-plotly-loader")
    out.outputs = ({"output_type": "display_data", "metadata": {},
                    "data": {"application/vnd.plotly.v1+json": {
                        "data": [], "layout": {"width": 10, "height": 10}, "config": {"staticPlot": True}}}},)
    return out


def ClickBridge(lang: str = "ru") -> Any:  # noqa: N802 - a widget factory named as the widget
    """The page's click bridge: one small invisible ``anywidget`` widget per dashboard whose
    JavaScript listens to clicks on every chart (plotly's ``plotly_click`` on each
    ``.js-plotly-plot`` inside a report cell, hooked again when a redraw replaces it) and on
    table cells with ``data-b24r-key`` (clicks on links pass through), and sends them to the
    kernel as custom messages (see :meth:`Dashboard.on_bridge_message`). The other way, a
    ``{"kind": "download", "name", "mime", "b64"}`` message from the kernel saves a file (the
    Excel export) in one click. When the kernel does not answer an action within 10 s (it was
    culled after being idle, or the server stopped), the page shows a banner in ``lang`` with a
    reload button instead of ignoring the viewer's filters."""
    ui = _UI.get(lang, _UI["ru"])
    managed = sorted({*QUERY_ALIASES, *QUERY_ALIASES.values(), *DIMENSIONS})
    return _bridge_class()(lost=ui["lost"], reload=ui["reload"], waiting=ui["waiting"], managed=managed)


_CHART_ESM = r"""
// plotly.js comes with jupyterlab-plotly's renderer extension, which sets window.Plotly when the
// page loads; a slot waits for it rather than shipping its own copy (~5 MB) over the kernel link.
function whenPlotly(timeoutMs) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const poll = () => {
      const P = window.Plotly;
      if (P && typeof P.react === "function") resolve(P);
      else if (Date.now() - t0 > timeoutMs) resolve(null);
      else setTimeout(poll, 50);
    };
    poll();
  });
}
// Charts off screen (beyond MARGIN px) are redrawn when the page is idle or when scrolled to,
// so a refilter first redraws what the viewer sees; such a chart is marked data-b24r-stale
// until drawn, a chart being drawn data-b24r-pending.
const MARGIN = 200;
const MAX_WIDTH = 1100;  // px: a chart wider than this reads worse, not better
const later = (fn) => (window.requestIdleCallback ? window.requestIdleCallback(fn, { timeout: 1500 }) : setTimeout(fn, 100));
const cancelLater = (id) => (window.cancelIdleCallback ? window.cancelIdleCallback(id) : clearTimeout(id));
export default {
  async render({ model, el }) {
    el.classList.add("b24r-chart");
    // the chart's own box, of the figure's size, whose insides never change the page's layout:
    // plotly measures text many times per drawing, and each measurement then lays out this box only
    const box = document.createElement("div");
    const gd = document.createElement("div");
    box.appendChild(gd);
    el.appendChild(box);
    el.dataset.b24rPending = "1";
    const P = await whenPlotly(60000);
    if (!P) { el.textContent = "plotly.js is not loaded on this page"; delete el.dataset.b24rPending; return; }
    let tplSrc = null, tpl = null, next = null, drawing = 0, idle = null, gone = false, avail = 0;
    const cellWidth = () => el.clientWidth;  // a block as wide as its cell, whatever the chart's size
    const prepare = () => {
      const fig = JSON.parse(model.get("figure") || "{}");
      const src = model.get("template") || "";
      if (src !== tplSrc) { tpl = src ? JSON.parse(src) : null; tplSrc = src; }
      const layout = fig.layout || {};
      if (tpl) layout.template = tpl;
      const tl = (tpl && tpl.layout) || {};
      let w = layout.width || tl.width;
      const h = layout.height || tl.height;
      // figures are built at the print width; on a wider screen a chart takes the cell's width
      // (up to MAX_WIDTH), so long labels are not cut and the page is not half empty
      if (!avail) avail = cellWidth();
      if (w && avail - 16 > w) w = layout.width = Math.min(MAX_WIDTH, avail - 16);
      if (w && h) { box.style.width = w + "px"; box.style.height = h + "px"; box.style.contain = "strict"; }
      return { data: fig.data || [], layout };
    };
    const onScreen = () => {
      const r = box.getBoundingClientRect();
      return r.bottom > -MARGIN && r.top < window.innerHeight + MARGIN;
    };
    const drawNow = () => {
      if (idle !== null) { cancelLater(idle); idle = null; }
      if (next === null || gone) return;
      const fig = next;
      next = null;
      delete el.dataset.b24rStale;
      drawing += 1;
      el.dataset.b24rPending = "1";
      Promise.resolve(P.react(gd, fig.data, fig.layout, model.get("config") || {}))
        .catch(() => {})
        .finally(() => { drawing -= 1; if (!drawing) delete el.dataset.b24rPending; });
    };
    const update = () => {
      try { next = prepare(); } catch (e) { return; }
      if (onScreen()) { drawNow(); return; }
      el.dataset.b24rStale = "1";
      if (!drawing) delete el.dataset.b24rPending;
      if (idle === null) idle = later(() => { idle = null; drawNow(); });
    };
    const seen = new IntersectionObserver((entries) => {
      if (next !== null && entries.some((e) => e.isIntersecting)) drawNow();
    }, { rootMargin: MARGIN + "px" });
    seen.observe(box);
    const resized = new ResizeObserver(() => {
      const a = cellWidth();
      if (a && Math.abs(a - avail) > 40) { avail = a; update(); }
    });
    resized.observe(el);
    update();
    model.on("change:figure", update);
    return () => {
      gone = true;
      model.off("change:figure", update);
      seen.disconnect();
      resized.disconnect();
      if (idle !== null) cancelLater(idle);
      try { P.purge(gd); } catch (e) { /* gone */ }
    };
  },
};
"""


def figure_json(fig: Any) -> tuple[str, str]:
    """``(figure, template)``: plotly JSON of ``fig``'s traces and layout without its template,
    and of the template alone. The template (~7 kB, the same for every chart of a report) is
    sent to a chart slot once and not again on every refilter; serializing the figure's own
    dicts also skips ``Figure.to_dict``'s deep copy of the template (figures built here are
    valid already, so nothing is lost by not validating again)."""
    import plotly.io as pio

    lay, data = getattr(fig, "_layout", None), getattr(fig, "_data", None)
    if not isinstance(lay, dict) or not isinstance(data, list):  # another plotly version's internals
        d = fig.to_plotly_json()
        lay, data = d.get("layout", {}), d.get("data", [])
    template = lay.get("template")
    figure = pio.json.to_json_plotly({"data": data, "layout": {k: v for k, v in lay.items() if k != "template"}})
    return figure, ("" if template is None else pio.json.to_json_plotly(template))


@functools.cache
def _chart_class() -> type:
    import anywidget
    import traitlets

    class _Chart(anywidget.AnyWidget):
        _esm = _CHART_ESM
        figure = traitlets.Unicode("").tag(sync=True)
        template = traitlets.Unicode("").tag(sync=True)
        config = traitlets.Dict().tag(sync=True)

    return _Chart


def ChartSlot(figure: str, template: str, config: Mapping[str, Any]) -> Any:  # noqa: N802 - a widget factory named as the widget
    """One live chart: an ``anywidget`` widget holding a plotly figure as JSON without its
    template (``figure``), the template (``template``, plotly JSON of ``layout.template``) and
    plotly's ``config`` (see :func:`figure_json`). The page draws it with the
    plotly.js already loaded for the notebook's charts and redraws it in place
    (``Plotly.react``) when ``figure`` changes. A chart on screen is redrawn at once; one
    off screen (more than 200 px away) when the page is idle or when scrolled to, so a refilter
    redraws what the viewer sees first. Until then its element carries ``data-b24r-stale``;
    while a drawing is in progress, ``data-b24r-pending``."""
    return _chart_class()(figure=figure, template=template, config=dict(config))


#: mime type of a widget's display
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _view_item(widget: Any) -> dict[str, Any]:
    """The output item that shows ``widget`` (ipywidgets give the mime bundle, anywidget a
    ``(bundle, metadata)`` pair)."""
    bundle = widget._repr_mimebundle_()
    data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
    return {"output_type": "display_data", "metadata": dict(meta or {}), "data": dict(data)}


class _Collector:
    """Stands in for IPython's display publisher while a :class:`_Capture` is active: each
    display becomes an output item of the capture, with no kernel message and no flush of
    stdout/stderr (ipykernel's publisher flushes both before every display, a wait on its IO
    thread each time). Anything else is delegated to the real publisher."""

    def __init__(self, capture: _Capture, real: Any):
        self._capture, self._real = capture, real

    def publish(self, data: Mapping[str, Any], metadata: Mapping[str, Any] | None = None, *_a: Any, **_kw: Any) -> None:
        self._capture.items.append({"output_type": "display_data", "data": dict(data), "metadata": dict(metadata or {})})

    def clear_output(self, wait: bool = False) -> None:
        self._capture.items.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _Capture:
    """Collect what is displayed while active (the shell's display publisher is swapped for a
    :class:`_Collector`) and set it as ``out.outputs`` at exit, in one widget state update;
    ``slot(n, item)``, if given, maps the n-th display to the one shown (see
    ``Dashboard._item_slot``). An unchanged list of outputs is not sent again."""

    def __init__(self, out: Any, slot: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None):
        self.out, self.items, self.slot = out, [], slot
        self._shell: Any = None
        self._real: Any = None

    def __enter__(self) -> _Capture:
        from IPython import get_ipython

        self.items = []
        self._shell = get_ipython()
        if self._shell is not None:
            self._real = self._shell.display_pub
            self._shell.display_pub = _Collector(self, self._real)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._shell is not None:
            self._shell.display_pub = self._real
            self._shell = self._real = None
        items = tuple(self.items) if self.slot is None else tuple(self.slot(n, it) for n, it in enumerate(self.items))
        if items != tuple(self.out.outputs):  # an unchanged cell is not sent (nor redrawn by the page)
            self.out.outputs = items


# One dashboard per kernel (Voila runs one notebook per kernel).
_CURRENT: Dashboard | None = None


def current() -> Dashboard | None:
    """The dashboard of this kernel, if :func:`open_live` ran."""
    return _CURRENT


#: Environment variable with the server's report parameters (JSON object), set by ``serve``.
PARAMS_ENV = "B24REPORTS_DASHBOARD_PARAMS"


def server_params(spec: reports.ReportSpec) -> dict[str, Any]:
    """Parameters the server gives every dashboard (``b24reports serve --plan/--param``),
    from the JSON object in ``$B24REPORTS_DASHBOARD_PARAMS``, limited to those ``spec``
    declares. Not a JSON object -> ``BadParameter(PARAMS_ENV, …)``."""
    import json

    text = os.environ.get(PARAMS_ENV, "").strip()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BadParameter(PARAMS_ENV, text[:80], "expected a JSON object of report parameters")
    declared = {p.name for p in spec.all_params}
    return {k: v for k, v in data.items() if k in declared and v is not None}


def url_query() -> str:
    """The page's URL query: Voila's ``QUERY_STRING``, set in the environment of a kernel
    started for the request. A preheated kernel (``VOILA_PREHEAT=True``) was started before
    the request: it waits here for the request (``voila.utils.get_query_string``)."""
    if os.environ.get("VOILA_PREHEAT") == "True" and "QUERY_STRING" not in os.environ:
        try:
            from voila.utils import get_query_string

            return get_query_string() or ""
        except Exception:  # no request info: no prefill
            return ""
    return os.environ.get("QUERY_STRING", "") or ""


def error_card(error: Exception, lang: str = "ru") -> str:
    """HTML box shown instead of a dashboard that cannot open: the error's own message
    (escaped; it names the input, e.g. the plan file or a link's filter) under a heading in
    ``lang``. Never holds a webhook: the errors of the report layer do not carry one."""
    head = {"ru": "Отчёт не открылся", "en": "The report could not open"}.get(lang, "The report could not open")
    message = str(error)
    if isinstance(error, BadParameter):
        # named as in the link (?employee=…), the reason in the page's language
        name = LINK_NAMES.get(error.name, error.name)
        value = ",".join(map(str, error.value)) if isinstance(error.value, (list, tuple)) else error.value
        value = "" if value is None else value
        what = {"ru": "Параметр ссылки", "en": "Link parameter"}.get(lang, "Link parameter")
        message = f"{what} {name}={value}: {translate_parameter_error(error.reason, lang)}"
    hint = {"ru": "Проверьте параметры ссылки или настройки сервера (b24reports serve --help).",
            "en": "Check the link's parameters or the server's settings (b24reports serve --help)."}.get(lang, "")
    # Voila adds its own generic line ("There was an error when executing cell …") under the card
    # as a stderr output of the same cell; the card already says what is wrong, so that line hides
    hide = ('<style>.jp-OutputArea:has(.b24r-open-error) '
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]{display:none}</style>')
    return (hide + f'<div class="b24r-open-error" style="border:1px solid #c62828;border-radius:6px;padding:10px 14px;'
            f'color:#8e1b1b;background:#fff5f5"><b>{_html.escape(head)}</b><p>{_html.escape(message)}</p>'
            f'<p style="color:#555">{_html.escape(hint)}</p></div>')


#: A preheated kernel keeps the as_of of its warm-up run when a viewer arrives within this
#: many seconds; later, "now" is taken again (the page shows as_of in its header).
WARM_AS_OF_MAX_AGE_S = 600.0


def preheating() -> bool:
    """True in a kernel of Voila's preheated pool that has not yet been given to a viewer
    (``VOILA_PREHEAT=True`` and no request's ``QUERY_STRING`` yet)."""
    return os.environ.get("VOILA_PREHEAT") == "True" and "QUERY_STRING" not in os.environ


def warm(spec: reports.ReportSpec, dataset: Any, raw: Mapping[str, Any]) -> str | None:
    """Warm-up of a preheated kernel before a viewer arrives: compute the report once with the
    server's and notebook's parameters (imports such as statsmodels, and the facts cached on the
    dataset, ``Dataset.memo``; once more filtered to one employee, so the first refilter runs warm
    code) and draw one figure of each kind the views use through
    plotly's JSON path (plotly loads its validators on first use). Returns that run's as_of
    (ISO string) for the viewer's run to reuse, or ``None`` when the run failed (the viewer's
    run then shows the error)."""
    import importlib

    try:
        res = spec.run(dataset, dict(raw))
    except Exception:
        return None
    if "employees" in {p.name for p in spec.all_params} and not raw.get("employees"):
        try:  # one filtered run too: the first refilter then runs warm code paths
            spec.run(dataset, {**raw, "as_of": res.params["as_of"].isoformat(),
                               "employees": str(int(dataset.users["id"].iloc[0]))})
        except Exception:
            pass
    try:
        import plotly.graph_objects as go
        import plotly.io as pio

        from b24reports.views import common as vc

        importlib.import_module(f"{__package__}.views.{spec.name}")
        import ipywidgets  # noqa: F401 - the filter bar's widgets

        _bridge_class()
        filter_options(dataset, spec, res.params["lang"])
        for trace in (go.Bar(x=["a"], y=[1]), go.Scatter(x=["a"], y=[1]), go.Funnel(x=[1], y=["a"]), go.Pie(labels=["a"], values=[1]),
                      go.Heatmap(z=[[1]])):
            pio.to_json(vc.style_figure(go.Figure(trace), "warm", lang=res.params["lang"]))
    except Exception:  # warming is an optimisation only
        pass
    return res.params["as_of"].isoformat()


def open_live(spec: reports.ReportSpec, dataset: Any, raw: Mapping[str, Any],
              make_view: Callable[[reports.ReportResult, Any], Any],
              scope: Callable[[Any, str], Any] | None = None) -> Any:
    """Voila path of ``nb.open_report``: build (or, while re-running cells, reuse) the
    dashboard, display the filter bar, start capturing cells, and return the ``ReportView``
    made by ``make_view(result, dataset)``. URL query parameters override the notebook's.
    ``scope(dataset, url_query)``: the dataset this page may show (app mode: the viewer's
    records; it raises, after showing a sign-in hint, when the URL has no valid session)."""
    global _CURRENT
    if _CURRENT is not None and _CURRENT.replaying and _CURRENT.spec.name == spec.name:
        return _CURRENT.view
    from IPython import get_ipython
    from IPython.display import HTML, display

    given = {**server_params(spec), **dict(raw)}
    warmed = warm(spec, dataset, given) if preheating() else None
    t_warm = time.monotonic()
    query_string = url_query()  # a preheated kernel waits here for its viewer
    if scope is not None:
        dataset = scope(dataset, query_string)
    query = query_to_raw(query_string, spec)
    if warmed is not None and "as_of" not in given and time.monotonic() - t_warm < WARM_AS_OF_MAX_AGE_S:
        given["as_of"] = warmed  # same as_of as the warm-up run: its cached facts are reused
    base = {**given, **query}
    try:
        dash = Dashboard(spec, dataset, base)
    except B24ReportsError as e:  # bad input (a link's filter, the plan file): say what, not a blank page
        display(HTML(error_card(e, str(base.get("lang") or "ru"))))
        raise
    dash.view = make_view(dash.result, dataset)
    dash.view.figure_hook = dash.show_figure
    # tables mark the cells of key columns the report can filter by as clickable (views.common.table_html)
    dash.view.live = frozenset(col for col, param in KEY_PARAMS.items() if param in dash.declared)
    _CURRENT = dash
    display(dash.widget())
    ip = get_ipython()
    src = ""
    if ip is not None:
        hist = ip.user_ns.get("In") or []
        src = hist[-1] if hist else ""
    dash.capture_cells(src)
    return dash.view


#: Page CSS of the live filter bar (added to the report CSS under Voila only).
CSS = """
.b24r-filterbar{position:sticky;top:0;z-index:10;background:#f7f8fa;border-bottom:1px solid #dde1e6;padding:6px 4px;margin-bottom:8px}
.b24r-chip button,.b24r-chip{background:#e3f0ff;border-radius:12px}
.b24r-cell [data-b24r-key]{cursor:pointer;text-decoration:underline dotted #99a}.b24r-cell .js-plotly-plot .point,.b24r-cell .js-plotly-plot .bars path{cursor:pointer}
.b24r-bridge{display:none}.b24r-plotly-loader{position:absolute;left:-10000px;width:10px;height:10px;overflow:hidden}
#rendered_cells .jp-Cell{max-width:1240px;margin-left:auto;margin-right:auto}
.b24r-cell .b24-table{font-size:13px;margin-left:0;margin-right:0}.b24r-cell .b24-table.b24-wide{font-size:12px}.b24r-cell .b24-more{font-size:12px}
.b24r-lost{position:sticky;top:0;z-index:20;background:#fff4e5;color:#8a4b00;border-bottom:1px solid #f0b46a;padding:8px 12px;font-size:14px}
.b24r-lost button{margin-left:8px}.b24r-status .b24r-waiting{color:#b26a00}
.jupyter-widgets-disconnected::before{content:none!important}
.b24r-status .b24r-state-busy{color:#b26a00}.b24r-status .b24r-state-error{color:#c62828}.b24r-status .b24r-state-ready{color:#2e7d32}
"""
