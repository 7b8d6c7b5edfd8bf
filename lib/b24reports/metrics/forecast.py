"""Monthly forecast chosen by its own track record: :func:`forecast_monthly`.

Source: ``/work/shared/METRICS.md`` section "dynamics" (``forecast_trend``) and issue 17; the
user-facing definition is in ``docs/metrics.md`` ("Forecast / Прогноз").

How it works, in the order it runs:

1. **Candidates** (:data:`CANDIDATES`, simplest first): ``naive`` (last month), ``mean3``
   (mean of the last 3 months), ``seasonal_naive`` (the same month a year earlier), ``ets_trend``
   (statsmodels ``ETSModel``: additive error, additive damped trend) and ``ets_seasonal`` (the
   same plus additive yearly seasonality). Each needs a minimum of training months
   (:data:`MIN_TRAIN`).
2. **Rolling-origin backtest inside the history.** An origin ``t`` trains on the first ``t``
   months and forecasts months ``t … t+horizon−1`` that are still in the history. A candidate
   takes part when it has at least :data:`MIN_ORIGINS` origins; every candidate that takes part
   is scored on the same origins: the last :data:`MAX_ORIGINS` at which all of them can be fitted.
   A candidate whose fit fails at an origin (a degenerate window, e.g. all zeros) drops out; one
   that fails on the whole history is left out of the mean (none left: "last month").
3. **Score = MASE**: the mean absolute error over those origins and horizons divided by the
   in-sample error of "last month" over the whole history (mean |yₜ − yₜ₋₁|). MASE < 1: better
   than the naive rule would have been on average over the history.
4. **Combination**: the forecast is the mean of the :data:`COMBINE` (3) candidates with the
   lowest MASE (ties: the simpler first; fewer take part → the mean of those), unless the best
   one alone scored more than :data:`SINGLE_MARGIN` (10 %) better than that mean, then it alone.
   A mean of the best few is steadier than the single best, whose lead over 5–18 origins is
   partly luck; a clear lead is not.
5. **80 % band** from the chosen candidate's backtest errors (split-conformal, per horizon): the
   half-width at horizon h is the ⌈(m+1)·0.8⌉-th smallest of its m absolute errors h months
   ahead (the largest when m is too small), never narrower than at a shorter horizon. With a
   non-negative history the forecast and the band are clipped at 0.

Fits are cached per process (:func:`_backtest`, keyed by the values, horizon): a dashboard that
goes back to a filter it has seen gets the forecast without refitting.
"""

from __future__ import annotations

import functools
import math
import warnings as _warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Forecast horizon, months (the report's three months: "март, апрель, май").
HORIZON = 3
#: Fewest months of history :func:`forecast_monthly` accepts.
MIN_MONTHS = 12
#: Fewest backtest origins a candidate needs to take part.
MIN_ORIGINS = 5
#: Most backtest origins (the most recent ones) — bounds the fitting time of a long history.
MAX_ORIGINS = 18
#: Coverage of the band.
LEVEL = 0.8
#: The forecast is the mean of this many best candidates by backtest MASE …
COMBINE = 3
#: … unless the best one alone has a backtest MASE lower than the mean's by more than this share.
SINGLE_MARGIN = 0.10
#: Months in a year (seasonal period).
SEASON = 12


def _naive(y: np.ndarray, h: int) -> np.ndarray:
    return np.repeat(y[-1], h)


def _mean3(y: np.ndarray, h: int) -> np.ndarray:
    return np.repeat(y[-3:].mean(), h)


def _seasonal_naive(y: np.ndarray, h: int) -> np.ndarray:
    return np.array([y[len(y) - SEASON + (i % SEASON)] for i in range(h)])


def _seasonal_level(y: np.ndarray, h: int) -> np.ndarray:
    n = len(y)
    shift = y[-3:].mean() - y[n - SEASON - 3:n - SEASON].mean()
    return np.array([y[n - SEASON + (i % SEASON)] for i in range(h)]) + shift


def _ets(y: np.ndarray, h: int, seasonal: bool) -> np.ndarray:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        model = ETSModel(y, error="add", trend="add", damped_trend=True,
                         seasonal="add" if seasonal else None, seasonal_periods=SEASON if seasonal else None,
                         initialization_method="heuristic")
        out = np.asarray(model.fit(disp=False).forecast(h), dtype="float64")
    if not np.isfinite(out).all():
        raise ValueError("non-finite forecast")
    return out


#: name → forecast function ``(train values, horizon) → horizon values``, simplest first.
CANDIDATES: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "naive": _naive,
    "mean3": _mean3,
    "seasonal_naive": _seasonal_naive,
    "seasonal_level": _seasonal_level,
    "ets_trend": functools.partial(_ets, seasonal=False),
    "ets_seasonal": functools.partial(_ets, seasonal=True),
}
#: Fewest training months per candidate (seasonal naive: a year; with :data:`MIN_ORIGINS` it
#: takes part from 17 months of history; the level-corrected one: a year and 3 months;
#: statsmodels' heuristic start needs 10 months for a trend, two full years for a season).
MIN_TRAIN: dict[str, int] = {"naive": 1, "mean3": 3, "seasonal_naive": 12, "seasonal_level": 15, "ets_trend": 10, "ets_seasonal": 2 * SEASON}
#: The two simple rules every forecast is compared with.
SIMPLE_RULES = ("naive", "seasonal_naive")


