"""A first sync that fails before writing a row leaves no store file behind (issue 20); a failed
sync into an existing store keeps that store."""

from __future__ import annotations

import pytest

from b24reports.demo import DemoServer, generate_portal
from b24reports.core.errors import B24AuthError
from b24reports.ingest.sync import sync


@pytest.fixture(scope="module")
def server():
    with DemoServer(generate_portal(seed=7, scale=0.02)) as srv:
        yield srv


def test_failed_first_sync_leaves_no_empty_store(tmp_path, server):
    db = tmp_path / "new.duckdb"
    with pytest.raises(B24AuthError):
        sync(server.webhook_url.replace("demo-webhook-token", "wrongtoken123"), db, progress=False)
    assert not db.exists() and not (tmp_path / "new.duckdb.wal").exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_sync_into_an_existing_store_keeps_it(tmp_path, server):
    db = tmp_path / "kept.duckdb"
    assert sync(server.webhook_url, db, progress=False).status == "ok"
    size = db.stat().st_size
    with pytest.raises(B24AuthError):
        sync(server.webhook_url.replace("demo-webhook-token", "wrongtoken123"), db, progress=False)
    assert db.exists() and db.stat().st_size >= size
