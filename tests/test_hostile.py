"""Hostile CRM text (issue 6): deal, lead, task, user, department and workgroup names that look
like markup (``<script>``, ``<b>``, markdown) or spreadsheet formulas (``=``, ``+``, ``-``,
``@``) are data: the HTML shows them as text (escaped, also inside charts), the XLSX holds them
as string cells (openpyxl ``data_type == 's'``), never formulas.

The run (a demo portal with hostile names, served with a distinctive webhook token, synced and
rendered through the real CLI in subprocesses) is shared with test_secrets.py through
:func:`hostile_run`, computed once per session.
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

import hardening_summary as hs
from b24reports.demo import DemoServer, FaultPlan, Fault, generate_portal

#: A distinctive webhook token: test_secrets.py greps every output for it.
SECRET = "Zq7SecretTok3nXv91"
ANCHOR = dt.date(2026, 11, 30)
AS_OF = "2026-11-30T12:00:00+03:00"
HOSTILE = [
    "<script>alert(1)</script>",
    "<b>x</b>",
    "**x**",
    '=HYPERLINK("http://evil.example/","click")',
    "+1",
    "-1",
    "@SUM(A1:A9)",
    "<img src=x onerror=alert(2)>",
    "=1+1",
]
#: reports whose HTML lists deal/lead/task titles and employee names; rendered in every format
REPORTS = ("forgotten", "tasks", "managers")

_RUN: dict = {}


def hostile_portal():
    """Demo portal (seed 13, scale 0.01) where every deal, lead, task, user, department and
    workgroup name is one of :data:`HOSTILE` (cycled)."""
    p = generate_portal(seed=13, scale=0.01, anchor=ANCHOR)
    n = len(HOSTILE)
    for entity, fields in (("deal", ("TITLE",)), ("lead", ("TITLE",)), ("task", ("title",)),
                           ("user", ("NAME", "LAST_NAME")), ("department", ("NAME",)), ("workgroup", ("NAME",))):
        for i, r in enumerate(list(p.rows(entity))):
            rid = int(r.get("ID", r.get("id")))
            vals = {f: HOSTILE[(i + j) % n] for j, f in enumerate(fields)}
            p.update(entity, rid, **vals)
    return p


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "b24reports.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def hostile_run(tmp_root: Path) -> dict:
    """Sync the hostile portal (token :data:`SECRET`) and render it through the CLI; once per
    session. Returns {store, out, outputs: [CompletedProcess], plan}."""
    if _RUN:
        return _RUN
    db = tmp_root / "hostile.duckdb"
    out = tmp_root / "out"
    procs = []
    # transient faults so the retry paths run too (no 503: the CLI client then drains its
    # 2 req/s bucket for ~25 s; test_secrets covers 503 in-process)
    faults = FaultPlan([Fault("500", method="batch", nth=2), Fault("reset", method="crm.status.list", nth=2)])
    with DemoServer(hostile_portal(), token=SECRET, faults=faults) as srv:
        assert SECRET in srv.webhook_url
        procs.append(_cli("sync", "--webhook", srv.webhook_url, "--store", str(db)))
        hs.faults_fired(faults)
    assert all(p.returncode == 0 for p in procs), [p.stderr for p in procs]
    plan = tmp_root / "plan.csv"
    plan.write_text("month,employee_id,amount\n2026-11,1,100000\n", encoding="utf-8")
    common = ["--store", str(db), "--out", str(out), "--as-of", AS_OF, "--no-progress"]
    procs.append(_cli("render", "all", *common, "--formats", "json,xlsx", "--plan", str(plan)))
    for name in REPORTS:
        fmts = "html,pdf" if name != "managers" else "html"
        procs.append(_cli("render", name, *common, "--formats", fmts, "--lang", "en" if name == "tasks" else "ru"))
    assert all(p.returncode == 0 for p in procs), [p.stderr[-2000:] for p in procs]
    _RUN.update(store=db, out=out, outputs=procs, plan=plan)
    return _RUN


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    return hostile_run(tmp_path_factory.mktemp("hostile"))


def _xlsx_cells(path: Path):
    wb = openpyxl.load_workbook(path)  # not data_only: a formula would show as data_type 'f'
    try:
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for c in row:
                    if c.value is not None:
                        yield ws.title, c
    finally:
        wb.close()


def test_hostile_names_reached_the_store(run):
    import duckdb

    con = duckdb.connect(str(run["store"]), read_only=True)
    try:
        titles = {r[0] for r in con.execute("SELECT title FROM deals").fetchall()}
        names = {r[0] for r in con.execute("SELECT name FROM users").fetchall()}
    finally:
        con.close()
    # stored verbatim: the store keeps data, escaping is the outputs' job
    assert set(HOSTILE) <= titles and "<script>alert(1)</script>" in names
    hs.bad_input(len(HOSTILE))


def test_xlsx_values_are_strings_never_formulas(run):
    seen: dict[str, int] = {}
    for name in [s for s in os.listdir(run["out"]) if (run["out"] / s / "report.xlsx").exists()]:
        for sheet, c in _xlsx_cells(run["out"] / name / "report.xlsx"):
            assert c.data_type != "f", f"{name}/{sheet}!{c.coordinate} is a formula: {c.value!r}"
            v = c.value
            if isinstance(v, str) and v[:1] in "=+-@" and any(v.startswith(h[:8]) for h in HOSTILE):
                assert c.data_type == "s", (name, sheet, c.coordinate, v)
                seen[v[:1]] = seen.get(v[:1], 0) + 1
            # "+1"/"-1" titles must stay text, not become the numbers 1/-1
            assert not (isinstance(v, (int, float)) and sheet in ("deals", "leads", "tasks") and c.column == 2)
    # every formula-like start was actually exercised (present as text in some workbook)
    assert set(seen) == {"=", "+", "-", "@"}, seen


def _html(run, name: str) -> str:
    return (run["out"] / name / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", REPORTS)
def test_html_shows_markup_as_text(run, name):
    doc = _html(run, name)
    # the raw markup never appears as markup...
    for raw in ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "<b>x</b>"):
        assert raw not in doc, (name, raw)
    assert "<strong>x</strong>" not in doc  # markdown is not rendered either
    # inside the charts' JSON (plotly writes "<" as \u003c) the names must be entity-escaped too:
    # plotly renders <b>, <i>, <br>, <a> in labels and hover text as markup
    for raw in ("\\u003cb\\u003ex", "\\u003cscript\\u003e", "\\u003cimg"):
        assert raw not in doc, (name, raw)
    # ...and at least one name is visible as text (escaped), so the check above is not vacuous
    assert htmllib.escape("<script>alert(1)</script>") in doc


def test_markdown_and_formula_text_stay_literal_in_html(run):
    docs = "".join(_html(run, n) for n in REPORTS)
    assert "**x**" in docs
    assert htmllib.escape('=HYPERLINK("http://evil.example/","click")', quote=True)[:20] in docs or "=HYPERLINK(" in docs


def test_metrics_json_keeps_the_text_verbatim(run):
    doc = json.loads((run["out"] / "forgotten" / "metrics.json").read_text(encoding="utf-8"))
    titles = {r.get("title") for t in ("deals", "leads") for r in doc["tables"][t]}
    assert titles & set(HOSTILE)  # data, not escaped or mangled, in the machine-readable output


def test_chart_text_is_escaped_once_and_numbers_untouched():
    import numpy as np
    import plotly.graph_objects as go

    from b24reports.views.common import style_figure

    fig = go.Figure(go.Bar(x=np.array(["<b>x</b>", "A&B"], dtype=object), y=[1.5, -1], name="<i>n</i>",
                           text=["<script>alert(1)</script>", "**x**"], customdata=[7, "<br>"]))
    style_figure(fig)
    style_figure(fig)  # a second styling must not escape again (&amp;lt;)
    tr = fig.data[0]
    assert list(tr.x) == ["&lt;b&gt;x&lt;/b&gt;", "A&amp;B"] and list(tr.y) == [1.5, -1]
    assert tr.name == "&lt;i&gt;n&lt;/i&gt;" and list(tr.customdata) == [7, "&lt;br&gt;"]
    assert list(tr.text) == ["&lt;script&gt;alert(1)&lt;/script&gt;", "**x**"]


def test_dashboard_click_matches_an_escaped_chart_name():
    """Chart names are entity-escaped; a click on one still refilters to that manager."""
    from b24reports.outputs.dashboard import click_target

    labels = {"employee_id": {7: "A&B <b>x</b>", 8: "Ivan"}}
    # the chart carries html.escape(name, quote=False) of the display name
    assert click_target(["A&amp;B &lt;b&gt;x&lt;/b&gt;"], labels, {"employees"}) == ("employees", "7")
    assert click_target(["Ivan"], labels, {"employees"}) == ("employees", "8")