@dataclass(frozen=True)
class ForecastRecord:
    """The track record of a :func:`forecast_monthly` result (``result.attrs["record"]``).

    ``parts``: the candidates averaged (keys of :data:`CANDIDATES`, best first); ``method``:
    their names joined by ``+`` (one name when one candidate took part). ``mase``: candidate →
    backtest MASE (those that took part, unrounded), plus ``method`` → the forecast's own
    backtest MASE (optimistic: its parts were picked on the same origins). ``origins``: number of backtest origins;
    ``months``: months of history. ``error_low``/``error_high``: the chosen method's typical
    absolute error, the 25th and 75th percentiles of its backtest errors (units of the
    history, e.g. money; over every origin and horizon); ``error_low_pct``/``error_high_pct``: the same as % of the mean month
    of the last 12 months (``None`` when that mean is 0). ``mape_pct``: the chosen method's
    backtest MAPE, % — ``None`` when any month it was scored on is 0 or under 10 % of the
    mean month (percent errors of tiny months mean nothing). ``vs``: simple rule → its backtest
    MAE ÷ the chosen method's (1.4 = the chosen method is 1.4 times as accurate; ``None`` when
    the rule could not take part; ``inf`` when only the chosen method's errors were all 0). ``half_width``: the band's
    half-width per horizon.
    """

    method: str
    parts: tuple[str, ...]
    mase: dict[str, float]
    origins: int
    months: int
    error_low: float
    error_high: float
    error_low_pct: float | None
    error_high_pct: float | None
    mape_pct: float | None
    vs: dict[str, float | None] = field(default_factory=dict)
    half_width: tuple[float, ...] = ()


def _month_keys(history: pd.Series) -> list[str]:
    keys = [str(k) for k in history.index]
    try:
        periods = [pd.Period(k, freq="M") for k in keys]
    except (ValueError, TypeError) as exc:
        raise ValueError(f"history index must be 'YYYY-MM' month keys: {exc}") from None
    if any(len(k) != 7 for k in keys) or any((b - a).n != 1 for a, b in zip(periods, periods[1:])):
        raise ValueError("history index must be consecutive 'YYYY-MM' months, oldest first")
    return keys


def _conformal(abs_err: np.ndarray, level: float = LEVEL) -> float:
    """Split-conformal half-width: the ⌈(m+1)·level⌉-th smallest of m absolute errors (the
    largest when that rank exceeds m)."""
    e = np.sort(abs_err)
    k = min(math.ceil((len(e) + 1) * level), len(e))
    return float(e[k - 1])


