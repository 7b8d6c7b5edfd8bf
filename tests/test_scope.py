"""metrics.scope.Scope: resolved once from the parameters, the one thing every metric reads, and
reports.params.resolve_scope, the one resolver behind the CLI, the dashboards and the schedule."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from b24reports.core.errors import BadParameter
from b24reports.ingest.dataset import Dataset
from b24reports.metrics.scope import Scope, check_period
from b24reports.reports.params import resolve_scope

MSK = dt.timezone(dt.timedelta(hours=3))


def dataset():
    # departments: 1 (root) -> 2 (sales) -> 3 (Moscow); 1 -> 4 (marketing)
    deps = pd.DataFrame({"id": [1, 2, 3, 4], "parent": [None, 1, 2, 1], "name": ["Co", "Sales", "Moscow", "Mkt"]})
    users = pd.DataFrame({"id": [10, 11, 12, 13], "active": [True, False, True, True],
                          "uf_department": [[2], [3], [4], []], "name": ["A", "B", "C", "D"],
                          "last_name": ["Aa", "Bb", "Cc", "Dd"]})
    pipes = pd.DataFrame({"id": [0, 1], "name": ["Sales", "Dealers"]})
    return Dataset.from_frames(departments=deps, users=users, pipelines=pipes, timezone="+03:00")


def test_build_resolves_people_once_from_employees_and_departments():
    ds = dataset()
    as_of = "2026-11-30T12:00:00"
    # department 2 with its sub-department 3: users 10 and 11 (11 is dismissed and still counts)
    assert Scope.build(ds, as_of=as_of, departments=[2]).people == frozenset({10, 11})
    # both filters: their intersection
    assert Scope.build(ds, as_of=as_of, departments=[2], employees=[10, 12]).people == frozenset({10})
    # neither: everyone (None, not an empty set)
    assert Scope.build(ds, as_of=as_of).people is None
    s = Scope.build(ds, as_of=as_of, employees=[12], pipelines=[1])
    assert s.people == frozenset({12}) and s.pipelines == (1,)
    # as_of: naive text is portal time; the period defaults to as_of's day
    assert s.as_of == pd.Timestamp("2026-11-30T12:00:00+03:00") and (s.date_from, s.date_to) == (dt.date(2026, 11, 30),) * 2


def test_period_order_is_checked_once_and_names_date_from():
    with pytest.raises(BadParameter) as e:
        check_period(dt.date(2026, 5, 1), dt.date(2026, 4, 30))
    assert e.value.name == "date_from" and "is after date_to=2026-04-30" in str(e.value)
    with pytest.raises(BadParameter):
        Scope.build(dataset(), as_of="2026-11-30", date_from=dt.date(2026, 5, 1), date_to=dt.date(2026, 4, 30))
    check_period(dt.date(2026, 5, 1), dt.date(2026, 5, 1))  # one day is a period


def test_filters_on_frames_and_the_half_open_period():
    s = Scope(date_from=dt.date(2026, 10, 1), date_to=dt.date(2026, 10, 31), tz=MSK,
              as_of=pd.Timestamp("2026-11-30T12:00:00+03:00"), pipelines=(1,), people=frozenset({10, 12}))
    f = pd.DataFrame({"employee_id": [10, 11, 12, None], "pipeline_id": [0, 1, 1, 1]})
    assert s.of_people(f)["employee_id"].tolist() == [10, 12]
    assert s.of_pipelines(f)["pipeline_id"].tolist() == [1, 1, 1]
    # [Oct 1 00:00, Nov 1 00:00) in +03:00: the last second of October is in, Nov 1 00:00 is not
    ts = pd.Series(pd.to_datetime(["2026-10-31T23:59:59+03:00", "2026-11-01T00:00:00+03:00"]))
    assert s.period.contains(ts).tolist() == [True, False]
    everyone = s.replace(people=None, pipelines=())
    assert len(everyone.of_people(f)) == 4 and len(everyone.of_pipelines(f)) == 4


def test_resolve_scope_from_report_parameters():
    """The CLI, the dashboard and the schedule hand raw parameters to ReportSpec.run, which
    resolves them here: defaults from the data, the timezone, the people."""
    from b24reports import reports

    ds = dataset()
    spec = reports.get("funnel")
    params = spec.parse_params({"as_of": "2026-11-30T12:00", "departments": "3", "timezone": "+05:00",
                                "currency": "RUB", "pipelines": "1"})
    s = resolve_scope(ds, params)
    assert s.people == frozenset({11})
    assert s.pipelines == (1,) and s.currency == "RUB"
    # a naive as_of is read in the report zone (+05:00 here); an aware one is converted to it
    assert s.as_of == pd.Timestamp("2026-11-30T12:00:00+05:00")
    aware = resolve_scope(ds, spec.parse_params({"as_of": "2026-11-30T12:00+03:00", "timezone": "+05:00",
                                                 "currency": "RUB"}))
    assert aware.as_of == pd.Timestamp("2026-11-30T14:00:00+05:00") and aware.people is None
    # the default period: the 12 full months before as_of's month
    assert (s.date_from, s.date_to) == (dt.date(2025, 11, 1), dt.date(2026, 10, 31))
