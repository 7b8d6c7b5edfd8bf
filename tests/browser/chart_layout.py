"""The automated layout check of report charts (issue 20).

:func:`report_figures` runs a report notebook's cells in this process (no kernel: the cells
are thin, the figures come from ``ReportView.figure``), collecting every chart as the report
styles it. :func:`figures_page` puts them on one self-contained HTML page (plotly.js inline);
:func:`phone_page` draws them as a phone does. :data:`MEASURE_JS`, run in a browser on that page, reads the bounding boxes of every chart's
rendered SVG text, and :func:`layout_problems` names what is wrong:

* a tick label, axis title, annotation, legend entry, bar/point label or title clipped by its
  chart (outside the chart's box) or by the page (outside the viewport's width), or a bar/point
  label of a trace clipped to its axes (``cliponaxis``) that runs past the plot area;
* two texts that overlap (tick labels of one axis excepted: plotly thins those itself; rotated
  tick labels too: their upright boxes overlap where the slanted text does not);
* the legend's box over the chart title or over a data label.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

# the edge portal is built in tests/edge_portal.py, shared with the print check
from edge_portal import EDGE_STAGES, build_edge_store  # noqa: F401 (re-exported)

ROOT = Path(__file__).resolve().parents[2]
#: texts may touch by this many px (anti-aliasing, glyph side bearings) without "overlapping"
TOLERANCE = 2.0


def report_figures(name: str, dataset: Any, params: dict[str, Any]) -> list[tuple[str, Any]]:
    """``[(title, figure)]`` of every chart report ``name``'s notebook shows for ``params``
    (raw values, e.g. ``{"as_of": …, "lang": "en"}``) on ``dataset``, styled as on the page."""
    from b24reports.outputs import nb

    cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"
            and "parameters" not in c.get("metadata", {}).get("tags", [])]
    shown: list[tuple[str, Any]] = []

    def hook(view, fig, config):  # ReportView.figure hands the styled figure here
        title = fig.layout.title.text or ""
        shown.append((title, fig))

    g: dict[str, Any] = {k: None for k in ("date_from", "date_to", "lang", "currency", "timezone")}
    g.update(params)
    g["store"] = dataset
    import plotly.io as pio

    saved = (nb.ReportView.__dict__.get("figure_hook"), nb._display_html, nb.ReportView.md, pio.templates.default,
             pio.renderers.default)
    nb.ReportView.figure_hook = hook
    nb._display_html = lambda html: None
    nb.ReportView.md = lambda self, text: None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for src in code:
                exec(compile(src, f"{name}.ipynb", "exec"), g)  # noqa: S102 - our own notebooks
    finally:
        if saved[0] is None:
            del nb.ReportView.figure_hook
        else:
            nb.ReportView.figure_hook = saved[0]
        nb._display_html, nb.ReportView.md = saved[1], saved[2]
        pio.templates.default, pio.renderers.default = saved[3], saved[4]  # the notebook set them up
    return shown


def figures_page(figures: list[tuple[str, Any]]) -> str:
    """One HTML page with every figure in its own ``div.chart`` (``data-name``: its key)."""
    import plotly.offline

    divs, calls = [], []
    for i, (key, fig) in enumerate(figures):
        divs.append(f'<div class="chart" id="c{i}" data-name="{key}"></div>')
        calls.append(f"Plotly.newPlot('c{i}', {fig.to_json()}.data, {fig.to_json()}.layout, {{staticPlot: true}})")
    js = ";\n".join(f"await {c}" for c in calls)
    return ("<!doctype html><html><head><meta charset='utf-8'><style>body{margin:8px;font-family:sans-serif}"
            ".chart{margin:0 0 16px 0}</style><script>" + plotly.offline.get_plotlyjs() + "</script></head><body>"
            + "".join(divs) + "<script>(async () => {" + js + "; document.body.dataset.done = '1';})()</script>"
            "</body></html>")


STATIC = ROOT / "lib" / "b24reports" / "outputs" / "static"


def phone_page(figures: list[tuple[str, Any]], width: int) -> str:
    """As :func:`figures_page`, with every figure drawn as a phone's dashboard or report page draws
    it at ``width`` px (the cell's width): the partial plotly.js the server sends (``make install``
    builds it), ``static/fit.js``'s ``narrow`` before the drawing and ``fitTexts`` after it."""
    divs, specs = [], []
    for i, (key, fig) in enumerate(figures):
        divs.append(f'<div class="chart" id="c{i}" data-name="{key}"></div>')
        specs.append(fig.to_json())
    draw = f"""(async () => {{
  const figs = [{",".join(specs)}];
  for (let i = 0; i < figs.length; i++) {{
    const {{data, layout}} = figs[i], gd = document.getElementById('c' + i);
    if (layout.width > {width}) Object.assign(layout, b24rFit.narrow(layout, (layout.template || {{}}).layout || {{}}, {width}));
    await Plotly.newPlot(gd, data, layout, {{staticPlot: true}});
    if (layout.width === {width}) await b24rFit.fitTexts(gd, Plotly);
  }}
  document.body.dataset.done = '1';
}})()"""
    return ("<!doctype html><html><head><meta charset='utf-8'><style>body{margin:8px;font-family:sans-serif}"
            ".chart{margin:0 0 16px 0}</style><script>" + (STATIC / "plotly-b24.min.js").read_text(encoding="utf-8")
            + "</script><script>" + (STATIC / "fit.js").read_text(encoding="utf-8") + "</script></head><body>"
            + "".join(divs) + "<script>" + draw + "</script></body></html>")


