"""Renderers of b24reports.outputs.render on the fixture report ``testrep`` (tests/b24r_fixture_report.py):
offline HTML (papermill + nbconvert), PDF (chromium), Excel, metrics.json, atomic outputs."""

from __future__ import annotations

import datetime as dt
import json
import re
import types
from pathlib import Path

import b24r_fixture_report as fx
import pytest
from b24reports import reports
from b24reports.core.errors import BadParameter
from b24reports.outputs import render

GEN = dt.datetime(2026, 4, 1, 8, 0, tzinfo=dt.timezone.utc)
RAW = {"date_from": "2026-01-01", "date_to": "2026-03-31", "as_of": "2026-03-31T12:00:00"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return fx.setup_fixture(tmp_path_factory.mktemp("testrep"))


@pytest.fixture(scope="module")
def full(env, tmp_path_factory):
    """One full render (all four formats, ru) shared by the read-only tests below."""
    out = tmp_path_factory.mktemp("out")
    formats = ("html", "pdf", "xlsx", "json") if render.find_chromium() else ("html", "xlsx", "json")
    files = render.render_report("testrep", env["store"], RAW, out, formats, GEN)
    return out, files


def test_outputs_layout(full):
    out, files = full
    assert files["html"] == out / "testrep" / "report.html"
    assert files["json"] == out / "testrep" / "metrics.json"
    assert files["xlsx"] == out / "testrep" / "report.xlsx"
    assert all(p.exists() and p.stat().st_size > 0 for p in files.values())
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temp dir left


def test_html_is_offline_and_escaped(full):
    html = full[1]["html"].read_text(encoding="utf-8")
    refs = re.findall(r"<(?:script|link|img|iframe)\b[^>]*?(?:src|href)\s*=\s*[\"']?(https?:)?//", html, flags=re.I)
    assert refs == []                                      # zero external script/style/image refs
    assert "@import url(http" not in html
    assert "<script>alert(1)</script>" not in html         # the hostile deal title is text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;Петров&lt;/b&gt;" in html             # hostile user name (label) escaped too
    assert html.count('class="plotly-graph-div"') == 1     # the chart is there ...
    assert "Plotly.newPlot" in html and len(html) > 3_000_000  # ... and plotly.js is inlined
    assert "nb.open_report" not in html                    # --no-input: no code in the page
    assert '<html lang="ru">' in html and "<title>Тестовый отчёт</title>" in html
    assert "@page" in html and "break-inside" in html      # print CSS for the PDF


def test_notebook_shows_the_in_process_result(full):
    import os

    # the fixture's compute records its pid in notes; the page shows the pid of this test
    # process, not of the kernel: the kernel reused the render's result (same numbers as json)
    html = full[1]["html"].read_text(encoding="utf-8")
    assert f"computed-in-pid-{os.getpid()}" in html


def test_metrics_json_file_equals_in_process_result(full, env):
    from b24reports.ingest.dataset import Dataset

    doc = json.loads(full[1]["json"].read_text(encoding="utf-8"))
    res = reports.get("testrep").run(Dataset.load(env["store"]), RAW)
    assert doc == res.to_metrics_json(GEN)
    assert doc["generated_at"] == "2026-04-01T08:00:00+00:00"


def test_xlsx_sheets_headers_formats_and_no_formulas(full):
    import openpyxl

    wb = openpyxl.load_workbook(full[1]["xlsx"])
    assert wb.sheetnames == ["Сделки", "Итоги", "Об отчёте"]  # localized TableSpec titles
    ws = wb["Сделки"]
    # a readable name column follows the key column (users 5 and 7 of the fixture store)
    assert [c.value for c in ws[1]] == ["ID", "Название", "Сотрудник (ID)", "Сотрудник", "Сумма", "Создана",
                                        "Доля выигранных среди закрытых, %", "Ссылка", "Флаги"]
    assert [ws.cell(row=r, column=4).value for r in range(2, 5)] == ["Иванова Анна", "Иванова Анна", "<b>Петров</b> Пётр (уволен)"]  # as the HTML tables: surname first; user 7 is inactive
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:I4"
    titles = [ws.cell(row=r, column=2) for r in range(2, 5)]
    assert [c.value for c in titles] == ["<script>alert(1)</script>", '=HYPERLINK("http://evil","x")', "+79990001122"]
    assert all(c.data_type == "s" for c in titles)          # text, never a formula
    formulas = [c.coordinate for s in wb for row in s.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []
    amount = ws.cell(row=3, column=5)
    assert amount.value == 9000.0 and amount.number_format == "#,##0"  # 100 USD x 90; whole units as the page shows money (the value keeps its kopecks)
    assert ws.cell(row=2, column=6).value == dt.datetime(2026, 1, 10, 10, 0)  # portal wall-clock time
    assert ws.cell(row=4, column=7).value is None                          # null pct stays empty
    assert ws.cell(row=2, column=9).value == "won"
    s = wb["Итоги"]
    assert [c.value for c in s[2]] == [3, 1000.0, 50.0, None, 10.0]


def test_xlsx_english_headers_and_formula_text_in_other_columns(env, tmp_path):
    import openpyxl

    files = render.render_report("testrep", env["store"], {**RAW, "lang": "en", "note": "=1+1"}, tmp_path, ("xlsx",), GEN)
    wb = openpyxl.load_workbook(files["xlsx"])
    assert wb.sheetnames == ["Deals", "Summary", "About"]
    assert [c.value for c in wb["Deals"][1]][2:4] == ["Employee ID", "Employee"]
    assert [c.value for c in wb["Summary"][1]][:3] == ["Deals", "Won amount", "Win rate (won of closed), %"]
    about = {r[0].value: r[1] for r in wb["About"].iter_rows(min_row=2)}
    assert about["note"].value == "=1+1" and about["note"].data_type == "s"


def test_pdf_contains_the_chart(full):
    from pypdf import PdfReader

    pdf = full[1]["pdf"]
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = "".join(p.extract_text() for p in PdfReader(str(pdf)).pages)
    assert "Тестовый отчёт" in text
    # the figure title and its y-axis ticks are drawn by plotly.js: present only if the chart ran
    assert "CHARTMARK amount by deal" in text
    assert re.search(r"8[ \u00a0\u202f]000", text)            # ru ticks: thousands separated, no "8k"
    assert "<script>alert(1)</script>" in text              # shown as text, not executed


def test_json_determinism_byte_identical_except_generated_at(env, tmp_path):
    a = render.render_report("testrep", env["store"], RAW, tmp_path / "a", "json", GEN)["json"].read_text()
    b = render.render_report("testrep", env["store"], RAW, tmp_path / "b", "json",
                             GEN + dt.timedelta(days=3))["json"].read_text()
    assert a != b
    strip = lambda s: re.sub(r'"generated_at": "[^"]*"', "", s)  # noqa: E731
    assert strip(a) == strip(b)


def test_failed_format_leaves_no_stale_file_and_keeps_others(env, tmp_path, monkeypatch):
    import papermill as pm

    def failing_notebook(inp, out, parameters, **kw):  # what papermill raises when a cell fails
        raise pm.PapermillExecutionError(3, 3, "AssertionError: asked to fail", "AssertionError", "asked to fail", [])

    monkeypatch.setattr(pm, "execute_notebook", failing_notebook)
    stale = tmp_path / "testrep" / "report.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("old run")
    with pytest.raises(render.RenderError) as e:
        render.render_report("testrep", env["store"], RAW, tmp_path, ("html", "json"), GEN)
    assert e.value.failures == {"testrep/html": "notebook cell 3 raised AssertionError: asked to fail"}
    assert not stale.exists()                               # the old html is not left as if current
    assert (tmp_path / "testrep" / "metrics.json").exists()  # json still written
    assert e.value.outputs == {"testrep": {"json": tmp_path / "testrep" / "metrics.json"}}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_missing_chromium_fails_pdf_only(env, tmp_path, monkeypatch):
    monkeypatch.setenv("B24REPORTS_CHROMIUM", str(tmp_path / "no-such-chromium"))
    monkeypatch.setitem(render.EXPORTERS, "html", render.Exporter(
        "html", "report.html", lambda job, path: path.write_text("<html>stub</html>")))
    with pytest.raises(render.ChromiumNotFound) as e:
        render.render_report("testrep", env["store"], RAW, tmp_path, ("pdf", "xlsx", "json"), GEN)
    assert "apt-get install -y chromium" in str(e.value)
    assert sorted(p.name for p in (tmp_path / "testrep").iterdir()) == ["metrics.json", "report.xlsx"]


def test_notebook_gets_only_declared_params_and_store(env, tmp_path, monkeypatch):
    import papermill as pm

    seen = {}

    def fake_execute(inp, out, parameters, **kw):
        seen.update(parameters)
        raise pm.PapermillExecutionError(0, 1, "stop", "Stop", "stop here", [])

    monkeypatch.setattr(pm, "execute_notebook", fake_execute)
    monkeypatch.setenv("B24_WEBHOOK_URL", "https://x.bitrix24.ru/rest/1/secret-token/")
    with pytest.raises(render.RenderError):
        render.render_report("testrep", env["store"], RAW, tmp_path, ("html",), GEN)
    spec = reports.get("testrep")
    assert set(seen) <= {"store", *(p.name for p in spec.all_params)}
    assert seen["store"] == str(Path(env["store"]).resolve())
    assert seen["as_of"] == "2026-03-31T12:00:00+03:00"      # resolved once, same as the json
    assert seen["date_from"] == "2026-01-01" and seen["currency"] == "RUB"
    assert not any("secret-token" in str(v) for v in seen.values())


def test_bad_input_before_any_output(env, tmp_path):
    with pytest.raises(BadParameter) as e:
        render.render_report("testrep", env["store"], {"date_from": "2026-02-30"}, tmp_path, ("json",))
    assert e.value.name == "date_from"
    with pytest.raises(BadParameter) as e:
        render.render_report("testrep", env["store"], RAW, tmp_path, ("json", "docx"))
    assert e.value.name == "formats"
    assert list(tmp_path.iterdir()) == []


def test_render_all_hands_params_to_declaring_reports(env, tmp_path):
    with pytest.raises(BadParameter) as e:
        render.render_all(env["store"], {**RAW, "nobody_declares": "1"}, tmp_path, "json", names=["testrep"], progress=False)
    assert e.value.name == "nobody_declares"
    out = render.render_all(env["store"], {**RAW, "min_amount": "5000"}, tmp_path, "json", GEN, names=["testrep"],
                            progress=False)
    doc = json.loads(out["testrep"]["json"].read_text())
    assert [d["id"] for d in doc["tables"]["deals"]] == [2]   # only deal 2 (9000 RUB) is ≥ 5000


def test_plotly_renderer_choice_and_offline_bundle(monkeypatch):
    import plotly.graph_objects as go
    import plotly.io as pio
    from b24reports.outputs import nb

    monkeypatch.setattr(pio.renderers, "default", pio.renderers.default)  # restore afterwards
    monkeypatch.setenv("VOILA_KERNEL_ID", "k-1")
    assert nb.setup_plotly() == "plotly_mimetype"            # Voila: light page, live kernel
    monkeypatch.delenv("VOILA_KERNEL_ID")
    assert nb.setup_plotly() == nb.OFFLINE_RENDERER          # papermill/nbconvert: static html
    bundle = pio.renderers[nb.OFFLINE_RENDERER].to_mimebundle(go.Figure(go.Bar(x=[1], y=[2])).to_dict())
    html = bundle["text/html"]
    assert "Plotly.newPlot" in html
    assert "mathjax" not in html.lower() and "https://" not in html   # no CDN script per figure


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


@pytest.fixture(scope="module")
def warm(env):
    from b24reports.outputs.kernels import WarmKernel

    k = WarmKernel(store=env["store"])
    yield k
    k.shutdown()


def test_on_a_warm_kernel_the_notebook_computes_once_for_every_format(env, warm, tmp_path, monkeypatch):
    import os

    from b24reports.ingest.dataset import Dataset

    expected = reports.get("testrep").run(Dataset.load(env["store"]), RAW).to_metrics_json(GEN)
    runs_here = []
    real_run = reports.ReportSpec.run
    monkeypatch.setattr(reports.ReportSpec, "run", lambda self, *a, **k: runs_here.append(self.name) or real_run(self, *a, **k))
    files = render.render_report("testrep", env["store"], RAW, tmp_path, ("json", "xlsx", "html"), GEN, kernel=warm)
    assert runs_here == [], "this process computed nothing: the notebook did, for every format"
    page = files["html"].read_text(encoding="utf-8")
    pid = re.search(r"computed-in-pid-(\d+)", page).group(1)
    assert int(pid) != os.getpid()  # computed in the kernel ...
    assert json.loads(files["json"].read_text(encoding="utf-8")) == expected  # ... to the same numbers
    assert sorted(p.name for p in files["xlsx"].parent.iterdir()) == ["metrics.json", "report.html", "report.xlsx"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_on_a_warm_kernel_a_failed_notebook_keeps_the_other_formats(env, warm, tmp_path, monkeypatch):
    import papermill as pm

    from b24reports.ingest.dataset import Dataset

    def failing_notebook(inp, out, parameters, **kw):
        raise pm.PapermillExecutionError(2, 2, "RuntimeError: broken view", "RuntimeError", "broken view", [])

    monkeypatch.setattr(pm, "execute_notebook", failing_notebook)
    with pytest.raises(render.RenderError) as e:
        render.render_report("testrep", env["store"], RAW, tmp_path, ("html", "json"), GEN, kernel=warm)
    assert e.value.failures == {"testrep/html": "notebook cell 2 raised RuntimeError: broken view"}
    doc = json.loads((tmp_path / "testrep" / "metrics.json").read_text(encoding="utf-8"))
    assert doc == reports.get("testrep").run(Dataset.load(env["store"]), RAW).to_metrics_json(GEN)  # computed here
