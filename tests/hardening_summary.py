"""Pytest plugin: counts the faults injected and the bad inputs tried by the hardening suites
(issue 6) and the stores compared with their portal (issue 14), and prints ``faults injected: N,
bad inputs tried: M, data checks: K (rows lost: 0, duplicated: 0, stale: 0)`` at the end of the run.

Loaded by ``pytest_plugins = ["hardening_summary"]`` in ``tests/conftest.py``. Tests call
:func:`fault` / :func:`bad_input` (``import hardening_summary as hs; hs.fault(3)``); a demo-server
:class:`~b24reports.demo.server.FaultPlan` is counted by its ``fired`` list (:func:`faults_fired`).
"""

from __future__ import annotations

import pytest

COUNTS = {"faults": 0, "bad_inputs": 0, "data_checks": 0, "lost": 0, "duplicated": 0, "stale": 0}


def fault(n: int = 1) -> None:
    """Count ``n`` injected faults (server faults, kills, unreachable hosts, refused webhooks)."""
    COUNTS["faults"] += int(n)


def faults_fired(plan) -> int:
    """Count the faults a demo-server ``FaultPlan`` actually applied; returns how many."""
    n = len(plan.fired)
    fault(n)
    return n


def data_check(*, lost: int, duplicated: int, stale: int) -> None:
    """Count one comparison of a store with its portal and the rows it found lost (on the
    portal, not in the store), duplicated (one id stored twice) and stale (stored with another
    modified time than the portal's)."""
    COUNTS["data_checks"] += 1
    COUNTS["lost"] += int(lost)
    COUNTS["duplicated"] += int(duplicated)
    COUNTS["stale"] += int(stale)


def bad_input(n: int = 1) -> None:
    """Count ``n`` bad inputs tried (parameters, plan files, URLs, hostile text values)."""
    COUNTS["bad_inputs"] += int(n)


SKIPPED: list[str] = []


def pytest_runtest_logreport(report):
    """Remember every skipped test: ``make test`` installs what every test needs (chromium,
    pdftotext), so a skip means a test did not run, and the run fails (:func:`pytest_sessionfinish`)."""
    if report.skipped and not hasattr(report, "wasxfail"):
        SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """A run in which any test skipped fails (exit status 1), naming the skipped tests."""
    if SKIPPED and exitstatus == 0:
        session.exitstatus = 1


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 - pytest hook signature
    """Print the hardening summary line in the run's summary (only when something was counted).

    A first-running wrapper, so the line comes before pytest's own closing "N passed" line,
    which stays the last line CI reads."""
    if SKIPPED:
        terminalreporter.write_line(f"FAILED: {len(SKIPPED)} test(s) skipped; every test must run in make test: "
                                    + ", ".join(SKIPPED[:10]), red=True)
    if COUNTS["faults"] or COUNTS["bad_inputs"] or COUNTS["data_checks"]:
        terminalreporter.write_sep("-", "hardening")
        terminalreporter.write_line(
            f"faults injected: {COUNTS['faults']}, bad inputs tried: {COUNTS['bad_inputs']}, "
            f"data checks: {COUNTS['data_checks']} (rows lost: {COUNTS['lost']}, duplicated: {COUNTS['duplicated']}, "
            f"stale: {COUNTS['stale']})")
    return (yield)
