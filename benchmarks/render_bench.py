"""Render benchmark: where the time of `b24reports render all` goes, on the demo and at scale 40.

For each store (the demo portal, and with ``--big-store``/``--big-scale`` a 100k-deal one) it
prints: the store load time; per report the in-process compute time and table sizes, then all
of them again on the store loaded again (the imports the first run made, statsmodels' among them,
are done: the computations alone, as the issue measured its 2.9 s);
`render_all` wall time for each worker count and format set (html = papermill + nbconvert on
warm kernels, pdf = one chromium for the run), with ``--cold`` also with a fresh kernel per
report; each beside the same computations done in one process and their ratio; the output
sizes and PDF page counts. It ends with one summary line per store and format set:
render time, CPU seconds of this process and its kernels (a figure a busy machine inflates
less than wall time; chromium's, under Playwright's driver, is not in it), compute time,
ratio, and the machine's load average (``os.getloadavg``).

    .venv/bin/python benchmarks/render_bench.py                                  # demo, fresh store
    .venv/bin/python benchmarks/render_bench.py --workers 2 --formats html,xlsx,json --formats html,pdf,xlsx,json \\
        --big-store /path/scale40.duckdb                                         # demo + 100k deals
    .venv/bin/python benchmarks/render_bench.py --big-scale 40                   # builds the 100k store (slow)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
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


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its children waited for (the kernels,
    stopped by the end of ``render_all``; measured: not chromium, which Playwright's driver starts)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def bench_store(label: str, store: Path, raw: dict, fmt_sets: list[tuple[str, ...]], workers: list[int],
                cold: bool, tmp: Path) -> list[str]:
    """Time one store (see module docstring); returns its summary lines."""
    from b24reports import reports
    from b24reports.ingest.dataset import Dataset
    from b24reports.outputs import render

    print(f"== {label}: {store}")
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
    print(f"{'all':<12} {compute:9.2f}  (the same computations in one process, first time: with the imports they make)")
    # the issue's own definition: the computations alone, imports done (statsmodels' is made by
    # the first forecast) and the dataset loaded again so that no computed fact is reused
    from b24reports.metrics import forecast

    ds = Dataset.load(store)
    forecast._backtest.cache_clear()  # the forecast's fits are cached per process: fit them again
    t = time.perf_counter()
    for spec in reports.all_reports():
        spec.run(ds, raw)
    bare = time.perf_counter() - t
    print(f"{'all again':<12} {bare:9.2f}  (imports done, the store loaded again: the computations alone)")
    label = f"{label} ({len(ds.deals):,} deals)"
    del ds

    summary = []
    files: dict = {}
    for fmts in fmt_sets:
        for w in workers:
            for warm in ((True, False) if cold else (True,)):
                out = tmp / f"{label.split()[0]}-{'-'.join(fmts)}-w{w}-{'warm' if warm else 'cold'}"
                load_before = _load()
                cpu = _cpu()
                t = time.perf_counter()
                try:
                    files = render.render_all(store, raw, out, fmts, workers=w, progress=False, warm_kernels=warm)
                except render.RenderError as e:
                    files = e.outputs
                    print(f"  failures: {e.failures}")
                el = time.perf_counter() - t
                cpu = _cpu() - cpu
                n = len(files)
                line = (f"{label}: render_all {','.join(fmts)}, workers={w}, {'warm' if warm else 'cold'} kernels: "
                        f"{el:.1f} s for {n} reports (CPU {cpu:.1f} s here and in kernels); compute in one process {compute:.2f} s "
                        f"with its imports, {bare:.2f} s without; ratio {el / compute:.1f}x, {el / bare:.1f}x "
                        f"({load_before} before, {_load()} after)")
                print(line)
                summary.append(line)
    fmts = fmt_sets[-1]
    print(f"{'report':<12} " + " ".join(f"{f + ' KB':>9}" for f in fmts) + "  pdf pages")
    for name, fl in sorted(files.items()):
        pages = ""
        if "pdf" in fl:
            from pypdf import PdfReader

            pages = str(len(PdfReader(str(fl["pdf"])).pages))
        print(f"{name:<12} " + " ".join(f"{(fl[f].stat().st_size / 1024 if f in fl else 0):9.0f}" for f in fmts)
              + f"  {pages}")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, help="existing demo store (default: build one)")
    ap.add_argument("--scale", type=float, default=1.0, help="scale of the demo store built")
    ap.add_argument("--big-store", type=Path, help="an existing scale-40 store (100k deals) to time too")
    ap.add_argument("--big-scale", type=float, help="build a store of this scale to time too (40: ~100k deals; slow)")
    ap.add_argument("--anchor", default="2026-11-30", help="demo portal's today (fixed: repeatable)")
    ap.add_argument("--workers", default="1,2", help="worker counts to time render_all with")
    ap.add_argument("--formats", action="append", help="format set(s) to time (repeatable; default html,pdf,xlsx,json)")
    ap.add_argument("--cold", action="store_true", help="also time a fresh kernel per report (before issue 19)")
    args = ap.parse_args()

    from b24reports.outputs import render

    tmp = Path(tempfile.mkdtemp(prefix="b24r-render-bench-"))
    anchor = dt.date.fromisoformat(args.anchor)
    raw = {"as_of": f"{anchor.isoformat()}T12:00:00"}
    fmt_sets = [render.parse_formats(f) for f in (args.formats or ["html,pdf,xlsx,json"])]
    if any("pdf" in f for f in fmt_sets) and render.find_chromium() is None:
        print("chromium not found: pdf left out")
        fmt_sets = [tuple(x for x in f if x != "pdf") for f in fmt_sets]
    workers = [int(x) for x in args.workers.split(",")]

    stores = []
    demo = args.store
    if demo is None:
        demo = tmp / "demo.duckdb"
        print(f"demo store (scale {args.scale}): generate + serve + sync {_demo_store(demo, args.scale, anchor):.1f} s")
    stores.append(("demo", demo))
    big = args.big_store
    if big is None and args.big_scale:
        big = tmp / "big.duckdb"
        print(f"store of scale {args.big_scale}: generate + serve + sync {_demo_store(big, args.big_scale, anchor):.1f} s")
    if big is not None:
        stores.append((f"scale {args.big_scale:g}" if args.big_scale else "big store", big))

    summary = []
    for label, store in stores:
        summary += bench_store(label, store, raw, fmt_sets, workers, args.cold, tmp)
    print("\n== summary (render time, in-process compute time with and without its imports, ratios; load average before/after)")
    for line in summary:
        print(line)
    print(f"outputs kept in {tmp}")


if __name__ == "__main__":
    main()
