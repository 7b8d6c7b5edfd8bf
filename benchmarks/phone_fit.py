"""What laying charts out for a phone costs in the browser (issue 18, ``static/fit.js``).

Usage::

    .venv/bin/python benchmarks/phone_fit.py STORE [--widths 322,352,392] [--plan CSV] [--as-of ISO]

Every chart of the eight reports, in Russian and English, as the layout check builds them
(``tests/browser/chart_layout.report_figures``: the notebooks' cells in this process), is drawn
in headless Chromium with the partial plotly.js the server sends, at each width (a phone's
cell: 322 px of a 360 px screen, 352 of 390, 392 of 430) after ``b24rFit.narrow``, then laid
out by ``b24rFit.fitTexts``. Each chart is drawn three times over and the third pass is timed
(plotly.js and fit.js warm, as on a page that refilters). Printed per width: the first drawing's
median and total ms, the fit's median, total and largest ms, and how many charts needed how many
more drawings (``Plotly.update`` calls). Chromium is ``/usr/bin/chromium`` (``make test``
installs it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
sys.path.insert(0, str(ROOT / "tests"))

from chart_layout import STATIC, report_figures  # noqa: E402

REPORTS = ("funnel", "forgotten", "dynamics", "plan", "managers", "marketing", "tasks", "pipeline")

_DRAW = """(async () => {
  const figs = %(figs)s, W = %(width)d, P = Plotly, out = [];
  let redraws = 0;
  const update = P.update;
  P.update = function () { redraws += 1; return update.apply(this, arguments); };
  for (let pass = 0; pass < 3; pass++) {
    for (let i = 0; i < figs.length; i++) {
      const f = JSON.parse(JSON.stringify(figs[i])), gd = document.getElementById('c' + i);
      P.purge(gd);
      if (f.layout.width > W) Object.assign(f.layout, b24rFit.narrow(f.layout, (f.layout.template || {}).layout || {}, W));
      const t0 = performance.now();
      await P.newPlot(gd, f.data, f.layout, {staticPlot: true});
      const t1 = performance.now();
      redraws = 0;
      if (f.layout.width === W) await b24rFit.fitTexts(gd, P);
      if (pass === 2) out.push([t1 - t0, performance.now() - t1, redraws]);
    }
  }
  window.OUT = out;
  document.body.dataset.done = '1';
})()"""


def _page(figures: list, width: int) -> str:
    figs = "[" + ",".join(f.to_json() for _, f in figures) + "]"
    divs = "".join(f'<div id="c{i}"></div>' for i in range(len(figures)))
    return ("<!doctype html><html><head><meta charset='utf-8'><script>"
            + (STATIC / "plotly-b24.min.js").read_text(encoding="utf-8") + "</script><script>"
            + (STATIC / "fit.js").read_text(encoding="utf-8") + "</script></head><body>" + divs
            + "<script>" + _DRAW % {"figs": figs, "width": width} + "</script></body></html>")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("store", type=Path)
    ap.add_argument("--widths", default="322,352,392")
    ap.add_argument("--plan", type=Path, help="plan CSV (default: demo_plan.csv next to the store, else made)")
    ap.add_argument("--as-of", default="2026-11-30T12:00:00+03:00")
    a = ap.parse_args()
    from b24reports.ingest.dataset import Dataset
    from playwright.sync_api import sync_playwright

    ds = Dataset.load(a.store)
    tmp = Path(tempfile.mkdtemp(prefix="phone_fit-"))
    plan = a.plan or a.store.with_name("demo_plan.csv")
    if not plan.exists():
        from b24reports.demo.plan import demo_plan

        plan = demo_plan(ds, a.as_of, tmp / "plan.csv")
    figures = []
    for lang in ("ru", "en"):
        for name in REPORTS:
            params = {"as_of": a.as_of, "lang": lang, **({"plan": str(plan)} if name == "plan" else {})}
            figures += report_figures(name, ds, params)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for width in (int(w) for w in a.widths.split(",")):
            page_file = tmp / f"fit-{width}.html"
            page_file.write_text(_page(figures, width), encoding="utf-8")
            pg = browser.new_page(viewport={"width": width + 38, "height": 900})
            pg.goto(page_file.as_uri())
            pg.wait_for_function("document.body.dataset.done === '1'", timeout=600_000)
            out = pg.evaluate("window.OUT")
            pg.close()
            draw, fit, more = [o[0] for o in out], [o[1] for o in out], [o[2] for o in out]
            spread = " ".join(f"{k}:{more.count(k)}" for k in range(max(more) + 1))
            print(f"{width} px: {len(out)} charts; first drawing median {statistics.median(draw):.1f} ms, "
                  f"total {sum(draw):.0f} ms; fit median {statistics.median(fit):.1f} ms, total {sum(fit):.0f} ms, "
                  f"largest {max(fit):.0f} ms; charts by drawings added {spread} ({sum(more)} in all)")
        browser.close()


if __name__ == "__main__":
    main()
