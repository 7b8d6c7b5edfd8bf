"""Dataset.load refuses a store whose sync never completed (a failed first sync)."""

import datetime as dt

import pytest

from b24reports.data import Dataset
from b24reports.errors import StoreError
from b24reports.store import Store


def _store_with_runs(path, statuses):
    s = Store(str(path))
    s.set_info("portal", "https://acme.bitrix24.ru")
    s.set_info("timezone", "+03:00")
    t = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.timezone.utc)
    for status in statuses:
        rid = s.start_run("full", t)
        s.finish_run(rid, status=status, finished_at=t, requests=1, rows={}, warnings=[],
                     error=None if status == "ok" else "B24AuthError: webhook refused")
    s.close()


def test_failed_first_sync_is_not_rendered_as_an_empty_portal(tmp_path):
    _store_with_runs(tmp_path / "s.duckdb", ["failed"])
    with pytest.raises(StoreError, match="no completed sync.*webhook refused"):
        Dataset.load(tmp_path / "s.duckdb")


def test_a_later_failed_sync_keeps_the_last_consistent_state_readable(tmp_path):
    _store_with_runs(tmp_path / "s.duckdb", ["ok", "failed"])
    ds = Dataset.load(tmp_path / "s.duckdb")
    assert ds.portal == "https://acme.bitrix24.ru" and len(ds.deals) == 0
