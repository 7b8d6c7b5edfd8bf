"""Registry, parameters and metrics.json of b24reports.reports (fixture report ``testrep``)."""

from __future__ import annotations

import datetime as dt
import json

import b24r_fixture_report as fx
import pandas as pd
import pytest
from b24reports import reports
from b24reports.core import columns
from b24reports.core.errors import BadParameter
from b24reports.ingest.dataset import Dataset

MSK = dt.timezone(dt.timedelta(hours=3))


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return fx.setup_fixture(tmp_path_factory.mktemp("testrep"))


@pytest.fixture(scope="module")
def ds(env):
    return Dataset.load(env["store"])


@pytest.fixture
def spec(env):
    return reports.get("testrep")


# ---------------------------------------------------------------- registry


def test_registry_discovers_package_specs_and_extra_module(env):
    names = [s.name for s in reports.all_reports()]
    assert "testrep" in names  # from B24REPORTS_EXTRA_SPECS
    assert names == sorted(names)
    # every module in b24reports/specs registers itself (a file, not a list)
    import pkgutil

    from b24reports.reports import specs

    mods = {m.name for m in pkgutil.iter_modules(specs.__path__) if not m.name.startswith("_")}
    for m in mods:
        mod = __import__(f"b24reports.reports.specs.{m}", fromlist=["SPEC"])
        if hasattr(mod, "SPEC"):
            assert reports.get(mod.SPEC.name) is mod.SPEC


def test_unknown_report_names_the_input():
    with pytest.raises(BadParameter) as e:
        reports.get("no_such_report")
    assert e.value.name == "report" and "no_such_report" in str(e.value)


def test_duplicate_report_name_is_refused(spec):
    import dataclasses

    with pytest.raises(reports.ReportDefinitionError):
        reports.register(dataclasses.replace(spec, title={"ru": "x", "en": "x"}))


def test_spec_definition_errors():
    with pytest.raises(reports.ReportDefinitionError):
        reports.TableSpec(["a"], {"ru": "a", "en": "a"}, "bad/name")
    with pytest.raises(reports.ReportDefinitionError):
        reports.TableSpec(["a"], {"ru": "a", "en": "a"}, "x" * 32)
    with pytest.raises(reports.ReportDefinitionError):
        reports.ParamSpec("g", "choice", "a", "no choices")
    with pytest.raises(reports.ReportDefinitionError):  # clashes with a common parameter
        reports.ReportSpec("x", {"ru": "x", "en": "x"}, {}, "x.ipynb", [reports.ParamSpec("lang", "str", "", "")],
                           lambda d, p: {}, {})


# ---------------------------------------------------------------- parse_params


@pytest.mark.parametrize("raw, name", [
    ({"date_from": "2026-13-01"}, "date_from"),
    ({"date_to": "yesterday"}, "date_to"),
    ({"date_from": "2026-05-01", "date_to": "2026-04-30"}, "date_from"),  # refused before any store is read
    ({"as_of": "30/11/2026"}, "as_of"),
    ({"lang": "de"}, "lang"),
    ({"pipelines": "1,x"}, "pipelines"),
    ({"employees": "-3"}, "employees"),
    ({"min_amount": "abc"}, "min_amount"),
    ({"min_amount": "-1"}, "min_amount"),
    ({"granularity": "week"}, "granularity"),
    ({"timezone": "Mars/Base"}, "timezone"),
    ({"currency": "rubles"}, "currency"),
    ({"colour": "red"}, "colour"),
])
def test_parse_errors_name_the_parameter(spec, raw, name):
    with pytest.raises(BadParameter) as e:
        spec.parse_params(raw)
    assert e.value.name == name
    assert name in str(e.value)


def test_parse_values_and_types(spec):
    p = spec.parse_params({"date_from": "2026-01-01", "date_to": "2026-03-31", "pipelines": "3, 0,3",
                           "as_of": "2026-03-31", "min_amount": "12,5", "lang": "en", "currency": "usd",
                           "timezone": "+05:00"})
    assert p.date_from == dt.date(2026, 1, 1) and p.date_to == dt.date(2026, 3, 31)
    assert p.pipelines == (3, 0)          # order kept, duplicates dropped
    assert p.employees == ()              # empty = all
    assert p.as_of == dt.datetime(2026, 3, 31, 23, 59, 59)  # a date alone = end of that day
    assert p.min_amount == 12.5 and p.lang == "en" and p.currency == "USD"
    assert p.granularity == "month"       # the declared default
    assert not p.resolved


