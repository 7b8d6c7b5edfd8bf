"""End-to-end: the dynamics report from the session's demo store (json + xlsx through render)."""

import datetime as dt
import json

import openpyxl

from b24reports import reports

from b24reports.outputs import render

GEN = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)


def test_dynamics_renders_json_and_xlsx(demo_store, demo_dataset, demo_as_of, tmp_path):
    out = render.render_report("dynamics", demo_store, {"as_of": demo_as_of}, tmp_path, ("json", "xlsx"), GEN,
                               dataset=demo_dataset)
    text = out["json"].read_text(encoding="utf-8")
    doc = json.loads(text)
    spec = reports.get("dynamics")
    assert doc["report"] == "dynamics" and doc["as_of"] == demo_as_of and "/rest/" not in text
    assert list(doc["tables"]) == list(spec.tables)
    for tid, rows in doc["tables"].items():
        for row in rows[:50]:
            assert list(row) == spec.tables[tid].columns, tid
    t = doc["tables"]
    # default period: the 12 full months before as_of's month, every bucket present
    assert [r["period"] for r in t["won_by_period"]][0] == "2025-11" and len(t["won_by_period"]) == 12
    # per-manager rows add up to the team per bucket
    for b in t["won_by_period"]:
        emp = [r for r in t["won_by_period_employee"] if r["period"] == b["period"]]
        assert sum(r["won_deals"] for r in emp) == b["won_deals"]
        assert abs(sum(r["won_amount"] for r in emp) - b["won_amount"]) < 0.05
    # weighted ≤ amount; overdue bucket first; deals = open deals of velocity
    fp = t["forecast_pipeline"]
    assert all(r["weighted_amount"] <= r["amount"] + 0.01 for r in fp) and fp[0]["month"] == "overdue"
    assert sum(r["deals"] for r in fp) == t["velocity"][0]["open_deals"]
    rr = t["run_rate"][0]
    assert rr["month"] == "2026-11" and rr["elapsed_days"] == 29.5 and rr["days_in_month"] == 30
    assert rr["run_rate"] == round(rr["won_amount_mtd"] / 29.5 * 30, 2) or abs(rr["run_rate"] - rr["won_amount_mtd"] / 29.5 * 30) < 0.01
    # 30 months of demo history → the model forecast is shown, 3 months from as_of's month, with its MAPE
    ft = t["forecast_trend"]
    assert [r["month"] for r in ft] == ["2026-11", "2026-12", "2027-01"]
    assert all(r["lower_80"] <= r["forecast"] <= r["upper_80"] for r in ft) and ft[0]["mape_pct"] is not None
    # its record: every method tried with its backtest MASE; the forecast = the mean of the best 3
    # (a `combination` row) or the best alone
    fb = t["forecast_backtest"]
    tried = [r for r in fb if r["method"] != "combination"]
    assert [r["method"] for r in tried] == ["naive", "mean3", "seasonal_naive", "seasonal_level", "ets_trend", "ets_seasonal"]
    chosen = sorted(tried, key=lambda r: r["mase"])
    if fb[-1]["method"] == "combination":
        assert {r["method"] for r in tried if r["in_forecast"]} == {r["method"] for r in chosen[:3]}
    else:
        assert [r["method"] for r in tried if r["in_forecast"]] == [chosen[0]["method"]]
    assert any("empty OPPORTUNITY" in w for w in doc["warnings"])
    wb = openpyxl.load_workbook(out["xlsx"], read_only=True)
    assert set(render.xlsx_sheet_names(spec, "ru").values()) <= set(wb.sheetnames)


def test_dynamics_repeatable_and_quarters(demo_dataset, demo_as_of):
    spec = reports.get("dynamics")
    a = spec.run(demo_dataset, {"as_of": demo_as_of}).metrics_json_text(GEN)
    b = spec.run(demo_dataset, {"as_of": demo_as_of}).metrics_json_text(GEN)
    assert a == b
    q = spec.run(demo_dataset, {"as_of": demo_as_of, "granularity": "quarter"})
    assert q.tables["won_by_period"]["period"].tolist() == ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]


def test_dynamics_html_shows_the_forecast_record(demo_store, demo_dataset, demo_as_of, tmp_path):
    """The notebook shows the forecast's record in words (issue 17), in the report language."""
    import html as html_lib

    spec = reports.get("dynamics")
    res = spec.run(demo_dataset, {"as_of": demo_as_of, "lang": "en"})
    rec = res.notes["forecast_record"]
    out = render.render_report("dynamics", demo_store, {"as_of": demo_as_of, "lang": "en"}, tmp_path, ("html",), GEN,
                               dataset=demo_dataset)
    page = html_lib.unescape(out["html"].read_text(encoding="utf-8")).replace("\u00a0", " ")
    assert (f"The portal has {rec.months} months of history (the chart shows the last {min(rec.months, 18)} months). "
            f"We went back {rec.origins} times") in page
    assert "Typical error" in page and "Against the simple rules:" in page and "How the forecasts differ." in page
    assert "Forecast methods tested on the history" in page and "same month last year" in page
    assert "Model error on 3 months" not in page  # the old 3-month holdout MAPE card is gone
