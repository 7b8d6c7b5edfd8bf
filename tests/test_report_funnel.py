"""Funnel report end to end: views on hand-made data, and renders on the session's demo store."""

import datetime as dt
import json
import re

import openpyxl
import pytest

from b24reports.outputs import render
from b24reports.metrics.scope import Scope

from b24reports import reports
from b24reports.metrics import funnel as m
from b24reports.views import funnel as v

from test_metrics_funnel import JAN, ds

LABELS = {"stage_id": {"NEW": "Новая", "WON": "Успех"}, "employee_id": {7: "Анна", 8: "Борис", 9: "Вера"}}


@pytest.fixture(scope="module")
def hand_tables():
    tables, _, _ = m.report_tables(ds(), Scope.build(ds(), **JAN))
    return tables


# ------------------------------------------------------------------ views on the hand-made data
# (deals and expected values: see tests/test_metrics_funnel.py)


def test_funnel_chart_draws_reached_with_conversions(hand_tables):
    fig = v.funnel_chart(hand_tables["stages"], 0, LABELS, "en")
    tr = fig.data[0]
    assert list(tr.x) == [5, 4, 3, 1]                      # reached NEW, PREP, INVOICE, WON
    assert list(tr.y) == ["Новая", "PREP", "INVOICE", "Успех"]  # labels where known, else the code
    assert tr.text[0] == "5 · 71.4%" and tr.hovertext[0] == "5 · 71.4% of created"  # 5/7 of the cohort deals
    assert tr.text[1] == "4 · 80.0%" and tr.hovertext[1] == "4 · 80.0% of previous"  # words in the hover
    assert v.funnel_chart(hand_tables["stages"], 5, LABELS, "en") is None  # no such pipeline


def test_current_stage_chart_colors_won_and_lost(hand_tables):
    fig = v.current_stage_chart(hand_tables["stages"], 0, None, "ru")
    assert list(fig.data[0].y) == [1, 1, 1, 1, 3]
    colors = list(fig.data[0].marker.color)
    assert colors[3] == v.OUTCOME_COLORS["won"] and colors[4] == v.OUTCOME_COLORS["lost"]
    assert colors[0] == v.OUTCOME_COLORS["open"]


def test_managers_chart_and_kpis(hand_tables):
    fig = v.managers_chart(hand_tables["managers"], LABELS, "ru")
    # ascending for horizontal bars: largest (Вера 180) drawn on top
    assert list(fig.data[0].y) == ["Борис", "Анна", "Вера"]
    assert list(fig.data[0].x) == [0.0, 100.0, 180.0]
    # deals 3 + 3 + 2 = 8; won 1 + 0 + 1 = 2; amount 100 + 180 = 280; win rate 2 / (2 + 3 lost) = 40.0
    assert [x[1] for x in v.kpis(hand_tables["managers"], "en")] == [8, 2, 280.0, 40.0]


def test_heatmap_matrix_in_stage_order(hand_tables):
    fig = v.manager_stage_heatmap(hand_tables["manager_stages"], hand_tables["stages"], 0, LABELS, "ru")
    hm, closed = fig.data
    assert list(hm.x) == ["Новая", "PREP", "INVOICE", "Успех", "LOSE"]
    assert list(hm.y) == ["Анна", "Борис", "Вера"]
    # Анна: WON 1, LOSE 2; Борис: NEW, PREP, INVOICE 1 each; Вера: LOSE 1 (deal 8).
    # The open stages on their own scale (max 1: Борис's cells), the won/lost columns on
    # another (max 2: Анна's LOSE), so the closed pile does not flatten the open stages.
    assert [list(r) for r in hm.z] == [[0, 0, 0, None, None], [1, 1, 1, None, None], [0, 0, 0, None, None]]
    assert [list(r) for r in closed.z] == [[None, None, None, 1, 2], [None, None, None, 0, 0], [None, None, None, 0, 1]]
    assert (hm.zmax, closed.zmax) == (1, 2)
    assert hm.colorscale[-1][1] != closed.colorscale[-1][1]   # blue vs grey


def test_cycle_histogram_splits_won_and_lost(hand_tables):
    fig = v.cycle_histogram(hand_tables["deals"], hand_tables["stages"], "en")
    # won: deal 1 (10.0), deal 5 (10.0); lost: deals 10 (1.0), 8 (2.0), 2 (7.0)
    # 5-day bins from 0 (shortest 1.0) to 15 (longest 10.0): [0,5) [5,10) [10,15), centred at 2.5, 7.5, 12.5
    by_name = {t.name: (list(t.x), list(t.y), list(t.customdata)) for t in fig.data}
    assert by_name == {"Won": ([2.5, 7.5, 12.5], [0, 0, 2], ["0–5", "5–10", "10–15"]),
                       "Lost": ([2.5, 7.5, 12.5], [2, 1, 0], ["0–5", "5–10", "10–15"])}
    assert fig.layout.barmode == "stack" and fig.data[0].width == 5


def test_time_in_stage_chart_skips_unvisited(hand_tables):
    fig = v.time_in_stage_chart(hand_tables["time_in_stage"], None, "en")
    assert [list(t.y) for t in fig.data] == [["NEW", "PREP", "INVOICE"]]  # C1:NEW had no visit
    assert list(fig.data[0].x) == [15.4, 19.5, 9.2]  # horizontal bars (issue 20: stage names whole)


def test_deals_by_amount_open_first(hand_tables):
    # open: 4 (900), 9 (40), 3 (0); closed: 5 (180), 1 (100), 2 (50), 8 (30), 10 (20)
    assert v.deals_by_amount(hand_tables["deals"])["id"].tolist() == [4, 9, 3, 5, 1, 2, 8, 10]


