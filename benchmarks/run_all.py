"""Issue 2 benchmark in one command: sync, store, funnel metrics, renders, and fast-bitrix24 as a peer.

On the benchmark-size demo portal (``generate_portal(scale=40)``: ~100k deals, ~1.6M
activities) served by :class:`b24reports.demo.DemoServer` with rate limiting (2 req/s, burst
50) and the cost model on, prints:

* per entity: rows, HTTP requests the full sync used vs the floor ceil(rows / 2500), the
  export seconds (batch calls, rate waits included), modelled server execution seconds;
* sync wall time, store size;
* funnel metrics compute time (``metrics.funnel.report_tables``) on the synced store, best of
  ``--runs`` (target ≤ 1 s on 100k deals);
* render time per format (html, pdf, xlsx, json) of the funnel report;
* the same export by fast-bitrix24 (``Bitrix.get_all``, benchmark-only dependency) per entity,
  in a child process with a deadline, as ratios to b24reports. A peer that fails (e.g.
  OPERATION_TIME_LIMIT) or hits the deadline is reported with the rows the server had
  served it so far and a linear projection — the run goes on.

Time scaling. The cost model charges each list page ``0.05 + 0.002 × rows (+ 2e-5 × table
rows for offset pages, the COUNT)`` execution seconds against a budget of 480 s per method
per 10 min. Unscaled, the 1.6M-activity export alone is ~4,800 execution seconds (≥ ~98 min
under the budget), so the run scales server time by ``--time-scale`` s: the server sleeps
``cost × s`` and the budget window is ``600 × s`` seconds (buckets of ``60 × s``), and
fast-bitrix24's own 10-min velocity window is scaled the same way. HTTP rate limiting
(2 req/s) is NOT scaled. "unscaled" figures printed are the budget floor
``480 + (C − 480) / 0.8`` s for a method whose modelled execution is C s (C when C ≤ 480),
i.e. what a real portal with this cost would take at best, whatever the client.

    .venv/bin/python benchmarks/run_all.py                      # scale 40, time scale 0.05
    .venv/bin/python benchmarks/run_all.py --scale 1 --peer-timeout 60   # quick check
    nice .venv/bin/python benchmarks/run_all.py --markdown docs/benchmarks.md --pytest
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ANCHOR = dt.date(2026, 11, 30)
AS_OF = "2026-11-30T12:00:00"
DEMO_ENTITY = {"deals": "deal", "leads": "lead", "activities": "activity", "tasks": "task",
               "deal_stage_history": "deal_stage_history", "lead_status_history": "lead_status_history",
               "calls": "call"}
BUDGET, WINDOW = 480.0, 600.0


def budget_floor(cost: float) -> float:
    """Least wall seconds to spend ``cost`` execution seconds of one method under the Bitrix24
    budget (480 s per sliding 10 min): all of it at once up to 480, then 480 per 600 s."""
    return cost if cost <= BUDGET else BUDGET + (cost - BUDGET) * WINDOW / BUDGET


# ------------------------------------------------------------------ fast-bitrix24 child process

def peer_child() -> None:
    """Child: ``Bitrix(webhook).get_all(method, {"select": ...})``; prints one JSON line.
    The webhook comes in env B24_BENCH_WEBHOOK (never on the command line)."""
    cfg = json.loads(os.environ["B24_BENCH_PEER"])
    import logging

    import fast_bitrix24.srh as srh
    from fast_bitrix24 import Bitrix

    logging.getLogger("fast_bitrix24").setLevel(logging.CRITICAL)
    srh.BITRIX_MEASUREMENT_PERIOD = WINDOW * cfg["time_scale"]  # same scaled window as the server
    fb = Bitrix(os.environ["B24_BENCH_WEBHOOK"], verbose=False, requests_per_second=cfg["rate"],
                request_pool_size=cfg["burst"], ssl=False)
    t = time.perf_counter()
    try:
        rows = fb.get_all(cfg["method"], {"select": cfg["select"]})
        out = {"rows": len(rows), "seconds": time.perf_counter() - t, "error": None}
    except Exception as e:  # noqa: BLE001 -- reported by the parent
        msg = f"{type(e).__name__}: {e}"
        cause = e.__cause__ or e.__context__
        if cause is not None:
            msg += f" (caused by {type(cause).__name__}: {str(cause)[:200]})"
        out = {"rows": None, "seconds": time.perf_counter() - t, "error": short_error(msg)}
    print(json.dumps(out), flush=True)


def short_error(msg: str) -> str:
    """A peer's error in one line: the Bitrix24 error code first when there is one."""
    for code in ("OPERATION_TIME_LIMIT", "QUERY_LIMIT_EXCEEDED", "INTERNAL_SERVER_ERROR"):
        if code in msg:
            return f"{code} ({msg.split(':', 1)[0]}, {msg.count(code)} commands)"
    return msg[:200]


