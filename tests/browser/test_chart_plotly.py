"""A dashboard chart and the page's plotly.js (issue 18, static/chart.js): a page loads the
partial build of the reports' trace types; a chart of another type must not be drawn by it
(plotly.js draws an unknown type as a scatter) but by the whole plotly.js, which the chart has
the page load from the server.

The page here is chart.js alone with a stand-in widget model, served over HTTP as Voila serves
the template's static files; its "partial build" is the whole plotly.js that says it draws
scatter and bar only, so the test does not depend on `make install` having built one."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import pytest

from b24reports.outputs import plotlyjs
from b24reports.outputs.dashboard.widgets import STATIC

_PAGE = """<!doctype html><html><head><script src="/partial.js"></script></head>
<body data-base-url="/voila/"><div id="a" style="width:600px"></div><div id="b" style="width:600px"></div>
<script type="module">
import chart from "/chart.js";
window.partial = window.Plotly;
const model = (fig) => ({ get: (k) => ({ figure: JSON.stringify(fig), template: "", config: {} })[k], on() {}, off() {} });
for (const [id, fig] of Object.entries(FIGURES)) chart.render({ model: model(fig), el: document.getElementById(id) });
</script></body></html>"""


@pytest.fixture
def chart_server(tmp_path):
    """An HTTP server of ``tmp_path`` (the page, chart.js, the stand-in partial build and the
    whole plotly.js where serve puts it); yields (base URL, list of requested paths)."""
    whole = plotlyjs.source(None)
    static = tmp_path / "voila" / "templates" / "b24reports" / "static"
    static.mkdir(parents=True)
    (static / "plotly.min.js").write_text(whole, encoding="utf-8")
    (tmp_path / "partial.js").write_text(whole + "\nwindow.Plotly.b24rTraces = ['scatter', 'bar'];\n", encoding="utf-8")
    (tmp_path / "chart.js").write_text((STATIC / "chart.js").read_text(encoding="utf-8"), encoding="utf-8")
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

        def log_message(self, *args) -> None:
            requested.append(self.path)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(tmp_path)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield tmp_path, f"http://127.0.0.1:{srv.server_address[1]}/", requested
    finally:
        srv.shutdown()
        srv.server_close()


def _open(browser, root: Path, url: str, figures: dict) -> object:
    (root / "index.html").write_text(_PAGE.replace("FIGURES", json.dumps(figures)), encoding="utf-8")
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(60_000)
    page.goto(url + "index.html")
    page.wait_for_function("() => [...document.querySelectorAll('.b24r-chart')].every((c) => !c.dataset.b24rPending"
                           " && c.querySelector('.js-plotly-plot .main-svg'))")
    return page


_TYPES = "(id) => document.querySelector(`#${id} .js-plotly-plot`)._fullData.map((t) => t.type)"
_BAR = {"data": [{"type": "bar", "x": ["a", "b"], "y": [1, 2]}], "layout": {"width": 500, "height": 300}}
_HISTOGRAM = {"data": [{"type": "histogram", "x": [1, 2, 2, 3]}], "layout": {"width": 500, "height": 300}}


def test_a_chart_of_a_type_the_partial_build_lacks_is_drawn_by_the_whole_plotlyjs(chromium_browser, chart_server):
    root, url, requested = chart_server
    page = _open(chromium_browser, root, url, {"a": _BAR, "b": _HISTOGRAM})
    try:
        assert page.evaluate(_TYPES, "b") == ["histogram"]  # not a scatter drawn by the partial build
        assert page.evaluate(_TYPES, "a") == ["bar"]
        assert "/voila/templates/b24reports/static/plotly.min.js" in requested
        assert page.evaluate("() => window.Plotly !== window.partial && !window.Plotly.b24rTraces")
    finally:
        page.context.close()


def test_charts_of_the_partial_builds_types_load_nothing_more(chromium_browser, chart_server):
    root, url, requested = chart_server
    page = _open(chromium_browser, root, url, {"a": _BAR, "b": {**_BAR, "data": [{"type": "scatter", "y": [1, 3]}]}})
    try:
        assert page.evaluate(_TYPES, "a") == ["bar"] and page.evaluate(_TYPES, "b") == ["scatter"]
        assert not any("plotly.min.js" in p for p in requested)
        assert page.evaluate("() => window.Plotly === window.partial")
    finally:
        page.context.close()
