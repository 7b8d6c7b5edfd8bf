"""Issue 14: the sync never loses what it holds. Each test injects, through the demo server, a
fault a portal can show on a bad day without any error -- an empty or short page, a date filter
it misreads, a row restored below the stored maximum id, a method its plan lacks, a reply that
trickles in, a redirect, a user deactivated mid-export, a long operating-limit wait -- and counts
the rows lost, duplicated and stale against the portal (``data_diff``, summed in the run's
hardening line), expecting zero or the stated error exit.

On the code before issue 14 each of these lost rows or hung: the empty page in ``--full``
deleted every stored deal, the short ID-pass page deleted most activities, the misread filter
moved the watermark past edits, ``--full`` never read below the stored maximum id, a missing
``tasks.task.list`` aborted the run, the trickle held the sync for the whole body, the redirect
was retried for a minute, the deactivated user pushed another out of the offset pages, and an
operating-limit wait printed nothing without a terminal.
"""

from __future__ import annotations

import time

import pytest

import hardening_summary as hs
from b24reports import cli
from b24reports.ingest.client import B24Client
from b24reports.demo import DemoServer, Fault, FaultPlan, generate_portal
from b24reports.demo.generator import fmt_dt
from b24reports.core.errors import B24RedirectError, SyncIncomplete
from b24reports.ingest.store import open_store
from b24reports.ingest.sync import sync
from test_faults import TOKEN, PagedClient, store_checksum
from test_sync_demo import assert_exact, data_diff, server_state, store_state

SCALE = 0.03  # 75 deals, ~1,150 activities: several pages per entity with 1-page batches


def portal():
    return generate_portal(seed=7, scale=SCALE)


def synced(tmp_path, p):
    """A store synced once, exactly, from ``p`` (no faults)."""
    db = tmp_path / "s.duckdb"
    with DemoServer(p) as srv:
        sync(PagedClient(srv.webhook_url), db, progress=False)
    assert_exact(p, db)
    return db


def full_sync(srv, db, **kw):
    return sync(PagedClient(srv.webhook_url), db, progress=False, **kw)


# --------------------------------------------------------------------------- deletion needs proof
def test_full_sync_with_one_empty_page_reads_again_and_deletes_nothing(tmp_path):
    p = portal()
    db = synced(tmp_path, p)
    faults = FaultPlan([Fault("empty", method="crm.deal.list", nested=True, nth=1)])
    with DemoServer(p, faults=faults) as srv:
        rep = full_sync(srv, db, full=True)
    assert hs.faults_fired(faults) == 1
    assert rep.status == "ok" and rep.deleted["deals"] == 0
    assert_exact(p, db)


def test_full_sync_whose_deal_pages_stay_empty_refuses_to_delete_and_exits_3(tmp_path, capsys):
    p = portal()
    db = synced(tmp_path, p)
    before = store_checksum(db)
    faults = FaultPlan([Fault("empty", method="crm.deal.list", nested=True, times=0)])
    with DemoServer(p, faults=faults) as srv:
        code = cli.run(["sync", "--webhook", srv.webhook_url, "--store", str(db), "--full"])
    assert hs.faults_fired(faults) >= 2  # the pass and its re-read
    assert code == 3
    err = capsys.readouterr().err
    assert "deals: refused to delete 75 of 75 stored rows" in err and "the portal counts 75" in err
    assert TOKEN not in err
    assert store_checksum(db) == before, "nothing stored was changed"
    assert data_diff(p, db) == {"lost": 0, "duplicated": 0, "stale": 0}