#: Browser side: per chart (``div.chart``, or the elements of the selector it is given), its box
#: and every visible SVG text's box with its role.
MEASURE_JS = r"""
(sel) => [...document.querySelectorAll(sel || 'div.chart')].map(div => {
  const box = div.querySelector('.main-svg').getBoundingClientRect();
  const role = el => {
    const tick = el.closest('g[class$="tick"]');  // xtick, ytick, y2tick…: the axis is in the class
    if (tick && /^[xy]\d*tick$/.test(tick.getAttribute('class'))) {
      const rotated = /rotate\((?!0[,)])/.test(el.getAttribute('transform') || '');
      return tick.getAttribute('class') + (rotated ? ':rotated' : '');
    }
    if (el.closest('.legend')) return 'legend';
    if (el.closest('.g-gtitle')) return 'title';
    if (el.closest('.g-xtitle, .g-x2title')) return 'xtitle';
    if (el.closest('.g-ytitle, .g-y2title')) return 'ytitle';
    if (el.closest('.annotation')) return 'annotation';
    return 'data';
  };
  const texts = [...div.querySelectorAll('svg text')].filter(t => {
    const r = t.getBoundingClientRect(); const s = getComputedStyle(t);
    return r.width > 0 && r.height > 0 && (t.textContent || '').trim() && s.display !== 'none'
      && s.visibility !== 'hidden' && parseFloat(s.opacity || '1') > 0 && parseFloat(t.getAttribute('opacity') ?? '1') > 0;
  }).map(t => { const r = t.getBoundingClientRect();
    return {text: t.textContent.trim(), role: role(t), x0: r.left, y0: r.top, x1: r.right, y1: r.bottom,
            inplot: !!t.closest('.cartesianlayer [clip-path]')}; });
  // the plot areas (x, y axes' spans) a trace clipped to its axes is cut to
  const gd = div.querySelector('.js-plotly-plot') || div;
  const areas = Object.values((gd._fullLayout || {})._plots || {}).map(p => ({
    x0: box.left + p.xaxis._offset, x1: box.left + p.xaxis._offset + p.xaxis._length,
    y0: box.top + p.yaxis._offset, y1: box.top + p.yaxis._offset + p.yaxis._length}));
  const lg = div.querySelector('.legend .bg');
  const legend = lg ? (r => ({x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}))(lg.getBoundingClientRect()) : null;
  return {name: div.dataset.name || (div.querySelector('.gtitle') || {}).textContent, box: {x0: box.left, y0: box.top, x1: box.right, y1: box.bottom},
          texts, legend, areas, viewport: window.innerWidth};
})
"""


def _overlap(a: dict, b: dict, tol: float = TOLERANCE) -> bool:
    return min(a["x1"], b["x1"]) - max(a["x0"], b["x0"]) > tol and min(a["y1"], b["y1"]) - max(a["y0"], b["y0"]) > tol


def layout_problems(chart: dict) -> list[str]:
    """What is wrong with one measured chart (an item of :data:`MEASURE_JS`'s result)."""
    out = []
    box, texts = chart["box"], chart["texts"]
    for t in texts:
        if (t["x0"] < box["x0"] - TOLERANCE or t["x1"] > box["x1"] + TOLERANCE or t["y0"] < box["y0"] - TOLERANCE
                or t["y1"] > box["y1"] + TOLERANCE):
            out.append(f"{t['role']} {t['text']!r} is clipped by the chart")
        elif t["x1"] > chart["viewport"] + TOLERANCE or t["x0"] < -TOLERANCE:
            out.append(f"{t['role']} {t['text']!r} is clipped by the page")
        elif t.get("inplot") and chart.get("areas") and not any(
                t["x0"] >= a["x0"] - TOLERANCE and t["x1"] <= a["x1"] + TOLERANCE
                and t["y0"] >= a["y0"] - TOLERANCE and t["y1"] <= a["y1"] + TOLERANCE for a in chart["areas"]):
            out.append(f"{t['role']} {t['text']!r} is clipped by the plot area")
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            same_axis = a["role"] == b["role"] and a["role"].endswith(("tick", "tick:rotated"))
            rotated = a["role"].endswith(":rotated") or b["role"].endswith(":rotated")  # boxes, not text, overlap
            if not same_axis and not rotated and _overlap(a, b):
                out.append(f"{a['role']} {a['text']!r} overlaps {b['role']} {b['text']!r}")
    lg = chart["legend"]
    if lg is not None:
        for t in texts:
            if t["role"] in ("title", "data") and _overlap(lg, t):
                out.append(f"the legend covers {t['role']} {t['text']!r}")
    return out

