"""Dataset.load refuses a store whose sync never completed (a failed first sync)."""

import datetime as dt

import pandas as pd
import pytest

from b24reports.ingest.dataset import Dataset
from b24reports.metrics.facts import deal_facts
from b24reports.core.errors import StoreError
from b24reports.ingest.store import Store


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


def test_memo_computes_once_and_hands_out_independent_copies():
    from b24reports.ingest.dataset import Dataset

    ds = Dataset.from_frames()
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"a": [1, 2]}), ["w"], {7: 0.5}

    f1, w1, r1 = ds.memo(("k", 1), compute)
    f1["b"] = [3, 4]  # a caller adding a column and changing a value
    f1.loc[0, "a"] = 99
    w1.append("x")
    r1[8] = 1.0
    f2, w2, r2 = ds.memo(("k", 1), compute)
    assert len(calls) == 1
    assert list(f2.columns) == ["a"] and f2["a"].tolist() == [1, 2] and w2 == ["w"] and r2 == {7: 0.5}
    ds.memo(("k", 2), compute)
    assert len(calls) == 2  # another key computes


def test_memo_drops_least_recently_used_beyond_its_size():
    from b24reports.ingest.dataset import Dataset

    ds = Dataset.from_frames()
    for i in range(Dataset.MEMO_SIZE + 1):
        ds.memo(("k", i), lambda i=i: i)
    calls = []
    assert ds.memo(("k", 0), lambda: calls.append(1) or -1) == -1  # key 0 was dropped: computed again
    assert ds.memo(("k", Dataset.MEMO_SIZE), lambda: calls.append(1) or -1) == Dataset.MEMO_SIZE
    assert calls == [1]


def test_deal_facts_cached_per_arguments():
    from b24reports.ingest.dataset import Dataset

    deals = pd.DataFrame({"id": [1], "category_id": [0], "stage_id": ["NEW"], "stage_semantic_id": ["P"],
                          "assigned_by_id": [5], "opportunity": [100.0], "currency_id": ["RUB"],
                          "date_create": [pd.Timestamp("2026-01-10T10:00:00+03:00")]})
    ds = Dataset.from_frames(deals=deals)
    a = pd.Timestamp("2026-02-01T00:00:00+03:00")
    f1, _ = deal_facts(ds, a)
    f2, _ = deal_facts(ds, a)
    f3, _ = deal_facts(ds, pd.Timestamp("2026-01-01T00:00:00+03:00"))
    assert f1["id"].tolist() == [1] and f2["id"].tolist() == [1]
    assert len(f3) == 0  # created after that as_of: a different key, computed anew
    assert f1 is not f2
