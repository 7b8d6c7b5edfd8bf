"""End-to-end: the tasks report from the session's demo store (json + xlsx through render)."""

import datetime as dt
import json

import openpyxl

from b24reports import reports

from b24reports.outputs import render

GEN = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)


def test_tasks_renders_json_and_xlsx(demo_store, demo_dataset, demo_as_of, tmp_path):
    out = render.render_report("tasks", demo_store, {"as_of": demo_as_of}, tmp_path, ("json", "xlsx"), GEN, dataset=demo_dataset)
    doc = json.loads(out["json"].read_text(encoding="utf-8"))
    spec = reports.get("tasks")
    assert doc["report"] == "tasks" and doc["as_of"] == demo_as_of
    assert "/rest/" not in out["json"].read_text(encoding="utf-8")  # never the webhook path
    assert list(doc["tables"]) == list(spec.tables)
    for tid, rows in doc["tables"].items():
        for row in rows[:50]:
            assert list(row) == spec.tables[tid].columns
    team = doc["tables"]["team"][0]
    emps = doc["tables"]["employees"]
    assert team["total"] > 0
    # every cohort task has one responsible: employees add up to the team
    for col in ("total", "finished_on_time", "finished_late", "overdue_open", "not_started", "started_on_time", "no_deadline"):
        assert sum(r[col] for r in emps) == team[col], col
    # closed on time + closed late + overdue open ≤ total; ratios in 0..100 with 1 decimal
    assert team["finished_on_time"] + team["finished_late"] + team["overdue_open"] <= team["total"]
    for r in emps + doc["tables"]["by_period"]:
        for col in ("started_on_time_pct", "finished_on_time_pct", "execution_coefficient_pct"):
            v = r[col]
            assert v is None or (0 <= v <= 100 and round(v, 1) == v)
    # coefficient = started share × finished share (team row, from the counts)
    s, f, t = team["started_on_time"], team["finished_on_time"], team["total"]
    assert team["execution_coefficient_pct"] == round(100 * s * f / t / t, 1)
    # by_period buckets sum to the team total
    assert sum(r["total"] for r in doc["tables"]["by_period"]) == team["total"]
    assert all(r["url"].endswith(f"/tasks/task/view/{r['id']}/") for r in doc["tables"]["tasks"])
    assert all(r["title"] is None or len(r["title"]) <= 31 for r in doc["tables"]["tasks"])
    for r in doc["tables"]["accumulation"]:
        assert r["overdue"] <= r["open"] and r["flags"] == (["growing_backlog"] if r["growing_backlog"] else [])
    wb = openpyxl.load_workbook(out["xlsx"], read_only=True)
    assert set(render.xlsx_sheet_names(spec, "ru").values()) <= set(wb.sheetnames)


def test_tasks_repeatable_and_viewer_mode(demo_dataset, demo_as_of):
    spec = reports.get("tasks")
    a = spec.run(demo_dataset, {"as_of": demo_as_of}).metrics_json_text(GEN)
    b = spec.run(demo_dataset, {"as_of": demo_as_of}).metrics_json_text(GEN)
    assert a == b
    team = json.loads(a)["tables"]["team"][0]
    viewer = int(json.loads(a)["tables"]["employees"][0]["employee_id"])
    v = spec.run(demo_dataset, {"as_of": demo_as_of, "viewer": viewer, "granularity": "quarter", "title_chars": 0})
    assert v.tables["employees"]["employee_id"].tolist() == [viewer]
    assert v.tables["team"].iloc[0]["total"] == team["total"]  # team averages unchanged
    assert v.tables["tasks"]["title"].isna().all()
    assert all("-Q" in p for p in v.tables["by_period"]["period"])


def test_tasks_bad_viewer_names_the_parameter(demo_dataset, demo_as_of):
    import pytest

    from b24reports.core.errors import BadParameter

    with pytest.raises(BadParameter, match="viewer"):
        reports.get("tasks").run(demo_dataset, {"as_of": demo_as_of, "viewer": 999999})
