"""Benchmark: funnel metrics on the benchmark-size demo portal (issue 2 target: ≤ 1 s on 100k deals).

Generates the demo portal (default scale 40 ≈ 100k deals), stages the tables the funnel reads
(deals, deal stage history, statuses, currencies, users, departments) with the real staging
functions into a :class:`b24reports.ingest.dataset.Dataset` (no HTTP, no store: this measures the
metrics, not the sync), then times :func:`b24reports.metrics.funnel.report_tables` — best of
``--runs`` — for the default 12-month period and for the whole history, with a breakdown of
its steps. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_funnel_metrics.py [--scale 40] [--runs 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import pandas as pd

from b24reports.ingest import staging
from b24reports.metrics.scope import Scope
from b24reports.ingest.dataset import Dataset
from b24reports.demo.generator import generate_portal
from b24reports.metrics import common as c
from b24reports.metrics.facts import deal_facts, reached_index
from b24reports.metrics import funnel as f

ANCHOR = dt.date(2026, 11, 30)
AS_OF = pd.Timestamp("2026-11-30T12:00:00+03:00")
TZ = dt.timezone(dt.timedelta(hours=3))

#: store table -> (demo portal entity, or a DemoPortal list attribute)
SOURCES = {"deals": "deal", "deal_stage_history": "deal_stage_history", "statuses": "status", "users": "user",
           "departments": "department", "pipelines": "categories", "currencies": "currencies"}


def build_dataset(scale: float) -> tuple[Dataset, dict[str, float]]:
    """Generate and stage the funnel's tables; returns the Dataset and timings (s)."""
    times = {}
    t = time.perf_counter()
    portal = generate_portal(seed=42, scale=scale, anchor=ANCHOR)
    times["generate"] = time.perf_counter() - t
    t = time.perf_counter()
    frames, w = {}, staging.Warnings()
    for table, src in SOURCES.items():
        raw = getattr(portal, src) if src in ("categories", "currencies") else portal.rows(src)
        frames[table] = pd.DataFrame(staging.stage_rows(table, raw, w, TZ))
    ds = Dataset.from_frames(portal="https://demo.bitrix24.ru", timezone=TZ, **frames)
    times["stage"] = time.perf_counter() - t
    return ds, times


def best_of(runs: int, fn) -> float:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=40.0)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    ds, times = build_dataset(a.scale)
    print(f"scale {a.scale:g}: {len(ds.deals):,} deals, {len(ds.deal_stage_history):,} stage-history rows")
    print(f"  generate {times['generate']:.1f} s, stage into frames {times['stage']:.1f} s (setup, not measured)")

    last_year = dict(date_from=dt.date(2025, 11, 1), date_to=dt.date(2026, 10, 31), as_of=AS_OF)
    everything = dict(date_from=dt.date(2020, 1, 1), date_to=ANCHOR, as_of=AS_OF)
    for label, kw in (("12 months", last_year), ("whole history", everything)):
        tables, _, _ = f.report_tables(ds, Scope.build(ds, **kw))
        secs = best_of(a.runs, lambda: f.report_tables(ds, Scope.build(ds, **kw)))
        print(f"funnel report_tables, {label}: {secs:.3f} s (best of {a.runs}); cohort {len(tables['deals']):,} deals")

    # breakdown on the whole history
    facts, _ = deal_facts(ds, AS_OF)
    stages = c.stage_order(ds.statuses)
    cohort = f.cohort(facts, c.Period(everything["date_from"], everything["date_to"], TZ))
    reached = reached_index(cohort, ds.deal_stage_history, stages, AS_OF)
    visits = f.stage_visits(cohort, ds.deal_stage_history, stages, AS_OF)
    steps = {
        "facts.deal_facts": lambda: deal_facts(ds, AS_OF),
        "facts.reached_index": lambda: reached_index(cohort, ds.deal_stage_history, stages, AS_OF),
        "stages_table": lambda: f.stages_table(cohort, reached, stages),
        "managers_table": lambda: f.managers_table(cohort),
        "manager_stages_table": lambda: f.manager_stages_table(cohort, stages),
        "deals_table": lambda: f.deals_table(cohort, AS_OF, ds.portal),
        "stage_visits": lambda: f.stage_visits(cohort, ds.deal_stage_history, stages, AS_OF),
        "time_in_stage_table": lambda: f.time_in_stage_table(visits, stages),
    }
    for name, fn in steps.items():
        print(f"  {name:<24} {best_of(a.runs, fn):.3f} s")


if __name__ == "__main__":
    main()
