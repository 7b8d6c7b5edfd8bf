"""Sync benchmark against the demo portal with rate limiting and the cost model on.

Prints, per entity: rows, HTTP requests the sync used (batch requests carrying that entity's
page commands) vs the floor ceil(rows / 2500); the sync wall time; the store size; and the
same deal export done by fast-bitrix24 (``Bitrix(webhook).get_all``, benchmark only) as a
ratio of requests and time.

    .venv/bin/python benchmarks/sync_bench.py --scale 0.2
    .venv/bin/python benchmarks/sync_bench.py --scale 1 --rate 2 --burst 50 --no-fast-bitrix
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections import Counter
from pathlib import Path

from b24reports.ingest.client import B24Client
from b24reports.demo import CostModel, DemoServer, RateLimit, generate_portal
from b24reports.ingest.sync import ENTITIES, sync

DEMO_ENTITY = {"deals": "deal", "leads": "lead", "activities": "activity", "tasks": "task",
               "deal_stage_history": "deal_stage_history", "lead_status_history": "lead_status_history",
               "calls": "call"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--rate", type=float, default=2.0, help="req/s (server limit and client bucket)")
    ap.add_argument("--burst", type=int, default=50)
    ap.add_argument("--time-scale", type=float, default=0.01, help="cost model: real sleep per execution second")
    ap.add_argument("--no-fast-bitrix", action="store_true")
    args = ap.parse_args()

    t = time.perf_counter()
    portal = generate_portal(seed=args.seed, scale=args.scale)
    print(f"portal: scale {args.scale}, generated in {time.perf_counter() - t:.1f}s")
    tmp = Path(tempfile.mkdtemp(prefix="b24bench-"))
    db = tmp / "bench.duckdb"
    server = DemoServer(portal, rate_limit=RateLimit(max_burst=args.burst, drain_per_sec=args.rate),
                        cost_model=CostModel(time_scale=args.time_scale))
    with server as srv:
        # count HTTP requests per entity: a batch is attributed to the method of its commands
        per_entity: Counter[str] = Counter()
        client = B24Client(srv.webhook_url, rate=args.rate, burst=args.burst)
        orig_batch = client.batch

        def counting_batch(cmds, halt=True, **kw):
            methods = {m for m, _ in cmds.values()}
            for name, spec in ENTITIES.items():
                if spec.method in methods and all(
                        dict(spec.extra).items() <= p.items() for m, p in cmds.values() if m == spec.method):
                    per_entity[name] += 1
            return orig_batch(cmds, halt, **kw)

        client.batch = counting_batch  # type: ignore[method-assign]
        t = time.perf_counter()
        rep = sync(client, db, progress=False, id_pass=False)
        wall = time.perf_counter() - t
        print(f"sync: {rep.status} in {wall:.1f}s, {rep.requests} requests "
              f"(server saw {srv.requests.total}), retries {dict(client.retries)}, "
              f"client rate wait {client.bucket.waited:.1f}s")
        print(f"{'entity':22} {'rows':>9} {'requests':>9} {'floor':>6}")
        for name, demo in DEMO_ENTITY.items():
            rows = len(portal.rows(demo))
            floor = max(1, math.ceil(rows / 2500))
            print(f"{name:22} {rows:9d} {per_entity[name]:9d} {floor:6d}")
        size = db.stat().st_size + sum(p.stat().st_size for p in tmp.glob("bench.duckdb.wal"))
        print(f"store: {size / 1e6:.1f} MB at {db}")

        if not args.no_fast_bitrix:
            try:
                from fast_bitrix24 import Bitrix
            except ImportError:
                print("fast-bitrix24 not installed (pip install fast-bitrix24): skipped")
                return
            cm = srv.cost_model
            for name in ("deals", "activities"):
                spec = ENTITIES[name]
                fb = Bitrix(srv.webhook_url, verbose=False, requests_per_second=args.rate,
                            request_pool_size=args.burst, ssl=False)
                before, op0 = srv.requests.total, cm.status(spec.method)[0]
                t = time.perf_counter()
                try:
                    rows = fb.get_all(spec.method, {"select": list(spec.select)})
                except Exception as e:  # noqa: BLE001 -- report and go on
                    print(f"{name}: fast-bitrix24 failed: {type(e).__name__}: {e}")
                    continue
                fb_wall, fb_req, fb_op = time.perf_counter() - t, srv.requests.total - before, cm.status(spec.method)[0] - op0
                c2 = B24Client(srv.webhook_url, rate=args.rate, burst=args.burst)
                before, op0 = srv.requests.total, cm.status(spec.method)[0]
                t = time.perf_counter()
                n = sum(len(p) for p in c2.export(spec.method, select=list(spec.select)))
                our_wall, our_req, our_op = time.perf_counter() - t, srv.requests.total - before, cm.status(spec.method)[0] - op0
                print(f"{name} export: b24reports {n} rows, {our_req} requests, {our_wall:.2f}s, "
                      f"server time {our_op:.1f}s | fast-bitrix24 {len(rows)} rows, {fb_req} requests, "
                      f"{fb_wall:.2f}s, server time {fb_op:.1f}s | ratio fast-bitrix24/b24reports: "
                      f"requests {fb_req / max(our_req, 1):.2f}x, wall {fb_wall / max(our_wall, 1e-9):.2f}x, "
                      f"server time {fb_op / max(our_op, 1e-9):.2f}x")


if __name__ == "__main__":
    main()
