"""A small test-only report ("testrep"), its notebook and a tiny store: the fixture of the
render/CLI/report tests (not part of the package).

The kernel that papermill starts finds this module through ``B24REPORTS_EXTRA_SPECS``
(``b24reports.reports.discover``) with this directory on ``PYTHONPATH``.

Store content (portal time +03:00, base currency RUB, USD = 90 RUB):

=====  ======================================  ===  ========  ======  ==========  =========
deal   title                                   who  amount    cur     created     stage
=====  ======================================  ===  ========  ======  ==========  =========
1      ``<script>alert(1)</script>``           5    1000.004  RUB     2026-01-10  won 01-20
2      ``=HYPERLINK("http://evil","x")``       5    100       USD     2026-02-01  lost
3      ``+79990001122``                        7    NULL      RUB     2026-02-15  open
4      ``@SUM(A1)``                            7    333.333   RUB     2025-06-01  open (out)
=====  ======================================  ===  ========  ======  ==========  =========
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd


from b24reports import reports
from b24reports.core.errors import BadParameter

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "b24r_fixture_report.ipynb"


def compute(ds, scope, params):
    """Deals created in the scope's period (deal amount in report currency), and a summary row."""
    d = ds.deals
    d = d[scope.period.contains(d["date_create"])]
    if scope.pipelines:
        d = d[d["category_id"].isin(list(scope.pipelines))]
    rates = {c: float(a) / float(n) for c, a, n in zip(ds.currencies["currency"], ds.currencies["amount"], ds.currencies["amount_cnt"])}
    to = rates[scope.currency]
    amount = [0.0 if pd.isna(o) else float(o) * rates[c] / to for o, c in zip(d["opportunity"], d["currency_id"])]
    deals = pd.DataFrame({
        "id": d["id"].astype("Int64").tolist(),
        "title": d["title"].tolist(),
        "employee_id": d["assigned_by_id"].tolist(),
        "amount": amount,
        "created": d["date_create"].tolist(),
        "win_rate_pct": [100.0 if s == "S" else 0.0 if s == "F" else None for s in d["stage_semantic_id"]],
        "url": [f"{ds.portal}/crm/deal/details/{i}/" for i in d["id"]],
        "flags": [["won"] if s == "S" else [] for s in d["stage_semantic_id"]],
    }).sort_values("id").reset_index(drop=True)
    deals = deals[deals["amount"] >= params.min_amount].reset_index(drop=True)
    won = int((d["stage_semantic_id"] == "S").sum())
    lost = int((d["stage_semantic_id"] == "F").sum())
    summary = pd.DataFrame([{
        "deals": len(deals),
        "won_amount": sum(a for a, f in zip(deals["amount"], deals["flags"]) if f),
        "win_rate_pct": 100.0 * won / (won + lost) if won + lost else None,
        "calls_per_won": None,
        "avg_cycle_days": 10.0 if won else None,
    }])
    warnings = [f"deal {int(i)}: empty OPPORTUNITY counted as 0" for i, o in zip(d["id"], d["opportunity"]) if pd.isna(o)]
    return {"deals": deals, "summary": summary}, warnings, {"note": params.note, "pid": os.getpid()}


def check(ds, params):
    if params.min_amount > 1e9:
        raise BadParameter("min_amount", params.min_amount, "larger than any deal could be")


SPEC = reports.ReportSpec(
    name="testrep",
    title={"ru": "Тестовый отчёт", "en": "Test report"},
    description={"ru": "Отчёт для тестов.", "en": "A report for tests."},
    notebook=str(NOTEBOOK),
    params=[
        reports.ParamSpec("min_amount", "float", 0.0, "hide deals below this amount", min=0),
        reports.ParamSpec("note", "str", "", "free text shown in the report"),
        reports.ParamSpec("granularity", "choice", "month", "bucket size", choices=("month", "quarter", "year")),
    ],
    compute=compute,
    tables={
        "deals": reports.TableSpec(["id", "title", "employee_id", "amount", "created", "win_rate_pct", "url", "flags"],
                                   {"ru": "Сделки", "en": "Deals"}, "deals"),
        "summary": reports.TableSpec(["deals", "won_amount", "win_rate_pct", "calls_per_won", "avg_cycle_days"],
                                     {"ru": "Итоги", "en": "Summary"}, "summary"),
    },
    check=check,
)

PARAM_NAMES = [p.name for p in SPEC.all_params]


