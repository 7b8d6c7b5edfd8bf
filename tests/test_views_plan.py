"""The plan page during the month (issue 20): a month that has not started shows no 0,0 %;
the reverse funnel's stage needs are one small table per pipeline for the current month, not a
list of every person × pipeline × stage × month."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pandas as pd
import pytest
from b24reports.views import plan as v

LABELS = {"employee_id": {1: "Иванова Анна", 2: "Петров Пётр"}, "department_id": {7: "Продажи"},
          "pipeline_id": {0: "Общая", 1: "Дилеры"},
          "stage_id": {"NEW": "Новая", "WON": "Успех", "C1:NEW": "Новая заявка", "C1:WON": "Отгружено"}}


def _result():
    pf = pd.DataFrame({
        "line": [2, 3, 4], "month": ["2026-12", "2026-12", "2027-01"],
        "employee_id": pd.array([1, 2, 1], dtype="Int64"), "department_id": pd.array([None] * 3, dtype="Int64"),
        "completion_pct": [25.0, 0.0, 0.0], "deals_completion_pct": [50.0, 0.0, 0.0],
        "projection": [900_000.0, 0.0, 0.0], "needed_per_day": [10_000.0, 40_000.0, 30_000.0],
    })
    rows = []
    for line, month, emp, needs in ((2, "2026-12", 1, (8, 2, 6, 2)), (3, "2026-12", 2, (12, 3, 9, 3)),
                                    (4, "2027-01", 1, (20, 5, 15, 5))):
        for (pid, sid), n in zip(((0, "NEW"), (0, "WON"), (1, "C1:NEW"), (1, "C1:WON")), needs):
            rows.append({"line": line, "month": month, "employee_id": emp, "department_id": None,
                         "pipeline_id": pid, "stage_id": sid, "needed_at_stage": n})
    return SimpleNamespace(tables={"plan_fact": pf, "required_stages": pd.DataFrame(rows)},
                           as_of=pd.Timestamp("2026-12-06 12:00", tz="+03:00"))


def test_a_month_not_started_shows_dashes_not_zero_percent():
    res = _result()
    shown = v.plan_fact_display(res)
    jan = shown[shown["month"] == "2027-01"].iloc[0]
    assert all(jan[c] is None for c in ("completion_pct", "deals_completion_pct", "projection", "needed_per_day"))
    dec = shown[shown["month"] == "2026-12"]
    assert dec["completion_pct"].tolist() == [25.0, 0.0] and dec["projection"].tolist() == [900_000.0, 0.0]
    assert res.tables["plan_fact"]["completion_pct"].tolist() == [25.0, 0.0, 0.0]  # the result is untouched


def test_stage_needs_are_a_small_grid_per_pipeline_for_this_month():
    html = v.stage_needs_html(_result(), "ru", LABELS)
    assert html.count("<table") == 2  # one per pipeline
    assert "Воронка «Общая»: сколько сделок должно дойти до стадии, если все нужные выигрыши пойдут через неё, 2026-12" in html
    assert "<th>Кто</th><th>Новая</th><th>Успех</th>" in html
    # the larger need first; January (line 4) is not on the page
    assert html.index("<td>Петров Пётр</td><td class=\"num\">12</td><td class=\"num\">3</td>") < \
        html.index("<td>Иванова Анна</td><td class=\"num\">8</td><td class=\"num\">2</td>")
    assert ">20<" not in html and ">15<" not in html


def _plan_result():
    from types import SimpleNamespace

    import pandas as pd

    pf = pd.DataFrame({
        "month": ["2026-11"] * 3,
        "employee_id": pd.array([1, 2, None], dtype="Int64"),
        "department_id": pd.array([None, None, 7], dtype="Int64"),
        "plan_amount": [1_000_000.0, 500_000.0, 15_000_000.0],
        "fact_amount": [840_000.0, 600_000.0, 1_440_000.0],
        "completion_pct": [84.0, 120.0, 9.6],
        "projection": [1_100_000.0, 650_000.0, 1_750_000.0],
    })
    return SimpleNamespace(tables={"plan_fact": pf}, as_of=dt.datetime(2026, 11, 30, 12))


def test_plan_chart_labels_right_of_the_marker_and_department_in_its_own_panel():
    from b24reports.views.plan import plan_fact_chart

    labels = {"employee_id": {1: "Иванова Анна", 2: "Петров Пётр"}, "department_id": {7: "Продажи"}}
    fig = plan_fact_chart(_plan_result(), "ru", labels)
    texts = [tr for tr in fig.data if tr.type == "scatter" and tr.mode == "text"]
    assert len(texts) == 2
    people, dept = texts
    # rows bottom-up: Петров (plan 500k, fact 600k, projection 650k), Иванова (1M, 840k, 1.1M)
    assert list(people.y) == ["Петров Пётр", "Иванова Анна"]
    # each marker (650k, 1.1M) sits within 12 % of the axis top (1.1M) right of its bar's end
    # (600k, 1M): the label starts past it
    assert list(people.x) == [650_000.0, 1_100_000.0]
    assert list(people.text) == ["\u2002120\u00a0%", "\u200284\u00a0%"] and people.textposition == "middle right"
    assert not any(getattr(tr, "text", None) for tr in fig.data if tr.type == "bar")  # no label under the marker
    # the department (plan 15M) has its own panel and axis: the managers' axis ends at 1.1M × 1.18
    assert list(dept.y) == ["Продажи (отдел)"] and dept.xaxis == "x2" and list(dept.text) == ["\u200210\u00a0%"]
    assert tuple(fig.layout.xaxis.range) == pytest.approx((0, 1_298_000.0))
    assert tuple(fig.layout.xaxis2.range) == pytest.approx((0, 17_700_000.0))
    # same bar thickness in both panels: domain height per row equal (2 manager rows, 1 department row)
    d1, d2 = fig.layout.yaxis.domain, fig.layout.yaxis2.domain
    assert (d1[1] - d1[0]) / 2 == pytest.approx(d2[1] - d2[0], rel=1e-6)
    assert fig.layout.height == 34 * 3 + 140 + 70


def test_plan_chart_without_department_row_is_one_panel():
    from b24reports.views.plan import plan_fact_chart

    res = _plan_result()
    res.tables["plan_fact"] = res.tables["plan_fact"].iloc[:2]
    fig = plan_fact_chart(res, "en", {})
    assert "xaxis2" not in fig.layout and fig.layout.height == 300  # max(300, 34 × 2 + 140)
    assert [list(tr.text) for tr in fig.data if tr.type == "scatter" and tr.mode == "text"] == [["\u2002120%", "\u200284%"]]  # English: "120%", as the tables


def test_headline_note_says_the_department_plan_is_not_added(demo_dataset, demo_as_of, tmp_path):
    """The demo's plan file has the employees' rows and one department row (the sum of its people):
    the cards add the employees' plans, and a sentence names the department plan that is not added."""
    from b24reports import reports
    from b24reports.demo.plan import demo_plan
    from b24reports.outputs.nb import ReportView
    from b24reports.views import plan as v

    plan = demo_plan(demo_dataset, demo_as_of, tmp_path / "plan.csv")
    res = reports.get("plan").run(demo_dataset, {"as_of": demo_as_of, "plan": str(plan)})
    labels = ReportView(res, demo_dataset).labels
    note = v.headline_note(res, "ru", labels)
    pf = res.tables["plan_fact"]
    month = v.current_month(res)
    dep = pf[(pf["month"] == month) & pf["employee_id"].isna() & pf["department_id"].notna()].iloc[0]
    name = labels["department_id"][int(dep["department_id"])]
    assert note.startswith("Карточки складывают планы сотрудников.")
    assert f"«{name}» — " in note and "не прибавляются" in note
    # an English page quotes the English way (a sixth reader found «Продажи Москва», «Plan vs fact»)
    en = v.headline_note(res, "en", labels)
    assert f"\u201c{name}\u201d — " in en and en.endswith("row of \u201cPlan vs fact\u201d.")
    assert "«" not in en and "»" not in en
    # a plan of employees only needs no note
    only = res.tables["plan_fact"]
    res.tables["plan_fact"] = only[only["employee_id"].notna()]
    assert v.headline_note(res, "ru", labels) is None


