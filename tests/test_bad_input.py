"""Bad input at render (issue 6), on the real reports and a small synced demo store: every bad
parameter gives exit code 2 and one message naming the parameter and the value, and no output
file is left behind. (The fixture report's basic cases are in test_cli.py; plan files are in
test_bad_input_plan.py.)"""

from __future__ import annotations

import pytest

import hardening_summary as hs
from b24reports import cli
from b24reports.demo import DemoServer, generate_portal
from b24reports.ingest.sync import sync

AS_OF = "2026-11-30T12:00:00+03:00"


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    """A tiny demo portal (seed 5, scale 0.01, today 2026-11-30) synced into a store."""
    import datetime as dt

    p = generate_portal(seed=5, scale=0.01, anchor=dt.date(2026, 11, 30))
    db = tmp_path_factory.mktemp("bad_input") / "s.duckdb"
    with DemoServer(p) as srv:
        sync(srv.webhook_url, db, progress=False)
    return db


def _render(capsys, store, out, report, *args):
    code = cli.run(["render", report, "--store", str(store), "--out", str(out), "--formats", "json,xlsx",
                    "--no-progress", "--as-of", AS_OF, *args])
    o, e = capsys.readouterr()
    return code, o, e


CASES = [
    # (report, extra args, what the message must contain: the parameter and the value)
    ("all", ["--from", "2026-13-01"], ["date_from", "2026-13-01"]),
    ("all", ["--to", "yesterday"], ["date_to", "yesterday"]),
    ("funnel", ["--from", "01.03.2026"], ["date_from", "01.03.2026"]),                 # Russian date order
    ("funnel", ["--from", "2026-06-01", "--to", "2026-01-31"], ["date_from", "2026-06-01", "2026-01-31"]),
    ("funel", [], ["funel"]),                                                          # unknown report
    ("funnel", ["--param", "pipelines=999"], ["pipelines", "999"]),
    ("funnel", ["--param", "pipelines=sales"], ["pipelines", "sales"]),
    ("managers", ["--param", "employees=99999"], ["employees", "99999"]),
    ("tasks", ["--param", "departments=4242"], ["departments", "4242"]),
    ("all", ["--param", "employees=1,-5"], ["employees", "-5"]),
    ("dynamics", ["--param", "currency=XYZ"], ["currency", "XYZ"]),
    ("dynamics", ["--param", "currency=рубли"], ["currency", "рубли"]),
    ("funnel", ["--param", "lang=fr"], ["lang", "fr"]),
    ("funnel", ["--lang", "de"], ["--lang", "de"]),
    ("funnel", ["--param", "timezone=Mars/Olympus"], ["timezone", "Mars/Olympus"]),
    ("funnel", ["--param", "timezone=+25:00"], ["timezone", "+25:00"]),
    ("funnel", ["--as-of", "tomorrow noon"], ["as_of", "tomorrow noon"]),
    ("funnel", ["--param", "colour=red"], ["colour", "red"]),                          # unknown --param
    ("funnel", ["--param", "granularity=month"], ["granularity"]),                     # another report's param
    ("dynamics", ["--param", "granularity=week"], ["granularity", "week"]),
    ("forgotten", ["--param", "deal_idle_days=abc"], ["deal_idle_days", "abc"]),
    ("forgotten", ["--param", "deal_idle_days=-3"], ["deal_idle_days", "-3"]),
    ("forgotten", ["--param", "stage_idle_days=NEW"], ["stage_idle_days", "NEW"]),
    ("managers", ["--param", "activity_weights=call=abc"], ["activity_weights"]),
    ("marketing", ["--param", "utm_group=utm_colour"], ["utm_group", "utm_colour"]),
    ("tasks", ["--param", "viewer=99999"], ["viewer", "99999"]),
    ("plan", ["--plan", "/nonexistent/plan.csv"], ["plan", "/nonexistent/plan.csv"]),
    ("funnel", ["--formats", "json,docx"], ["formats", "docx"]),
]


@pytest.mark.parametrize("report, args, needles", CASES, ids=[f"{c[0]}:{' '.join(c[1])}" for c in CASES])
def test_bad_parameter_exit_2_names_it_and_writes_nothing(small_store, tmp_path, capsys, report, args, needles):
    out = tmp_path / "out"
    code, o, err = _render(capsys, small_store, out, report, *args)
    hs.bad_input()
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("try:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert o == ""  # nothing announced as written
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]


def test_good_parameters_render(small_store, tmp_path, capsys):
    """The control: the same store and options with valid values render (exit 0, files listed)."""
    code, o, err = _render(capsys, small_store, tmp_path, "funnel", "--from", "2026-01-01", "--to", "2026-10-31",
                           "--param", "currency=RUB", "--param", "timezone=Europe/Moscow")
    assert code == 0, err
    assert (tmp_path / "funnel" / "metrics.json").is_file() and (tmp_path / "funnel" / "report.xlsx").is_file()
    assert str(tmp_path / "funnel" / "metrics.json") in o
