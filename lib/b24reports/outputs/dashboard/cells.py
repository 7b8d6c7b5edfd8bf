"""Cell replay: how one notebook's cells become a dashboard's live outputs.

The output of every report cell is captured (IPython ``pre_run_cell``/``post_run_cell``) into
slots of its own (a chart slot per chart, an HTML slot per HTML display, an ``Output`` per other
display); a refilter re-runs the remembered cell sources and updates only the slots that changed."""

from __future__ import annotations

import html as _html
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from b24reports.outputs.dashboard.widgets import ChartSlot, HtmlSlot, figure_json

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


class CellReplay:
    """The cells part of :class:`~b24reports.outputs.dashboard.board.Dashboard` (a mixin: it reads
    ``cells``, ``slots``, ``_slot_at``, ``replaying`` and ``_open_out`` set there)."""

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
