"""managers end to end on the session's demo store: registry run, metrics.json, xlsx."""

import datetime as dt
import json

import openpyxl
import pytest

from b24reports.outputs import render

from b24reports import reports
from b24reports.core.errors import BadParameter

GEN = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)
PARAMS = {"date_from": "2026-06-01", "date_to": "2026-10-31"}


def test_render_json_and_xlsx(demo_store, demo_dataset, demo_as_of, tmp_path):
    params = {**PARAMS, "as_of": demo_as_of}
    out = render.render_report("managers", demo_store, params, tmp_path, ("json", "xlsx"), dataset=demo_dataset,
                               generated_at=GEN)
    doc = json.loads(out["json"].read_text(encoding="utf-8"))
    assert doc["report"] == "managers" and set(doc["tables"]) == {"managers", "by_month"}
    rows = doc["tables"]["managers"]
    assert rows and list(rows[0]) == reports.get("managers").tables["managers"].columns
    for r in rows:
        assert isinstance(r["employee_id"], int) and isinstance(r["flags"], list)
        # touches = calls_out + calls_in + meetings + emails_out + other (METRICS.md)
        assert r["touches"] == r["calls_out"] + r["calls_in"] + r["meetings"] + r["emails_out"] + r["other"]
        assert set(r["flags"]) <= {"busy_no_result", "efficient", "suspicious_calls", "record_streak"}
    idx = [r["activity_index"] for r in rows if r["weighted"] > 0]
    # 100 = team average over managers with weighted > 0
    assert sum(idx) / len(idx) == pytest.approx(100.0, abs=0.1)
    # by_month: 5 months × managers shown; monthly won amounts add up to the period's
    bm = doc["tables"]["by_month"]
    assert len(bm) == 5 * len(rows)
    assert sum(r["won_amount"] for r in bm) == pytest.approx(sum(r["won_amount"] for r in rows), abs=0.05)
    wb = openpyxl.load_workbook(out["xlsx"], read_only=True)
    assert wb.sheetnames[:2] == ["Менеджеры", "Динамика по месяцам"]
    # same data, params and as_of → identical metrics.json
    again = render.render_report("managers", demo_store, params, tmp_path / "again", ("json",), dataset=demo_dataset,
                                 generated_at=GEN)
    assert again["json"].read_bytes() == out["json"].read_bytes()


def test_params_weights_and_errors(demo_dataset, demo_as_of):
    spec = reports.get("managers")
    base = spec.run(demo_dataset, {**PARAMS, "as_of": demo_as_of})
    heavy = spec.run(demo_dataset, {**PARAMS, "as_of": demo_as_of, "activity_weights": "meeting=0"})
    b = base.tables["managers"].set_index("employee_id")
    h = heavy.tables["managers"].set_index("employee_id")
    # weighted without meetings = weighted − 5 × meetings
    assert (h["weighted"] == b["weighted"] - 5 * b["meetings"]).all()
    with pytest.raises(BadParameter, match="activity_weights"):
        spec.run(demo_dataset, {**PARAMS, "as_of": demo_as_of, "activity_weights": "calls=1"})
    with pytest.raises(BadParameter, match="short_call_seconds"):
        spec.parse_params({"short_call_seconds": "-5"})


def test_employee_filter_gives_the_employees_own_rows(demo_dataset, demo_as_of):
    """A filter to two managers counts exactly their activities and deals: the same counts as
    their rows of the whole team's run (the filtered run reads the period's activities through a
    cached per-employee row index); only the team-relative index differs."""
    spec = reports.get("managers")
    team = spec.run(demo_dataset, {"as_of": demo_as_of})
    m = team.tables["managers"].sort_values("touches", ascending=False)
    pick = [int(m.iloc[0]["employee_id"]), int(m.iloc[-1]["employee_id"])]
    for _ in range(2):  # the second run reads the cache
        one = spec.run(demo_dataset, {"as_of": demo_as_of, "employees": ",".join(map(str, pick))})
        counts = ["calls_out", "calls_in", "meetings", "emails_out", "other", "touches", "short_calls",
                  "won_deals", "won_amount"]
        got = one.tables["managers"].set_index("employee_id")[counts].sort_index()
        want = team.tables["managers"].set_index("employee_id").loc[sorted(pick), counts]
        assert got.to_dict("index") == want.to_dict("index")
        assert got["touches"].sum() > 0
        bm = one.tables["by_month"]
        tm = team.tables["by_month"]
        assert bm.reset_index(drop=True)[counts[:6]].equals(
            tm[tm["employee_id"].isin(pick)].reset_index(drop=True)[counts[:6]])


