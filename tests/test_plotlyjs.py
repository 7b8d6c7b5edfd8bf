"""The plotly.js a page carries (issue 18, outputs/plotlyjs.py): the partial build of the
reports' trace types when it is built for plotly's plotly.js version, the whole plotly.js for a
page with any other trace type, for a build of another version, or when none was built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from b24reports.outputs import plotlyjs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_build(tmp_path, monkeypatch):
    """A partial build of bar and pie (a stand-in file with the header js/build.mjs writes), in
    place of the real one; returns a function that rewrites its header."""
    path = tmp_path / "plotly-b24.min.js"

    def write(version: str | None = None, traces: str = "scatter,bar,pie") -> Path:
        version = version or plotlyjs.shipped_version()
        path.write_text(f"/* b24reports plotly.js {version} traces={traces} */\nvar Plotly = {{b24rTraces: []}};\n",
                        encoding="utf-8")
        plotlyjs.partial_traces.cache_clear()
        plotlyjs._read.cache_clear()
        return path

    monkeypatch.setattr(plotlyjs, "BUNDLE", path)
    monkeypatch.delenv(plotlyjs.ENV, raising=False)
    write()
    yield write
    plotlyjs.partial_traces.cache_clear()
    plotlyjs._read.cache_clear()


def test_partial_build_is_used_only_when_built_for_plotlys_version(fake_build, monkeypatch):
    whole_head = "/**\n* plotly.js v" + plotlyjs.shipped_version()
    assert plotlyjs.partial_traces() == {"scatter", "bar", "pie"}
    assert plotlyjs.covers({"bar", "scatter"}) and not plotlyjs.covers({"bar", "histogram"})
    assert plotlyjs.source({"bar"}).startswith("/* b24reports plotly.js ")
    assert plotlyjs.source({"bar", "histogram"}).startswith(whole_head)  # a type it lacks
    assert plotlyjs.source(None).startswith(whole_head)  # the page's types are not known
    fake_build(version="3.0.0")  # built from another plotly.js than the one plotly's figures are for
    assert plotlyjs.partial_traces() is None and plotlyjs.source({"bar"}).startswith(whole_head)
    fake_build()
    monkeypatch.setenv(plotlyjs.ENV, "full")  # the operator's choice
    plotlyjs.partial_traces.cache_clear()
    assert plotlyjs.partial_traces() is None
    monkeypatch.delenv(plotlyjs.ENV)
    plotlyjs.BUNDLE.unlink()  # not built (no node at install)
    plotlyjs.partial_traces.cache_clear()
    assert plotlyjs.partial_traces() is None and plotlyjs.source({"bar"}).startswith(whole_head)


def _page(*figures) -> object:
    """An executed notebook as a warm render kernel leaves it: plotly's prologue with the marker
    where plotly.js goes, then each figure as the offline renderer displays it (a figure given as
    a string is displayed as that HTML: drawn some other way)."""
    import nbformat
    import plotly.io as pio

    from b24reports.outputs import nb

    nb._register_offline_renderer()
    renderer = pio.renderers[nb.OFFLINE_RENDERER]
    outputs = [nbformat.v4.new_output("display_data", {"text/html": f'<script type="text/javascript">{nb.PLOTLYJS_MARKER}</script>'})]
    for fig in figures:
        html = fig if isinstance(fig, str) else renderer.to_mimebundle(fig.to_dict())["text/html"]
        outputs.append(nbformat.v4.new_output("display_data", {"text/html": html}))
    cell = nbformat.v4.new_code_cell("", outputs=outputs)
    return nbformat.v4.new_notebook(cells=[cell])


def test_snapshot_page_carries_the_plotlyjs_that_draws_its_figures(fake_build):
    import plotly.graph_objects as go

    from b24reports.outputs.render.html import notebook_to_html, page_traces

    bar = go.Figure([go.Bar(x=["a"], y=[1]), go.Scatter(x=["a"], y=[2])])
    page = notebook_to_html(_page(bar, go.Figure(go.Pie(values=[1, 2]))), "t", "ru")
    assert "/* b24reports plotly.js " in page and "b24r-traces" not in page  # the notes are removed
    assert page.count("Plotly.newPlot(") == 2
    page = notebook_to_html(_page(bar, go.Figure(go.Histogram(x=[1, 2]))), "t", "ru")
    assert "/* b24reports plotly.js " not in page and "plotly.js v" in page  # the whole one
    other = '<div id="x"></div><script>Plotly.newPlot("x", [{"type": "bar"}], {})</script>'
    assert page_traces(_page_body(bar, other)) is None  # a figure without its note: types not known
    assert page_traces(_page_body(bar)) == {"bar", "scatter"}


def _page_body(*figures) -> str:
    return "".join(o["data"]["text/html"] for o in _page(*figures).cells[0].outputs)


def test_views_draw_only_trace_types_of_the_partial_build():
    """Every trace type the report views build is in js/plotly-b24.cjs (a new one must be added
    there, or every page of that report carries the whole plotly.js again)."""
    import plotly.graph_objects as go

    entry = (ROOT / "js" / "plotly-b24.cjs").read_text(encoding="utf-8")
    built = {"scatter", *re.findall(r"^\s+(\w+): require\('plotly\.js/lib/\1'\)", entry, re.M)}
    assert built == {"scatter", "bar", "funnel", "heatmap", "pie", "waterfall"}
    used = set()
    for path in (ROOT / "lib" / "b24reports" / "views").glob("*.py"):
        for name in re.findall(r"\bgo\.([A-Z]\w*)\(", path.read_text(encoding="utf-8")):
            trace = getattr(go, name)()
            if hasattr(trace, "type") and not isinstance(trace, go.Figure):
                used.add(trace.type)
        assert "plotly.express" not in path.read_text(encoding="utf-8")
    assert used and used <= built, used - built


def test_dashboard_pages_load_the_partial_build_from_the_server(fake_build, tmp_path, monkeypatch, demo_store):
    """serve puts the partial build (and the whole plotly.js, for a chart of another type) in
    the template's static files, has the page load it, leaves jupyterlab-plotly (whose script
    carries the whole plotly.js) out and tells the kernels which types the page draws; the
    kernels then put no plotly output on the page. Without a build, none of it."""
    from b24reports.outputs import serve
    from b24reports.outputs.dashboard.widgets import plotly_loader

    jp = serve.prepare_template(tmp_path / "a")
    tpl = jp / "voila" / "templates" / serve.TEMPLATE_NAME
    assert (tpl / serve.PAGE_PLOTLYJS).read_text(encoding="utf-8") == plotlyjs.BUNDLE.read_text(encoding="utf-8")
    assert (tpl / serve.WHOLE_PLOTLYJS).read_text(encoding="utf-8").startswith("/**\n* plotly.js v")
    assert (tpl / "b24r_plotly.html").read_text(encoding="utf-8") == (
        '<script src="{{ resources.base_url }}voila/templates/b24reports/static/plotly-b24.min.js" defer></script>')
    srv = serve.VoilaServer(demo_store, pool_size=0)
    assert '--VoilaConfiguration.extension_denylist=["jupyterlab-plotly"]' in srv.argv
    env = srv.env(jp)
    assert env[plotlyjs.PAGE_TRACES_ENV] == "bar,pie,scatter"
    monkeypatch.setenv(plotlyjs.PAGE_TRACES_ENV, env[plotlyjs.PAGE_TRACES_ENV])
    assert plotly_loader().outputs == ()

    plotlyjs.BUNDLE.unlink()
    plotlyjs.partial_traces.cache_clear()
    jp = serve.prepare_template(tmp_path / "b")
    tpl = jp / "voila" / "templates" / serve.TEMPLATE_NAME
    assert not (tpl / "static").exists() and (tpl / "b24r_plotly.html").read_text(encoding="utf-8") == ""
    srv = serve.VoilaServer(demo_store, pool_size=0)
    assert not any("denylist" in a for a in srv.argv)
    assert plotlyjs.PAGE_TRACES_ENV not in srv.env(jp)
    monkeypatch.delenv(plotlyjs.PAGE_TRACES_ENV)
    assert plotly_loader().outputs[0]["data"]["application/vnd.plotly.v1+json"]["data"] == []
