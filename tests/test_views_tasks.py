"""Figures of the tasks report drawn from a tiny hand-made result."""


import pandas as pd

from b24reports import reports
from b24reports.ingest.dataset import Dataset
from b24reports.views import tasks as v

TZ = "+03:00"


def _result(rows):
    ds = Dataset.from_frames(tasks=pd.DataFrame(rows), users=pd.DataFrame({"id": [1, 2], "name": ["Анна", "Борис"]}), timezone=TZ)
    return reports.get("tasks").run(ds, {"date_from": "2026-10-01", "date_to": "2026-10-31", "as_of": "2026-11-15T12:00:00+03:00"})


ROWS = {
    "id": [1, 2, 3],
    "title": ["a", "b", "c"],
    "responsible_id": [1, 2, 2],
    "created_date": ["2026-10-01T09:00+03:00"] * 3,
    # emp 1: started and closed on time → 100 × 100 = 100 %; emp 2: task 2 on time, task 3 overdue never started
    # → started 1/2, finished 1/2 → 25 %
    "deadline": ["2026-10-10T18:00+03:00", "2026-10-10T18:00+03:00", "2026-10-20T18:00+03:00"],
    "date_start": ["2026-10-02T09:00+03:00", "2026-10-02T09:00+03:00", None],
    "closed_date": ["2026-10-05T09:00+03:00", "2026-10-05T09:00+03:00", None],
}


def test_coefficient_bars_and_benchmark_line():
    r = _result(ROWS)
    fig = v.coefficient_by_employee(r, "ru", {1: "Анна", 2: "Борис"})
    bar = fig.data[0]
    # sorted ascending so the best is on top: Борис 25.0, Анна 100.0; green at/above 64, orange below
    assert list(bar.y) == ["Борис", "Анна"] and list(bar.x) == [25.0, 100.0]
    assert list(bar.marker.color) == [v.PALETTE[1], v.PALETTE[2]]
    assert any(s.x0 == 64.0 for s in fig.layout.shapes)


def test_outcomes_and_period_charts():
    r = _result(ROWS)
    fig = v.outcomes_by_employee(r, "en")
    # traces: on time, overdue; rows by total ascending: emp 1 (1 task), emp 2 (2 tasks). «Late» and «open,
    # not yet due» hold no task (all due dates are past the period): no legend entry for them (a sixth reader)
    assert [(t.name, list(t.x)) for t in fig.data] == [("Finished on time", [1, 1]), ("Overdue, open", [0, 1])]
    p = v.coefficient_by_period(r, "en")
    # one bucket (2026-10); team: started on time 2/3, finished on time 2/3 → 100 × 4/9 = 44.4
    assert list(p.data[0].y) == [66.7] and list(p.data[2].y) == [44.4]


def test_no_data_gives_none():
    r = _result({k: [] for k in ROWS})
    assert v.coefficient_by_employee(r) is None and v.coefficient_by_period(r) is None
    assert v.outcomes_by_employee(r) is None and v.backlog_chart(r) is None