def test_json_kind_accepts_json_and_pairs():
    ps = reports.ParamSpec("w", "json", {}, "weights")
    assert ps.parse('{"call": 1, "meeting": 5}') == {"call": 1, "meeting": 5}
    assert ps.parse("call=1, meeting=2.5,x=y") == {"call": 1, "meeting": 2.5, "x": "y"}
    with pytest.raises(BadParameter) as e:
        ps.parse("call")
    assert e.value.name == "w"


def test_path_kind_requires_existing_file(tmp_path):
    ps = reports.ParamSpec("plan", "path", None, "plan file")
    with pytest.raises(BadParameter) as e:
        ps.parse(str(tmp_path / "missing.csv"))
    assert e.value.name == "plan" and "does not exist" in e.value.reason
    f = tmp_path / "p.csv"
    f.write_text("month\n")
    assert ps.parse(str(f)) == f


# ---------------------------------------------------------------- validate_against


def test_defaults_resolved_from_data_and_as_of(spec, ds):
    p = spec.parse_params({"as_of": "2026-11-30T12:00:00"}).validate_against(ds)
    # as_of naive -> portal time (+03:00 in the store); default period = the 12 full months
    # before as_of's month: 2025-11-01 .. 2026-10-31
    assert p.as_of == dt.datetime(2026, 11, 30, 12, tzinfo=MSK)
    assert (p.date_from, p.date_to) == (dt.date(2025, 11, 1), dt.date(2026, 10, 31))
    assert p.currency == "RUB" and p.timezone == "+03:00"
    # only date_from -> to = as_of's date; only date_to -> 12-month window ending that month
    p2 = spec.parse_params({"as_of": "2026-11-30T12:00:00", "date_from": "2026-11-01"}).validate_against(ds)
    assert p2.date_to == dt.date(2026, 11, 30)
    p3 = spec.parse_params({"date_to": "2026-03-31", "as_of": "2026-04-01T00:00:00"}).validate_against(ds)
    assert p3.date_from == dt.date(2025, 4, 1)


def test_as_of_with_other_offset_is_converted_to_report_timezone(spec, ds):
    p = spec.parse_params({"as_of": "2026-03-31T09:00:00Z"}).validate_against(ds)
    assert p.as_of.isoformat() == "2026-03-31T12:00:00+03:00"


@pytest.mark.parametrize("raw, name", [
    ({"pipelines": "0,9"}, "pipelines"),        # store has pipelines 0 and 3
    ({"employees": "5,6"}, "employees"),        # users 5 and 7
    ({"departments": "2"}, "departments"),      # department 1 only
    ({"currency": "EUR"}, "currency"),          # RUB, USD
    ({"min_amount": "2e9"}, "min_amount"),      # the spec's own check hook
    ({"date_from": "2026-12-01", "as_of": "2026-11-30T12:00"}, "date_from"),  # default to < from
    ({"date_from": "2026-05-01", "date_to": "2026-04-30"}, "date_from"),  # the scope's one check of the order
])
def test_semantic_errors_name_the_parameter(spec, ds, raw, name):
    with pytest.raises(BadParameter) as e:
        spec.run(ds, raw)
    assert e.value.name == name


def test_split_params_for_render_all(spec):
    specs = [spec, reports.get("funnel")] if "funnel" in [s.name for s in reports.all_reports()] else [spec]
    out = reports.split_params({"lang": "en", "min_amount": "5"}, specs)
    assert out["testrep"] == {"lang": "en", "min_amount": "5"}
    for s in specs[1:]:
        assert out[s.name] == {"lang": "en"}   # min_amount goes only to the report declaring it
    with pytest.raises(BadParameter) as e:
        reports.split_params({"nobody_declares": "1"}, specs)
    assert e.value.name == "nobody_declares"


# ---------------------------------------------------------------- results and metrics.json


def test_run_checks_tables_against_spec(spec, ds):
    import dataclasses

    broken = dataclasses.replace(spec, name="broken", compute=lambda d, s, p: (
        {"deals": pd.DataFrame({"id": [1]}), "summary": pd.DataFrame()}, [], {}))
    with pytest.raises(reports.ReportDefinitionError, match="lacks columns"):
        broken.run(ds, {})


