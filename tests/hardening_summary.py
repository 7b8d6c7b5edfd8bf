"""Pytest plugin: counts the faults injected and the bad inputs tried by the hardening suites
(issue 6) and prints ``faults injected: N, bad inputs tried: M`` at the end of the run.

Loaded by ``pytest_plugins = ["hardening_summary"]`` in ``tests/conftest.py``. Tests call
:func:`fault` / :func:`bad_input` (``import hardening_summary as hs; hs.fault(3)``); a demo-server
:class:`~b24reports.demo.server.FaultPlan` is counted by its ``fired`` list (:func:`faults_fired`).
"""

from __future__ import annotations

import pytest

COUNTS = {"faults": 0, "bad_inputs": 0}


def fault(n: int = 1) -> None:
    """Count ``n`` injected faults (server faults, kills, unreachable hosts, refused webhooks)."""
    COUNTS["faults"] += int(n)


def faults_fired(plan) -> int:
    """Count the faults a demo-server ``FaultPlan`` actually applied; returns how many."""
    n = len(plan.fired)
    fault(n)
    return n


def bad_input(n: int = 1) -> None:
    """Count ``n`` bad inputs tried (parameters, plan files, URLs, hostile text values)."""
    COUNTS["bad_inputs"] += int(n)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 - pytest hook signature
    """Print the hardening summary line in the run's summary (only when something was counted).

    A first-running wrapper, so the line comes before pytest's own closing "N passed" line,
    which stays the last line CI reads."""
    if COUNTS["faults"] or COUNTS["bad_inputs"]:
        terminalreporter.write_sep("-", "hardening")
        terminalreporter.write_line(f"faults injected: {COUNTS['faults']}, bad inputs tried: {COUNTS['bad_inputs']}")
    return (yield)