def notebook_json() -> dict:
    """The fixture notebook: parameters cell (every declared param + store), then a thin
    body calling ``b24reports.outputs.nb`` and drawing one plotly chart."""
    def code(src, tags=()):
        return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": src, "outputs": [], "execution_count": None}

    params_src = "store = None\n" + "".join(f"{n} = None\n" for n in PARAM_NAMES)
    body = (
        "import plotly.graph_objects as go\n"
        "from b24reports import nb\n"
        "r = nb.open_report('testrep', store=store, params=globals())\n"
        "assert r.params.note != 'RAISE', 'the test asked this notebook to fail'\n"
        "r.header()\n"
        "s = r.tables['summary']\n"
        "r.kpis([(r.text({'ru': 'Сделки', 'en': 'Deals'}), s['deals'][0], 'int'),\n"
        "        (r.text({'ru': 'Выиграно', 'en': 'Won'}), s['won_amount'][0], 'money')])\n"
        "d = r.tables['deals']\n"
        "fig = go.Figure(go.Bar(x=[str(i) for i in d['id']], y=list(d['amount']), name='CHARTMARK'))\n"
        "r.figure(fig, title='CHARTMARK amount by deal')\n"
        "r.table('deals')\n"
        "r.table('summary')\n"
        "r.md(f\"computed-in-pid-{r.result.notes['pid']}\")\n"
    )
    return {
        "cells": [code(params_src, ["parameters"]), {"cell_type": "markdown", "metadata": {}, "source": "Prose paragraph."},
                  code(body)],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


def write_notebook(path: Path = NOTEBOOK) -> Path:
    import nbformat

    nb = nbformat.from_dict(notebook_json())
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i}"
    nbformat.write(nb, str(path))
    return path


def write_store(path: Path) -> Path:
    """Create the tiny DuckDB store described in the module docstring."""
    import duckdb

    from b24reports.ingest import schema

    Path(path).unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        for t in schema.ALL_TABLES:
            con.execute(schema.ddl(t))
        con.executemany("INSERT INTO portal_info VALUES (?, ?)", [
            ("portal", "https://example.bitrix24.ru"), ("timezone", "+03:00"), ("base_currency", "RUB"), ("telephony", "no")])
        con.executemany("INSERT INTO currencies VALUES (?, ?, ?, ?, ?)", [("RUB", 1, 1, True, 100), ("USD", 1, 90, False, 200)])
        con.executemany("INSERT INTO users (id, active, name, last_name) VALUES (?, ?, ?, ?)",
                        [(5, True, "Анна", "Иванова"), (7, False, "Пётр", "<b>Петров</b>")])
        con.executemany("INSERT INTO pipelines VALUES (?, ?, ?, ?)", [(0, "Общая", 10, True), (3, "Опт", 20, False)])
        con.executemany("INSERT INTO departments (id, name, sort, parent) VALUES (?, ?, ?, ?)", [(1, "Компания", 1, None)])
        rows = [
            (1, "<script>alert(1)</script>", 0, "C0:WON", "S", 1000.004, "RUB", 5, "2026-01-10 10:00:00+03", True),
            (2, '=HYPERLINK("http://evil","x")', 0, "C0:LOSE", "F", 100, "USD", 5, "2026-02-01 09:00:00+03", True),
            (3, "+79990001122", 3, "C3:NEW", "P", None, "RUB", 7, "2026-02-15 12:30:00+03", False),
            (4, "@SUM(A1)", 0, "C0:NEW", "P", 333.333, "RUB", 7, "2025-06-01 08:00:00+03", False),
        ]
        con.executemany("INSERT INTO deals (id, title, category_id, stage_id, stage_semantic_id, opportunity, currency_id,"
                        " assigned_by_id, date_create, closed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?::TIMESTAMPTZ, ?)", rows)
    finally:
        con.close()
    return path


if __name__ == "__main__":  # pragma: no cover - regenerate the notebook by hand
    print(json.dumps(notebook_json())[:200])


def setup_fixture(tmp_dir: Path) -> dict:
    """Write the notebook and the store into ``tmp_dir``, make the kernel able to import
    this module (env ``B24REPORTS_EXTRA_SPECS``, ``PYTHONPATH``) and register ``testrep``
    with the notebook's path. Returns {"store": Path, "notebook": Path}."""
    import dataclasses
    import os

    Path(tmp_dir).mkdir(parents=True, exist_ok=True)
    nb_path = write_notebook(Path(tmp_dir) / "testrep.ipynb")
    store = write_store(Path(tmp_dir) / "test.duckdb")
    os.environ["B24REPORTS_EXTRA_SPECS"] = __name__
    pp = os.environ.get("PYTHONPATH", "")
    if str(HERE) not in pp.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), pp]))
    reports.unregister(SPEC.name)  # a previous setup registered a copy with another notebook path
    reports.discover()
    reports.register(dataclasses.replace(SPEC, notebook=str(nb_path)), replace=True)
    return {"store": store, "notebook": nb_path}
