"""Store: schema creation, typed upsert by primary key, transactions, deal versions, meta tables."""

import datetime as dt
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from b24reports import cli
from b24reports.core.errors import BadParameter, StoreError, StoreNotSynced
from b24reports.ingest.store import (
    Store,
    check_synced,
    columns,
    default_store_path,
    open_store,
)

MSK = timezone(timedelta(hours=3))


def deal(i, modify, stage="NEW", opp="100.00"):
    return {"id": i, "title": f"D{i}", "category_id": 0, "stage_id": stage, "opportunity": Decimal(opp) if opp else None,
            "currency_id": "RUB", "date_create": datetime(2025, 1, 1, 9, 0, tzinfo=MSK),
            "date_modify": modify, "closedate": date(2025, 3, 31), "closed": False}


def test_upsert_types_roundtrip_and_replace(tmp_path):
    s = open_store(tmp_path / "p.duckdb")
    t1 = datetime(2025, 1, 2, 23, 30, tzinfo=MSK)
    assert s.upsert("deals", [deal(1, t1), deal(2, t1, opp=None)]) == 2
    s.upsert("deals", [deal(1, t1 + timedelta(hours=1), stage="WON", opp="12345678.99")])
    rows = s.con.execute("SELECT id, stage_id, opportunity, closedate, date_modify, closed FROM deals ORDER BY id").fetchall()
    assert len(rows) == 2
    assert rows[0][1] == "WON" and rows[0][2] == Decimal("12345678.99") and rows[0][3] == date(2025, 3, 31)
    # 2025-01-03 00:30 +03:00 is the instant 2025-01-02 21:30 UTC
    assert rows[0][4].astimezone(timezone.utc) == datetime(2025, 1, 2, 21, 30, tzinfo=timezone.utc)
    assert rows[1][2] is None and rows[1][5] is False


def test_users_list_column_and_statuses_composite_key(tmp_path):
    s = open_store(tmp_path / "p.duckdb")
    s.upsert("users", [{"id": 5, "active": True, "uf_department": [1, 7]}])
    s.upsert("statuses", [{"entity_id": "DEAL_STAGE", "status_id": "NEW", "sort": 10, "semantics": "P"},
                          {"entity_id": "DEAL_STAGE_1", "status_id": "NEW", "sort": 10, "semantics": "P"}])
    s.upsert("statuses", [{"entity_id": "DEAL_STAGE", "status_id": "NEW", "sort": 20, "semantics": "P"}])
    assert s.con.execute("SELECT uf_department FROM users").fetchone()[0] == [1, 7]
    assert s.con.execute("SELECT entity_id, sort FROM statuses ORDER BY entity_id").fetchall() == [
        ("DEAL_STAGE", 20), ("DEAL_STAGE_1", 10)]


def test_transaction_rolls_back(tmp_path):
    s = open_store(tmp_path / "p.duckdb")
    t = datetime(2025, 1, 1, tzinfo=MSK)
    s.upsert("deals", [deal(1, t)])
    with pytest.raises(RuntimeError):
        with s.transaction():
            s.upsert("deals", [deal(2, t)])
            s.set_state("deals", watermark=t)
            raise RuntimeError("killed")
    assert s.ids("deals") == {1} and s.get_state("deals") is None


def test_deal_versions_valid_from_to(tmp_path):
    s = open_store(tmp_path / "p.duckdb")
    t1, t2, t3 = (datetime(2025, 1, d, 10, tzinfo=MSK) for d in (1, 2, 3))
    now = datetime(2025, 1, 5, tzinfo=timezone.utc)
    s.record_deal_versions([deal(1, t1)], now)
    s.record_deal_versions([deal(1, t1)], now)           # same version again: ignored
    s.record_deal_versions([deal(1, t3, stage="WON")], now)
    s.record_deal_versions([deal(1, t2, stage="PREPARATION")], now)  # seen late: slotted in between
    got = s.con.execute("SELECT stage_id, valid_from, valid_to FROM deal_versions ORDER BY valid_from").fetchall()
    assert [g[0] for g in got] == ["NEW", "PREPARATION", "WON"]
    assert got[0][2] == t2 and got[1][2] == t3 and got[2][2] is None


def test_meta_tables_and_delete(tmp_path):
    s = open_store(tmp_path / "p.duckdb")
    s.set_info("timezone", "+03:00")
    s.set_state("deals", last_id=10)
    s.set_state("deals", watermark=datetime(2025, 1, 1, tzinfo=timezone.utc))
    st = s.get_state("deals")
    assert st["last_id"] == 10 and st["watermark"] == datetime(2025, 1, 1, tzinfo=timezone.utc)
    t = datetime(2025, 1, 1, tzinfo=MSK)
    s.upsert("deals", [deal(i, t) for i in (1, 2, 3)])
    s.delete_ids("deals", [2, 9])
    assert s.ids("deals") == {1, 3} and s.max_id("deals") == 3
    rid = s.start_run("full", t)
    s.finish_run(rid, status="ok", finished_at=t, requests=5, rows={"deals": 3}, warnings=["w"])
    r = s.runs().iloc[0]
    assert r["status"] == "ok" and r["requests"] == 5 and s.get_info("timezone") == "+03:00"
    s.close()
    ro = open_store(tmp_path / "p.duckdb", read_only=True)
    assert ro.count("deals") == 2
    with pytest.raises(StoreError):
        ro.upsert("deals", [deal(4, t)])


def test_errors_and_paths(tmp_path):
    with pytest.raises(StoreError):
        open_store(tmp_path / "missing.duckdb", read_only=True)
    with pytest.raises(BadParameter):
        columns("nope")
    assert str(default_store_path("https://acme.bitrix24.ru")) == "data/acme.bitrix24.ru.duckdb"
    assert str(default_store_path("http://127.0.0.1:8080", "/x")) == "/x/127.0.0.1_8080.duckdb"


T0 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)


def _run(capsys, *argv):
    code = cli.run(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


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
