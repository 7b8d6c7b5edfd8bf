"""The automated layout check of report charts (issue 20).

:func:`report_figures` runs a report notebook's cells in this process (no kernel: the cells
are thin, the figures come from ``ReportView.figure``), collecting every chart as the report
styles it. :func:`figures_page` puts them on one self-contained HTML page (plotly.js inline).
:data:`MEASURE_JS`, run in a browser on that page, reads the bounding boxes of every chart's
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


#: Browser side: per chart, its box and every visible SVG text's box with its role.
MEASURE_JS = r"""
() => [...document.querySelectorAll('div.chart')].map(div => {
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
  return {name: div.dataset.name, box: {x0: box.left, y0: box.top, x1: box.right, y1: box.bottom},
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


#: managers of the edge portal: 30 long names (surname, first name; as users type them)
_SURNAMES = ("Константинопольская", "Преображенский", "Верхнеднепровская", "Воскресенский", "Александровская",
             "Новомосковский", "Петропавловская", "Рождественский", "Красносельская", "Благовещенский")
_FIRST = ("Александра-Мария", "Владислав-Станислав", "Екатерина-Елизавета")
#: the edge pipeline's 12 stages (sort, id, name, semantics): 9 in progress, won, 2 lost
EDGE_STAGES = [
    (10, "NEW", "Новая входящая заявка с сайта", "P"),
    (20, "QUALIFY", "Квалификация клиента и выявление потребностей", "P"),
    (30, "PREPARATION", "Подготовка коммерческого предложения и спецификации", "P"),
    (35, "TECH", "Техническое согласование с инженерами заказчика", "P"),
    (40, "PREPAYMENT_INVOICE", "Счёт на предоплату и согласование договора", "P"),
    (45, "LEGAL", "Юридическая проверка и подписание договора", "P"),
    (50, "EXECUTING", "Исполнение заказа и производство", "P"),
    (55, "DELIVERY", "Доставка, монтаж и пусконаладочные работы", "P"),
    (58, "FINAL_INVOICE", "Финальный счёт и закрывающие документы", "P"),
    (60, "WON", "Сделка успешно закрыта", "S"),
    (70, "LOSE", "Сделка провалена", "F"),
    (80, "APOLOGY", "Анализ причины провала", "F"),
]


def build_edge_store(demo_store: Path, path: Path) -> Path:
    """A copy of the demo store turned into the edge portal of issue 20: 30 managers with long
    names (every deal, lead, activity, call and task shared out among them), one pipeline of
    12 stages with long names (pipeline 1's deals moved into it; some open deals on the new
    stages), and 25 lead sources with long names."""
    import shutil

    import duckdb

    shutil.copy(demo_store, path)
    con = duckdb.connect(str(path))
    try:
        dep = con.execute("SELECT min(id) FROM departments").fetchone()[0]
        con.execute("DELETE FROM users")
        for i in range(30):
            con.execute("INSERT INTO users (id, active, name, last_name, uf_department) VALUES (?, true, ?, ?, ?)",
                        [1001 + i, _FIRST[i % 3], f"{_SURNAMES[i % 10]}-{_SURNAMES[(i + 3) % 10]}", [dep]])
        for table, col in (("deals", "assigned_by_id"), ("leads", "assigned_by_id"), ("activities", "responsible_id"),
                           ("tasks", "responsible_id"), ("calls", "portal_user_id")):
            con.execute(f"UPDATE {table} SET {col} = 1001 + (id % 30)")
        # one pipeline of 12 stages
        for table in ("deals", "deal_stage_history"):
            con.execute(f"UPDATE {table} SET category_id = 0, stage_id = CASE stage_id WHEN 'C1:NEW' THEN 'NEW' "
                        "WHEN 'C1:WON' THEN 'WON' WHEN 'C1:LOSE' THEN 'LOSE' "
                        "ELSE CASE WHEN stage_id LIKE 'C1:%' THEN 'EXECUTING' ELSE stage_id END END")
        con.execute("DELETE FROM pipelines WHERE id <> 0")
        con.execute("DELETE FROM statuses WHERE entity_id LIKE 'DEAL_STAGE%'")
        for sort, sid, name, sem in EDGE_STAGES:
            con.execute("INSERT INTO statuses VALUES ('DEAL_STAGE', ?, ?, ?, ?, 0)", [sid, name, sort, sem])
        for k, sid in enumerate(("QUALIFY", "TECH", "LEGAL", "DELIVERY")):
            con.execute(f"UPDATE deals SET stage_id = ? WHERE stage_semantic_id = 'P' AND id % 5 = {k}", [sid])
        # 25 sources
        con.execute("DELETE FROM statuses WHERE entity_id = 'SOURCE'")
        for i in range(25):
            con.execute("INSERT INTO statuses VALUES ('SOURCE', ?, ?, ?, 'P', NULL)",
                        [f"SRC{i + 1:02d}", f"Партнёрская программа «Региональные дистрибьюторы» №{i + 1}", 10 * (i + 1)])
        for table in ("leads", "deals"):
            con.execute(f"UPDATE {table} SET source_id = 'SRC' || lpad(CAST(id % 25 + 1 AS VARCHAR), 2, '0') "
                        "WHERE source_id IS NOT NULL")
    finally:
        con.close()
    return path
