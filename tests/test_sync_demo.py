"""End-to-end sync against the demo Bitrix24 server (real HTTP on loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime

import pytest

import hardening_summary as hs
from b24reports.ingest.client import B24Client
from b24reports.demo import DemoServer, Fault, FaultPlan, RateLimit, generate_portal
from b24reports.ingest.store import open_store
from b24reports.ingest.sync import sync

SCALE = 0.03

# store table -> (demo entity, id key, modified key in the wire row, store modified column)
ENTITIES = {
    "deals": ("deal", "ID", "DATE_MODIFY", "date_modify"),
    "leads": ("lead", "ID", "DATE_MODIFY", "date_modify"),
    "activities": ("activity", "ID", "LAST_UPDATED", "last_updated"),
    "tasks": ("task", "id", "changedDate", "changed_date"),
    "deal_stage_history": ("deal_stage_history", "ID", None, None),
    "lead_status_history": ("lead_status_history", "ID", None, None),
    "calls": ("call", "ID", None, None),
    "users": ("user", "ID", None, None),
}


def server_state(portal) -> dict[str, dict[int, datetime | None]]:
    out = {}
    for table, (entity, idk, modk, _) in ENTITIES.items():
        out[table] = {int(r[idk]): (datetime.fromisoformat(r[modk]) if modk else None) for r in portal.rows(entity)}
    return out


def store_state(path) -> dict[str, dict[int, datetime | None]]:
    out = {}
    with open_store(path, read_only=True) as s:
        for table, (_, _, _, col) in ENTITIES.items():
            sel = f"id, {col}" if col else "id, NULL"
            out[table] = {r[0]: r[1] for r in s.con.execute(f"SELECT {sel} FROM {table}").fetchall()}
    return out


def data_diff(portal, path) -> dict[str, int]:
    """Rows lost (on the portal, not stored), duplicated (an id stored more than once) and stale
    (stored with another modified time than the portal's), over every synced entity; counted
    in the run's hardening summary line."""
    want, got = server_state(portal), store_state(path)
    lost = sum(len(set(want[t]) - set(got[t])) for t in ENTITIES)
    stale = sum(1 for t in ENTITIES for i in set(want[t]) & set(got[t]) if want[t][i] != got[t][i])
    with open_store(path, read_only=True) as s:
        duplicated = sum(s.con.execute(f"SELECT count(*) - count(DISTINCT id) FROM {t}").fetchall()[0][0]
                         for t in ENTITIES)
    hs.data_check(lost=lost, duplicated=duplicated, stale=stale)
    return {"lost": lost, "duplicated": duplicated, "stale": stale}


def assert_exact(portal, path):
    assert data_diff(portal, path) == {"lost": 0, "duplicated": 0, "stale": 0}
    want, got = server_state(portal), store_state(path)
    for table in ENTITIES:
        assert got[table] == want[table], f"{table}: store differs from the server"
    with open_store(path, read_only=True) as s:
        # no row doubled: primary keys make it impossible, but stage history counts must match too
        assert s.count("deal_stage_history") == len(portal.rows("deal_stage_history"))


def fast_client(url) -> B24Client:
    return B24Client(url, rate=1000, burst=1000, backoff_base=0.01, backoff_max=0.05, max_retries=8)


@pytest.fixture(scope="module")
def portal_factory():
    return lambda: generate_portal(seed=7, scale=SCALE)


def test_full_sync_equals_server_then_incremental(tmp_path, portal_factory):
    portal = portal_factory()
    db = tmp_path / "demo.duckdb"
    with DemoServer(portal) as srv:
        rep = sync(fast_client(srv.webhook_url), db, progress=False)
        assert rep.status == "ok" and rep.mode == "full"
        assert_exact(portal, db)
        # requests for the big entities stay at the floor: ceil(rows / 2500) + 0 for a short last page
        deals = len(portal.rows("deal"))
        assert deals < 2500 and srv.requests.nested["crm.deal.list"] >= 1
        with open_store(db, read_only=True) as s:
            info = s.portal_info()
            assert info["portal"] == srv.base_url.rstrip("/") or info["portal"].startswith("http://127.0.0.1:")
            assert info["timezone"] == "+03:00" and info["telephony"] == "yes" and info["base_currency"]
            assert "demo-webhook-token" not in str(info)

        # an update, an insert and a deletion on the portal
        d = portal.rows("deal")
        upd, gone = int(d[3]["ID"]), int(d[5]["ID"])
        portal.update("deal", upd, TITLE="Renamed", OPPORTUNITY="777.00")
        new_id = portal.add("deal", {"TITLE": "Brand new", "CATEGORY_ID": "0", "STAGE_ID": "NEW",
                                     "STAGE_SEMANTIC_ID": "P", "OPPORTUNITY": "10.00", "CURRENCY_ID": "RUB",
                                     "ASSIGNED_BY_ID": "1"})
        portal.delete("deal", gone)
        portal.update("task", int(portal.rows("task")[0]["id"]), TITLE="changed task")
        rep2 = sync(fast_client(srv.webhook_url), db, progress=False, id_pass=True)
        assert rep2.mode == "incremental" and rep2.deleted["deals"] == 1
        assert_exact(portal, db)
        with open_store(db, read_only=True) as s:
            assert s.con.execute("SELECT title, opportunity FROM deals WHERE id = ?", [upd]).fetchall() == [
                ("Renamed", 777)]
            assert s.ids("deals") >= {new_id} and gone not in s.ids("deals")
            # the renamed deal has two versions now
            assert s.con.execute("SELECT count(*) FROM deal_versions WHERE id = ?", [upd]).fetchall()[0][0] == 2
        # incremental moved few rows: only the changed deal, the new one (+ overlap window)
        assert rep2.rows["deals"] < len(portal.rows("deal"))


def test_sync_killed_mid_run_then_rerun_is_exact(tmp_path, portal_factory):
    portal = portal_factory()
    db = tmp_path / "demo.duckdb"
    # every batch takes 0.3 s, so the child is surely inside the entity exports when killed
    faults = FaultPlan([Fault("slow", method="batch", times=0, seconds=0.3)])
    with DemoServer(portal, faults=faults) as srv:
        script = textwrap.dedent(f"""
            from b24reports.ingest.sync import sync
            sync({srv.webhook_url!r}, {str(db)!r}, progress=False)
        """)
        child = subprocess.Popen([sys.executable, "-c", script], env={**os.environ})
        deadline = time.time() + 60
        # batch 1 = deals, 2 = leads, 3 = activities (in flight, 0.3 s): kill while it runs
        while srv.requests.by_method["batch"] < 3 and time.time() < deadline and child.poll() is None:
            time.sleep(0.02)
        assert child.poll() is None, "sync finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        with open_store(db, read_only=True) as s:  # readable, partial
            assert s.runs().iloc[-1]["status"] == "running"
            assert s.count("activities") < len(portal.rows("activity"))
            assert s.get_state("activities") is None or s.get_state("activities")["last_id"] is not None
        faults.faults.clear()
        rep = sync(fast_client(srv.webhook_url), db, progress=False)
        assert rep.status == "ok"
        assert_exact(portal, db)
        with open_store(db, read_only=True) as s:
            assert list(s.runs()["status"]) == ["failed", "ok"]


def test_faults_still_end_exact(tmp_path, portal_factory):
    portal = portal_factory()
    db = tmp_path / "demo.duckdb"
    faults = FaultPlan([
        Fault("503", method="batch", nth=2, times=3),          # a 503 burst
        Fault("500", method="batch", nth=6),                   # HTML 500 page
        Fault("truncated", method="batch", nth=8),
        Fault("reset", method="batch", nth=10),
        Fault("429", method="crm.status.list", nth=2, seconds=0.2),
    ])
    with DemoServer(portal, faults=faults, rate_limit=RateLimit(max_burst=10, drain_per_sec=50)) as srv:
        client = fast_client(srv.webhook_url)
        rep = sync(client, db, progress=False)
        assert rep.status == "ok"
        assert_exact(portal, db)
        kinds = {k for _, k, _ in faults.fired}
        assert {"503", "500", "truncated", "reset", "429"} <= kinds
        assert sum(client.retries.values()) >= 6


def test_missing_optional_scopes_warn(tmp_path, portal_factory):
    portal = portal_factory()
    db = tmp_path / "demo.duckdb"
    with DemoServer(portal, scopes={"crm", "user", "department"}) as srv:
        rep = sync(fast_client(srv.webhook_url), db, progress=False)
    assert rep.status == "ok"
    text = " ".join(rep.warnings)
    assert "'telephony'" in text and "'task'" in text and "'sonet_group'" in text
    with open_store(db, read_only=True) as s:
        assert s.count("calls") == 0 and s.count("tasks") == 0 and s.get_info("telephony") == "no"
        assert s.count("deals") == len(portal.rows("deal"))


def test_bad_token_is_auth_error_without_secret(tmp_path, portal_factory):
    from b24reports.core.errors import B24AuthError

    portal = portal_factory()
    with DemoServer(portal) as srv:
        url = srv.webhook_url.replace("demo-webhook-token", "wrongtoken123")
        with pytest.raises(B24AuthError) as ei:
            sync(url, tmp_path / "x.duckdb", progress=False)
    assert "wrongtoken123" not in str(ei.value)


def test_no_log_record_contains_the_secret(tmp_path, portal_factory, caplog):
    import logging

    caplog.set_level(logging.DEBUG)
    portal = portal_factory()
    faults = FaultPlan([Fault("503", method="batch", nth=1), Fault("reset", method="batch", nth=3)])
    with DemoServer(portal, faults=faults) as srv:
        rep = sync(fast_client(srv.webhook_url), tmp_path / "x.duckdb", progress=False, log=logging.getLogger("t"))
    assert rep.status == "ok" and caplog.records  # retries and progress were logged
    assert "demo-webhook-token" not in caplog.text
    assert logging.getLogger("httpx").level == logging.WARNING


def test_a_sync_drops_a_demo_clock(tmp_path, portal_factory):
    """`b24reports demo` writes its simulated portal's now into the store (portal_info «clock»,
    the default as_of of reports on it). A later sync reads a live portal, after which that clock
    no longer says when the data is from: the sync removes it."""
    from b24reports.ingest.dataset import Dataset

    db = tmp_path / "demo.duckdb"
    with DemoServer(portal_factory()) as srv:
        sync(fast_client(srv.webhook_url), db, progress=False)
        with open_store(db) as s:
            s.set_info("clock", "2026-11-30T12:00:00")
        assert Dataset.load(db).clock is not None
        sync(fast_client(srv.webhook_url), db, progress=False)
    with open_store(db, read_only=True) as s:
        assert "clock" not in s.portal_info()
    assert Dataset.load(db).clock is None
