"""What the sync's completeness checks (issue 14) cost, in requests and time, per run.

Serves a demo portal on loopback (no rate limit, no cost model: the figures are the sync's own
requests and time) and runs, on one store: the first (full) sync; an incremental sync with no
change; an incremental sync after 1 % of deals, leads and activities were edited; a sync with
the daily ID pass; and ``--full``. For each it prints all requests and wall time beside the
share spent on the checks: the portal counts before a deletion (``portal_count``) and the
incremental verification batch (``verify_window``).

    .venv/bin/python benchmarks/sync_checks_bench.py --scale 1
    .venv/bin/python benchmarks/sync_checks_bench.py --scale 40
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import time
from pathlib import Path

from b24reports.ingest import sync as sync_mod
from b24reports.ingest.client import B24Client
from b24reports.demo import DemoServer, generate_portal
from b24reports.demo.generator import fmt_dt


class Checks:
    """Counts the requests and seconds spent in the completeness checks."""

    def __init__(self) -> None:
        self.requests = 0
        self.seconds = 0.0

    def wrap(self, name: str) -> None:
        orig = getattr(sync_mod._Sync, name)

        def timed(job, *a, **kw):
            r0, t0 = job.c.requests, time.perf_counter()
            try:
                return orig(job, *a, **kw)
            finally:
                self.requests += job.c.requests - r0
                self.seconds += time.perf_counter() - t0

        setattr(sync_mod._Sync, name, timed)


def edit_share(portal, share: float, seed: int = 1) -> int:
    """Edit ``share`` of the deals, leads and activities (a title or subject change, modified
    now); returns how many rows were edited."""
    rng = random.Random(seed)
    n = 0
    stamp = fmt_dt(int(time.time()))
    for entity, field in (("deal", "TITLE"), ("lead", "TITLE"), ("activity", "SUBJECT")):
        ids = [int(i) for i in portal.table(entity).column("ID")]
        for i in rng.sample(ids, max(1, int(len(ids) * share))):
            modified = "LAST_UPDATED" if entity == "activity" else "DATE_MODIFY"
            portal.table(entity).update(i, {field: f"edited {i}", modified: stamp})
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    t = time.perf_counter()
    portal = generate_portal(seed=args.seed, scale=args.scale)
    sizes = {k: len(portal.table(k)) for k in ("deal", "lead", "activity", "task", "call")}
    print(f"commit {commit}; portal scale {args.scale} ({', '.join(f'{k} {v:,}' for k, v in sizes.items())}), "
          f"generated in {time.perf_counter() - t:.0f} s")
    checks = Checks()
    checks.wrap("portal_count")
    checks.wrap("verify_window")
    db = Path(tempfile.mkdtemp(prefix="b24checks-")) / "bench.duckdb"
    rows = []
    with DemoServer(portal) as srv:
        def run(label: str, **kw) -> None:
            checks.requests, checks.seconds = 0, 0.0
            client = B24Client(srv.webhook_url, rate=1000, burst=1000)
            t0 = time.perf_counter()
            rep = sync_mod.sync(client, db, progress=False, log=lambda _m: None, **kw)
            wall = time.perf_counter() - t0
            rows.append((label, rep.requests, checks.requests, wall, checks.seconds, rep.status))

        run("first sync (full)")
        run("incremental, no change", id_pass=False)
        edited = edit_share(portal, 0.01)
        run(f"incremental after 1 % edited ({edited:,} rows)", id_pass=False)
        run("incremental + daily ID pass", id_pass=True)
        run("--full", full=True)
    w = max(len(r[0]) for r in rows)
    print(f"\n{'run':<{w}}  {'requests':>8}  {'of them checks':>14}  {'wall s':>7}  {'checks s':>8}  status")
    for label, req, creq, wall, csec, status in rows:
        print(f"{label:<{w}}  {req:>8,}  {creq:>14,}  {wall:>7.1f}  {csec:>8.2f}  {status}")
    full_req = rows[0][1]
    print(f"\nre-sync after 1 % edits: {rows[2][1]:,} requests = {rows[2][1] / full_req:.1%} of the full sync's {full_req:,}")


if __name__ == "__main__":
    main()