def test_deals_by_amount_ties_by_id_and_missing_amount_last():
    import pandas as pd

    # all open: 5 (ids 2 and 7, by id), then 1, then the deal without an amount; closed 9 after them
    d = pd.DataFrame({"id": [7, 3, 2, 4, 9], "amount": [5.0, None, 5.0, 1.0, 100.0],
                      "closed_at": pd.to_datetime([None, None, None, None, "2026-01-02"])})
    assert v.deals_by_amount(d)["id"].tolist() == [2, 7, 4, 3, 9]


def test_views_on_empty_tables_give_none():
    tables, _, _ = m.report_tables(ds(), Scope.build(ds(), date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 1, 31), as_of=JAN["as_of"]))
    assert v.pipelines_of(tables["stages"]) == []
    assert v.managers_chart(tables["managers"]) is None
    assert v.cycle_histogram(tables["deals"], tables["stages"]) is None
    assert v.time_in_stage_chart(tables["time_in_stage"]) is None
    assert v.manager_stage_heatmap(tables["manager_stages"], tables["stages"], 0) is None
    assert [x[1] for x in v.kpis(tables["managers"], "ru")] == [0, 0, 0.0, None]


# ------------------------------------------------------------------ end to end on the demo store


@pytest.fixture(scope="module")
def demo_params(demo_as_of):
    return {"date_from": "2025-12-01", "date_to": "2026-11-30", "as_of": demo_as_of}


def test_render_json_and_xlsx(demo_store, demo_dataset, demo_params, tmp_path):
    out = render.render_report("funnel", demo_store, demo_params, tmp_path, formats="json,xlsx",
                               generated_at=dt.datetime(2026, 11, 30, 10, tzinfo=dt.timezone.utc), dataset=demo_dataset)
    doc = json.loads(out["json"].read_text(encoding="utf-8"))
    assert list(doc) == ["report", "portal", "params", "as_of", "generated_at", "warnings", "tables"]
    assert doc["report"] == "funnel" and doc["as_of"] == demo_params["as_of"]
    assert doc["portal"].startswith("http://127.0.0.1:") and "/rest/" not in doc["portal"]
    spec = reports.get("funnel")
    assert list(doc["tables"]) == list(m.TABLES)
    for tid, rows in doc["tables"].items():
        assert rows, f"table {tid} is empty on the demo portal"
        assert all(list(r) == spec.tables[tid].columns for r in rows)
    t = doc["tables"]
    deals = t["deals"]
    assert all(isinstance(r["id"], int) and isinstance(r["employee_id"], int) for r in deals)
    assert all(r["url"] == f"{doc['portal']}/crm/deal/details/{r['id']}/" for r in deals)
    # every cohort deal is in exactly one stage and belongs to one manager
    assert sum(r["current_deals"] for r in t["stages"]) == len(deals)
    assert sum(r["deals"] for r in t["managers"]) == len(deals)
    assert sum(r["current_deals"] for r in t["manager_stages"]) == len(deals)
    assert round(sum(r["current_amount"] for r in t["stages"]), 2) == round(sum(r["amount"] for r in deals), 2)
    # reached never grows along a progress path; at the won stage (its end) reached = deals now there,
    # and those are the managers' won deals
    won_at_stage = 0
    for pid in {r["pipeline_id"] for r in t["stages"]}:
        path = [r for r in t["stages"] if r["pipeline_id"] == pid and r["reached"] is not None]
        assert [r["reached"] for r in path] == sorted((r["reached"] for r in path), reverse=True)
        assert path[-1]["reached"] == path[-1]["current_deals"]
        won_at_stage += path[-1]["current_deals"]
    assert won_at_stage == sum(r["won_deals"] for r in t["managers"]) > 0

    wb = openpyxl.load_workbook(out["xlsx"])
    assert wb.sheetnames[:len(m.TABLES)] == [render.xlsx_sheet_names(spec, "ru")[tid] for tid in m.TABLES]  # + an "about" sheet
    headers = [c.value for c in wb["Стадии"][1]]
    assert "Стадия" in headers and "Конверсия в выигрыш, %" in headers
    assert wb["Сделки"].max_row == len(deals) + 1


def test_empty_opportunity_warned_by_id(demo_dataset, demo_as_of):
    # the demo portal has a deal with empty OPPORTUNITY: a period around its creation warns by id
    d = demo_dataset.deals
    empty = d[d["opportunity"].isna()]
    assert len(empty) >= 1
    deal_id, created = int(empty["id"].iloc[0]), empty["date_create"].iloc[0].date()
    result = reports.get("funnel").run(demo_dataset, {"date_from": created.isoformat(), "date_to": created.isoformat(),
                                                      "as_of": demo_as_of})
    assert deal_id in result.tables["deals"]["id"].tolist()
    assert any("OPPORTUNITY" in w and str(deal_id) in w.split(": ", 1)[1].split(", ") for w in result.warnings)


def test_metrics_json_repeatable(demo_dataset, demo_params):
    spec = reports.get("funnel")
    a = spec.run(demo_dataset, demo_params).metrics_json_text("X")
    b = spec.run(demo_dataset, demo_params).metrics_json_text("X")
    assert a == b


def test_render_html_offline_with_charts(demo_store, demo_dataset, demo_params, tmp_path):
    out = render.render_report("funnel", demo_store, {**demo_params, "lang": "en"}, tmp_path, formats="html",
                               dataset=demo_dataset)
    html = out["html"].read_text(encoding="utf-8")
    assert "Sales funnel" in html and "Stages × managers" in html
    assert html.count('class="plotly-graph-div"') >= 6          # funnels, bars, heatmaps, histogram
    # offline: no script or stylesheet fetched from the network (plotly.js is inlined)
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?://", html)
    assert "Traceback" not in html
