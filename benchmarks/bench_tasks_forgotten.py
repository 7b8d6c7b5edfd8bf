"""Compute time of the tasks and forgotten reports (metrics only, no rendering).

Usage: ``python benchmarks/bench_tasks_forgotten.py [STORE] [--scale S]`` — with no STORE a
demo portal of scale S (default 1.0) is generated, served on loopback and synced into a
temporary store first. Prints rows per table and seconds per compute (best of 3).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from b24reports import reports
from b24reports.ingest.dataset import Dataset

ANCHOR = dt.date(2026, 11, 30)


def build_store(scale: float) -> Path:
    from b24reports.demo.generator import generate_portal
    from b24reports.demo.server import DemoServer
    from b24reports.ingest.sync import sync

    path = Path(tempfile.mkdtemp(prefix="bench-tf-")) / "demo.duckdb"
    with DemoServer(generate_portal(seed=42, scale=scale, anchor=ANCHOR)) as server:
        sync(server.webhook_url, path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store", nargs="?")
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args()
    store = Path(a.store) if a.store else build_store(a.scale)
    ds = Dataset.load(store)
    print(f"store: deals={len(ds.deals)} leads={len(ds.leads)} activities={len(ds.activities)} tasks={len(ds.tasks)}")
    for name in ("tasks", "forgotten"):
        spec = reports.get(name)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            res = spec.run(ds, {"as_of": f"{ANCHOR.isoformat()}T12:00:00+03:00"})
            best = min(best, time.perf_counter() - t)
        rows = ", ".join(f"{k}={len(v)}" for k, v in res.tables.items())
        print(f"{name:10s} compute {best:6.3f} s  ({rows})")


if __name__ == "__main__":
    main()
