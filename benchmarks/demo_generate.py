"""Generation time and size of the demo portal at benchmark scale.

    .venv/bin/python benchmarks/demo_generate.py [--scale 40] [--seed 42]

Prints wall time, peak RSS and row counts per entity, then the time of typical list pages
(ID cursor with start=-1, offset page with COUNT, >=DATE_MODIFY window) on the biggest tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time

from b24reports.demo.generator import generate_portal


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=40.0)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    t0 = time.perf_counter()
    portal = generate_portal(seed=args.seed, scale=args.scale, anchor=dt.date(2026, 11, 30))
    took = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"scale={args.scale} seed={args.seed}: generated in {took:.1f} s, peak RSS {rss_mb:.0f} MB")
    for name, t in portal.tables.items():
        print(f"  {name:22s} {len(t):>10,d} rows")
    for entity in ("deal", "activity"):
        t = portal.table(entity)
        mid = int(t.column("ID")[len(t) // 2])
        mod = "DATE_MODIFY" if entity == "deal" else "LAST_UPDATED"
        cases = {
            "cursor >ID start=-1": lambda: t.query({">ID": mid}, {"ID": "ASC"}, None, -1),
            "offset page (COUNT)": lambda: t.query({">ID": mid}, {"ID": "ASC"}, None, 0),
            f">={mod} window": lambda: t.query({f">={mod}": "2026-11-23 00:00:00"}, {"ID": "ASC"}, None, -1),
        }
        for label, fn in cases.items():
            n = 20
            s = time.perf_counter()
            for _ in range(n):
                fn()
            print(f"  {entity:8s} {label:24s} {1000 * (time.perf_counter() - s) / n:7.2f} ms/page (all fields)")


if __name__ == "__main__":
    main()
