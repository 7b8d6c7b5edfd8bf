"""The filter bar of a dashboard: period preset and dates, one dropdown per dimension, chips that
show and clear the active filters, the Excel button and a status line."""

from __future__ import annotations

import base64
import html as _html
from collections.abc import Callable
from typing import Any

from b24reports.outputs.dashboard.filters import DIMENSIONS, filter_options
from b24reports.outputs.dashboard.texts import UI as _UI
from b24reports.outputs.dashboard.widgets import ClickBridge, plotly_loader
from b24reports.reports.presets import DASHBOARD_PRESETS as PRESETS
from b24reports.reports.presets import PRESET_LABELS, detect_preset, preset_period


class FilterBar:
    """The widgets part of :class:`~b24reports.outputs.dashboard.board.Dashboard` (a mixin: it
    reads the filter state and calls ``set_filter``/``set_period`` defined there)."""

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
