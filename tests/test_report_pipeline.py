"""The pipeline report end to end on the demo portal that lived a week (fixture ``demo_week_store``):
the waterfall adds up with every step present, the dynamics slips are filled, the page speaks
ru and en, filters and a click on a waterfall step refilter a live dashboard, and a store
without history says so instead of showing zeros."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from b24reports.outputs import dashboard as d
from b24reports import reports
from b24reports.ingest.dataset import Dataset
from b24reports.core.errors import BadParameter


@pytest.fixture(scope="module")
def week(demo_week_store):
    return Dataset.load(demo_week_store)


@pytest.fixture(scope="module")
def result(week, demo_as_of):
    return reports.get("pipeline").run(week, {"as_of": demo_as_of})


def test_demo_waterfall_adds_up_with_every_step(result):
    w = result.tables["waterfall_total"]
    amounts = dict(zip(w["step"], w["amount"]))
    steps = [s for s in amounts if s not in ("start", "end")]
    assert amounts["start"] + sum(amounts[s] for s in steps) == pytest.approx(amounts["end"], abs=1e-6)
    counts = dict(zip(w["step"], w["deals"]))
    assert all(counts[s] > 0 for s in steps), counts  # every step has deals in the demo week
    # the per-pipeline waterfalls add up too, and to the total
    for _pid, g in result.tables["waterfall"].groupby("pipeline_id"):
        a = dict(zip(g["step"], g["amount"]))
        assert a["start"] + sum(a[s] for s in steps) == pytest.approx(a["end"], abs=1e-6)
    changes = set(result.tables["deals"]["change"])
    assert {"new", "won", "lost", "slipped", "advanced", "moved_back", "amount_up", "amount_down", "owner_changed",
            "unchanged"} <= changes
    assert result.notes["history_start"] == result.notes["t0"] and len(result.notes["syncs"]) == 2


def test_demo_dynamics_slips_are_filled(week, demo_as_of):
    slips = reports.get("dynamics").run(week, {"as_of": demo_as_of}).tables["close_date_slips"]
    assert len(slips) > 0 and (slips["slips"] >= 2).all()


def test_metrics_json_is_repeatable_and_typed(result, week, demo_as_of):
    a = result.to_metrics_json(generated_at="x")
    b = reports.get("pipeline").run(week, {"as_of": demo_as_of}).to_metrics_json(generated_at="x")
    assert json.dumps(a, ensure_ascii=False) == json.dumps(b, ensure_ascii=False)
    row = next(r for r in a["tables"]["deals"] if r["change"] == "slipped")
    assert isinstance(row["id"], int) and row["slip_days"] > 0 and row["changes"][0] == "slipped"
    assert row["sync_before"] < row["sync_after"] and row["url"].endswith(f"/crm/deal/details/{row['id']}/")


def test_page_text_in_both_languages(result):
    from b24reports.views import pipeline as v

    ru, en = v.history_text(result, "ru"), v.history_text(result, "en")
    # the pairs of syncs once, after the words that name them (a reader read «между синхронизациями:
    # между синхронизациями 30.11 и 04.12»)
    assert "только между синхронизациями: 23.11 и 27.11; 27.11 и 30.11." in ru
    assert "only between two syncs: Nov 23 and Nov 27; Nov 27 and Nov 30." in en
    # the measured pipeline keeps deals whose expected close date has passed (METRICS.md pipeline):
    # the headline says so (a reader took the amount for deals still ahead)
    assert v.summary_text(result, "ru").startswith("Открытая воронка с ожидаемым закрытием до 31.12.2026, просроченные тоже: ")
    assert v.summary_text(result, "en").startswith("Open pipeline expected to close by Dec 31, 2026, overdue ones included: ")
    assert "OPPORTUNITY" not in ru + en


def test_change_text_plurals():
    from b24reports.views.pipeline import change_text

    row = {"changes": ["slipped", "advanced"], "stages_moved": 1, "slip_days": 21, "closedate_from": dt.date(2026, 12, 1),
           "closedate": dt.date(2026, 12, 22), "sync_before": None, "sync_after": None}
    assert change_text(row, "ru", "RUB", {}) == "дата закрытия позже на 21 день (01.12.2026 → 22.12.2026); продвинулась на 1 стадию"
    row.update(changes=["moved_back"], stages_moved=-2)
    assert change_text(row, "ru", "RUB", {}) == "откатилась на 2 стадии"
    assert change_text(row, "en", "RUB", {}) == "moved back 2 stages"


def test_one_sync_store_says_history_starts_later(demo_dataset, demo_as_of):
    """The session's plain demo store was synced once, on the wall clock: a week before as_of
    is before its history, so the report says so and shows no numbers (never zeros)."""
    from b24reports.views import pipeline as v

    r = reports.get("pipeline").run(demo_dataset, {"as_of": demo_as_of})
    assert r.notes["too_early"] and all(len(t) == 0 for t in r.tables.values())
    assert v.summary_text(r, "ru").startswith("Сравнение с 23.11.2026 12:00 невозможно: история версий сделок начинается")
    assert [value for _l, value, _k in v.kpis(r, "ru")] == [None] * 4 and v.waterfall_chart(r, "ru") is None


def test_bad_parameters_name_themselves(week, demo_as_of):
    spec = reports.get("pipeline")
    for raw, name in (({"compare_to": "2027-01-01"}, "compare_to"), ({"compare_to": "soon"}, "compare_to"),
                      ({"horizon": "decade"}, "horizon"), ({"step": "everything"}, "step")):
        with pytest.raises(BadParameter) as e:
            spec.run(week, {"as_of": demo_as_of, **raw})
        assert e.value.name == name


def test_dashboard_filters_and_a_click_on_a_step(week, demo_as_of):
    from b24reports.outputs.nb import ReportView

    spec = reports.get("pipeline")
    dash = d.Dashboard(spec, week, {"as_of": demo_as_of})
    dash.view = ReportView(dash.result, week)
    assert set(d.filter_options(week, spec, "ru")) == {"pipelines", "departments", "employees", "step"}
    # a click on the waterfall's "won" bar: customdata is the step id
    pt = {"kind": "point", "values": ["Выиграны", -7e6, None, "won", "−7 млн ₽", None, None]}
    assert dash.click_target_of(pt) == ("step", "won")
    dash.on_bridge_message(pt)
    deals = dash.result.tables["deals"]
    won = dict(zip(dash.result.tables["waterfall_total"]["step"], dash.result.tables["waterfall_total"]["deals"]))["won"]
    assert set(deals["step"]) == {"won"} and len(deals) == won
    assert dash.result.notes["changed"] == (result_all := spec.run(week, {"as_of": demo_as_of})).notes["changed"] > won
    assert dash.result.tables["waterfall_total"].equals(result_all.tables["waterfall_total"])  # the waterfall stays whole
    assert "step=won" in dash.share_query()
    # pipeline, department and employee refilter like every report
    dash.set_filter("step", None)
    for name, value in (("pipelines", "1"), ("departments", "4"), ("employees", "6")):
        dash.set_filter(name, value)
        want = spec.run(week, {"as_of": demo_as_of, name: value})
        assert dash.result.to_metrics_json(generated_at="x") == want.to_metrics_json(generated_at="x")
        dash.set_filter(name, None)
    dash.set_filter("employees", "6")
    assert set(dash.result.tables["by_employee"]["employee_id"]) <= {6}
    assert set(dash.result.tables["deals"]["employee_id"].dropna()) | set(dash.result.tables["deals"]["employee_from"].dropna()) <= {6} | set(
        dash.result.tables["deals"].loc[dash.result.tables["deals"]["change"] == "owner_changed", "employee_id"].dropna())


def test_render_html_pdf_xlsx_json(demo_week_store, week, demo_as_of, tmp_path):
    from openpyxl import load_workbook

    from b24reports.outputs import render

    files = render.render_report("pipeline", demo_week_store, {"as_of": demo_as_of, "lang": "en"}, tmp_path,
                                 formats="html,xlsx,json", dataset=week)
    page = files["html"].read_text(encoding="utf-8")
    assert "What changed in the pipeline" in page and "between the syncs of" in page and "<script>alert" not in page
    wb = load_workbook(files["xlsx"])
    assert {"Pipeline waterfall", "Waterfall by pipeline", "Deals", "By manager"} <= set(wb.sheetnames), wb.sheetnames
    # the «before» keys carry names beside them, as «Stage» and «Owner» do (a seventh fresh reader saw
    # FINAL_INVOICE and bare ids); every stage code of the store has its name
    ws = wb["Deals"]
    head = [c.value for c in ws[1]]
    assert head[head.index("Stage before code") + 1] == "Stage before"
    assert head[head.index("Owner before ID") + 1] == "Owner before"
    col = {h: i for i, h in enumerate(head)}
    pairs = {(r[col["Stage before code"]], r[col["Stage before"]]) for r in ws.iter_rows(min_row=2, values_only=True)
             if r[col["Stage before code"]] is not None}
    from b24reports.metrics.labels import name_maps

    names = name_maps(week)["stage_id"]  # the deal stages' names the page shows
    assert pairs and all(name == names[code] for code, name in pairs)
    assert ("FINAL_INVOICE", "Финальный счёт") in pairs
    # the About sheet gives times as the page does, in the report's zone (not ISO, not UTC)
    about = dict(wb["About"].iter_rows(min_row=2, max_col=2, values_only=True))
    assert about["Data as of"] == "Nov 30, 2026, 12:00 PM", about
    doc = json.loads(files["json"].read_text(encoding="utf-8"))
    assert doc["report"] == "pipeline" and doc["params"]["compare_to"] == "week" and doc["tables"]["waterfall_total"]


def test_email_headlines(result):
    """The scheduled e-mail's headline numbers: net change of the pipeline, slipped, won, lost deals."""
    from b24reports.outputs.delivery import headline_numbers

    doc = result.to_metrics_json(generated_at="x")
    got = dict((c, v) for c, v, _k in headline_numbers(doc))
    b = result.tables["by_employee"]
    assert got["delta"] == round(result.notes["end"] - result.notes["start"], 2)
    assert (got["slipped_deals"], got["won_deals"], got["lost_deals"]) == (
        int(b["slipped_deals"].sum()), int(b["won_deals"].sum()), int(b["lost_deals"].sum()))


def test_waterfall_axis_starts_at_zero_and_names_the_currency_sign(demo_week_store, demo_as_of):
    """The demo reader read a −6 % change as a fall of a fifth: the axis began near 92 млн. It
    starts at 0 now, and its title says what it measures in the page's currency sign."""
    from b24reports.ingest.dataset import Dataset
    from b24reports.views.pipeline import waterfall_chart

    res = reports.get("pipeline").run(Dataset.load(demo_week_store), {"as_of": demo_as_of})
    fig = waterfall_chart(res, "ru")
    assert fig.layout.xaxis.range[0] == 0.0
    assert fig.layout.xaxis.title.text == "Открытая воронка, ₽"
    assert waterfall_chart(res, "en").layout.xaxis.title.text == "Open pipeline, RUB"
