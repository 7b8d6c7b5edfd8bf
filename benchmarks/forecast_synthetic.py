"""Out-of-sample check of :func:`b24reports.metrics.forecast.forecast_monthly` on synthetic monthly sales.

Usage::

    .venv/bin/python benchmarks/forecast_synthetic.py [--seeds 12] [--lengths 18,24,36]

Series that stand for a portal's monthly won amount (around 1 000 000 a month, multiplicative
noise): ``flat`` (no structure, noise only), ``trend`` (+3 % a month), ``seasonal`` (yearly
cycle ±35 %, peak in summer: a building-season product), ``trend_seasonal``, ``intermittent``
(a few large deals a month, Poisson(1.2) of them, so about a third of months are 0) and
``level_shift`` (the level jumps ×1.6 or ×0.6 at a random month). For each type, each history
length (18, 24, 36 months) and each seed, the forecast is made from the first L, L+1 and L+2
months and scored on the next 3 months of the same series (which the function never saw).

Printed per type: MASE (absolute error ÷ the series' in-sample "last month" error) of the
chosen method, of naive (last month) and of seasonal naive (same month a year earlier), the
ratios chosen/naive and chosen/seasonal naive (< 1: the chosen forecast is more accurate), the
share of actual months inside the 80 % band, and which methods were chosen.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import time

import numpy as np
import pandas as pd

from b24reports.metrics.forecast import HORIZON, forecast_monthly

TYPES = ("flat", "trend", "seasonal", "trend_seasonal", "intermittent", "level_shift")
ORIGINS = 3  # forecasts per series: from the first L, L+1, L+2 months


def make_series(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` months of synthetic won amount of type ``kind`` (see the module docstring)."""
    m = np.arange(n)
    noise = np.exp(rng.normal(0, 0.18, n) - 0.18 ** 2 / 2)
    level = np.full(n, 1_000_000.0)
    phase = rng.integers(0, 12)
    season = 1 + 0.35 * np.sin(2 * np.pi * (m - phase) / 12)
    if kind == "flat":
        return level * np.exp(rng.normal(0, 0.25, n) - 0.25 ** 2 / 2)
    if kind == "trend":
        return level * 1.03 ** m * noise
    if kind == "seasonal":
        return level * season * noise
    if kind == "trend_seasonal":
        return level * 1.025 ** m * season * noise
    if kind == "intermittent":
        deals = rng.poisson(1.2, n)
        return np.array([rng.lognormal(np.log(600_000), 0.5, k).sum() for k in deals])
    if kind == "level_shift":
        at = rng.integers(n // 3, n - 4)
        factor = 1.6 if rng.random() < 0.5 else 0.6
        return level * np.where(m >= at, factor, 1.0) * noise
    raise ValueError(kind)


def keys(n: int) -> list[str]:
    return [p.strftime("%Y-%m") for p in pd.period_range("2023-01", periods=n, freq="M")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=12, help="series per type and length")
    ap.add_argument("--lengths", default="18,24,36", help="history lengths, months")
    ap.add_argument("--types", default=",".join(TYPES), help="series types")
    ap.add_argument("--by-length", action="store_true", help="also print the table per history length")
    args = ap.parse_args()
    lengths = [int(v) for v in args.lengths.split(",")]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"commit {commit}; {args.seeds} series per type × lengths {lengths}; {ORIGINS} forecasts per series, "
          f"{HORIZON} months ahead")
    rows, times = [], []
    chosen: dict[str, collections.Counter] = {k: collections.Counter() for k in TYPES}
    for kind in args.types.split(","):
        for n_hist in lengths:
            for seed in range(args.seeds):
                rng = np.random.default_rng(1000 * TYPES.index(kind) + 10 * n_hist + seed)
                y = make_series(kind, n_hist + ORIGINS - 1 + HORIZON, rng)
                scale = float(np.mean(np.abs(np.diff(y[:n_hist]))))
                for t in range(n_hist, n_hist + ORIGINS):
                    hist = pd.Series(y[:t], index=keys(t))
                    t0 = time.perf_counter()
                    fc = forecast_monthly(hist, HORIZON)
                    times.append(time.perf_counter() - t0)
                    rec = fc.attrs["record"]
                    chosen[kind][rec.method] += 1
                    for h in range(HORIZON):
                        a = y[t + h]
                        rows.append({"kind": kind, "n": n_hist, "h": h + 1,
                                     "chosen": abs(a - fc["forecast"].iloc[h]) / scale,
                                     "naive": abs(a - y[t - 1]) / scale,
                                     "seasonal_naive": abs(a - y[t + h - 12]) / scale,
                                     "inside": bool(fc["lower_80"].iloc[h] <= a <= fc["upper_80"].iloc[h])})
    df = pd.DataFrame(rows)

    def table(g: pd.DataFrame) -> pd.DataFrame:
        out = g.groupby("kind", sort=False).agg(mase=("chosen", "mean"), naive=("naive", "mean"),
                                                snaive=("seasonal_naive", "mean"), coverage=("inside", "mean"))
        out["vs_naive"] = out["mase"] / out["naive"]
        out["vs_snaive"] = out["mase"] / out["snaive"]
        out["coverage"] = 100 * out["coverage"]
        return out

    print(f"\n{'type':<16}{'MASE':>7}{'naive':>7}{'snaive':>7}{'÷naive':>8}{'÷snaive':>8}{'cover %':>9}  chosen")
    for kind, r in table(df).iterrows():
        top = ", ".join(f"{m} {c}" for m, c in chosen[kind].most_common())
        print(f"{kind:<16}{r.mase:>7.2f}{r.naive:>7.2f}{r.snaive:>7.2f}{r.vs_naive:>8.2f}{r.vs_snaive:>8.2f}"
              f"{r.coverage:>9.1f}  {top}")
    print(f"{'all':<16}{df.chosen.mean():>7.2f}{df.naive.mean():>7.2f}{df.seasonal_naive.mean():>7.2f}"
          f"{df.chosen.mean() / df.naive.mean():>8.2f}{df.chosen.mean() / df.seasonal_naive.mean():>8.2f}"
          f"{100 * df.inside.mean():>9.1f}")
    if args.by_length:
        for n, g in df.groupby("n"):
            print(f"\n{n} months of history")
            for kind, r in table(g).iterrows():
                print(f"{kind:<16}{r.mase:>7.2f}{r.naive:>7.2f}{r.snaive:>7.2f}{r.vs_naive:>8.2f}{r.vs_snaive:>8.2f}"
                      f"{r.coverage:>9.1f}")
    print("\ncoverage by history length: " + ", ".join(
        f"{n} months {100 * g.inside.mean():.1f}%" for n, g in df.groupby("n")))
    print("coverage by horizon: " + ", ".join(f"h={h} {100 * g.inside.mean():.1f}%" for h, g in df.groupby("h")))
    print(f"{len(df)} forecast months; time per forecast_monthly call (no cache hits): "
          f"median {1000 * np.median(times):.0f} ms, max {1000 * np.max(times):.0f} ms")


if __name__ == "__main__":
    main()