def test_json_value_rounding_rules():
    # money/ratio/number: 2 decimals; pct/days: 1 decimal; ids/ints as int; NaN -> null
    assert reports.json_value(1234.5678, "money") == 1234.57
    assert reports.json_value(2.3456, "ratio") == 2.35
    assert reports.json_value(100 / 3, "pct") == 33.3
    assert reports.json_value(12.06, "days") == 12.1
    assert reports.json_value(-0.001, "money") == 0.0 and str(reports.json_value(-0.001, "money")) == "0.0"
    assert reports.json_value(5.0, "id") == 5 and isinstance(reports.json_value(5.0, "id"), int)
    assert reports.json_value(pd.NA, "int") is None
    assert reports.json_value(float("nan"), "pct") is None
    assert reports.json_value(float("inf"), "money") is None
    assert reports.json_value(pd.NaT, "datetime") is None
    assert reports.json_value(pd.Timestamp("2026-01-10 10:00", tz="+03:00"), "datetime") == "2026-01-10T10:00:00+03:00"
    assert reports.json_value(pd.Timestamp("2026-01-31"), "date") == "2026-01-31"
    assert reports.json_value(["a", "b"], "list") == ["a", "b"]
    assert reports.json_value(None, "list") == []
    import numpy as np

    assert reports.json_value(np.int64(7), "int") == 7 and type(reports.json_value(np.int64(7), "int")) is int
    assert reports.json_value(np.bool_(True), "bool") is True


def test_json_column_is_json_value_cell_for_cell():
    """metrics.json's columns are converted whole; every value and its type (1 vs 1.0) is what
    the per-cell rule gives, so the file's bytes are the same."""
    import numpy as np

    from b24reports.reports.result import json_column

    columns = {
        "money": [pd.Series([1234.5678, -0.001, float("nan"), float("inf"), 2.005, 7]),
                  pd.Series([1, None, 3], dtype="Int64"), pd.Series([1.25, 2.0], dtype="float32"),
                  pd.Series(["1.5", None, 2], dtype=object)],  # mixed objects: cell by cell
        "pct": [pd.Series([100 / 3, -0.04, float("-inf"), 99.95])],
        "id": [pd.Series([5.0, 6.5, float("nan"), 2 ** 53]), pd.Series([7, 8], dtype="int64"),
               pd.Series([1, pd.NA], dtype="Int64"), pd.Series([True, False])],  # bools: cell by cell
        "text": [pd.Series(["a", None, float("nan"), "<b>x</b>"]), pd.Series([None, None], dtype=object),
                 pd.Series(["a", 3], dtype=object), pd.Series(["x", None], dtype="string")],
        "datetime": [pd.Series(pd.to_datetime(["2026-01-10 10:00", None]).tz_localize("+03:00"))],
        "date": [pd.Series([pd.Timestamp("2026-01-31"), pd.NaT])],
        "bool": [pd.Series([True, None, np.bool_(False)], dtype=object)],
        "list": [pd.Series([["a"], None, "b"], dtype=object)],
    }
    for kind, series in columns.items():
        for s in series:
            want = [reports.json_value(v, kind) for v in s.tolist()]
            got = json_column(s, kind)
            assert got == want and [type(x) for x in got] == [type(x) for x in want], (kind, s.tolist())
    assert json_column(pd.Series([1234.5678, 5.0, float("nan")]), "money") == [1234.57, 5.0, None]
    assert [type(x) for x in json_column(pd.Series([5.0, 6.5, float("nan")]), "id")] == [int, float, type(None)]


def test_metrics_json_shape_values_and_determinism(spec, ds):
    raw = {"date_from": "2026-01-01", "date_to": "2026-03-31", "as_of": "2026-03-31T12:00:00"}
    r1, r2 = spec.run(ds, raw), spec.run(ds, raw)
    t1 = r1.metrics_json_text(dt.datetime(2026, 4, 1, tzinfo=dt.timezone.utc))
    t2 = r2.metrics_json_text(dt.datetime(2026, 4, 2, tzinfo=dt.timezone.utc))
    assert t1 != t2
    assert t1.replace("2026-04-01T00:00:00+00:00", "X") == t2.replace("2026-04-02T00:00:00+00:00", "X")
    doc = json.loads(t1)
    assert list(doc) == ["report", "portal", "params", "as_of", "generated_at", "warnings", "tables"]
    assert doc["portal"] == "https://example.bitrix24.ru"
    assert doc["as_of"] == "2026-03-31T12:00:00+03:00"
    assert doc["params"]["pipelines"] == [] and doc["params"]["date_from"] == "2026-01-01"
    assert doc["warnings"] == ["deal 3: empty OPPORTUNITY counted as 0"]
    deals = doc["tables"]["deals"]
    # deals 1..3 are created in Q1 2026; deal 4 (2025-06) is not
    assert [d["id"] for d in deals] == [1, 2, 3]
    assert list(deals[0]) == spec.tables["deals"].columns
    # deal 2: 100 USD x 90 RUB/USD = 9000.00 RUB; deal 3: empty amount -> 0
    assert deals[1]["amount"] == 9000.0 and deals[2]["amount"] == 0.0
    assert deals[0]["created"] == "2026-01-10T10:00:00+03:00"
    assert deals[2]["win_rate_pct"] is None and deals[0]["flags"] == ["won"] and deals[1]["flags"] == []
    # summary: won 1 of (1 won + 1 lost) = 50.0 %; calls_per_won null
    assert doc["tables"]["summary"] == [{"deals": 3, "won_amount": 1000.0, "win_rate_pct": 50.0,
                                         "calls_per_won": None, "avg_cycle_days": 10.0}]