def test_a_short_page_in_the_id_pass_deletes_no_activity(tmp_path):
    p = portal()
    db = synced(tmp_path, p)
    n_activities = len(p.rows("activity"))
    faults = FaultPlan([Fault("short", method="crm.activity.list", nested=True, times=0, count=10)])
    with DemoServer(p, faults=faults) as srv:
        with pytest.raises(SyncIncomplete) as e:
            full_sync(srv, db, id_pass=True)
    hs.faults_fired(faults)
    rep = e.value.report
    assert rep.status == "incomplete" and rep.deleted.get("activities", 0) == 0
    assert f"activities: refused to delete {n_activities - 10} of {n_activities} stored rows" in str(e.value)
    assert set(rep.unproven) == {"activities"}, "the other entities synced as usual"
    assert_exact(p, db)
    with open_store(db, read_only=True) as s:
        assert s.con.execute("SELECT status FROM sync_runs ORDER BY run_id DESC LIMIT 1").fetchall() == [("incomplete",)]


def test_a_small_deletion_goes_ahead_when_the_count_agrees(tmp_path):
    p = portal()
    db = synced(tmp_path, p)
    gone = [int(r["ID"]) for r in p.rows("deal")][:3]
    for i in gone:
        p.delete("deal", i)
    with DemoServer(p) as srv:
        rep = full_sync(srv, db, id_pass=True)
    assert rep.status == "ok" and rep.deleted["deals"] == 3
    assert_exact(p, db)


# --------------------------------------------------------------------------- first sync
def test_first_sync_with_an_empty_first_deal_page_reads_again(tmp_path):
    p = portal()
    db = tmp_path / "s.duckdb"
    faults = FaultPlan([Fault("empty", method="crm.deal.list", nested=True, nth=1)])
    with DemoServer(p, faults=faults) as srv:
        rep = full_sync(srv, db)
    assert hs.faults_fired(faults) == 1 and rep.status == "ok"
    assert_exact(p, db)


def test_first_sync_that_receives_no_deals_is_an_error_and_the_next_sync_reads_them_all(tmp_path, capsys):
    p = portal()
    db = tmp_path / "s.duckdb"
    faults = FaultPlan([Fault("empty", method="crm.deal.list", nested=True, times=0)])
    with DemoServer(p, faults=faults) as srv:
        code = cli.run(["sync", "--webhook", srv.webhook_url, "--store", str(db)])
        hs.faults_fired(faults)
        assert code == 3
        assert "deals: a first sync received 0 rows but the portal counts 75" in capsys.readouterr().err
        srv.faults = None  # the portal answers right again: an incremental run must not be enough
        rep = full_sync(srv, db)
    assert rep.status == "ok" and rep.rows["deals"] == 75
    assert_exact(p, db)


# --------------------------------------------------------------------------- incremental filter
def test_a_misread_date_filter_falls_back_to_the_other_date_form_and_keeps_the_edits(tmp_path):
    p = portal()
    db = synced(tmp_path, p)
    deal = int(p.rows("deal")[5]["ID"])
    p.update("deal", deal, TITLE="edited between syncs")
    faults = FaultPlan([Fault("date_misread", times=0)])
    with DemoServer(p, faults=faults) as srv:
        rep = full_sync(srv, db, id_pass=False)
        assert hs.faults_fired(faults) > 0
        assert rep.status == "ok"
        assert_exact(p, db)
        with open_store(db, read_only=True) as s:
            assert s.get_info("date_filter_format") == "portal"
            assert s.con.execute("SELECT title FROM deals WHERE id = ?", [deal]).fetchall() == [("edited between syncs",)]
        assert any("reads date filters only as '2026-11-30 12:00:00'" in w for w in rep.warnings)
        # the next run uses the form that works from its first request
        p.update("deal", deal, TITLE="edited again")
        rep2 = full_sync(srv, db, id_pass=False)
    assert rep2.status == "ok" and rep2.rows["deals"] >= 1
    assert_exact(p, db)


