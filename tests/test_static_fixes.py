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