def dur(seconds: float) -> str:
    """Seconds as '42 s', '12 min' or '3.4 h'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


# ------------------------------------------------------------------ parent

class Meter:
    """Server-side counters: rows served and modelled execution seconds per method."""

    def __init__(self, srv):
        self.rows: Counter[str] = Counter()
        self.cost: Counter[str] = Counter()
        cm, methods = srv.cost_model, srv.methods
        orig_account, orig_call = cm.account, methods.call

        def account(method, seconds):
            self.cost[method] += seconds
            return orig_account(method, seconds)

        def call(method, params):
            reply = orig_call(method, params)
            self.rows[method] += reply.rows
            return reply

        cm.account, methods.call = account, call


def wait_window_clear(cm, method: str, limit: float) -> None:
    """Sleep until ``method`` has no execution seconds left in the cost model's window."""
    end = time.time() + limit
    while cm.status(method)[0] > 0 and time.time() < end:
        time.sleep(0.5)


def funnel_metrics(ds, runs: int) -> dict[str, float]:
    """Best-of-``runs`` seconds of ``metrics.funnel.report_tables`` on ``ds`` for the last 12
    months and for the whole history; prints them."""
    import pandas as pd

    from b24reports.metrics import funnel as fm
    from b24reports.metrics.scope import Scope

    as_of = pd.Timestamp(AS_OF)
    metric_s = {}
    for label, d0, d1 in (("12 months", dt.date(2025, 11, 1), dt.date(2026, 10, 31)),
                          ("whole history", dt.date(2015, 1, 1), ANCHOR)):
        times, n = [], 0
        for _ in range(runs):
            t = time.perf_counter()
            tables, _, _ = fm.report_tables(ds, Scope.build(ds, date_from=d0, date_to=d1, as_of=as_of))
            times.append(time.perf_counter() - t)
            n = len(tables["deals"])
        metric_s[label] = min(times)
        print(f"funnel metrics, {label}: {min(times):.3f} s (best of {runs}; cohort {n:,} deals)", flush=True)
    return metric_s