def test_views_scatter_guides_and_monthly_heatmap():
    """Hand-made tables: the scatter has dotted guides at index 80 and 120 and the team mean as a
    dashed line labelled with it; the heatmap is employee × month of ``weighted``."""
    from types import SimpleNamespace

    import pandas as pd

    from b24reports.views import managers as v

    managers = pd.DataFrame({"employee_id": pd.array([1, 2], dtype="Int64"), "activity_index": [150.0, 50.0],
                             "won_amount": [100.0, 2000.0], "flags": [["busy_no_result"], ["efficient"]]})
    by_month = pd.DataFrame({"month": ["2026-10", "2026-09", "2026-10", "2026-09"],
                             "employee_id": pd.array([2, 2, 1, 1], dtype="Int64"),
                             "weighted": [4.0, 3.0, 2.0, 1.0], "won_amount": [0.0, 2000.0, 100.0, 0.0]})
    res = SimpleNamespace(tables={"managers": managers, "by_month": by_month}, params={"currency": "RUB"},
                          notes={"team_mean_won_amount": 1050.0})
    fig = v.activity_vs_result(res, "ru", {1: "Иванов Иван", 2: "Петров Пётр"})
    lines = [(s.x0, s.x1, s.y0, s.y1, s.line.dash) for s in fig.layout.shapes]
    assert lines == [(80, 80, 0, 1, "dot"), (120, 120, 0, 1, "dot"), (0, 1, 1050.0, 1050.0, "dash")]
    # the mean's label is a legend entry, never text inside the plot that points can cover (issue 20)
    assert not fig.layout.annotations
    assert fig.data[-1].name == "Средняя сумма по команде: 1\u00a0050\u00a0₽" and fig.data[-1].line.dash == "dash"
    # the axes reach past the last point, so a name centred over it is not cut: 150 × 1.18 + 5, 2000 × 1.15
    assert tuple(fig.layout.xaxis.range) == (0, 182.0) and tuple(fig.layout.yaxis.range) == (0, 2300.0)
    hm = v.monthly_heatmap(res, "ru", {1: "Иванов Иван", 2: "Петров Пётр"})
    assert list(hm.data[0].y) == ["Иванов Иван", "Петров Пётр"]
    assert [list(r) for r in hm.data[0].z] == [[1.0, 2.0], [3.0, 4.0]]
    assert [list(r) for r in hm.data[0].customdata] == [[0.0, 100.0], [2000.0, 0.0]]
    # the most active over the period on top (plotly's last row): totals 1 → 3, 3 → 6, 2 → 7, a
    # fourth with 6 too goes below employee 3 (ties by id); rows are not in id order
    more = pd.DataFrame({"month": ["2026-09", "2026-10", "2026-09", "2026-10"],
                         "employee_id": pd.array([3, 3, 4, 4], dtype="Int64"), "weighted": [5.0, 1.0, 0.0, 6.0],
                         "won_amount": [0.0, 0.0, 0.0, 0.0]})
    res.tables["by_month"] = pd.concat([by_month, more], ignore_index=True)
    hm = v.monthly_heatmap(res, "ru", {1: "A", 2: "B", 3: "C", 4: "D"})
    assert list(hm.data[0].y) == ["A", "D", "C", "B"]
    assert [list(r) for r in hm.data[0].z] == [[1.0, 2.0], [0.0, 6.0], [5.0, 1.0], [3.0, 4.0]]
    assert "выиграно" in hm.data[0].hovertemplate


def test_html_says_nobody_is_flagged_instead_of_no_data(demo_store, demo_dataset, demo_as_of, tmp_path):
    """One manager shown with no short-call excess: index 100, no streak (nobody to be ahead of),
    so no flag; the page says that, not "no data"."""
    team = reports.get("managers").run(demo_dataset, {**PARAMS, "as_of": demo_as_of}).tables["managers"]
    calm = team[(team["short_calls"] <= 0.3 * team["calls"]) & (team["weighted"] > 0)]
    uid = int(calm.iloc[0]["employee_id"])
    params = {**PARAMS, "as_of": demo_as_of, "employees": str(uid)}
    assert reports.get("managers").run(demo_dataset, params).tables["managers"]["flags"].tolist() == [[]]
    out = render.render_report("managers", demo_store, params, tmp_path, ("html",), dataset=demo_dataset, generated_at=GEN)
    html = out["html"].read_text(encoding="utf-8")
    assert "Менеджеров с флагами нет." in html and "Менеджеры с флагами" not in html
