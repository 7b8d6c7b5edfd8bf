"""One Chromium prints a run's PDFs (issue 19): ``render.PdfPrinter`` prints a page whose big
inline script (plotly.js) it loads from a file, with the same result as the inline page."""

from __future__ import annotations

import shutil

import pytest

from b24reports.outputs import render

pytestmark = pytest.mark.skipif(render.find_chromium() is None or shutil.which("pdftotext") is None,
                                reason="chromium and pdftotext are part of `make install`")

# a script of ~150 kB (over BIG_SCRIPT) that writes the page's text when it runs
BIG = "var pad = '" + "x" * 150_000 + "';\ndocument.getElementById('out').textContent = 'ran:' + pad.length;\n"
PAGE = ("<html><head><style>/* an output holding only <script> (plotly.js) */ body{font:14px sans-serif}</style>"
        "</head><body><p>Отчёт</p><div id='out'>not run</div><script type='text/javascript'>{big}</script>"
        "<script>document.body.insertAdjacentHTML('beforeend', '<p>small ' + 'ok</p>');</script></body></html>")


def _text(pdf) -> str:
    import subprocess

    return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_print_copy_loads_the_big_script_from_a_file_and_keeps_the_rest(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(PAGE.replace("{big}", BIG), encoding="utf-8")
    with render.PdfPrinter(pages=1) as printer:
        copy = printer._print_copy(page)
        html = copy.read_text(encoding="utf-8")
        (script,) = printer._scripts.values()
        assert script.read_text(encoding="utf-8") == BIG
        # the CSS comment's "<script>" is left alone, the small script stays inline
        assert html == PAGE.replace("<script type='text/javascript'>{big}</script>",
                                    f"<script type='text/javascript' src=\"{script.as_uri()}\"></script>")
        printer.print(page, tmp_path / "a.pdf")
        printer.print(page, tmp_path / "b.pdf")  # the same tab again
    assert not copy.exists()
    for pdf in ("a.pdf", "b.pdf"):
        words = _text(tmp_path / pdf).split()
        assert words == ["Отчёт", "ran:150000", "small", "ok"], words
    from pypdf import PdfReader

    reader = PdfReader(str(tmp_path / "a.pdf"))
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root and "/MarkInfo" in root  # tagged, as chromium --print-to-pdf made it
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)  # no @page: chromium's Letter


def test_a_page_that_never_loads_fails_with_no_pdf(tmp_path):
    with render.PdfPrinter(pages=1, timeout=30) as printer:
        with pytest.raises(render.RenderError, match="pdf"):
            printer.print(tmp_path / "missing.html", tmp_path / "m.pdf")
    assert not (tmp_path / "m.pdf").exists()


def test_a_chromium_that_will_not_start_is_a_pdf_error_naming_it(monkeypatch):
    monkeypatch.setenv("B24REPORTS_CHROMIUM", "/bin/false")  # exists, exits at once
    with pytest.raises(render.RenderError) as e:
        render.PdfPrinter(pages=1, timeout=60)
    assert list(e.value.failures) == ["pdf"] and "chromium would not start" in e.value.failures["pdf"]
