"""Reports as registry entries: what a report is, what it takes, what it returns.

* ``params``: declared parameters (``ParamSpec``), their parsing and resolution against the data
  (``Params``), and the run's :class:`~b24reports.metrics.scope.Scope` (``resolve_scope``).
* ``spec``: ``ReportSpec`` and ``TableSpec``; ``ReportSpec.run`` is the one way a report is computed.
* ``result``: ``ReportResult`` and the ``metrics.json`` encoding.
* ``registry``: find reports by name (``get``, ``all_reports``), discovered from ``specs/``.
* ``presets``: named periods (``last_month`` …) shared by the CLI, the schedule and the dashboards.
* ``specs/<report>.py``: one registry entry per report.

The names below are the package's API (``from b24reports import reports; reports.get("funnel")``).
"""

from b24reports.core.paths import NOTEBOOKS_DIR
from b24reports.reports.params import (
    COMMON_NAMES,
    COMMON_PARAMS,
    EXPECTED,
    PARAM_KINDS,
    Params,
    ParamSpec,
    ReportDefinitionError,
    parse_timezone,
)
from b24reports.reports.registry import all_reports, discover, get, register, split_params, unregister
from b24reports.reports.result import ReportResult, json_value, make_result, result_cache_key
from b24reports.reports.spec import ReportSpec, TableSpec

__all__ = [
    "COMMON_NAMES", "COMMON_PARAMS", "EXPECTED", "NOTEBOOKS_DIR", "PARAM_KINDS", "ParamSpec", "Params",
    "ReportDefinitionError", "ReportResult", "ReportSpec", "TableSpec", "all_reports", "discover", "get",
    "json_value", "make_result", "parse_timezone", "register", "result_cache_key", "split_params", "unregister",
]
