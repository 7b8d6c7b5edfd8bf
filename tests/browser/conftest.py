"""Browser tests: register the ``browser`` marker (deselect with ``-m "not browser"``)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a live Voila dashboard in headless chromium (Playwright)")
