"""The webhook secret never leaves the HTTP layer (issue 6): sync and render through the CLI
with a webhook whose token is a distinctive string (test_hostile.SECRET), then grep stdout,
stderr, logs, the executed notebooks, HTML, PDF text, XLSX (every zip member), metrics.json
and the DuckDB store for it.
"""

from __future__ import annotations

import logging
import os
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


# ----------------------------------------------------------------- the local application (issue 21)
APP_SECRET = "CLIENT-SECRET-q7Zx91LmNwPe"


def test_app_secrets_never_leave_the_http_layer(tmp_path, caplog, capsys, monkeypatch):
    """Sync as the application through a refresh (and a 503 retry) at DEBUG, then the install
    and app handlers' pages and a refused open: the client secret and every access and refresh
    token ever handed out are in no log line, stream, store cell, page or viewer cache."""
    from b24reports import cli
    from b24reports.outputs import appmode
    from b24reports.demo.oauth import DemoApp
    from b24reports.ingest.auth import app_tokens_path
    from test_appmode import fields

    caplog.set_level(logging.DEBUG)
    portal = hostile_portal()
    app = DemoApp(portal, client_secret=APP_SECRET)
    store = tmp_path / "app.duckdb"
    with DemoServer(portal, app=app, faults=FaultPlan([Fault("503", method="batch", nth=2)])) as srv:
        monkeypatch.setenv("B24_CLIENT_ID", app.client_id)
        monkeypatch.setenv("B24_CLIENT_SECRET", APP_SECRET)
        monkeypatch.setenv("B24_OAUTH_URL", srv.oauth_url)
        monkeypatch.setenv(appmode.KEY_ENV, "k" * 32)
        cfg = appmode.AppConfig(store=str(store))
        appmode.install(cfg, fields(srv, 1), public_url="https://reports.example.com")
        app.expire_all(after_calls=4)  # the token lapses mid-sync: one refresh
        assert cli.run(["sync", "--app", "--store", str(store)]) == 0
        f6 = fields(srv, 6)
        viewer, session = appmode.open_app(cfg, f6)
        listing = appmode.reports_page(session, "ru", f6["AUTH_ID"])
        # the list holds this open's own AUTH_ID (Bitrix24 POSTed it into this frame) in its
        # form, once, for /b24/open; nowhere else, and no other token
        assert listing.count(f6["AUTH_ID"]) == 1 and f'name="AUTH_ID" value="{f6["AUTH_ID"]}"' in listing
        dashboard = appmode.open_report_url(cfg, {"b24s": session, "AUTH_ID": f6["AUTH_ID"], "report": "funnel"})
        pages = [listing.replace(f6["AUTH_ID"], ""), dashboard, appmode.refused_page("bad_auth", "en"),
                 appmode.refused_page("other_viewer", "ru"), appmode.installed_page("ru", ["LEFT_MENU: bound"]),
                 appmode.signin_hint_html("ru")]
        app.revoke()
        assert cli.run(["sync", "--app", "--store", str(store)]) == 2  # a clear refusal, secrets masked
        minted = list(app.minted)
    streams = capsys.readouterr()
    secrets = [APP_SECRET, *minted]
    assert len(minted) >= 6  # install pair, viewer pairs, the refreshed pair
    texts = {"stdout": streams.out, "stderr": streams.err,
             "log": "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records),
             "pages": "\n".join(pages)}
    assert "sync" in texts["stderr"] and "Отчёты" in texts["pages"]
    for name, text in texts.items():
        for s in secrets:
            assert s not in text, name
    raw = store.read_bytes()
    con = duckdb.connect(str(store), read_only=True)
    try:
        cells = repr([con.execute(f'SELECT * FROM "{t}"').fetchall()
                      for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()])
    finally:
        con.close()
    for s in secrets:
        assert s.encode() not in raw and s not in cells
    # next to the store: the token file holds the current pair (0600) but never the client secret;
    # the viewer caches hold ids only
    assert APP_SECRET not in app_tokens_path(store).read_text()
    kept = [p for p in (store.parent / (store.name + ".viewers")).rglob("*") if p.is_file()]
    assert any(p.parent.name == "tickets" for p in kept)  # the dashboard open's one-time ticket
    for p in kept:
        text = p.read_text()
        assert all(s not in text for s in secrets), p


def test_dashboard_kernels_start_without_the_servers_secrets(tmp_path, monkeypatch):
    """Voila's kernel manager of `serve` (kernel_env.VOILA_FLAG) starts a real kernel with what
    Voila gives it (os.environ + request variables): the kernel's os.environ has the store
    path and the session key, and no client secret, webhook or token (issue 21)."""
    import asyncio
    import json

    from b24reports.outputs import kernel_env
    from b24reports.outputs.serve import voila_argv

    assert kernel_env.VOILA_FLAG in voila_argv(pool_size=0) and kernel_env.VOILA_FLAG in voila_argv(pool_size=1)
    webhook = f"https://acme.bitrix24.ru/rest/1/{SECRET}/"
    given = {**os.environ, "B24_CLIENT_SECRET": SECRET, "B24_CLIENT_ID": "local.abc", "ACME_HOOK": webhook,
             "B24_SMTP_PASSWORD": SECRET, "MY_API_TOKEN": SECRET, "B24REPORTS_SESSION_KEY": "kept-key",
             "B24REPORTS_STORE": "/x/store.duckdb", "QUERY_STRING": "b24s=abc"}
    out = tmp_path / "env.json"

    async def run() -> dict:
        km = kernel_env.SecretFreeKernelManager()
        kid = await km.start_kernel(kernel_name="python3", env=given)
        try:
            kc = km.get_kernel(kid).client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=60)
            await kc.execute_interactive(f"import os, json; json.dump(dict(os.environ), open({str(out)!r}, 'w'))",
                                         timeout=60)
            kc.stop_channels()
        finally:
            await km.shutdown_kernel(kid, now=True)
        return json.loads(out.read_text())

    env = asyncio.run(run())
    assert {"B24_CLIENT_SECRET", "B24_CLIENT_ID", "ACME_HOOK", "B24_SMTP_PASSWORD", "MY_API_TOKEN"}.isdisjoint(env)
    assert SECRET not in json.dumps(env)
    assert (env["B24REPORTS_SESSION_KEY"], env["B24REPORTS_STORE"], env["QUERY_STRING"]) == (
        "kept-key", "/x/store.duckdb", "b24s=abc")
