"""Static-report polish, round 4: print CSS page breaks (PDF), the plan's whole-team label in
HTML and Excel, whole count ticks on the dynamics chart, progress lines in logs, plurals."""

from __future__ import annotations

import datetime as dt
import subprocess
import types

import nbformat
import pandas as pd
import pytest

from b24reports.outputs import excel
from b24reports import reports

from b24reports.outputs import render
from b24reports.core.i18n import count_text
from b24reports.core.texts import TEAM_LABEL, team_row_label
from b24reports.views import common as vc
from b24reports.views import dynamics as vd
from b24reports.views import plan as vp

# --------------------------------------------------------------------------- 1. print CSS



def _md(text: str) -> dict:
    return nbformat.v4.new_output("display_data", data={"text/markdown": text, "text/plain": ""})


def _html(text: str) -> dict:
    return nbformat.v4.new_output("display_data", data={"text/html": text, "text/plain": ""})


def _pdf_pages(tmp_path, outputs: list[dict]) -> list[str]:
    """Text of each page of the PDF chromium prints from a one-cell notebook of ``outputs``,
    rendered by the report template (render.notebook_to_html)."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = outputs
    nb.cells = [cell]
    page = tmp_path / "p.html"
    page.write_text(render.notebook_to_html(nb, "t", "en"), encoding="utf-8")
    pdf = tmp_path / "p.pdf"
    render.html_to_pdf(page, pdf)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")


def test_heading_and_intro_go_with_the_chart_they_introduce(tmp_path):
    # A4 at 12 mm margins: ~1030 px of content. 600 px filler + heading + intro (~100 px)
    # leave ~330 px, less than the 700 px "chart". Round 4 left heading and intro on page 1 and
    # moved the chart alone; the demo reader read that as a heading stranded at a page's foot
    # (issue 20: plan p1, managers p1, funnel p6, tasks p1, pipeline p1). Heading, intro and
    # chart now move together; the print check's fill rule guards the page left behind.
    pages = _pdf_pages(tmp_path, [
        _html('<div style="height:600px">FILLERTOP</div>'),
        _md("## SectionHeading"),
        _md("IntroText of the section."),
        _html('<div class="plotly-graph-div" style="height:700px;border:1px solid #000">CHARTBODY</div>'),
    ])
    assert "FILLERTOP" in pages[0] and "SectionHeading" not in pages[0] and "IntroText" not in pages[0]
    assert "SectionHeading" in pages[1] and "IntroText" in pages[1] and "CHARTBODY" in pages[1]



def test_table_does_not_start_at_a_page_bottom_and_repeats_its_header(tmp_path):
    # filler leaves room for ~2 rows (rows ~24 px): the table must not start there (header +
    # 3 rows kept together), so its caption, header and row 1 all open page 2; 60 rows run
    # onto page 3, where the header row repeats.
    rows = "".join(f"<tr><td>r{i:02d}</td><td>{i}</td></tr>" for i in range(1, 61))
    table = (f'<div class="b24-caption">TableCaption</div><table class="b24-table"><thead><tr><th>HeadA</th>'
             f"<th>HeadB</th></tr></thead><tbody>{rows}</tbody></table>")
    pages = _pdf_pages(tmp_path, [_html('<div style="height:975px">FILLERTOP</div>'), _html(table)])
    assert "FILLERTOP" in pages[0] and "r01" not in pages[0] and "HeadA" not in pages[0]
    assert "TableCaption" in pages[1] and "r01" in pages[1]
    cont = [p for p in pages[2:] if "r60" in p]
    assert cont and "HeadA" in cont[0]  # thead repeated on the continued page


# --------------------------------------------------------------------------- 2. whole-team label


def test_team_row_label_only_for_the_plan_team_row():
    assert team_row_label(True, "employee_id", {"employee_id": None}, "ru") == "Вся команда"
    assert team_row_label(True, "employee_id", {"employee_id": None, "department_id": float("nan")}, "en") == "Whole team"
    # a department row (employee null, department 3) is not the team; an employee row neither
    assert team_row_label(True, "employee_id", {"employee_id": None, "department_id": 3}, "ru") is None
    assert team_row_label(True, "employee_id", {"employee_id": 5, "department_id": None}, "ru") is None
    # other tables: a null employee is unknown, not the team; only the plan's tables have a team row
    assert team_row_label(False, "employee_id", {"employee_id": None}, "ru") is None
    from b24reports import reports

    assert {t for t, ts in reports.get("plan").tables.items() if ts.team_row} == {
        "plan_fact", "mtd_compare", "required", "required_stages"}
    assert not any(ts.team_row for s in reports.all_reports() if s.name != "plan" for ts in s.tables.values())
    assert vp.row_label(None, None, {}, "ru") == "Вся команда"


def _mtd() -> pd.DataFrame:
    return pd.DataFrame({"employee_id": pd.array([None, 3], dtype="Int64"), "month": ["2026-11", "2026-11"],
                         "mtd_amount": [100.0, 40.0], "prev_mtd_amount": [80.0, 50.0], "mtd_deals": [3, 1],
                         "prev_mtd_deals": [2, 2], "change_pct": [25.0, -20.0]})


def test_html_table_names_the_team_row():
    spec = reports.get("plan").tables["mtd_compare"]
    out = vc.table_html(_mtd(), spec, "ru", labels={"employee_id": {3: "Козлов Дмитрий"}}, table_id="mtd_compare")
    first, second = out.split("<tr>")[2:4]  # [1] is the header row
    assert first.startswith("<td>Вся команда</td>") and "Козлов Дмитрий" in second


def test_excel_names_the_team_row_like_html(tmp_path, monkeypatch):
    spec = reports.get("plan")
    tables = {tid: pd.DataFrame({c: [] for c in ts.columns}) for tid, ts in spec.tables.items()}
    tables["mtd_compare"] = _mtd()
    result = types.SimpleNamespace(spec=spec, report="plan", tables=tables, params={"lang": "ru"}, portal="p",
                                   as_of=dt.datetime(2026, 11, 30), warnings=[])
    result.params = types.SimpleNamespace(to_json=lambda: {"lang": "ru"})
    job = render.RenderJob(spec, result, tmp_path / "s.duckdb", tmp_path, dt.datetime(2026, 11, 30))
    monkeypatch.setattr(type(job), "lang", property(lambda self: "ru"))
    monkeypatch.setattr(excel, "excel_name_maps", lambda job: {"employee_id": {3: "Козлов Дмитрий"}})
    render.write_xlsx(job, tmp_path / "r.xlsx")
    import openpyxl

    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")[render.xlsx_sheet_names(spec, "ru")["mtd_compare"]]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:2] == ("Сотрудник (ID)", "Сотрудник")
    assert rows[1][:2] == (None, TEAM_LABEL["ru"]) and rows[2][:2] == (3, "Козлов Дмитрий")


# --------------------------------------------------------------------------- 3. count ticks


@pytest.mark.parametrize(("top", "step", "end"), [
    (20, 5, 20),    # 20/5 = 4 -> step 5: 0, 5, 10, 15, 20 (was 0, 7, 13, 20)
    (7, 2, 8),      # 7/5 = 1.4 -> 2: 0, 2, 4, 6, 8
    (5, 1, 5),      # 5/5 = 1 -> 1
    (11, 5, 15),    # 2.2 -> 5: 0, 5, 10, 15
    (137, 50, 150), # 27.4 -> 50: 0, 50, 100, 150
    (0, 1, 1),
])
def test_count_axis_ticks_are_whole_and_round(top, step, end):
    ax = vd.count_axis(top)
    assert vd.count_dtick(top) == step and ax["dtick"] == step and ax["tick0"] == 0
    assert ax["range"][0] == 0 and ax["range"][1] == pytest.approx(end * 1.04)


def test_won_chart_right_axis_uses_count_ticks():
    w = pd.DataFrame({"period": ["2026-09", "2026-10", "2026-11"], "won_amount": [1e6, 2e6, 5e5],
                      "won_deals": [13, 20, 7]})
    fig = vd.won_chart(types.SimpleNamespace(tables={"won_by_period": w}), "ru")
    assert fig.layout.yaxis2.dtick == 5 and fig.layout.yaxis2.tick0 == 0  # max 20 -> 0, 5, …, 20
    assert fig.layout.yaxis.dtick is None  # the money axis keeps plotly's own ticks


# --------------------------------------------------------------------------- 4. progress in logs


def test_progress_line():
    assert render.progress_line(3, 7, "funnel", 6.14) == "report 3/7 funnel: 6.1 s"
    assert render.progress_line(1, 2, "plan", 0.25, ok=False) == "report 1/2 plan: failed after 0.2 s"


def test_render_all_without_a_terminal_writes_plain_lines(monkeypatch, capsys):
    specs = [types.SimpleNamespace(name=n) for n in ("a", "b")]
    monkeypatch.setattr(render.reports, "all_reports", lambda: specs)
    monkeypatch.setattr(render.reports, "split_params", lambda p, s: {x.name: {} for x in s})
    for s in specs:
        s.parse_params = lambda raw: types.SimpleNamespace(validate_against=lambda ds: None)
    monkeypatch.setattr(render, "_load", lambda store: types.SimpleNamespace(timezone=None))
    monkeypatch.setattr(render, "render_report", lambda name, *a, **k: {"json": f"{name}.json"})
    out = render.render_all("s.duckdb", {}, "out", "json", workers=1, progress=True)
    err = capsys.readouterr().err  # capsys: stderr is not a TTY
    lines = err.strip().splitlines()
    assert out == {"a": {"json": "a.json"}, "b": {"json": "b.json"}}
    assert len(lines) == 2 and lines[0].startswith("report 1/2 ") and lines[1].startswith("report 2/2 ")
    assert "\r" not in err and "%|" not in err


# --------------------------------------------------------------------------- 5. plurals


def test_sync_logs_one_line_per_table_with_plurals(tmp_path):
    from b24reports.ingest.client import B24Client
    from b24reports.demo.generator import generate_portal
    from b24reports.demo.server import DemoServer
    from b24reports.ingest.sync import sync

    lines: list[str] = []
    with DemoServer(generate_portal(seed=7, scale=0.05)) as srv:
        client = B24Client(srv.webhook_url, rate=1000, burst=1000, backoff_base=0.01, backoff_max=0.05)
        rep = sync(client, tmp_path / "x.duckdb", progress=True, log=lines.append)
    for table in ("deals", "users", "pipelines"):
        n = rep.rows[table]
        assert f"{table}: {count_text(n, 'row', 'en')} written" in lines
    assert lines[-1].startswith(f"sync full ok: {count_text(rep.requests, 'request', 'en')}, ")
    assert not any(" 1 rows" in x or " 1 requests" in x for x in lines)


def test_plural_nouns_added():
    assert count_text(1, "attempt", "en") == "1 attempt" and count_text(3, "attempt", "en") == "3 attempts"
    assert count_text(2, "attempt", "ru") == "2 попытки" and count_text(5, "report", "ru") == "5 отчётов"
    assert count_text(21, "report", "ru") == "21 отчёт"
