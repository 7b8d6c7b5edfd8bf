"""Render every report's metrics.json for several parameter sets, and compare two such runs.

A refactor must not change a number. Take a snapshot before, one after, and compare::

    .venv/bin/python scripts/compare_metrics.py snapshot /tmp/before   # on the old commit
    .venv/bin/python scripts/compare_metrics.py snapshot /tmp/after    # on the new commit
    .venv/bin/python scripts/compare_metrics.py compare /tmp/before /tmp/after

``snapshot DIR`` renders through the CLI (``b24reports render all --formats json``; ``--formats
json,html --workers 2`` takes metrics.json from the notebooks' computation on warm kernels), so the
path a parameter takes from the command line to a metric is the one exercised. It uses
``--store`` (default ``DIR/../compare-demo.duckdb``); when that store is missing it is made with
``b24reports demo`` (deterministic for a given day), together with its ``demo_plan.csv``. Reuse one
store for both snapshots (the default does).

Parameter sets (``SETS``): the default period; one employee; one department; ``pipelines=1``;
English; one month with ``as_of`` inside it. The employee (lowest id with deals) and the department (lowest id
without sub-departments) are read from the store, so both snapshots pick the same.

``compare A B`` reads every ``<set>/<report>/metrics.json`` under both, blanks the
``generated_at`` value, and compares the bytes. It prints one line per file and a total, and
exits 1 when any file differs or is missing on one side.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import duckdb

AS_OF = "2026-11-30T18:00:00"

#: name -> extra CLI arguments; ``{employee}`` and ``{department}`` are filled from the store.
SETS: dict[str, list[str]] = {
    "default": [],
    "one-employee": ["--param", "employees={employee}"],
    "one-department": ["--param", "departments={department}"],
    "pipeline-1": ["--param", "pipelines=1"],
    "en": ["--lang", "en"],
    "month-as-of-inside": ["--from", "2026-11-01", "--to", "2026-11-30", "--as-of", "2026-11-15T12:00:00"],
}

_GENERATED_AT = re.compile(rb'"generated_at":\s*"[^"]*"')


def _cli() -> str:
    return str(Path(sys.executable).with_name("b24reports"))


def _ensure_store(store: Path) -> Path:
    """The demo store (and its plan file ``demo_plan.csv``) at ``store``, made when missing."""
    if not store.exists():
        store.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([_cli(), "demo", "--store", str(store), "--out", str(store.parent / "compare-demo-out"),
                        "--formats", "json"], check=True)
    return store


def _first_ids(store: Path) -> dict[str, str]:
    """The lowest employee id with deals, and the lowest department id without sub-departments."""
    con = duckdb.connect(str(store), read_only=True)
    try:
        emp = con.execute("SELECT min(ASSIGNED_BY_ID) FROM deals WHERE ASSIGNED_BY_ID > 0").fetchone()[0]
        dep = con.execute("SELECT min(id) FROM departments d WHERE NOT EXISTS "
                          "(SELECT 1 FROM departments c WHERE c.parent = d.id)").fetchone()[0]
    finally:
        con.close()
    return {"employee": str(emp), "department": str(dep)}


def snapshot(out: Path, store: Path | None, formats: str = "json", workers: int = 1) -> None:
    store = _ensure_store(store or out.parent / "compare-demo.duckdb")
    plan = store.parent / "demo_plan.csv"
    ids = _first_ids(store)
    for name, extra in SETS.items():
        args = [a.format(**ids) for a in extra]
        cmd = [_cli(), "render", "all", "--store", str(store), "--formats", formats, "--out", str(out / name),
               "--no-progress", "--workers", str(workers)]
        if "--as-of" not in args:
            cmd += ["--as-of", AS_OF]
        if plan.exists():
            cmd += ["--plan", str(plan)]
        print(f"{name}: {' '.join(args) or '(defaults)'}", flush=True)
        subprocess.run(cmd + args, check=True, stdout=subprocess.DEVNULL)


def compare(a: Path, b: Path) -> int:
    files = sorted({p.relative_to(a) for p in a.rglob("metrics.json")} | {p.relative_to(b) for p in b.rglob("metrics.json")})
    bad = 0
    for rel in files:
        pa, pb = a / rel, b / rel
        if not (pa.exists() and pb.exists()):
            print(f"MISSING   {rel} ({'after' if pa.exists() else 'before'} lacks it)")
            bad += 1
            continue
        same = _GENERATED_AT.sub(b'"generated_at": ""', pa.read_bytes()) == _GENERATED_AT.sub(b'"generated_at": ""', pb.read_bytes())
        print(f"{'identical' if same else 'DIFFERENT'} {rel}")
        bad += not same
    print(f"{len(files) - bad} of {len(files)} metrics.json identical apart from generated_at")
    return 1 if bad or not files else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot", help="render metrics.json for every parameter set into DIR")
    s.add_argument("out", type=Path)
    s.add_argument("--store", type=Path)
    s.add_argument("--formats", default="json",
                   help="formats rendered (default json: computed in this process; with html on "
                        "warm kernels the notebooks compute the reports and metrics.json takes theirs)")
    s.add_argument("--workers", type=int, default=1)
    c = sub.add_parser("compare", help="compare two snapshots")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    ns = ap.parse_args(argv)
    if ns.cmd == "snapshot":
        snapshot(ns.out, ns.store, ns.formats, ns.workers)
        return 0
    return compare(ns.before, ns.after)


if __name__ == "__main__":
    sys.exit(main())
