"""Fixes of the static-report findings of the new-user trial (PDF breaks, plan chart, Excel
names and sheet names, plurals, failed first sync, parameter messages, month axis labels)."""

from __future__ import annotations

import datetime as dt

import pytest

from b24reports import cli
from b24reports.errors import StoreNotSynced
from b24reports.store import Store, check_synced

T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)


def _run(capsys, *argv):
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- 6. failed first sync


def _store_with_runs(path, statuses):
    with Store(path) as st:
        for status in statuses:
            rid = st.start_run("full", T0)
            st.finish_run(rid, status=status, finished_at=T0, requests=1, rows={},
                          warnings=[], error=None if status == "ok" else "B24AuthError: expired_token\nline two")
            if status == "ok":
                st.set_info("portal", "https://x.bitrix24.ru")
    return path


def test_render_after_failed_first_sync_exits_2_one_line(tmp_path, capsys):
    store = _store_with_runs(tmp_path / "p.duckdb", ["failed"])
    code, _, err = _run(capsys, "render", "funnel", "--store", str(store), "--out", str(tmp_path / "o"),
                        "--formats", "json", "--no-progress")
    assert code == 2
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err  # the run's multi-line error is folded into one line
    assert str(store) in lines[0] and "run `b24reports sync` first" in lines[0]
    assert "expired_token line two" in lines[0]
    assert store.exists()  # nothing deleted


def test_render_from_empty_store_exits_2(tmp_path, capsys):
    store = tmp_path / "empty.duckdb"
    Store(store).close()  # created by a sync that failed before its first run was recorded
    code, _, err = _run(capsys, "render", "funnel", "--store", str(store), "--out", str(tmp_path / "o"),
                        "--formats", "json", "--no-progress")
    assert code == 2 and "never synced" in err and str(store) in err


def test_store_with_a_completed_sync_stays_readable_after_a_failed_one(tmp_path):
    store = _store_with_runs(tmp_path / "p.duckdb", ["ok", "failed"])
    assert check_synced(store) is None  # no error: the last consistent state is reported
    with pytest.raises(StoreNotSynced, match="does not exist"):
        check_synced(tmp_path / "missing.duckdb")
    assert StoreNotSynced("x").exit_code == 2


# --------------------------------------------------------------------------- 1. PDF: heading kept with its chart


def _pdf_page_texts(pdf):
    import subprocess

    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")


def test_pdf_heading_moves_with_its_intro_and_chart(tmp_path):
    """A page that has room for a heading and its intro but not for the chart after them
    must not end with the heading: all three start the next page together."""
    import shutil

    import nbformat

    from b24reports import render

    if render.find_chromium() is None or shutil.which("pdftotext") is None:
        pytest.skip("needs chromium and pdftotext")

    def out(mime, data):
        return nbformat.v4.new_output("display_data", data={mime: data})

    # A4 at 12 mm margins leaves ~1030 px of height at the page's 740 px width: 600 px of filler,
    # then heading + intro (~100 px) fit, the 480 px chart does not (more than the 240 px a heading
    # used to reserve below itself)
    cell = nbformat.v4.new_code_cell("", outputs=[
        out("text/html", '<div style="height:600px">filler</div>'),
        out("text/markdown", "## Orphan check heading"),
        out("text/markdown", "Intro paragraph under the heading."),
        out("text/html", "<script>window.x = 1;</script>"),  # plotly.js's invisible output
        out("text/html", '<div class="plotly-graph-div" style="height:480px;border:1px solid #000">CHART BOX</div>'),
    ])
    nb = nbformat.v4.new_notebook(cells=[cell])
    html_path = tmp_path / "r.html"
    html_path.write_text(render.notebook_to_html(nb, "t", "en"), encoding="utf-8")
    render.html_to_pdf(html_path, tmp_path / "r.pdf")
    pages = _pdf_page_texts(tmp_path / "r.pdf")
    assert "filler" in pages[0]
    assert "Orphan check heading" not in pages[0] and "Intro paragraph" not in pages[0]
    assert "Orphan check heading" in pages[1] and "Intro paragraph" in pages[1] and "CHART BOX" in pages[1]
