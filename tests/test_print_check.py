"""The print check on the demo's eight report PDFs (issue 20): no page under 40 % filled but a
report's last, no page ending in a heading, long lists cut in print with a note. The checker
itself is first shown to catch both faults on a PDF made to have them."""

from __future__ import annotations

import datetime as dt

import nbformat
import pytest

from b24reports.outputs import render
from b24reports.demo.plan import demo_plan
from print_check import pages, problems

REPORTS = ("funnel", "forgotten", "dynamics", "plan", "managers", "marketing", "tasks", "pipeline")


def _pdf(tmp_path, outputs):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=outputs)])
    page = tmp_path / "p.html"
    page.write_text(render.notebook_to_html(nb, "t", "ru"), encoding="utf-8")
    render.html_to_pdf(page, tmp_path / "p.pdf")
    return tmp_path / "p.pdf"


def _out(mime, data):
    return nbformat.v4.new_output("display_data", data={mime: data, "text/plain": ""})


def test_the_checker_finds_a_near_empty_page_and_a_heading_at_a_page_foot(tmp_path):
    # a 250 px block, then a block taller than a page: page 1 is ~25 % filled
    pdf = _pdf(tmp_path, [_out("text/html", '<div style="height:250px">ВЕРХ</div>'),
                          _out("text/html", '<div class="plotly-graph-div" style="height:1100px">БОЛЬШОЙ</div>')])
    assert any(p.startswith("p1: ") and p.endswith("filled") for p in problems(pdf))
    # a heading forced to a page's foot (content after it starts the next page)
    pdf = _pdf(tmp_path, [_out("text/html", '<div style="height:900px">ВЕРХ</div>'),
                          _out("text/html", '<h2 style="margin:0">Одинокий заголовок</h2>'),
                          _out("text/html", '<div style="break-before:page">НИЗ</div>')])
    assert "p1 ends in heading 'Одинокий заголовок'" in problems(pdf)
    # a heading with only its intro below it at a page's foot, the chart on the next page
    pdf = _pdf(tmp_path, [_out("text/html", '<div style="height:600px">ВЕРХ</div>'),
                          _out("text/html", '<h2 style="margin:0">Брошенный заголовок</h2><p>Вводный абзац.</p>'),
                          _out("text/html", '<div style="break-before:page;height:500px">ГРАФИК</div>')])
    assert any(p.startswith("p1 strands heading 'Брошенный заголовок'") for p in problems(pdf))
    # the rule for the edge portal: a short page that ends a section (the next starts with a
    # heading) passes; one whose next page goes on with the same section does not
    pdf = _pdf(tmp_path, [_out("text/html", '<div style="height:250px">ВЕРХ</div>'),
                          _out("text/html", '<h2 style="margin:0;break-before:page">Новый раздел</h2><div style="height:300px">Т</div>')])
    assert problems(pdf, section_ends=True) == [] and any(p.startswith("p1: ") for p in problems(pdf))
    pdf = _pdf(tmp_path, [_out("text/html", '<div style="height:250px">ВЕРХ</div>'),
                          _out("text/html", '<div class="plotly-graph-div" style="height:1100px">БОЛЬШОЙ</div>')])
    assert any(p.startswith("p1: ") for p in problems(pdf, section_ends=True))


@pytest.fixture(scope="module")
def demo_pdfs(demo_store, demo_week_store, demo_dataset, demo_as_of, tmp_path_factory):
    out = tmp_path_factory.mktemp("print")
    plan = demo_plan(demo_dataset, demo_as_of, out / "plan.csv")
    when = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    printed: list[tuple[render.PdfPrinter, str]] = []  # (printer, report) of every PDF (printers kept alive)
    real_print = render.PdfPrinter.print
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(render.PdfPrinter, "print", lambda self, html, pdf: (printed.append((self, html.parent.name)),
                                                                        real_print(self, html, pdf))[1])
        done = render.render_all(demo_store, {"as_of": demo_as_of, "plan": str(plan)}, out, ("html", "pdf"),
                                 when, names=REPORTS[:-1], workers=2, progress=False)
        first_run = {p for p, _ in printed}
        # the pipeline compares two syncs: the store that lived a week
        done |= render.render_all(demo_week_store, {"as_of": demo_as_of}, out, ("html", "pdf"), when,
                                  names=("pipeline",), workers=1, progress=False)
    pdfs = {name: files["pdf"] for name, files in done.items()}
    pdfs["printers"] = first_run
    pdfs["printed"] = len(printed)
    return pdfs


def test_one_chromium_prints_the_whole_run(demo_pdfs):
    assert demo_pdfs["printed"] == len(REPORTS)
    assert len(demo_pdfs["printers"]) == 1  # one PdfPrinter (one chromium) for the seven PDFs of one run


@pytest.mark.parametrize("report", REPORTS)
def test_demo_pdf_pages_are_filled_and_no_heading_ends_a_page(demo_pdfs, report):
    assert problems(demo_pdfs[report]) == []


def test_demo_funnel_deal_list_stops_with_a_note(demo_pdfs):
    text = "\n".join(ln[2] for p in pages(demo_pdfs["funnel"]) for ln in p.lines)
    assert "полный список в Excel" in text
    ps = pages(demo_pdfs["funnel"])
    # the report itself (was 13 pages, six of them deal lists), then its definitions (docs/metrics.md's
    # section and the common rules, on the page since the third round of issue 20): at most 2 pages
    start = next(i for i, p in enumerate(ps, start=1) if any("Как считается каждое число" in ln[2] for ln in p.lines))
    assert start <= 10 and len(ps) - start + 1 <= 2


@pytest.fixture(scope="module")
def edge_pdfs(demo_week_store, demo_as_of, tmp_path_factory):
    """The eight reports' PDFs of the edge portal (tests/edge_portal.py: 30 managers with long
    names, one pipeline of 12 stages, 25 sources), as the layout check has it."""
    from b24reports.ingest.dataset import Dataset
    from edge_portal import build_edge_store

    out = tmp_path_factory.mktemp("print-edge")
    edge = build_edge_store(demo_week_store, out / "edge.duckdb")
    plan = demo_plan(Dataset.load(edge), demo_as_of, out / "plan.csv")
    done = render.render_all(edge, {"as_of": demo_as_of, "plan": str(plan)}, out, ("html", "pdf"),
                             dt.datetime(2026, 12, 1, tzinfo=dt.UTC), names=REPORTS, workers=2, progress=False)
    return {name: files["pdf"] for name, files in done.items()}


@pytest.mark.parametrize("report", REPORTS)
def test_edge_portal_pdf_pages_are_filled_and_no_heading_ends_a_page(edge_pdfs, report):
    # the print rule, on the edge portal: no page under 40 % filled but a section's last,
    # no heading at a page's foot
    assert problems(edge_pdfs[report], section_ends=True) == []

