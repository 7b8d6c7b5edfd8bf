"""The webhook secret never leaves the HTTP layer (issue 6): sync and render through the CLI
with a webhook whose token is a distinctive string (test_hostile.SECRET), then grep stdout,
stderr, logs, the executed notebooks, HTML, PDF text, XLSX (every zip member), metrics.json
and the DuckDB store for it.
"""

from __future__ import annotations

import logging
import zipfile

import duckdb
import pytest

import hardening_summary as hs
from b24reports.demo import DemoServer, Fault, FaultPlan
from b24reports.core.errors import B24AuthError
from b24reports.ingest.sync import sync
from test_hostile import SECRET, hostile_portal, hostile_run


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    return hostile_run(tmp_path_factory.mktemp("hostile"))


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_cli_stdout_and_stderr_never_show_the_token(run):
    procs = run["outputs"]
    assert len(procs) >= 5  # sync --webhook URL + render all + 3 reports
    text = "".join(p.stdout + p.stderr for p in procs)
    assert "report.html" in text and "sync" in text  # the streams were not empty
    assert SECRET not in text


def test_every_output_file_is_free_of_the_token(run):
    files = _files(run["out"])
    kinds = {p.suffix for p in files}
    assert {".html", ".pdf", ".xlsx", ".json"} <= kinds, kinds
    for p in files:
        data = p.read_bytes()
        assert SECRET.encode() not in data, p
        if p.suffix == ".xlsx":  # compressed: look inside every member
            with zipfile.ZipFile(p) as z:
                for m in z.namelist():
                    assert SECRET.encode() not in z.read(m), (p, m)
        if p.suffix == ".pdf":  # compressed streams: extract the text
            from pypdf import PdfReader

            text = "".join(page.extract_text() or "" for page in PdfReader(p).pages)
            assert text.strip() and SECRET not in text, p
        if p.suffix == ".ipynb":  # an executed notebook, if a renderer kept one
            assert SECRET not in data.decode("utf-8", "replace"), p


def test_executed_notebooks_hold_only_the_store_path(run, tmp_path):
    """The notebooks papermill executes get the store path and report parameters, never a
    webhook: run one the way render.py does and grep the executed notebook itself."""
    from b24reports import reports
    from b24reports.ingest.dataset import Dataset
    from b24reports.outputs.render import RenderJob, execute_notebook

    import datetime as dt

    spec = reports.get("forgotten")
    ds = Dataset.load(run["store"])
    result = spec.run(ds, {"as_of": "2026-11-30T12:00:00+03:00", "lang": "en"})
    job = RenderJob(spec, result, run["store"], tmp_path, dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc))
    out = tmp_path / "executed.ipynb"
    nb = execute_notebook(job, out)
    import nbformat

    text = nbformat.writes(nb) + (out.read_text(encoding="utf-8") if out.exists() else "")
    assert str(run["store"]) in text and SECRET not in text


def test_store_holds_no_token(run):
    db = run["store"]
    raw = db.read_bytes() + (db.with_suffix(db.suffix + ".wal").read_bytes()
                             if db.with_suffix(db.suffix + ".wal").exists() else b"")
    assert SECRET.encode() not in raw
    con = duckdb.connect(str(db), read_only=True)
    try:  # DuckDB may compress strings on disk: also read every text cell back
        tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        assert "sync_runs" in tables and "portal_info" in tables
        for t in tables:
            for row in con.execute(f'SELECT * FROM "{t}"').fetchall():
                assert SECRET not in repr(row), t
        portal = dict(con.execute("SELECT key, value FROM portal_info").fetchall())["portal"]
        assert portal.startswith("http://127.0.0.1:")
    finally:
        con.close()


def test_logs_and_failure_records_never_show_the_token(tmp_path, caplog):
    """Everything at DEBUG (root logger) through retries and a failing run: the log records,
    the raised error, the SyncReport-in-store error text."""
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "s.duckdb"
    faults = FaultPlan([Fault("503", method="batch", nth=1, times=2), Fault("truncated", method="batch", nth=3),
                        Fault("reset", method="batch", nth=4), Fault("expired", method="batch", nth=6)])
    with DemoServer(hostile_portal(), token=SECRET, faults=faults) as srv:
        with pytest.raises(B24AuthError) as ei:
            sync(srv.webhook_url, db, progress=False, log=logging.getLogger("b24reports.test"))
        hs.faults_fired(faults)
    assert len(faults.fired) == 5
    assert any("retrying" in r.getMessage() for r in caplog.records)  # the retry path logged
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert SECRET not in logged and SECRET not in str(ei.value) and SECRET not in repr(ei.value)
    con = duckdb.connect(str(db), read_only=True)
    try:
        err = con.execute("SELECT error FROM sync_runs").fetchall()[-1][0]
    finally:
        con.close()
    assert err and "expired" in err and SECRET not in err
