"""End-to-end: the plan report from the session's demo store with the shipped example plan."""

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pytest

from b24reports import reports

from b24reports.outputs import render
from b24reports.core.errors import PlanFileError

GEN = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)
PLAN = Path(__file__).resolve().parents[1] / "params" / "plan.csv"


def test_plan_renders_json_and_xlsx(demo_store, demo_dataset, demo_as_of, tmp_path):
    out = render.render_report("plan", demo_store, {"as_of": demo_as_of, "plan": str(PLAN)}, tmp_path, ("json", "xlsx"),
                               GEN, dataset=demo_dataset)
    text = out["json"].read_text(encoding="utf-8")
    doc = json.loads(text)
    spec = reports.get("plan")
    assert doc["report"] == "plan" and list(doc["tables"]) == list(spec.tables) and "/rest/" not in text
    for tid, rows in doc["tables"].items():
        for row in rows[:50]:
            assert list(row) == spec.tables[tid].columns, tid
    t = doc["tables"]
    # the example's 10 rows all count (demo ids); employee 12 is the demo's dismissed manager
    assert len(t["plan_fact"]) == 10 and t["plan_errors"] == []
    assert any("employee 12 is dismissed" in w for w in doc["warnings"])
    for r in t["plan_fact"]:
        assert r["gap"] == round(max(r["plan_amount"] - r["fact_amount"], 0), 2)
        if r["plan_amount"]:
            assert r["completion_pct"] == round(100 * r["fact_amount"] / r["plan_amount"], 1)
    # a December row (future month): no fact, gap = plan, 31 days left
    dec = next(r for r in t["plan_fact"] if r["month"] == "2026-12" and r["employee_id"] == 6)
    assert dec["fact_amount"] == 0 and dec["projection"] is None and dec["remaining_days"] == 31.0
    # reverse funnel: one required row per plan row, stages per plan row × pipeline × path stage
    assert [r["line"] for r in t["required"]] == [r["line"] for r in t["plan_fact"]]
    for r in t["required"]:
        if r["needed_won"] and r["avg_won_amount"]:
            assert r["needed_won"] >= r["gap"] / r["avg_won_amount"]
    team = t["mtd_compare"][0]
    assert team["employee_id"] is None and team["mtd_deals"] == sum(r["mtd_deals"] for r in t["mtd_compare"][1:])
    wb = openpyxl.load_workbook(out["xlsx"], read_only=True)
    assert set(render.xlsx_sheet_names(spec, "ru").values()) <= set(wb.sheetnames)
    # plan reads no period: its "about" sheet names none (it used to show the default 12 months)
    about = [str(r[0]) for r in wb[wb.sheetnames[-1]].iter_rows(values_only=True) if r[0]]
    assert "Отчёт" in about and "Данные на" in about and not any("Период" in a or "Дата с" in a for a in about)


def test_plan_missing_file_is_a_clear_error(demo_dataset, demo_as_of, tmp_path):
    with pytest.raises(PlanFileError, match="does not exist"):
        reports.get("plan").run(demo_dataset, {"as_of": demo_as_of, "plan": str(tmp_path / "nope.csv")})


def test_plan_html_names_the_whole_team_row(demo_store, demo_dataset, demo_as_of, tmp_path):
    """The notebook's tables (nb.table) tell table_html which table they show, so the team row of
    "Этот месяц против прошлого" (mtd_compare's first row, no employee) reads «Вся команда»."""
    out = render.render_report("plan", demo_store, {"as_of": demo_as_of, "plan": str(PLAN)}, tmp_path, ("html",),
                               GEN, dataset=demo_dataset)
    assert out["html"].read_text(encoding="utf-8").count("<td>Вся команда</td>") == 1


def test_remaining_days_read_as_whole_days():
    """``remaining_days`` is a count of calendar days (metrics.plan): shown "31", not "31,0", and
    written to metrics.json as 31."""
    import pandas as pd

    from b24reports.core.columns import kind_of
    from b24reports.reports import json_value
    from b24reports.views.common import table_html

    assert kind_of("remaining_days") == "int" and json_value(31.0, kind_of("remaining_days")) == 31
    html = table_html(pd.DataFrame({"remaining_days": [31.0, 1.0, 0.0]}), ["remaining_days"], "ru", "RUB")
    cells = [c.split(">")[-1] for c in html.split("</td>")[:-1]]
    assert cells == ["31", "1", "0"]