def test_params_to_raw_roundtrip(spec, ds):
    p = spec.parse_params({"pipelines": "3", "as_of": "2026-03-31T12:00:00", "min_amount": 10}).validate_against(ds)
    again = spec.parse_params(p.to_raw()).validate_against(ds)
    assert again.to_json() == p.to_json()


# ---------------------------------------------------------------- column catalog


def test_catalog_kinds_and_headers():
    assert columns.kind_of("win_rate_pct") == "pct"
    assert columns.kind_of("won_amount") == "money"
    assert columns.kind_of("some_new_pct") == "pct"        # guessed from the suffix
    assert columns.kind_of("widget_id") == "id"
    assert columns.header("won_amount", "ru") == "Сумма выигранных"
    assert columns.header("won_amount", "en") == "Won amount"
    assert columns.header("not_in_catalog", "ru") == "not_in_catalog"
    with pytest.raises(ValueError):
        columns.define("rate_pct", "ratio", "x", "x")
    with pytest.raises(ValueError):
        columns.define("won_amount", "int", "x", "x")      # one id, one meaning


def test_every_registered_table_column_is_in_catalog_and_has_both_languages(env):
    missing = sorted({f"{s.name}.{c}" for s in reports.all_reports() for t in s.tables.values() for c in t.columns
                      if c not in columns.CATALOG})
    assert missing == []
    for c in columns.CATALOG.values():
        assert c.ru and c.en
        assert (c.kind == "pct") == c.id.endswith("_pct"), c.id


def test_every_registered_report_has_a_notebook_with_a_parameters_cell(env):
    import nbformat

    problems = []
    for s in reports.all_reports():
        if not s.notebook_path.exists():
            problems.append(f"{s.name}: no notebook {s.notebook_path.name}")
            continue
        nb = nbformat.read(str(s.notebook_path), as_version=4)
        cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        if len(cells) != 1:
            problems.append(f"{s.name}: {len(cells)} cells tagged 'parameters'")
            continue
        src = cells[0].source
        for name in ["store", *(p.name for p in s.all_params)]:
            if f"{name} =" not in src and f"{name}=" not in src:
                problems.append(f"{s.name}: parameter {name} not in the parameters cell")
    assert problems == []


@pytest.mark.parametrize("kind,value,message", [
    ("date", "2025-13-01", "2025-13-01 is not a calendar date; expected a date YYYY-MM-DD, e.g. 2026-01-31"),
    ("date", "01.11.2025", "expected a date YYYY-MM-DD, e.g. 2026-01-31"),
    ("datetime", "2025-11-31T10:00", "2025-11-31 is not a calendar date; expected a date YYYY-MM-DD or a date and "
                                     "time YYYY-MM-DDTHH:MM[:SS][±HH:MM], e.g. 2026-11-30T12:00, or now"),
    ("int", "1.5", "expected a whole number, e.g. 14"),
    ("int", "x", "expected a whole number, e.g. 14"),
    ("float", "abc", "expected a number, e.g. 0.5"),
    ("id_list", "0,a", "'a' is not a whole-number id; expected comma-separated whole-number ids, e.g. 0,2"),
    ("json", "{x", "not valid JSON at character 2; expected a JSON object or name=value pairs, "
                   'e.g. {"NEW": 7} or NEW=7,PREPARATION=14'),
    ("bool", "maybe", "expected true or false"),
])
def test_bad_parameter_names_value_and_expected_format_not_python_internals(kind, value, message):
    from b24reports.core.errors import BadParameter
    from b24reports.reports import ParamSpec

    with pytest.raises(BadParameter) as e:
        ParamSpec("p", kind, None, "help").parse(value)
    assert str(e.value) == f"parameter p={value!r}: {message}"
    assert "isoformat" not in str(e.value) and "literal" not in str(e.value)


def test_int_parameter_still_takes_whole_numbers():
    from b24reports.reports import ParamSpec

    spec = ParamSpec("p", "int", None, "help")
    assert [spec.parse(v) for v in ("14", " 7 ", "14.0", 3, 5.0)] == [14, 7, 14, 3, 5]
