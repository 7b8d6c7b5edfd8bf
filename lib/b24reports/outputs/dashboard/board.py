"""A dashboard's state: the report, its filters and period, the current result, and what a
filter change or a click does (:class:`Dashboard`)."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from b24reports import reports
from b24reports.core.errors import BadParameter
from b24reports.outputs.dashboard.bar import FilterBar
from b24reports.outputs.dashboard.cells import CellReplay
from b24reports.outputs.dashboard.filters import DIMENSIONS, KEY_PARAMS, click_target
from b24reports.outputs.dashboard.texts import UI as _UI
from b24reports.outputs.dashboard.url import LINK_NAMES
from b24reports.reports.presets import add_months as _add_months
from b24reports.reports.presets import detect_preset, preset_period


def parse_drills(value: Any) -> list[tuple[dt.date, dt.date, str | None]]:
    """The drill stack of a link's ``drill`` values (``2025-11-01_2026-10-31[_month]``, several
    joined by commas, oldest first): ``[(date_from, date_to, granularity or None), …]``. ``None``
    or ``""`` -> ``[]``; anything else malformed -> ``BadParameter('drill', …)``."""
    out: list[tuple[dt.date, dt.date, str | None]] = []
    for item in filter(None, str(value or "").split(",")):
        parts = item.split("_")
        try:
            d0, d1 = dt.date.fromisoformat(parts[0]), dt.date.fromisoformat(parts[1])
        except (IndexError, ValueError):
            raise BadParameter("drill", item, "expected YYYY-MM-DD_YYYY-MM-DD[_granularity]") from None
        if len(parts) > 3 or d0 > d1:
            raise BadParameter("drill", item, "expected YYYY-MM-DD_YYYY-MM-DD[_granularity], from before to")
        out.append((d0, d1, parts[2] if len(parts) == 3 and parts[2] else None))
    return out


class Dashboard(CellReplay, FilterBar):
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
        drills = parse_drills(base.pop("drill", None))
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
        # periods before each drill-down (a link's ``drill`` restores them: the chip to go back)
        self.drills: list[tuple[dt.date, dt.date, Any]] = drills if spec.period else []
        self.on_redraw: list[Callable[[Dashboard], None]] = []

    def raw_params(self) -> dict[str, Any]:
        """The raw parameters of the current filter state (what ``ReportSpec.run`` gets)."""
        return {**self.base, "date_from": self.date_from.isoformat(), "date_to": self.date_to.isoformat(),
                **{k: v for k, v in self.filters.items() if v}}

    def share_query(self) -> str:
        """The URL query that reopens this page as it is now (filters, period, drill-downs and
        the granularity they set), for the address bar: a reload or a copied link shows the same
        thing, the chip that goes back from a drill included. The period is given as a
        preset name (``period=month_to_date``) when it is one, as ``from``/``to`` when custom, and not
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
            # a drill-down: the periods before it (for the chip that goes back) and the day view
            q += [("drill", f"{d0.isoformat()}_{d1.isoformat()}" + (f"_{g}" if g else "")) for d0, d1, g in self.drills]
        if "granularity" in self.declared:
            gran = self.base.get("granularity")
            if gran and gran != self.spec.param("granularity").default:
                q.append(("granularity", str(gran)))
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

    def excel_bytes(self) -> bytes:
        """The Excel file of the current result (:func:`b24reports.outputs.excel.write_result_xlsx`:
        one sheet per table, plus the parameters, as the snapshot's), as bytes."""
        from b24reports.outputs.excel import write_result_xlsx

        with tempfile.TemporaryDirectory(prefix="b24r-xlsx-") as tmp:
            path = Path(tmp) / f"{self.spec.name}.xlsx"
            write_result_xlsx(self.result, path, dataset=self.dataset)
            return path.read_bytes()

    def excel_filename(self) -> str:
        """``<report>_<date_from>_<date_to>.xlsx``."""
        return f"{self.spec.name}_{self.date_from.isoformat()}_{self.date_to.isoformat()}.xlsx"
