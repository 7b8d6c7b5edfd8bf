"""What a dashboard's URL and its server say: the query that prefills the filters
(:func:`query_to_raw`, aliases such as ``?employee=12&from=2026-02-01``) and the parameters every
dashboard of the server gets (:func:`server_params`, set by ``b24reports serve``)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl

from b24reports import reports
from b24reports.core.errors import BadParameter

#: URL query aliases -> parameter names (``?employee=12&from=2026-02-01``).
QUERY_ALIASES = {"from": "date_from", "to": "date_to", "employee": "employees", "pipeline": "pipelines",
                 "department": "departments", "source": "sources", "stage": "stages", "period": "preset"}


#: Parameter names -> the names a link uses for them (the inverse of :data:`QUERY_ALIASES`).
LINK_NAMES = {v: k for k, v in QUERY_ALIASES.items()}


def query_to_raw(query: str, spec: reports.ReportSpec) -> dict[str, str]:
    """Raw report parameters from a URL query string (Voila's ``QUERY_STRING``).

    Accepts parameter names (``employees=12``, ``date_from=2026-02-01``) and the aliases of
    :data:`QUERY_ALIASES` (``employee``, ``pipeline``, ``department``, ``source``, ``from``,
    ``to``, ``period`` = a preset name). Keys the report does not declare and Voila's own
    (``voila-template``, ``theme``, …) are ignored; repeated keys join with commas. Values
    stay strings: ``ReportSpec.parse_params`` checks them (``BadParameter``). A ``period``
    preset comes back under the key ``preset``; ``drill`` (the periods before a drill-down,
    :func:`b24reports.outputs.dashboard.board.parse_drills`) as is.
    """
    declared = {p.name for p in spec.all_params} | {"preset", "drill"}
    out: dict[str, str] = {}
    for k, v in parse_qsl(query or "", keep_blank_values=False):
        name = QUERY_ALIASES.get(k, k)
        if name not in declared:
            continue
        out[name] = f"{out[name]},{v}" if name in out else v
    return out


#: Environment variable with the server's report parameters (JSON object), set by ``serve``.
PARAMS_ENV = "B24REPORTS_DASHBOARD_PARAMS"


def server_params(spec: reports.ReportSpec) -> dict[str, Any]:
    """Parameters the server gives every dashboard (``b24reports serve --plan/--param``),
    from the JSON object in ``$B24REPORTS_DASHBOARD_PARAMS``, limited to those ``spec``
    declares. Not a JSON object -> ``BadParameter(PARAMS_ENV, …)``."""
    import json

    text = os.environ.get(PARAMS_ENV, "").strip()
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise BadParameter(PARAMS_ENV, text[:80], "expected a JSON object of report parameters")
    declared = {p.name for p in spec.all_params}
    return {k: v for k, v in data.items() if k in declared and v is not None}


def url_query() -> str:
    """The page's URL query: Voila's ``QUERY_STRING``, set in the environment of a kernel
    started for the request. A preheated kernel (``VOILA_PREHEAT=True``) was started before
    the request: it waits here for the request (``voila.utils.get_query_string``)."""
    if os.environ.get("VOILA_PREHEAT") == "True" and "QUERY_STRING" not in os.environ:
        try:
            from voila.utils import get_query_string

            return get_query_string() or ""
        except Exception:  # no request info: no prefill
            return ""
    return os.environ.get("QUERY_STRING", "") or ""
