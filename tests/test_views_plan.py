"""The plan page during the month (issue 20): a month that has not started shows no 0,0 %;
the reverse funnel's stage needs are one small table per pipeline for the current month, not a
list of every person × pipeline × stage × month."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

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