def run_peers(args, srv, cm, meter, rows_of, per_entity, export_s, summary, counting=None) -> None:
    """fast-bitrix24 ``get_all`` of each ``--peer`` entity in a child process with a deadline,
    against b24reports' export of it (from the sync, or — ``counting`` client, ``--peer-only``
    — a fresh ``B24Client.export`` run first); prints and appends ratios to ``summary``."""
    from b24reports.ingest.sync import ENTITIES

    s = args.time_scale
    # fast-bitrix24 opens up to 50 connections at once; the stdlib server's listen backlog is 5
    if srv._httpd is not None:
        srv._httpd.socket.listen(128)
    cost_by_method = Counter(meter.cost)
    # ---------------------------------------------------------------- fast-bitrix24
    peer = [p for p in args.peer.split(",") if p]
    if peer:
        try:
            import fast_bitrix24  # noqa: F401
        except ImportError:
            print("fast-bitrix24 not installed (pip install fast-bitrix24): peer skipped")
            peer = []
    print()
    if peer and srv._httpd is not None:  # a killed/failed peer leaves broken pipes: no tracebacks
        srv._httpd.handle_error = lambda request, client_address: None
    for name in peer:
        spec_e = ENTITIES[name]
        if counting is not None and name not in export_s:  # --peer-only: our export first
            wait_window_clear(cm, spec_e.method, WINDOW * s + 5)
            c0 = meter.cost[spec_e.method]
            n = sum(len(p) for p in counting.export(spec_e.method, select=list(spec_e.select), **spec_e.export_kw()))
            cost_by_method[spec_e.method] = meter.cost[spec_e.method] - c0
            print(f"{name}: b24reports export {n:,} rows in {export_s[name]:.1f} s, {per_entity[name]} requests",
                  flush=True)
        wait_window_clear(cm, spec_e.method, WINDOW * s + 5)
        before_req, before_rows, before_cost = srv.requests.total, meter.rows[spec_e.method], meter.cost[spec_e.method]
        env = {**os.environ, "B24_BENCH_WEBHOOK": srv.webhook_url, "B24_BENCH_PEER": json.dumps(
            {"method": spec_e.method, "select": list(spec_e.select), "rate": args.rate, "burst": args.burst,
             "time_scale": s})}
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, __file__, "--peer-child"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            out, _ = proc.communicate(timeout=args.peer_timeout)
            res = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"error": "no output", "rows": None}
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            res = {"rows": None, "error": f"deadline {args.peer_timeout:.0f} s reached"}
        fb_wall = res.get("seconds") or (time.perf_counter() - t)  # the child's own clock when it has one
        fb_req = srv.requests.total - before_req
        served = meter.rows[spec_e.method] - before_rows
        fb_cost = meter.cost[spec_e.method] - before_cost
        rows = rows_of[name]
        ours_wall, ours_req = export_s[name], per_entity[name]
        ours_cost = cost_by_method[spec_e.method] * (rows / max(1, sum(
            rows_of[n] for n, sp in ENTITIES.items() if sp.method == spec_e.method)))
        if res.get("error") is None:
            print(f"{name}: fast-bitrix24 {res['rows']:,} rows in {fb_wall:.1f} s, {fb_req} requests, "
                  f"execution {fb_cost:.0f} s (unscaled ≥ {dur(budget_floor(fb_cost))}) | b24reports "
                  f"{rows:,} rows in {ours_wall:.1f} s{'' if counting else ' (in the sync)'}, {ours_req} requests, execution {ours_cost:.0f} s "
                  f"(unscaled ≥ {dur(budget_floor(ours_cost))})")
            print(f"  ratio fast-bitrix24 / b24reports: wall {fb_wall / max(ours_wall, 1e-9):.1f}x, requests "
                  f"{fb_req / max(ours_req, 1):.1f}x, server execution {fb_cost / max(ours_cost, 1e-9):.1f}x")
            summary.append((f"fast-bitrix24 / b24reports, {name} export",
                            f"wall {fb_wall / max(ours_wall, 1e-9):.1f}x, requests {fb_req / max(ours_req, 1):.1f}x, "
                            f"execution {fb_cost / max(ours_cost, 1e-9):.1f}x"))
        else:
            frac = served / rows if rows else 0.0
            proj_cost = fb_cost / frac if frac > 0 else float("inf")
            # all rows at the rate seen, but never faster than the budget allows for their execution
            proj = max(fb_wall / frac, budget_floor(proj_cost) * s) if frac > 0 else float("inf")
            print(f"{name}: fast-bitrix24 FAILED after {fb_wall:.1f} s: {res['error']}")
            print(f"  server had served it {served:,} of {rows:,} rows ({frac:.2%}) in {fb_req} requests, "
                  f"execution {fb_cost:.0f} s; linear projection for all rows: {dur(proj)} at this "
                  f"time_scale, execution {proj_cost:.0f} s (unscaled ≥ {dur(budget_floor(proj_cost))})")
            print(f"  b24reports: {rows:,} rows in {ours_wall:.1f} s, {ours_req} requests, execution "
                  f"{ours_cost:.0f} s | ratio (projected) wall {proj / max(ours_wall, 1e-9):.0f}x, "
                  f"execution {proj_cost / max(ours_cost, 1e-9):.0f}x")
            summary.append((f"fast-bitrix24, {name} export",
                            f"failed after {fb_wall:.0f} s with {res['error']}, {served:,} of {rows:,} rows "
                            f"served; projected: wall {proj / max(ours_wall, 1e-9):.0f}x, execution "
                            f"{proj_cost / max(ours_cost, 1e-9):.0f}x b24reports (unscaled ≥ {dur(budget_floor(proj_cost))} vs "
                            f"{dur(budget_floor(ours_cost))})"))
        sys.stdout.flush()



