"""b24reports.metrics.forecast.forecast_monthly on small series worked out by hand (issue 17)."""

import numpy as np
import pandas as pd
import pytest

from b24reports.metrics import forecast as f


def months(n: int, start: str = "2025-01") -> list[str]:
    return [p.strftime("%Y-%m") for p in pd.period_range(start, periods=n, freq="M")]


def series(values, start: str = "2025-01") -> pd.Series:
    return pd.Series([float(v) for v in values], index=months(len(values), start))


def test_linear_growth_picks_last_month_alone_and_band_from_its_errors():
    # 100, 200, …, 1200. With 12 months only "last month" (naive) and "mean of 3" take part;
    # origins t = 3..11 (train = first t months), horizons up to 3 inside the history: 24 errors.
    # naive misses by h·100 (h months ahead): MAE = (7·600 + 300 + 100) / 24 = 191.67, scale
    # (mean |Δy|) = 100 → MASE 1.9167. mean3 forecasts y[t−2], misses by (h+1)·100: MAE 291.67.
    # Their mean misses by (h+½)·100: MAE 241.67 > 191.67 × 1.1 → naive alone.
    fc = f.forecast_monthly(series(range(100, 1300, 100)))
    rec = fc.attrs["record"]
    assert rec.method == "naive" and rec.parts == ("naive",) and rec.origins == 9 and rec.months == 12
    assert rec.mase["naive"] == pytest.approx(4600 / 24 / 100)
    assert rec.mase["mean3"] == pytest.approx(7000 / 24 / 100)
    assert rec.mase["naive+mean3"] == pytest.approx(5800 / 24 / 100)
    assert set(rec.mase) == {"naive", "mean3", "naive+mean3"}
    # band: naive's errors h months ahead are all h·100 → conformal half-widths 100, 200, 300
    assert fc["month"].tolist() == ["2026-01", "2026-02", "2026-03"]
    assert fc["forecast"].tolist() == [1200.0] * 3
    assert fc["lower_80"].tolist() == [1100.0, 1000.0, 900.0]
    assert fc["upper_80"].tolist() == [1300.0, 1400.0, 1500.0]
    # typical error: 25th–75th percentile of 9×100, 8×200, 7×300 (sorted positions 5.75 and
    # 17.25 of 0..23) → 100 and 300; mean month 650
    assert (rec.error_low, rec.error_high) == (100.0, 300.0)
    assert rec.error_low_pct == pytest.approx(100 / 650 * 100)
    # months scored: 400…1200 (≥ 10 % of 650) → MAPE is shown; naive is the method → ratio 1;
    # no seasonal naive with 12 months
    assert rec.vs == {"naive": 1.0, "seasonal_naive": None} and rec.mape_pct is not None


def test_falling_series_band_clipped_at_zero():
    fc = f.forecast_monthly(series(range(1200, 0, -100)))
    assert fc.attrs["record"].method == "naive"
    assert fc["forecast"].tolist() == [100.0] * 3
    assert fc["lower_80"].tolist() == [0.0, 0.0, 0.0]  # 0, −100, −200 clipped
    assert fc["upper_80"].tolist() == [200.0, 300.0, 400.0]


def test_tie_keeps_the_mean_of_both_and_its_band():
    # 100 × 11, then 160. Every training window of mean3 is 100s, so both candidates forecast
    # 100 at every origin and miss only the last month (by 60): at h=1 from t=11, h=2 from t=10,
    # h=3 from t=9. Equal MASE → their mean (same errors). Forecast: (160 + 120) / 2 = 140.
    # Band: h=1 has 9 errors (one 60): the 8th smallest is 0; h=2: 8 errors → rank 8 = 60;
    # h=3: 7 errors → rank 7 = 60.
    fc = f.forecast_monthly(series([100] * 11 + [160]))
    rec = fc.attrs["record"]
    assert rec.method == "naive+mean3" and rec.parts == ("naive", "mean3")
    assert rec.mase["naive"] == rec.mase["mean3"] == pytest.approx(180 / 24 / (60 / 11))
    assert fc["forecast"].tolist() == [140.0] * 3
    assert fc["lower_80"].tolist() == [140.0, 80.0, 80.0]
    assert fc["upper_80"].tolist() == [140.0, 200.0, 200.0]
    assert rec.half_width == (0.0, 60.0, 60.0)
    # MAPE over the 24 scored months: three misses of 60 on 160
    assert rec.mape_pct == pytest.approx(3 * 60 / 160 / 24 * 100)


def test_repeating_year_picks_seasonal_naive():
    # the same 12 months twice: "same month last year" (and its level-corrected variant) never
    # misses on origins 15..23, everything else does → seasonal naive alone, a zero-width band.
    year = [50, 80, 120, 200, 260, 300, 280, 220, 150, 90, 60, 40]
    fc = f.forecast_monthly(series(year * 2))
    rec = fc.attrs["record"]
    assert rec.method == "seasonal_naive" and rec.origins == 9
    assert rec.mase["seasonal_naive"] == 0.0 and rec.mase["seasonal_level"] == pytest.approx(0.0, abs=1e-9)
    assert fc["forecast"].tolist() == [50.0, 80.0, 120.0]
    assert fc["lower_80"].tolist() == fc["forecast"].tolist() == fc["upper_80"].tolist()
    assert rec.vs["naive"] == np.inf


