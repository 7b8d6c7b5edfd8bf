"""The report registry: a report is a registry entry (``ReportSpec``), found by name.

Entries are discovered from the modules of the ``b24reports.reports.specs`` package (each defines
``SPEC = ReportSpec(...)`` or ``SPECS = [...]``), plus the modules named in the environment
variable ``B24REPORTS_EXTRA_SPECS`` (comma-separated, e.g. a test fixture or a plugin).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Mapping
from typing import Any

from b24reports.core.errors import BadParameter
from b24reports.reports.params import ReportDefinitionError
from b24reports.reports.spec import ReportSpec

# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, ReportSpec] = {}
_DISCOVERED = False
_REPLACED: set[str] = set()  # names registered with replace=True


def register(spec: ReportSpec, *, replace: bool = False) -> ReportSpec:
    """Add ``spec`` to the registry (spec modules usually just define ``SPEC``).
    A second, different spec with the same name raises :class:`ReportDefinitionError`."""
    old = _REGISTRY.get(spec.name)
    if old is not None and old is not spec and not replace:
        raise ReportDefinitionError(f"two reports named {spec.name!r}")
    _REGISTRY[spec.name] = spec
    if replace:
        _REPLACED.add(spec.name)
    return spec


def unregister(name: str) -> None:
    """Remove a report from the registry (tests)."""
    _REGISTRY.pop(name, None)
    _REPLACED.discard(name)


def _register_module(mod: Any) -> None:
    for spec in [getattr(mod, "SPEC", None), *getattr(mod, "SPECS", ())]:
        # a spec replaced on purpose (register(..., replace=True)) stays: discovery runs again
        # later and must not collide with its own module's original
        if isinstance(spec, ReportSpec) and spec.name not in _REPLACED:
            register(spec)


def discover() -> None:
    """Import every module of ``b24reports.reports.specs`` and of ``B24REPORTS_EXTRA_SPECS`` and
    register their ``SPEC``/``SPECS``. Idempotent."""
    global _DISCOVERED
    from b24reports.reports import specs as _specs

    for info in sorted(pkgutil.iter_modules(_specs.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            _register_module(importlib.import_module(f"{_specs.__name__}.{info.name}"))
    for name in filter(None, (s.strip() for s in os.environ.get("B24REPORTS_EXTRA_SPECS", "").split(","))):
        _register_module(importlib.import_module(name))
    _DISCOVERED = True


def get(name: str) -> ReportSpec:
    """The registered report ``name``; unknown -> ``BadParameter('report', name, …)``."""
    if not _DISCOVERED:
        discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BadParameter("report", name, f"unknown report; known: {', '.join(sorted(_REGISTRY)) or '(none)'}") from None


def all_reports() -> list[ReportSpec]:
    """Every registered report, sorted by name."""
    if not _DISCOVERED:
        discover()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def split_params(raw: Mapping[str, Any], specs: list[ReportSpec] | None = None) -> dict[str, dict[str, Any]]:
    """``render all``: hand each raw parameter to the reports that declare it.

    Returns {report name: {param: value}}. A parameter that no report of ``specs`` declares
    raises ``BadParameter(name, value, …)`` (METRICS.md "Parameters").
    """
    specs = all_reports() if specs is None else specs
    out: dict[str, dict[str, Any]] = {s.name: {} for s in specs}
    for k, v in raw.items():
        takers = [s for s in specs if any(p.name == k for p in s.all_params)]
        if not takers:
            who = f"report {specs[0].name!r}" if len(specs) == 1 else "any report"
            raise BadParameter(k, v, f"not a parameter of {who} (see `b24reports list`)")
        for s in takers:
            out[s.name][k] = v
    return out