def main() -> None:  # noqa: C901, PLR0915 -- a linear script
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=40.0, help="demo portal scale (40 ≈ 100k deals)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rate", type=float, default=2.0, help="req/s (server limit and client bucket)")
    ap.add_argument("--burst", type=int, default=50)
    ap.add_argument("--time-scale", type=float, default=0.05,
                    help="real seconds per modelled server second (sleep and budget window)")
    ap.add_argument("--runs", type=int, default=3, help="funnel metrics: best of N")
    ap.add_argument("--formats", default="html,pdf,xlsx,json")
    ap.add_argument("--peer", default="deals,activities", help="entities to export with fast-bitrix24 ('' = none)")
    ap.add_argument("--peer-timeout", type=float, default=420.0, help="deadline per peer export, s")
    ap.add_argument("--metrics-only", type=Path, metavar="STORE",
                    help="only time the funnel metrics on an existing store (e.g. one a full run left)")
    ap.add_argument("--peer-only", action="store_true",
                    help="skip sync/metrics/render: fast-bitrix24 vs a b24reports export of the same entities")
    ap.add_argument("--markdown", type=Path, help="also write the summary as a markdown file")
    ap.add_argument("--pytest", action="store_true", help="also time the test suite (pytest -q -n 2)")
    args = ap.parse_args()
    s = args.time_scale
    if args.metrics_only:
        from b24reports.ingest.dataset import Dataset

        ds = Dataset.load(args.metrics_only)
        print(f"{args.metrics_only}: {len(ds.deals):,} deals")
        funnel_metrics(ds, args.runs)
        return
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    t_all = time.perf_counter()
    summary: list[tuple[str, str]] = []  # (figure, value) for the markdown table

    from b24reports.outputs import render

    from b24reports import reports
    from b24reports.ingest.client import B24Client
    from b24reports.ingest.dataset import Dataset
    from b24reports.demo import CostModel, DemoServer, RateLimit, generate_portal
    from b24reports.ingest.sync import ENTITIES, sync

    t = time.perf_counter()
    portal = generate_portal(seed=args.seed, scale=args.scale, anchor=ANCHOR)
    rows_of = {name: len(portal.rows(demo)) for name, demo in DEMO_ENTITY.items()}
    print(f"portal: scale {args.scale:g}, {rows_of['deals']:,} deals, {rows_of['activities']:,} activities, "
          f"generated in {time.perf_counter() - t:.1f} s", flush=True)
    print(f"server: rate limit {args.rate:g} req/s burst {args.burst}; cost model on, time_scale {s:g} "
          f"(budget {BUDGET:.0f} s per {WINDOW * s:g} s window)", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="b24bench-"))
    db = tmp / "bench.duckdb"
    print(f"store: {db} (kept)", flush=True)
    cm = CostModel(time_scale=s, bucket_seconds=60.0 * s)
    with DemoServer(portal, rate_limit=RateLimit(max_burst=args.burst, drain_per_sec=args.rate),
                    cost_model=cm) as srv:
        meter = Meter(srv)
        # ---------------------------------------------------------------- sync
        per_entity: Counter[str] = Counter()
        export_s: Counter[str] = Counter()
        client = B24Client(srv.webhook_url, rate=args.rate, burst=args.burst)
        orig_batch = client.batch

        def counting_batch(cmds, halt=True, **kw):
            methods = {m for m, _ in cmds.values()}
            hit = [name for name, spec in ENTITIES.items()
                   if spec.method in methods and all(dict(spec.extra).items() <= p.items()
                                                     for m, p in cmds.values() if m == spec.method)]
            t0 = time.perf_counter()
            try:
                return orig_batch(cmds, halt, **kw)
            finally:
                for name in hit:
                    per_entity[name] += 1
                    export_s[name] += time.perf_counter() - t0

        client.batch = counting_batch  # type: ignore[method-assign]
        if args.peer_only:
            run_peers(args, srv, cm, meter, rows_of, per_entity, export_s, summary, counting=client)
            return
        t = time.perf_counter()
        rep = sync(client, db, progress=False, id_pass=False)
        sync_wall = time.perf_counter() - t
        print(f"\nsync: {rep.status} in {sync_wall:.1f} s, {rep.requests} requests (server saw "
              f"{srv.requests.total}), retries {dict(client.retries)}, client rate wait {client.bucket.waited:.1f} s",
              flush=True)
        hdr = f"{'entity':20} {'rows':>10} {'requests':>8} {'floor':>6} {'export s':>9} {'exec s':>8} {'unscaled s':>10}"
        print(hdr)
        ent_lines = []
        cost_by_method: Counter[str] = Counter(meter.cost)
        for name, spec in ENTITIES.items():
            rows = rows_of[name]
            floor = max(1, math.ceil(rows / 2500))
            # execution of a method shared by two entities (stage history) is split by rows
            share = rows / max(1, sum(rows_of[n] for n, sp in ENTITIES.items() if sp.method == spec.method))
            ex = cost_by_method[spec.method] * share
            line = (name, rows, per_entity[name], floor, export_s[name], ex, budget_floor(ex))
            ent_lines.append(line)
            print(f"{name:20} {rows:10,d} {line[2]:8d} {floor:6d} {line[4]:9.1f} {ex:8.0f} {line[6]:10.0f}")
        total_exec = sum(cost_by_method.values())
        unscaled_sync = sum(budget_floor(c) for c in cost_by_method.values())  # methods one after another
        size = sum(p.stat().st_size for p in tmp.glob("bench.duckdb*"))
        print(f"store: {size / 1e6:.0f} MB; modelled server execution {total_exec:.0f} s; unscaled sync ≥ "
              f"{unscaled_sync / 60:.0f} min (budget floor, methods in sequence)", flush=True)
        over = [n for n, r, q, f, *_ in ent_lines if q > f + 1]
        summary += [("sync wall time (time_scale %g)" % s, f"{sync_wall:.0f} s ({rep.status})"),
                    ("sync unscaled (budget floor)", f"≥ {unscaled_sync / 60:.0f} min"),
                    ("requests ≤ floor + 1 per entity", "yes" if not over else f"NO: {', '.join(over)}"),
                    ("store size", f"{size / 1e6:.0f} MB")]

        # ---------------------------------------------------------------- funnel metrics
        t = time.perf_counter()
        ds = Dataset.load(db)
        print(f"\nDataset.load: {time.perf_counter() - t:.1f} s, {len(ds.deals):,} deals", flush=True)
        metric_s = funnel_metrics(ds, args.runs)
        summary.append(("funnel metrics, 100k deals (whole history / 12 months)",
                        f"{metric_s['whole history']:.2f} s / {metric_s['12 months']:.2f} s"))

        # ---------------------------------------------------------------- render per format
        fmts = render.parse_formats(args.formats)
        if "pdf" in fmts and render.find_chromium() is None:
            print("chromium not found: pdf left out")
            fmts = tuple(f for f in fmts if f != "pdf")
        fmt_s: dict[str, float] = {}
        for fmt, exp in list(render.EXPORTERS.items()):
            def timed(job, path, _w=exp.write, _f=fmt):
                t0 = time.perf_counter()
                try:
                    return _w(job, path)
                finally:
                    fmt_s[_f] = time.perf_counter() - t0
            render.register_exporter(render.Exporter(exp.fmt, exp.filename, timed, exp.needs))
        spec = reports.get("funnel")
        t = time.perf_counter()
        spec.run(ds, {"as_of": AS_OF})
        compute = time.perf_counter() - t
        t = time.perf_counter()
        try:
            files = render.render_report("funnel", db, {"as_of": AS_OF}, tmp / "out", fmts, dataset=ds)
        except render.RenderError as e:
            files = e.outputs.get("funnel", {})
            print(f"render failures: {e.failures}")
        total_render = time.perf_counter() - t
        print(f"\nfunnel report: compute (spec.run) {compute:.2f} s; render_report {total_render:.1f} s", flush=True)
        for fmt in fmts:
            kb = files[fmt].stat().st_size / 1024 if fmt in files else float("nan")
            extra = " (papermill executes the notebook + nbconvert)" if fmt == "html" else (
                " (headless chromium on the html)" if fmt == "pdf" else "")
            print(f"  {fmt:5} {fmt_s.get(fmt, float('nan')):6.1f} s  {kb:8.0f} KB{extra}")
        summary.append(("render funnel per format",
                        ", ".join(f"{f} {fmt_s.get(f, float('nan')):.1f} s" for f in fmts)))
        del ds

        run_peers(args, srv, cm, meter, rows_of, per_entity, export_s, summary)

    total = time.perf_counter() - t_all
    print(f"\nwhole benchmark: {total / 60:.1f} min")
    test_s = None
    if args.pytest:
        root = Path(__file__).resolve().parents[1]
        t = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider"], cwd=root,
                           capture_output=True, text=True)
        test_s = time.perf_counter() - t
        tail = (p.stdout.strip().splitlines() or ["no output"])[-1]
        print(f"test suite (pytest -q -n 2): {test_s:.0f} s, exit {p.returncode}: {tail}")
        summary.append(("test suite, pytest -q -n 2", f"{test_s:.0f} s ({tail})"))
    if args.markdown:
        write_markdown(args, summary, ent_lines, started, total)


