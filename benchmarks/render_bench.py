"""Render benchmark on the demo portal: where the time of `b24reports render all` goes.

Prints: store load time; per report the in-process compute time and the size of each output;
`render_all` wall time with 1 and 2 workers (html = papermill + nbconvert, pdf = chromium),
with warm kernels (one per worker, the default) and, with ``--cold``, with a fresh kernel per
report, each beside the seven computations done in one process and their ratio; the HTML page
weight and the PDF page count.

    .venv/bin/python benchmarks/render_bench.py                       # demo scale 1, fresh store
    .venv/bin/python benchmarks/render_bench.py --store data/demo.duckdb --workers 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path


def _demo_store(path: Path, scale: float, anchor: dt.date) -> float:
    from b24reports.demo.generator import generate_portal
    from b24reports.demo.server import DemoServer
    from b24reports.ingest.sync import sync

    t = time.perf_counter()
    with DemoServer(generate_portal(seed=42, scale=scale, anchor=anchor)) as srv:
        sync(srv.webhook_url, path, full=True, progress=False)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, help="existing store (default: build a demo store)")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--anchor", default="2026-11-30", help="demo portal's today (fixed: repeatable)")
    ap.add_argument("--workers", default="1,2", help="worker counts to time render_all with")
    ap.add_argument("--formats", default="html,pdf,xlsx,json")
    ap.add_argument("--cold", action="store_true", help="also time a fresh kernel per report (before issue 19)")
    args = ap.parse_args()

    from b24reports.outputs import render

    from b24reports import reports
    from b24reports.ingest.dataset import Dataset

    tmp = Path(tempfile.mkdtemp(prefix="b24r-render-bench-"))
    anchor = dt.date.fromisoformat(args.anchor)
    store = args.store
    if store is None:
        store = tmp / "demo.duckdb"
        print(f"demo store (scale {args.scale}): generate + serve + sync {_demo_store(store, args.scale, anchor):.1f} s")
    raw = {"as_of": f"{anchor.isoformat()}T12:00:00"}

    t = time.perf_counter()
    ds = Dataset.load(store)
    print(f"Dataset.load: {time.perf_counter() - t:.2f} s, deals {len(ds.deals)}, activities {len(ds.activities)}")

    print(f"{'report':<12} {'compute s':>9}  rows per table")
    compute = 0.0
    for spec in reports.all_reports():
        t = time.perf_counter()
        res = spec.run(ds, raw)
        el = time.perf_counter() - t
        compute += el
        print(f"{spec.name:<12} {el:9.2f}  " + ", ".join(f"{k}={len(v)}" for k, v in res.tables.items()))
    print(f"{'all':<12} {compute:9.2f}  (the same computations in one process)")

    fmts = render.parse_formats(args.formats)
    if "pdf" in fmts and render.find_chromium() is None:
        print("chromium not found: pdf left out")
        fmts = tuple(f for f in fmts if f != "pdf")
    for w in [int(x) for x in args.workers.split(",")]:
        for warm in ((True, False) if args.cold else (True,)):
            out = tmp / f"out-w{w}-{'warm' if warm else 'cold'}"
            t = time.perf_counter()
            try:
                files = render.render_all(store, raw, out, fmts, workers=w, progress=False, warm_kernels=warm)
            except render.RenderError as e:
                files = e.outputs
                print(f"  failures: {e.failures}")
            el = time.perf_counter() - t
            n = len(files)
            print(f"render_all workers={w} {'warm' if warm else 'cold'} kernels, formats={','.join(fmts)}: {el:.1f} s "
                  f"for {n} reports ({el / max(n, 1):.1f} s/report); compute in one process {compute:.1f} s; "
                  f"ratio {el / compute:.1f}x")
    print(f"{'report':<12} " + " ".join(f"{f + ' KB':>9}" for f in fmts) + "  pdf pages")
    for name, fl in sorted(files.items()):
        pages = ""
        if "pdf" in fl:
            from pypdf import PdfReader

            pages = str(len(PdfReader(str(fl["pdf"])).pages))
        print(f"{name:<12} " + " ".join(f"{(fl[f].stat().st_size / 1024 if f in fl else 0):9.0f}" for f in fmts) + f"  {pages}")
    print(f"outputs kept in {tmp}")


if __name__ == "__main__":
    main()
