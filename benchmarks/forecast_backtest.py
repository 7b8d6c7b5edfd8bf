"""Backtest of the dynamics report's forecasts on the demo portal's history (prints figures).

Usage::

    .venv/bin/python benchmarks/forecast_backtest.py [--store STORE.duckdb] [--scale 1.0] [--as-of 2026-11-30T12:00:00] [--min-train 12]

Without ``--store`` it generates the demo portal (seed 42, anchor 2026-11-30), serves it on
loopback and syncs it into a temporary store, as ``b24reports demo`` does.

What it measures (monthly won amount of full months, :func:`metrics.dynamics.monthly_won_history`):

* **history forecast** (:func:`b24reports.metrics.forecast.forecast_monthly` through
  :func:`metrics.dynamics.forecast_trend`; synthetic series: ``forecast_synthetic.py``): rolling origin —
  for every origin with at least ``--min-train`` months of training data, fit, forecast 3
  months, and score MAPE per horizon (1, 2, 3 months ahead) and the share of actuals inside
  the 80% band (should be near 80%); the time per forecast (a backtest of every candidate);
* **baselines** on the same origins: naive (last month) and the mean of the last 3 months;
* **run rate** (:func:`metrics.common.run_rate`) at day 10, 15 and 20 of each month against
  the month's final won amount (MAPE).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from b24reports.ingest.dataset import Dataset
from b24reports.metrics import common as c
from b24reports.metrics.facts import deal_facts
from b24reports.metrics import dynamics as d

ANCHOR = dt.date(2026, 11, 30)


def build_store(scale: float) -> Path:
    from b24reports.demo.generator import generate_portal
    from b24reports.demo.server import DemoServer
    from b24reports.ingest.sync import sync

    store = Path(tempfile.mkdtemp(prefix="b24r-backtest-")) / "demo.duckdb"
    portal = generate_portal(seed=42, scale=scale, anchor=ANCHOR)
    with DemoServer(portal) as server:
        sync(server.webhook_url, store, progress=False)
    return store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, help="an existing b24reports store (default: build the demo portal)")
    ap.add_argument("--scale", type=float, default=1.0, help="demo portal scale when building it")
    ap.add_argument("--as-of", default=f"{ANCHOR.isoformat()}T12:00:00", help="the backtest's now (portal time)")
    ap.add_argument("--min-train", type=int, default=12, help="minimum training months per origin")
    args = ap.parse_args()

    t0 = time.perf_counter()
    store = args.store or build_store(args.scale)
    ds = Dataset.load(store)
    as_of = c.to_timestamp(args.as_of, ds.timezone)
    facts, _ = deal_facts(ds, as_of)
    hist = d.monthly_won_history(facts, as_of)
    print(f"store ready in {time.perf_counter() - t0:.1f} s; {len(hist)} full months of history "
          f"({hist.index[0]} .. {hist.index[-1]}), mean won per month {hist.mean():,.0f}")

    t = time.perf_counter()
    import statsmodels.tsa.exponential_smoothing.ets  # noqa: F401  (import once, outside the timings)

    print(f"statsmodels ETS import: {time.perf_counter() - t:.1f} s (once per process)")
    y = hist.to_numpy(dtype=float)
    h = d.HORIZON
    err = {k: [[] for _ in range(h)] for k in ("forecast", "naive", "mean3")}
    inside, fits = [], []
    for origin in range(args.min_train, len(y) - h + 1):
        train, actual = hist.iloc[:origin], y[origin:origin + h]
        t = time.perf_counter()
        fc = d.forecast_trend(train, horizon=h, min_months=args.min_train)[0]
        fits.append(time.perf_counter() - t)
        preds = {"forecast": fc["forecast"].to_numpy(), "naive": np.repeat(train.iloc[-1], h),
                 "mean3": np.repeat(train.iloc[-3:].mean(), h)}
        for k, p in preds.items():
            for i in range(h):
                if actual[i]:
                    err[k][i].append(abs(actual[i] - p[i]) / actual[i] * 100)
        inside += list((fc["lower_80"].to_numpy() <= actual) & (actual <= fc["upper_80"].to_numpy()))
    n_orig = len(fits)
    print(f"\nrolling origins: {n_orig} (train ≥ {args.min_train} months, 3-month horizon)")
    print(f"{'model':<8}" + "".join(f"{'MAPE h=' + str(i + 1):>12}" for i in range(h)) + f"{'MAPE all':>12}")
    for k in ("forecast", "naive", "mean3"):
        allv = [v for lst in err[k] for v in lst]
        print(f"{k:<8}" + "".join(f"{np.mean(lst):>11.1f}%" if lst else f"{'—':>12}" for lst in err[k])
              + (f"{np.mean(allv):>11.1f}%" if allv else f"{'—':>12}"))
    if inside:
        print(f"80% band coverage: {100 * np.mean(inside):.1f}% of {len(inside)} actuals")
    if fits:
        print(f"time per forecast (backtest of every candidate): mean {1000 * np.mean(fits):.0f} ms, "
              f"max {1000 * np.max(fits):.0f} ms")
    fc, _, rec, note = d.forecast_trend(hist)
    if note is None:
        print(f"report's forecast: {rec.method}, backtest MAPE {rec.mape_pct or 0:.1f}%; next months: "
              + ", ".join(f"{m} {v:,.0f} [{lo:,.0f}; {hi:,.0f}]" for m, v, lo, hi in
                          zip(fc["month"], fc["forecast"], fc["lower_80"], fc["upper_80"])))

    print("\nrun rate vs final month (full months of history):")
    won = d.won_deals(facts)
    for day in (10, 15, 20):
        e = []
        for m, total in hist.items():
            if not total:
                continue
            start = pd.Timestamp(f"{m}-01", tz=ds.timezone)
            cut = start + pd.Timedelta(days=day - 1, hours=23, minutes=59, seconds=59)
            mtd = float(won.loc[(won["won_at"] >= start) & (won["won_at"] <= cut), "amount"].sum())
            rr = c.run_rate(mtd, cut)["run_rate"]
            e.append(abs(total - rr) / total * 100)
        print(f"  day {day:>2}: MAPE {np.mean(e):.1f}% over {len(e)} months")


if __name__ == "__main__":
    main()