def write_markdown(args, summary, ent_lines, started, total) -> None:
    """The summary table, the per-entity table and how to reproduce, as markdown."""
    lines = [f"| figure | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in summary]
    ent = ["| entity | rows | requests | floor ceil(rows/2500) | export s | execution s (modelled) | unscaled ≥ s |",
           "|---|---:|---:|---:|---:|---:|---:|"] + [
        f"| {n} | {r:,} | {q} | {f} | {e:.0f} | {x:.0f} | {u:.0f} |" for n, r, q, f, e, x, u in ent_lines]
    text = "\n".join([
        "## Latest run (generated by benchmarks/run_all.py)",
        "",
        f"{started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"scale {args.scale:g}, rate {args.rate:g} req/s burst {args.burst}, time_scale {args.time_scale:g}; "
        f"whole run {total / 60:.1f} min.",
        "", *lines, "", *ent, ""])
    begin, end = "<!-- run_all:begin -->", "<!-- run_all:end -->"
    old = args.markdown.read_text(encoding="utf-8") if args.markdown.exists() else ""
    if begin in old and end in old:  # replace only the generated part of a hand-written page
        text = old[:old.index(begin) + len(begin)] + "\n" + text + old[old.index(end):]
    args.markdown.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if "--peer-child" in sys.argv:
        peer_child()
    else:
        main()