def test_a_date_filter_applied_in_neither_form_reads_the_whole_table(tmp_path, monkeypatch):
    import b24reports.demo.server as server

    monkeypatch.setattr(server, "_ATOM", __import__("re").compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d"))  # both forms misread
    p = portal()
    db = synced(tmp_path, p)
    p.update("deal", int(p.rows("deal")[7]["ID"]), TITLE="edited between syncs")
    faults = FaultPlan([Fault("date_misread", times=0)])
    with DemoServer(p, faults=faults) as srv:
        rep = full_sync(srv, db, id_pass=False)
    hs.faults_fired(faults)
    assert rep.status == "ok" and rep.rows["deals"] == 75  # re-read whole
    assert any("did not apply the DATE_MODIFY date filter" in w for w in rep.warnings)
    assert_exact(p, db)


def test_a_short_page_in_the_incremental_window_keeps_the_watermark(tmp_path):
    p = portal()
    db = synced(tmp_path, p)
    edited = [int(r["ID"]) for r in p.rows("deal")][:60]
    stamp = fmt_dt(int(time.time()) - 120)  # edited before the next pass starts, after the watermark - overlap
    for i in edited:
        p.update("deal", i, TITLE=f"edit {i}", DATE_MODIFY=stamp)
    with open_store(db, read_only=True) as s:
        mark = s.get_state("deals")["watermark"]
    faults = FaultPlan([Fault("short", method="crm.deal.list", nested=True, times=0, count=20)])
    with DemoServer(p, faults=faults) as srv:
        with pytest.raises(SyncIncomplete, match=r"deals: the portal counts \d+ rows modified since .* but the export returned 20"):
            full_sync(srv, db, id_pass=False)
        hs.faults_fired(faults)
        with open_store(db, read_only=True) as s:
            assert s.get_state("deals")["watermark"] == mark, "the watermark did not move past the missed edits"
        srv.faults = None
        rep = full_sync(srv, db, id_pass=False)
    assert rep.status == "ok"
    assert_exact(p, db)


# --------------------------------------------------------------------------- --full and append-only
def test_full_sync_finds_stage_history_and_calls_restored_below_the_stored_max_id(tmp_path):
    p = portal()
    hist, calls = p.table("deal_stage_history"), p.table("call")
    h_row, c_row = hist.rows()[3], calls.rows()[2]
    p.delete("deal_stage_history", int(h_row["ID"]))
    p.delete("call", int(c_row["ID"]))
    db = synced(tmp_path, p)
    hist.append(h_row)  # restored from the recycle bin: its old id, below the stored maximum
    calls.append(c_row)
    with DemoServer(p) as srv:
        incremental = full_sync(srv, db, id_pass=False)
        assert incremental.rows.get("deal_stage_history", 0) == 0  # above-max reading cannot see it
        rep = full_sync(srv, db, full=True)
    assert rep.status == "ok"
    ids = store_state(db)
    assert int(h_row["ID"]) in ids["deal_stage_history"] and int(c_row["ID"]) in ids["calls"]
    assert_exact(p, db)


def test_periodic_id_pass_fetches_rows_the_store_lacks(tmp_path):
    p = portal()
    row = p.table("lead").rows()[4]
    p.delete("lead", int(row["ID"]))
    db = synced(tmp_path, p)
    p.table("lead").append(row)  # back with its old DATE_MODIFY: no incremental window finds it
    with DemoServer(p) as srv:
        rep = full_sync(srv, db, id_pass=True)
    assert rep.status == "ok" and int(row["ID"]) in store_state(db)["leads"]
    assert_exact(p, db)


# --------------------------------------------------------------------------- optional entities
@pytest.mark.parametrize("method, table", [("tasks.task.list", "tasks"), ("voximplant.statistic.get", "calls")])
def test_an_optional_method_the_portal_lacks_is_skipped_with_a_warning(tmp_path, capsys, method, table):
    p = portal()
    db = tmp_path / "s.duckdb"
    faults = FaultPlan([Fault("method_missing", method=method, nested=True, times=0)])
    with DemoServer(p, faults=faults) as srv:
        code = cli.run(["sync", "--webhook", srv.webhook_url, "--store", str(db)])
    hs.faults_fired(faults)
    assert code == 0
    err = capsys.readouterr().err
    assert f"skipped {table}: {method} is not available on this portal (ERROR_METHOD_NOT_FOUND)" in err
    got, want = store_state(db), server_state(p)
    assert got[table] == {}
    for other in ("deals", "leads", "activities", "deal_stage_history", "lead_status_history", "calls", "tasks"):
        if other != table:
            assert got[other] == want[other], f"{other} synced after the skipped {table}"


# --------------------------------------------------------------------------- transport
def test_a_trickling_reply_is_cut_at_the_deadline_and_retried(tmp_path):
    p = portal()
    faults = FaultPlan([Fault("trickle", method="profile", seconds=0.2)])
    with DemoServer(p, faults=faults) as srv:
        c = B24Client(srv.webhook_url, timeout=1.0, backoff_base=0.01, backoff_max=0.05, max_retries=2)
        t0 = time.monotonic()
        env = c.call("profile")
        took = time.monotonic() - t0
    hs.faults_fired(faults)
    assert int(env["result"]["ID"]) == 1
    assert c.retries["B24TransportError"] == 1
    assert took < 3.0, f"one attempt is cut at its 1 s deadline (the whole body would take ~40 s): {took:.1f} s"


def test_a_redirect_is_not_followed_and_exits_2_naming_the_https_address(tmp_path, capsys):
    p = portal()
    db = tmp_path / "s.duckdb"
    faults = FaultPlan([Fault("redirect", method="scope", times=0)])
    with DemoServer(p, faults=faults) as srv:
        t0 = time.monotonic()
        code = cli.run(["sync", "--webhook", srv.webhook_url, "--store", str(db)])
        took = time.monotonic() - t0
        asked = srv.requests.total
    hs.faults_fired(faults)
    err = capsys.readouterr().err
    assert code == 2 and took < 5 and asked == 1, "no retry of a redirect"
    assert f"redirect (HTTP 301) to https://127.0.0.1:{srv.port}" in err
    assert f"use the webhook URL that starts with https://127.0.0.1:{srv.port}/rest/" in err
    assert TOKEN not in err
    with pytest.raises(B24RedirectError):
        with DemoServer(p, faults=FaultPlan([Fault("redirect", times=0)])) as srv2:
            B24Client(srv2.webhook_url).call("scope")


# --------------------------------------------------------------------------- lists without an ID cursor
def test_a_user_deactivated_mid_export_shifts_no_other_user_out(tmp_path):
    p = portal()
    for k in range(60):  # more than one page of active users
        p.add("user", {"NAME": f"Сотрудник {k}", "LAST_NAME": "Тестов", "ACTIVE": True, "UF_DEPARTMENT": [1]})
    first = int(p.rows("user")[2]["ID"])
    faults = FaultPlan([Fault("update", method="user.get", nth=1, entity="user", ids=[first], fields={"ACTIVE": False})])
    db = tmp_path / "s.duckdb"
    with DemoServer(p, faults=faults) as srv:
        full_sync(srv, db)
    hs.faults_fired(faults)
    with open_store(db, read_only=True) as s:
        stored = dict(s.con.execute("SELECT id, active FROM users").fetchall())
    want = {int(r["ID"]): bool(r["ACTIVE"]) for r in p.rows("user")}
    lost = len(set(want) - set(stored))
    stale = sum(1 for i in set(want) & set(stored) if want[i] != stored[i])
    hs.data_check(lost=lost, duplicated=0, stale=stale)
    assert (lost, stale) == (0, 0) and stored[first] is False


# --------------------------------------------------------------------------- waits are said
def test_an_operating_limit_wait_prints_one_line_without_a_terminal(tmp_path, capsys):
    p = portal()
    db = tmp_path / "s.duckdb"
    faults = FaultPlan([Fault("429", method="scope", seconds=3)])
    with DemoServer(p, faults=faults) as srv:
        code = cli.run(["sync", "--webhook", srv.webhook_url, "--store", str(db)])
    hs.faults_fired(faults)
    err = capsys.readouterr().err
    waits = [line for line in err.splitlines() if "waiting" in line]
    assert code == 0 and len(waits) == 1, err
    assert "operating limit to reset" in waits[0] and TOKEN not in err
    seconds = int(waits[0].split("waiting ", 1)[1].split(" s", 1)[0])
    assert 3 <= seconds <= 5
    assert_exact(p, db)
