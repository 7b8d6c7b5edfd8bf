"""The page side of a dashboard: small ``anywidget`` widgets whose JavaScript lives in
``outputs/static/`` (``bridge.js``: clicks, downloads, the address bar and the banner when the
kernel is gone; ``chart.js``: one live plotly chart redrawn in place; ``html.js``: one block of the
report's own HTML)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from b24reports.outputs.dashboard.filters import DIMENSIONS
from b24reports.outputs.dashboard.texts import UI as _UI
from b24reports.outputs.dashboard.url import QUERY_ALIASES

STATIC = Path(__file__).resolve().parents[1] / "static"
_BRIDGE_ESM = (STATIC / "bridge.js").read_text(encoding="utf-8")
_HTML_ESM = (STATIC / "html.js").read_text(encoding="utf-8")
#: fit.js (the fit of a chart to a phone, shared with the static report page) goes before chart.js
_CHART_ESM = (STATIC / "fit.js").read_text(encoding="utf-8") + (STATIC / "chart.js").read_text(encoding="utf-8")

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


def page_traces() -> frozenset[str]:
    """The trace types of the page's own plotly.js: the partial build that ``serve`` makes its
    pages load (``plotlyjs.PAGE_TRACES_ENV``); empty when the page has none and takes
    jupyterlab-plotly's whole plotly.js (:func:`plotly_loader`)."""
    import os

    from b24reports.outputs.plotlyjs import PAGE_TRACES_ENV

    return frozenset(t for t in os.environ.get(PAGE_TRACES_ENV, "").split(",") if t)


def plotly_loader() -> Any:
    """A hidden ``Output`` holding an empty plotly chart (``application/vnd.plotly.v1+json``)
    when the page has no plotly.js of its own (:func:`page_traces`): rendering it makes
    jupyterlab-plotly load the whole plotly.js, which sets ``window.Plotly`` for the chart slots
    (:func:`ChartSlot`). The renderer is loaded lazily, only when a plotly output is shown, and a
    live dashboard shows its charts in slots, not as plotly outputs. Empty when the page loads
    the partial build from the server (``serve``; a chart of another trace type makes the page
    load the whole plotly.js from there, ``static/chart.js``)."""
    import ipywidgets as w

    out = w.Output()
    out.add_class("b24r-plotly-loader")
    if not page_traces():
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
    managed = sorted({*QUERY_ALIASES, *QUERY_ALIASES.values(), *DIMENSIONS, "drill", "granularity"})
    return _bridge_class()(lost=ui["lost"], reload=ui["reload"], waiting=ui["waiting"], managed=managed)


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
        #: the slot's own id in the page: a new view of the slot takes over the chart the last
        #: view drew (``static/chart.js``)
        key = traitlets.Unicode("").tag(sync=True)

    return _Chart


def ChartSlot(figure: str, template: str, config: Mapping[str, Any]) -> Any:  # noqa: N802 - a widget factory named as the widget
    """One live chart: an ``anywidget`` widget holding a plotly figure as JSON without its
    template (``figure``), the template (``template``, plotly JSON of ``layout.template``) and
    plotly's ``config`` (see :func:`figure_json`). The page draws it with the
    plotly.js already loaded for the notebook's charts and redraws it in place
    (``Plotly.react``) when ``figure`` changes. A chart on screen is redrawn at once; one
    off screen (more than 200 px away) when it is scrolled to or the page is printed, and not
    before, so a refilter redraws only what the viewer sees. Until then its element carries
    ``data-b24r-stale`` (the chart is dimmed); while a drawing is in progress, ``data-b24r-pending``.

    Each slot has a ``key`` of its own (a random hex id). When the cell around it is shown anew
    (its list of outputs changed: a note that one filter shows and another does not), the page
    makes a new view of the slot, which takes over the chart the old view drew under that key and
    draws it again only if the figure or the width changed."""
    import uuid

    return _chart_class()(figure=figure, template=template, config=dict(config), key=uuid.uuid4().hex)
