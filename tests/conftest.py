"""Shared pytest fixtures: one demo store per test session, for end-to-end tests.

The demo portal is generated with a fixed anchor (:data:`DEMO_ANCHOR`), so every run sees the
same data and a report run with ``as_of = DEMO_AS_OF`` is repeatable. It is served on
loopback by :class:`b24reports.demo.server.DemoServer` and pulled into a temporary DuckDB
store by the real sync path (:func:`b24reports.ingest.sync.sync`), once per session: tests that
need a store share it and must treat it as read-only.

Fixtures:

* ``demo_anchor`` — the portal's today (``datetime.date``); its "now" is 12:00 +03:00;
* ``demo_as_of`` — that "now" as an ISO string, the ``as_of`` end-to-end tests pass;
* ``demo_store`` — ``pathlib.Path`` of the synced store;
* ``demo_dataset`` — :class:`b24reports.ingest.dataset.Dataset` loaded from it (shared, do not mutate);
* ``demo_week_store`` — the same portal synced a week earlier, then after each half of that
  week (deal history: the pipeline report, the dynamics slips).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

#: prints "faults injected: N, bad inputs tried: M" at the end of the run (issue 6)
pytest_plugins = ["hardening_summary"]

#: The demo portal's "today"; fixed so that tests are repeatable.
DEMO_ANCHOR = dt.date(2026, 11, 30)
#: The demo portal's "now" (generator: anchor 12:00 portal time, +03:00).
DEMO_AS_OF = f"{DEMO_ANCHOR.isoformat()}T12:00:00+03:00"
#: Size of the session's demo portal (1.0 = ~2,500 deals); ``B24R_TEST_DEMO_SCALE`` overrides.
DEMO_SCALE = float(os.environ.get("B24R_TEST_DEMO_SCALE", "1.0"))


@pytest.fixture(scope="session")
def demo_anchor() -> dt.date:
    """The demo portal's today (fixed)."""
    return DEMO_ANCHOR


@pytest.fixture(scope="session")
def demo_as_of() -> str:
    """The demo portal's "now", ISO-8601 with offset: the ``as_of`` of end-to-end runs."""
    return DEMO_AS_OF


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generate the demo portal (seed 42, fixed anchor), serve it on loopback and sync it
    into a fresh DuckDB store, once per session. Returns the store's path."""
    from b24reports.demo.generator import generate_portal
    from b24reports.demo.server import DemoServer
    from b24reports.ingest.sync import sync

    portal = generate_portal(seed=42, scale=DEMO_SCALE, anchor=DEMO_ANCHOR)
    store = tmp_path_factory.mktemp("demo_store") / "demo.duckdb"
    with DemoServer(portal) as server:
        sync(server.webhook_url, store, progress=False)
    return store


@pytest.fixture(scope="session")
def demo_week_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo portal synced a week before :data:`DEMO_ANCHOR`, then living that week with a
    sync in the middle and one at the end (``demo.generator.sync_with_history``, as ``b24reports
    demo`` does): a store with deal history, for the pipeline report and the dynamics slips.
    Its "now" is :data:`DEMO_AS_OF` too. Read-only, once per session."""
    from b24reports.demo.generator import generate_portal, sync_with_history
    from b24reports.demo.server import DemoServer
    from b24reports.ingest.sync import sync

    portal = generate_portal(seed=42, scale=DEMO_SCALE, anchor=DEMO_ANCHOR - dt.timedelta(days=7))
    store = tmp_path_factory.mktemp("demo_week_store") / "demo.duckdb"
    with DemoServer(portal) as server:
        sync_with_history(portal, server.webhook_url, store, 7, sync=sync, progress=False)
    return store


@pytest.fixture(scope="session")
def demo_dataset(demo_store: Path):
    """The session's demo store loaded as a :class:`~b24reports.ingest.dataset.Dataset` (read-only)."""
    from b24reports.ingest.dataset import Dataset

    return Dataset.load(demo_store)
