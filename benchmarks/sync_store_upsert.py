"""Store upsert speed: N staged activity rows (dicts as staging makes them) into DuckDB.

Prints seconds for the first insert, for a full replace of the same ids (INSERT OR REPLACE),
rows/s, and the store size.

    .venv/bin/python benchmarks/sync_store_upsert.py --rows 1000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from b24reports.ingest.store import open_store

MSK = timezone(timedelta(hours=3))


def rows(n: int, start: int = 1) -> list[dict]:
    t0 = datetime(2025, 1, 1, 9, tzinfo=MSK)
    out = []
    for i in range(start, start + n):
        t = t0 + timedelta(minutes=i)
        out.append({"id": i, "owner_type_id": 2, "owner_id": i // 10, "type_id": 2, "provider_id": "VOXIMPLANT_CALL",
                    "provider_type_id": "CALL", "subject": f"Звонок {i}", "direction": 2, "completed": i % 3 == 0,
                    "status": 2, "responsible_id": 1 + i % 20, "author_id": 1, "created": t, "last_updated": t,
                    "start_time": t, "end_time": t + timedelta(minutes=5), "deadline": t, "origin_id": f"VI_{i}"})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--chunk", type=int, default=2500, help="rows per upsert call (a sync flushes 2,500)")
    args = ap.parse_args()
    data = rows(args.rows)
    db = Path(tempfile.mkdtemp(prefix="b24store-")) / "s.duckdb"
    with open_store(db) as s:
        for label in ("insert", "replace"):
            t = time.perf_counter()
            for i in range(0, len(data), args.chunk):
                with s.transaction():
                    s.upsert("activities", data[i:i + args.chunk])
            dt = time.perf_counter() - t
            print(f"{label:8} {args.rows} rows in chunks of {args.chunk}: {dt:.1f}s ({args.rows / dt:,.0f} rows/s)")
        t = time.perf_counter()
        s.upsert("activities", data[: min(len(data), 250_000)])
        dt = time.perf_counter() - t
        print(f"one call of {min(len(data), 250_000)} rows: {dt:.1f}s")
        assert s.count("activities") == args.rows
    print(f"store size {db.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
