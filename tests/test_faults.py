"""Fault suite (issue 6): sync against the demo server under the faults test_sync_demo.py does not
cover -- slow replies past the client timeout, a failing batch sub-command, a webhook that
expires or loses a scope mid-run, rows inserted/deleted/updated while the export runs, SIGKILL
at seeded points -- and the CLI's one-line, exit-2 answer to a refused webhook or an unreachable
host, with the store left as it was.

After every fault the store must hold exactly the server's rows, compared by id and modified
time (``test_sync_demo.assert_exact``), at the latest after the next sync, which must complete.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import hardening_summary as hs
from b24reports import cli
from b24reports.ingest.client import B24Client
from b24reports.demo import DemoServer, Fault, FaultPlan, generate_portal
from b24reports.core.errors import B24AuthError, B24BatchError, B24TransportError, B24UnreachableError
from b24reports.ingest.schema import TABLES
from b24reports.ingest.store import open_store
from b24reports.ingest.sync import sync
from test_sync_demo import ENTITIES, assert_exact, server_state, store_state

SCALE = 0.01  # 25 deals, 15 leads, 382 activities, 175 calls: ~40 requests a sync with 1-page batches
TOKEN = "demo-webhook-token"


class PagedClient(B24Client):
    """A client whose fast export chains ``pages`` pages per batch (default 50): with 1 page a
    batch, every 50 rows is its own HTTP request, so faults can land between pages."""

    def __init__(self, url, pages: int = 1, **kw):
        kw = {"rate": 1000, "burst": 1000, "backoff_base": 0.01, "backoff_max": 0.05, "max_retries": 8, **kw}
        super().__init__(url, **kw)
        self.pages = pages

    def export(self, *a, **kw):
        kw.setdefault("pages_per_batch", self.pages)
        return super().export(*a, **kw)


def portal(scale: float = SCALE):
    return generate_portal(seed=7, scale=scale)


def store_checksum(path) -> str:
    """sha256 over every data table's sorted rows (``sync_runs`` excluded: a refused run is
    recorded there on purpose) and ``portal_info``/``sync_state``."""
    h = hashlib.sha256()
    with open_store(path, read_only=True) as s:
        for table in sorted(TABLES):
            if table == "sync_runs":
                continue
            rows = s.con.execute(f"SELECT * FROM {table}").fetchall()
            h.update(table.encode())
            for r in sorted(map(repr, rows)):
                h.update(r.encode())
    return h.hexdigest()


def assert_consistent_subset(p, db, deleted_ids: dict[str, set[int]] | None = None):
    """Every stored row is a server row with the same modified time, or one the server deleted
    after the sync read it (``deleted_ids``); nothing doubled (primary keys + equal counts)."""
    want, got = server_state(p), store_state(db)
    deleted_ids = deleted_ids or {}
    for table in ENTITIES:
        for i, mod in got[table].items():
            if i in deleted_ids.get(table, set()):
                continue
            assert i in want[table], f"{table} id {i}: in the store, never on the server"
            # the server row may have changed after the sync read it; then the store has the older time
            assert mod is None or want[table][i] is None or mod <= want[table][i], f"{table} id {i}: newer than the server"
    with open_store(db, read_only=True) as s:
        for table in ENTITIES:
            n = s.con.execute(f"SELECT count(*), count(DISTINCT id) FROM {table}").fetchone()
            assert n[0] == n[1], f"{table}: duplicate ids"


# --------------------------------------------------------------------------- server faults


def test_slow_replies_past_the_timeout_are_retried_and_end_exact(tmp_path):
    p = portal()
    db = tmp_path / "s.duckdb"
    # the 2nd and 3rd batch requests hang 1.5 s; the client gives up on each after 0.5 s and retries
    faults = FaultPlan([Fault("slow", method="batch", nth=2, times=2, seconds=1.5)])
    with DemoServer(p, faults=faults) as srv:
        client = PagedClient(srv.webhook_url, timeout=0.5)
        rep = sync(client, db, progress=False)
    assert rep.status == "ok"
    assert hs.faults_fired(faults) == 2
    assert client.retries["B24TransportError"] >= 2  # one retry per timed-out request
    assert_exact(p, db)


@pytest.mark.parametrize("fault, error", [
    # with 1-page batches: batch 1 = deals, 2 = leads, 3-10 = activities; activities page 1 fails
    (Fault("batch_error", method="batch", nth=3, command="p0", code="ERROR_CORE"), B24BatchError),
    # the webhook expires in the middle of the activities export (batch 6: activities page 4 of 8)
    (Fault("expired", method="batch", nth=6), B24AuthError),
    # the webhook loses the crm scope for one sub-command, mid-export
    (Fault("insufficient_scope", method="crm.activity.list", nested=True, nth=4), B24AuthError),
    # the portal stops answering (every request from the 8th batch on is reset; retries run out)
    (Fault("reset", method="batch", nth=8, times=0), B24TransportError),
], ids=["batch_error", "expired_mid_run", "scope_lost_mid_run", "connection_gone"])
def test_run_cut_by_a_fault_keeps_a_consistent_store_and_next_sync_is_exact(tmp_path, fault, error):
    p = portal()
    db = tmp_path / "s.duckdb"
    faults = FaultPlan([fault])
    with DemoServer(p, faults=faults) as srv:
        with pytest.raises(error) as ei:
            sync(PagedClient(srv.webhook_url, max_retries=2), db, progress=False)
        assert TOKEN not in str(ei.value)
        assert hs.faults_fired(faults) >= 1
        assert_consistent_subset(p, db)
        with open_store(db, read_only=True) as s:
            runs = s.runs()
            assert list(runs["status"]) == ["failed"] and TOKEN not in str(runs.iloc[0]["error"])
            # the failure cut the run short: something is still missing
            assert sum(s.count(t) for t in ENTITIES) < sum(len(v) for v in server_state(p).values())
        faults.faults.clear()
        rep = sync(PagedClient(srv.webhook_url), db, progress=False)
    assert rep.status == "ok"
    assert_exact(p, db)


def test_rows_inserted_updated_deleted_while_the_export_runs(tmp_path):
    p = portal(0.03)
    db = tmp_path / "s.duckdb"
    deals = sorted(int(r["ID"]) for r in p.rows("deal"))
    assert len(deals) == 75  # 2 pages of 50: batch 1 = deals 1-50, batch 2 = the last 25
    late_gone = deals[-3]     # not read yet when it is deleted (after batch 1)
    faults = FaultPlan([
        Fault("insert", method="batch", nth=1, entity="deal", count=3),      # 3 new deals (ids above all) after page 1
        Fault("delete", method="batch", nth=1, entity="deal", ids=[deals[0], late_gone]),  # one read, one not yet
        Fault("insert", method="batch", nth=4, entity="activity", count=2),  # activities grow during their export
        Fault("delete", method="batch", nth=5, entity="activity", count=2),  # lowest activities vanish after read
        Fault("insert", method="batch", nth=2, entity="task", count=1),      # a task appears before tasks are read
    ])
    with DemoServer(p, faults=faults) as srv:
        rep = sync(PagedClient(srv.webhook_url), db, progress=False)
        assert rep.status == "ok"
        assert hs.faults_fired(faults) == 5
        got = store_state(db)
        # the deal deleted after it was read made the pass disagree with the portal's count
        # (77 seen, 76 counted), so the pass was read again and proven: it is gone already; the
        # one deleted before it was read never arrives; the 3 inserted deals are exported
        assert deals[0] not in got["deals"] and late_gone not in got["deals"]
        new_deals = set(server_state(p)["deals"]) - set(deals)
        assert len(new_deals) == 3 and new_deals <= set(got["deals"])
        assert_exact(p, db)
        # a deal read in sync 1 is updated afterwards: the incremental window catches it
        p.update("deal", deals[10], TITLE="changed after the run")
        rep2 = sync(PagedClient(srv.webhook_url, pages=50), db, progress=False, id_pass=True)
    assert rep2.status == "ok" and rep2.mode == "incremental"
    assert rep2.deleted["deals"] == 0 and rep2.deleted["activities"] == 0 and rep2.rows["deals"] >= 1
    assert_exact(p, db)


# --------------------------------------------------------------------------- SIGKILL


def _seeded_kill_points(seed: int, n: int) -> list[int]:
    """``n`` request numbers (of the ~40 a 1-page-batch sync makes) to kill the child at."""
    rng = random.Random(seed)
    return sorted(rng.sample(range(3, 36), n))


@pytest.mark.parametrize("kill_at", _seeded_kill_points(2026, 3))
def test_sigkill_at_seeded_points_then_rerun_is_exact(tmp_path, kill_at):
    p = portal()
    db = tmp_path / "s.duckdb"
    faults = FaultPlan([Fault("slow", times=0, seconds=0.05)])  # every request 50 ms: the kill lands mid-run
    with DemoServer(p, faults=faults) as srv:
        script = textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {os.path.dirname(__file__)!r})
            from test_faults import PagedClient
            from b24reports.ingest.sync import sync
            sync(PagedClient({srv.webhook_url!r}), {str(db)!r}, progress=False)
        """)
        child = subprocess.Popen([sys.executable, "-c", script], env={**os.environ},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while srv.requests.total < kill_at and time.time() < deadline and child.poll() is None:
            time.sleep(0.005)
        assert child.poll() is None, "sync finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        hs.fault()
        assert TOKEN.encode() not in child.stderr.read()
        if db.exists():  # killed before the store was even created is fine too
            assert_consistent_subset(p, db)
        faults.faults.clear()
        rep = sync(PagedClient(srv.webhook_url), db, progress=False)
    assert rep.status == "ok"
    assert_exact(p, db)
    with open_store(db, read_only=True) as s:
        assert list(s.runs()["status"])[-1] == "ok"


# --------------------------------------------------------------------------- CLI: refused / unreachable


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    """A small portal, its server and a store synced from it (each test restores the store)."""
    p = generate_portal(seed=3, scale=0.005)
    db = tmp_path_factory.mktemp("faults_cli") / "s.duckdb"
    with DemoServer(p) as srv:
        sync(PagedClient(srv.webhook_url, pages=50), db, progress=False)
    return p, db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: connection refused


def _cli_sync(capsys, url, db):
    code = cli.run(["sync", "--webhook", url, "--store", str(db)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", ["expired", "invalid_credentials", "no_crm_scope", "scope_lost", "wrong_token"])
def test_refused_webhook_one_line_exit_2_store_untouched(synced, capsys, case):
    p, db = synced
    before = store_checksum(db)
    faults = FaultPlan({
        "expired": [Fault("expired", nth=1, times=0)],
        "invalid_credentials": [Fault("invalid_credentials", nth=1, times=0)],   # blocked webhook
        "scope_lost": [Fault("insufficient_scope", method="crm.currency.list", nth=1, times=0)],
    }.get(case, []))
    scopes = {"user", "department"} if case == "no_crm_scope" else None
    with DemoServer(p, faults=faults, scopes=scopes) as srv:
        url = srv.webhook_url if case != "wrong_token" else srv.webhook_url.replace(TOKEN, "revoked-token-42")
        code, out, err = _cli_sync(capsys, url, db)
    hs.fault()
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
    assert "webhook" in lines[0] or "scope" in lines[0]
    assert TOKEN not in out + err and "revoked-token-42" not in out + err
    assert store_checksum(db) == before


@pytest.mark.parametrize("case", ["dns", "refused"])
def test_unreachable_host_one_line_exit_2_store_untouched(synced, capsys, case):
    _, db = synced
    before = store_checksum(db)
    host = "nonexistent.invalid" if case == "dns" else f"127.0.0.1:{_free_port()}"
    # a remote host is https (plain http:// is refused up front on a non-loopback host)
    url = f"{'https' if case == 'dns' else 'http'}://{host}/rest/1/unreachable-secret-77/"
    t0 = time.monotonic()
    code, out, err = _cli_sync(capsys, url, db)
    hs.fault()
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot reach the portal" in lines[0] and host in lines[0]
    assert "unreachable-secret-77" not in out + err
    assert store_checksum(db) == before
    # 3 attempts with backoff 0.5-1 s and 1-2 s between them: well under the 8-retry budget (~1 min)
    assert time.monotonic() - t0 < 20


def test_unreachable_error_only_before_the_first_reply():
    """A portal that answered once and then refuses connections is an outage (retried, exit 1),
    not a wrong host (exit 2)."""
    import httpx

    calls = {"n": 0}

    def handler(request):
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(200, json={"result": ["crm"]})
        raise httpx.ConnectError("[Errno 111] Connection refused")

    c = B24Client("https://acme.bitrix24.ru/rest/1/outage-secret-1/", transport=httpx.MockTransport(handler),
                  sleep=lambda s: None, max_retries=4)
    assert c.call("scope")["result"] == ["crm"]
    with pytest.raises(B24TransportError) as ei:
        c.call("crm.deal.list")
    # 1 good reply + 5 attempts (1 + 4 retries), all refused: a transport error, not "unreachable"
    assert not isinstance(ei.value, B24UnreachableError) and calls["n"] == 6
    assert ei.value.exit_code == 1 and "outage-secret-1" not in str(ei.value)
    hs.fault(5)


def test_malformed_webhook_urls_exit_2_without_echoing_them(tmp_path, capsys):
    db = tmp_path / "never.duckdb"
    for url in ["ftp://acme.bitrix24.ru/rest/1/malformed-secret-1/", "https://acme.bitrix24.ru/rest/malformed-secret-1/",
                "https:///rest/1/malformed-secret-1/", "https://u:malformed-secret-1@acme.bitrix24.ru/rest/1/x/",
                "https://acme.bitrix24.ru:99999/rest/1/malformed-secret-1/"]:
        code, out, err = _cli_sync(capsys, url, db)
        hs.bad_input()
        assert code == 2, (url, err)
        assert "webhook" in err and "malformed-secret-1" not in out + err
    assert not db.exists()  # refused before any store was created
