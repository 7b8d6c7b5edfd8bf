"""Browser tests: the ``browser`` marker (deselect with ``-m "not browser"``) and one headless Chromium
per test module (Playwright on the system chromium that ``make test`` installs)."""

from collections.abc import Iterator

import pytest
from b24reports.outputs import render


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a live Voila dashboard in headless chromium (Playwright)")


@pytest.fixture(scope="module")  # not session: one sync Playwright per thread at a time, so each module starts its own
def chromium_browser() -> Iterator:
    """A Playwright ``Browser`` on the system chromium, closed when the module's tests end."""
    exe = render.find_chromium()
    assert exe is not None, "chromium not installed (make test installs it)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()