def test_zero_months_drop_mape():
    fc = f.forecast_monthly(series([0, 500, 0, 0, 800, 0, 300, 0, 0, 600, 0, 400, 0]))
    rec = fc.attrs["record"]
    assert rec.mape_pct is None and (fc["lower_80"] >= 0).all()


def test_cached_per_values():
    s = series(range(100, 1300, 100))
    f.forecast_monthly(s)
    hits = f._backtest.cache_info().hits
    again = f.forecast_monthly(series(range(100, 1300, 100), start="2020-03"))  # same values, other months
    assert f._backtest.cache_info().hits == hits + 1 and again["month"].iloc[0] == "2021-03"


@pytest.mark.parametrize("history, horizon, message", [
    (series(range(11)), 3, "at least 12"),
    (pd.Series(range(12), index=months(11) + ["2026-03"], dtype=float), 3, "consecutive"),
    (pd.Series(range(12), index=[f"m{i}" for i in range(12)], dtype=float), 3, "YYYY-MM"),
    (series([1.0] * 11 + [np.nan]), 3, "non-finite"),
    (series(range(12)), 0, "horizon"),
])
def test_bad_input(history, horizon, message):
    with pytest.raises(ValueError, match=message):
        f.forecast_monthly(history, horizon)


def record(**kw) -> f.ForecastRecord:
    base = dict(method="mean3+ets_trend", parts=("mean3", "ets_trend"),
                mase={"naive": 1.4, "mean3": 1.0, "ets_trend": 1.1, "seasonal_naive": 1.0, "mean3+ets_trend": 1.0},
                origins=21, months=24, error_low=80_000.0, error_high=200_000.0, error_low_pct=8.0, error_high_pct=20.0,
                mape_pct=None, vs={"naive": 1.4, "seasonal_naive": 1.02}, half_width=(1.0, 2.0, 3.0))
    return f.ForecastRecord(**{**base, **kw})


def test_record_in_words_ru_and_en():
    from b24reports.views.dynamics import forecast_record_md

    ru = forecast_record_md(record(), "ru", "RUB").replace("\u00a0", " ")
    assert "История портала — 24 месяца (на графике — последние 18 месяцев). Мы 21 раз строили прогноз задним числом" in ru
    assert "Прогноз — среднее лучших из них: «среднее за 3 месяца», «сглаживание с трендом»." in ru
    assert "на 8–20 % от среднего месяца (80 000 ₽–200 000 ₽)" in ru
    assert "в 1,4 раза точнее, чем «как в прошлом месяце»; «как год назад» — не точнее и не хуже." in ru
    assert "Среднюю ошибку в процентах от факта не показываем" in ru
    assert "MAPE" not in ru and "MASE" not in ru   # the codes are in docs/metrics.md only
    en = forecast_record_md(record(), "en", "RUB").replace("\u00a0", " ")
    assert "The portal has 24 months of history (the chart shows the last 18 months). We went back 21 times" in en
    assert "8–20% of an average month (RUB 80,000–RUB 200,000)" in en
    assert "1.4 times as accurate as \u201csame as last month\u201d; \u201csame month last year\u201d — about as accurate." in en
    # plural forms and the other comparisons: 21 месяц, 2 раза; naive chosen alone; no seasonal rule;
    # MAPE shown when every month scored was large enough
    one = record(method="naive", parts=("naive",), months=21, origins=2, vs={"naive": 1.0, "seasonal_naive": None},
                 mape_pct=12.4)
    ru = forecast_record_md(one, "ru").replace("\u00a0", " ")
    assert "История портала — 21 месяц (на графике — последние 18 месяцев). Мы 2 раза строили" in ru
    assert "Лучше всех показал себя способ «как в прошлом месяце», он и даёт прогноз." in ru
    assert "«как в прошлом месяце» — это и есть выбранный способ; «как год назад» — истории слишком мало" in ru
    assert "Средняя ошибка прогноза на проверке — 12 % от фактической суммы месяца." in ru
    assert "MAPE" not in ru and "MASE" not in forecast_record_md(one, "en")
    worse = forecast_record_md(record(vs={"naive": 1.2, "seasonal_naive": 0.8}), "ru").replace("\u00a0", " ")
    assert "«как год назад» на истории был точнее в 1,2 раза" in worse  # 1 / 0.8 = 1.25 → 1,2 (half to even)
    assert "(25 месяцев)" not in worse and "25 месяцев" in forecast_record_md(record(months=25), "ru").replace("\u00a0", " ")


def test_band_is_never_narrower_for_a_later_month_and_the_text_does_not_promise_it_widens():
    """Alternating 100, 200: the chosen forecast misses by the same amount one, two and three
    months ahead, so the three bands are equal (100–266.67). The record's words must not say the
    band widens (the demo reader saw «Чем дальше месяц, тем она шире» over three equal bands)."""
    from b24reports.core.i18n import t

    fc = f.forecast_monthly(series([100, 200] * 7))
    widths = (fc["upper_80"] - fc["lower_80"]).tolist()
    assert widths == pytest.approx([166.6667] * 3, abs=1e-3)
    assert all(b >= a for a, b in zip(widths, widths[1:]))
    for lang, word in (("ru", "шире"), ("en", "widens")):
        assert word not in t("fc_band", lang)
    assert "не уже" in t("fc_band", "ru") and "never narrower" in t("fc_band", "en")