@functools.lru_cache(maxsize=256)
def _backtest(values: tuple[float, ...], horizon: int) -> tuple[ForecastRecord, tuple[float, ...]]:
    """(record, point forecast) of a history (values oldest first); cached, immutable results."""
    y = np.asarray(values, dtype="float64")
    n = len(y)
    taking_part = [c for c in CANDIDATES if n - MIN_TRAIN[c] >= MIN_ORIGINS]
    while True:
        first = max(max(MIN_TRAIN[c] for c in taking_part), n - MAX_ORIGINS)
        origins = range(first, n)
        preds: dict[str, list[np.ndarray]] = {}
        failed = []
        for c in taking_part:
            try:
                preds[c] = [CANDIDATES[c](y[:t], min(horizon, n - t)) for t in origins]
            except (ValueError, ArithmeticError, IndexError, np.linalg.LinAlgError):  # a degenerate window
                failed.append(c)
        if not failed:
            break
        taking_part = [c for c in taking_part if c not in failed]
    # errors[c][i] = actual − forecast at origin i, horizons 1..(months left)
    errors = {c: [y[t:t + len(p)] - p for t, p in zip(origins, preds[c])] for c in taking_part}
    scale = float(np.mean(np.abs(np.diff(y)))) or float(np.mean(np.abs(y))) or 1.0
    mae = {c: float(np.mean(np.abs(np.concatenate(errors[c])))) for c in taking_part}
    mase = {c: mae[c] / scale for c in taking_part}
    ranked = sorted(taking_part, key=lambda c: (mase[c], taking_part.index(c)))  # ties: the simpler first
    parts = tuple(ranked[:COMBINE])
    method = "+".join(parts)
    if len(parts) > 1:
        preds[method] = [np.mean([preds[c][i] for c in parts], axis=0) for i in range(len(origins))]
        errors[method] = [y[t:t + len(p)] - p for t, p in zip(origins, preds[method])]
        mae[method] = float(np.mean(np.abs(np.concatenate(errors[method]))))
        mase[method] = mae[method] / scale
        if mase[method] > mase[parts[0]] * (1 + SINGLE_MARGIN):  # the best one alone is clearly better
            parts, method = parts[:1], parts[0]
    # band: per horizon, from the chosen method's errors h months ahead
    half, prev = [], 0.0
    for h in range(horizon):
        eh = np.array([abs(e[h]) for e in errors[method] if len(e) > h])
        prev = max(prev, _conformal(eh)) if len(eh) else prev
        half.append(prev)
    abs_all = np.abs(np.concatenate(errors[method]))
    level = float(np.mean(y[-SEASON:]))
    lo, hi = (float(v) for v in np.percentile(abs_all, [25, 75]))
    actual = np.concatenate([y[t:t + len(p)] for t, p in zip(origins, preds[method])])
    small = (actual == 0) | (np.abs(actual) < 0.1 * abs(level))
    mape = None if small.any() or level == 0 else float(np.mean(abs_all / np.abs(actual)) * 100)
    vs = {r: (None if r not in mae else mae[r] / mae[method] if mae[method] else 1.0 if not mae[r] else math.inf)
          for r in SIMPLE_RULES}
    record = ForecastRecord(
        method=method, parts=parts, mase=mase, origins=len(origins), months=n, error_low=lo, error_high=hi,
        error_low_pct=100 * lo / abs(level) if level else None, error_high_pct=100 * hi / abs(level) if level else None,
        mape_pct=mape, vs=vs, half_width=tuple(half))
    point = []
    for c in parts:
        try:
            point.append(CANDIDATES[c](y, horizon))
        except (ValueError, ArithmeticError, IndexError, np.linalg.LinAlgError):  # fitted on every window but not on all
            continue
    return record, tuple(float(v) for v in np.mean(point or [_naive(y, horizon)], axis=0))


def forecast_monthly(history: pd.Series, horizon: int = HORIZON) -> pd.DataFrame:
    """Forecast the next ``horizon`` months of a monthly series with an 80 % band, choosing the
    method by a rolling-origin backtest inside the series (see the module docstring; METRICS.md
    "dynamics", ``forecast_trend``; docs/metrics.md "Forecast / Прогноз").

    In: ``history`` — floats indexed by consecutive ``'YYYY-MM'`` strings, oldest first, at
    least :data:`MIN_MONTHS` (12) months; empty months must be present as 0. Units are the
    series' own (e.g. won amount in the report currency). ``horizon`` ≥ 1.

    Out: a DataFrame, one row per month after the last one: ``month`` (``YYYY-MM``),
    ``forecast``, ``lower_80``, ``upper_80`` (same units; clipped at 0 when no month of the
    history is negative), and ``attrs["record"]`` = :class:`ForecastRecord` (method chosen,
    every candidate's backtest MASE, the typical error range, comparison with the two simple
    rules).

    Raises ``ValueError`` for fewer than 12 months, a non-finite value, an index that is not
    consecutive ``YYYY-MM`` months, or ``horizon`` < 1.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    if len(history) < MIN_MONTHS:
        raise ValueError(f"history has {len(history)} months, the forecast needs at least {MIN_MONTHS}")
    keys = _month_keys(history)
    y = history.to_numpy(dtype="float64")
    if not np.isfinite(y).all():
        raise ValueError("history has a missing or non-finite value; give empty months as 0")
    record, point = _backtest(tuple(float(v) for v in y), int(horizon))
    fc = np.asarray(point)
    half = np.asarray(record.half_width)
    lower, upper = fc - half, fc + half
    if (y >= 0).all():
        fc, lower, upper = np.maximum(fc, 0), np.maximum(lower, 0), np.maximum(upper, 0)
    last = pd.Period(keys[-1], freq="M")
    out = pd.DataFrame({"month": [(last + i + 1).strftime("%Y-%m") for i in range(horizon)],
                        "forecast": fc, "lower_80": lower, "upper_80": upper})
    out.attrs["record"] = record
    return out