def test_reverse_funnel_names_the_base_of_each_chain():
    """The leads bar and the stage bars have different bases (metrics.plan.required): leads =
    needed won × deals per won ÷ lead conversion, whole team and all pipelines; a stage = needed
    won ÷ its conversion to won in one pipeline. The second reader read 222 leads → 66 deals as a
    conversion the page never gave. Deals per won with the digits of the table beside it (1). Line 2 needs 2 wins: 2 × 3,25 ÷ 25 % = 26 leads; pipeline 0's
    stages 8 and 2."""
    res = _result()
    res.tables["required"] = pd.DataFrame({
        "line": [2, 3], "month": ["2026-12", "2026-12"], "employee_id": pd.array([1, 2], dtype="Int64"),
        "department_id": pd.array([None, None], dtype="Int64"), "gap": [500_000.0, 100_000.0],
        "needed_won": [2, 1], "deals_per_won": [3.25, 3.25], "lead_conversion_pct": [25.0, 25.0],
        "needed_leads": [26, 13], "needed_calls": [40, 20]})
    fig = v.reverse_funnel_chart(res, None, "ru", LABELS)
    f = fig.data[0]
    assert list(f.y) == ["Лиды, если все сделки из лидов", "Новая", "Успех"] and list(f.x) == [26, 8, 2]
    assert fig.layout.title.subtitle.text.replace("\xa0", " ").split("<br>") == [
        "Иванова Анна · 2026-12 · воронка «Общая» · Звонки: 40",
        "Лиды: 2 выигрыша × 3,2 сделки на выигрыш ÷ конверсия лидов 25,0 % (округлены) — вся команда, все воронки",
        "Стадии: 2 выигрыша ÷ конверсия стадии в выигрыш — воронка «Общая»"]
    en = v.reverse_funnel_chart(res, 3, "en", LABELS)
    assert en.data[0].y[0] == "Leads if every deal came from a lead"
    assert en.layout.title.subtitle.text.replace("\xa0", " ").split("<br>")[1] == (
        "Leads: 1 win × 3.2 deals per win ÷ lead conversion 25.0% (rounded): whole team, all pipelines")  # as the cards: 25.0%
