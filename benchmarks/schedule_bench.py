"""run-schedule throughput: N demo portals × every report, on 1 vs 2 Dask workers.

Each portal is a :class:`b24reports.demo.server.DemoServer` on loopback (all serve the same
generated data unless ``--distinct``); every run starts from empty stores (a full first sync)
and writes json+xlsx by default (html/pdf need the notebooks and chromium: ``--formats``).
No email (no recipients). Prints the wall time per worker count and the speed-up.

    .venv/bin/python benchmarks/schedule_bench.py                 # 8 portals × 7 reports
    .venv/bin/python benchmarks/schedule_bench.py --portals 3 --scale 0.02   # small
    .venv/bin/python benchmarks/schedule_bench.py --portals 4 --latency-scale 1 --rate-limit  # portal-like I/O
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--portals", type=int, default=8)
    ap.add_argument("--scale", type=float, default=0.05, help="demo portal size (1.0 = ~2,500 deals)")
    ap.add_argument("--workers", default="1,2", help="worker counts to compare")
    ap.add_argument("--formats", default="json,xlsx")
    ap.add_argument("--reports", default="all", help="comma-separated report names, or all")
    ap.add_argument("--threads", action="store_true", help="workers as threads (default: processes)")
    ap.add_argument("--distinct", action="store_true", help="generate a different portal per seed (slower setup)")
    ap.add_argument("--latency-scale", type=float, default=0.0,
                    help="demo server sleeps this × a real portal's execution time per call (CostModel; 1 = real)")
    ap.add_argument("--rate-limit", action="store_true", help="demo server enforces Bitrix24's 2 req/s leaky bucket")
    args = ap.parse_args()

    from b24reports import reports
    from b24reports.demo.generator import generate_portal
    from b24reports.demo.server import CostModel, DemoServer, RateLimit
    from b24reports.outputs.schedule import load_schedule, run_schedule

    anchor = dt.date(2026, 11, 30)
    n_reports = len(reports.all_reports()) if args.reports == "all" else len(args.reports.split(","))
    t = time.perf_counter()
    portals = [generate_portal(seed=100 + i, scale=args.scale, anchor=anchor) for i in range(args.portals if args.distinct else 1)]
    print(f"generated {len(portals)} demo portal(s) at scale {args.scale} in {time.perf_counter() - t:.1f} s; "
          f"{args.portals} portals × {n_reports} reports, formats {args.formats}, "
          f"{'threads' if args.threads else 'processes'}, {os.cpu_count()} CPUs, "
          f"latency scale {args.latency_scale}, rate limit {'on' if args.rate_limit else 'off'}")
    root = Path(tempfile.mkdtemp(prefix="b24r-schedule-bench-"))
    results: dict[int, float] = {}
    try:
        with ExitStack() as stack:
            servers = [stack.enter_context(DemoServer(
                portals[i % len(portals)],
                cost_model=CostModel(time_scale=args.latency_scale) if args.latency_scale > 0 else None,
                rate_limit=RateLimit() if args.rate_limit else None)) for i in range(args.portals)]
            lines = ["portals:"]
            for i, srv in enumerate(servers):
                os.environ[f"B24BENCH_P{i}"] = srv.webhook_url
                lines += [f"  p{i}:", f"    webhook_env: B24BENCH_P{i}"]
            reps = "all" if args.reports == "all" else "[" + args.reports + "]"
            lines += ["entries:"] + [textwrap.indent(f"- name: p{i}\n  portal: p{i}\n  reports: {reps}\n"
                                                     f"  period: last_month\n  formats: [{args.formats}]", "  ")
                                     for i in range(args.portals)]
            for w in (int(x) for x in args.workers.split(",")):
                run_dir = root / f"w{w}"
                run_dir.mkdir()
                (run_dir / "schedule.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
                sched = load_schedule(run_dir / "schedule.yaml", base_dir=run_dir)
                t = time.perf_counter()
                summary = run_schedule(sched, workers=w, processes=not args.threads, run_all=True,
                                       as_of=dt.datetime.combine(anchor, dt.time(12)))
                wall = time.perf_counter() - t
                results[w] = wall
                n_files = sum(len(r.files) for r in summary.results)
                print(f"workers={w}: wall {wall:.1f} s, {len(summary.results) - len(summary.failed)} ok / "
                      f"{len(summary.failed)} failed, {n_files} files, "
                      f"mean entry {sum(r.duration for r in summary.results) / max(1, len(summary.results)):.1f} s")
                steps = sorted({k for r in summary.results for k in r.timings})
                print("  mean per entry: " + ", ".join(
                    f"{k} {sum(r.timings.get(k, 0) for r in summary.results) / max(1, len(summary.results)):.1f} s"
                    for k in steps))
                for r in summary.failed:
                    print(f"  {r.entry}: {r.error}", file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if 1 in results and len(results) > 1:
        for w, wall in results.items():
            if w != 1:
                print(f"speed-up {w} vs 1 worker: {results[1] / wall:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
