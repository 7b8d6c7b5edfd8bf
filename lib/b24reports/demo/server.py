"""A Bitrix24-compatible REST server over a :class:`~b24reports.demo.generator.DemoPortal`.

Speaks the real wire format (``/work/shared/bitrix24-api.md``) so the same client code works
against a real portal::

    portal = generate_portal()
    with DemoServer(portal) as srv:           # stdlib ThreadingHTTPServer on 127.0.0.1
        sync(srv.webhook_url, ...)            # http://127.0.0.1:<port>/rest/1/<token>/

Transport: ``/rest/<user>/<token>/<method>[.json]`` (webhook; sees everything) or
``/rest/<method>[.json]`` with ``auth=<access token>`` in the query or body (a local
application's per-user token: the user's CRM rights apply, see :mod:`b24reports.demo.oauth`;
``user.admin``, ``placement.bind`` and ``placement.list`` answer here); the token endpoint is
at ``oauth_path`` (default ``/oauth/token/``). GET query strings, POST form bodies in
PHP ``http_build_query`` nesting (``filter[>ID]=5&select[]=ID&order[ID]=ASC``) and POST JSON
bodies; top-level parameter names are case-insensitive. Wrong user/token -> 401
``NO_AUTH_FOUND``; a method outside the granted scopes -> 401 ``insufficient_scope``;
unknown method -> 404 ``ERROR_METHOD_NOT_FOUND``.

Methods: crm.deal.list, crm.lead.list, crm.activity.list, crm.stagehistory.list
(``entityTypeId`` 1|2 -> ``{"items": [...]}``), tasks.task.list (``{"tasks": [...]}``),
user.get, user.current, department.get, crm.status.list, crm.category.list
(``{"categories": [...]}``), crm.currency.list, voximplant.statistic.get, sonet_group.get,
scope, profile, server.time, batch. List filters/order/select/paging: see
:meth:`b24reports.demo.table.Table.query` (50 a page, ``start=-1`` = no COUNT).

``batch``: up to 50 commands (more -> 400 ``ERROR_BATCH_LENGTH_EXCEEDED``), run in order;
``$result[key][N][FIELD]`` / ``$result[key][items][N][id]`` references are resolved like
Bitrix24's ``CRestUtil::processBatchElement`` does (read in the Bitrix ``rest`` module source):

* the path is walked key by key and the walk STOPS at the first key that does not exist
  (or holds null); the value reached so far is used. So when the earlier page had fewer than
  N+1 rows, ``$result[p][49][ID]`` resolves to the whole previous page (a list of rows);
  when the referenced command failed or does not exist, it resolves to the whole results map;
* a parameter that is exactly the reference takes that value whatever its type (here a
  list of rows, which a ``>ID`` filter then reads as "ID > 1" -- PHP ``intval`` of a
  non-empty array is 1 -- so the page restarts near the beginning; an empty list drops the
  condition). A client must stop chaining when a page comes back short; this server
  reproduces the trap rather than hiding it [inferred for the filter part];
* a reference embedded in a longer string is replaced only when it resolves to a scalar;
  otherwise the literal ``$result[...]`` text stays in the parameter.

Known differences from a real portal (deliberate, to keep the demo small and strict):
without ``order`` every list comes in ID order (crm.activity.list on a portal defaults to
START_TIME; tasks.task.list defaults to ID DESC here too); a filter or order on an unknown
field is refused with 400 ``INVALID_ARG_VALUE`` (legacy CRM methods on a portal may ignore
it), unknown ``select`` names are ignored; error replies carry a ``time`` block only with a cost model or for 429.

Options (off by default): :class:`RateLimit` (leaky bucket -> 503 ``QUERY_LIMIT_EXCEEDED``),
:class:`CostModel` (per-method execution time in ten 1-minute buckets -> 429
``OPERATION_TIME_LIMIT`` with ``time.operating_reset_at``), :class:`FaultPlan` (deterministic
fault injection for tests).

Length: ~900 lines, one concern: one HTTP endpoint of a portal. The method handlers, ``batch``, the
fault plan, the rate limit and the cost model all act on the same request in one dispatch path;
the list-query engine they share is :mod:`b24reports.demo.table`.
"""

from __future__ import annotations

import collections
import datetime as dt
import io
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from b24reports.demo.generator import DemoPortal
from b24reports.demo.oauth import DemoApp, OAuthError
from b24reports.demo.table import PAGE_SIZE, TZ, QueryError, Table

#: Every scope the demo portal knows; the default grant.
ALL_SCOPES = frozenset({"crm", "task", "user", "user_brief", "user_basic", "department", "telephony", "sonet_group",
                        "im", "imopenlines"})

_HTML_500 = ("<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head><body>"
             "<h1>Internal Server Error</h1><p>nginx</p></body></html>")


class ApiError(Exception):
    """An error reply: HTTP ``status`` with ``{"error": code, "error_description": description}``."""

    def __init__(self, status: int, code: Any, description: str = "", extra_time: dict | None = None):
        self.status, self.code, self.description, self.extra_time = status, code, description, extra_time
        super().__init__(f"{status} {code}: {description}")


# --------------------------------------------------------------------------- options
@dataclass
class RateLimit:
    """Leaky bucket per client address: each HTTP request adds 1 (a batch is one request), the
    level drains ``drain_per_sec``; a request that would lift it above ``max_burst`` gets HTTP
    503 ``QUERY_LIMIT_EXCEEDED`` (and adds nothing). Bitrix24 cloud: 50 and 2/s (Enterprise 250, 5/s)."""

    max_burst: float = 50
    drain_per_sec: float = 2.0
    _state: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def allow(self, client: str, now: float) -> bool:
        """Account one request of ``client`` at ``now`` (seconds); False when over the limit."""
        with self._lock:
            level, last = self._state.get(client, (0.0, now))
            level = max(0.0, level - (now - last) * self.drain_per_sec)
            if level + 1 > self.max_burst:
                self._state[client] = (level, now)
                return False
            self._state[client] = (level + 1, now)
            return True


@dataclass
class CostModel:
    """What a list page costs on a real portal, and the per-method execution-time budget.

    Execution time of one list call (seconds) = ``base_seconds`` + ``per_row_seconds`` × rows
    returned + (only for offset pages, ``start`` >= 0) ``count_seconds_per_row`` × rows
    matching the filter (the COUNT(*) a ``total`` needs; docs measured ~50 s for 2.4 M rows,
    i.e. ~2e-5 s a row). Non-list calls cost ``base_seconds``. The server sleeps execution ×
    ``time_scale`` (keep benchmarks short) and adds the unscaled execution to the method's
    ``operating`` in 1-minute buckets (``bucket_seconds``) kept for ``buckets`` buckets (10 min);
    when a method's sum exceeds ``budget_seconds`` (480) its next call gets HTTP 429
    ``OPERATION_TIME_LIMIT`` until the oldest bucket expires (``operating_reset_at``).
    Nested ``batch`` commands are accounted per nested method; the outer ``batch`` is not.
    ``clock`` (default ``time.time``) can be replaced in tests.
    """

    base_seconds: float = 0.05
    per_row_seconds: float = 0.002
    count_seconds_per_row: float = 2e-5
    time_scale: float = 0.01
    budget_seconds: float = 480.0
    bucket_seconds: float = 60.0
    buckets: int = 10
    clock: Callable[[], float] = time.time
    _spent: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cost(self, rows: int, counted: int | None) -> float:
        """Execution seconds of a page returning ``rows`` rows; ``counted`` = rows the COUNT
        scanned (None when ``start=-1``)."""
        return self.base_seconds + self.per_row_seconds * rows + (self.count_seconds_per_row * counted if counted else 0.0)

    def _window(self, method: str, now: float) -> collections.OrderedDict:
        b = self._spent.setdefault(method, collections.OrderedDict())
        horizon = now - self.buckets * self.bucket_seconds
        for start in [s for s in b if s + self.bucket_seconds <= horizon]:
            del b[start]
        return b

    def status(self, method: str) -> tuple[float, float]:
        """(operating seconds of ``method`` in the window, unix ts when the oldest bucket expires)."""
        now = self.clock()
        with self._lock:
            b = self._window(method, now)
            total = sum(b.values())
            oldest = next(iter(b), None)
            reset = (oldest + self.buckets * self.bucket_seconds) if oldest is not None else now
            return total, reset

    def blocked(self, method: str) -> float | None:
        """``operating_reset_at`` when ``method`` is over budget, else None."""
        total, reset = self.status(method)
        return reset if total > self.budget_seconds else None

    def account(self, method: str, seconds: float) -> None:
        """Add ``seconds`` of execution to ``method``'s current 1-minute bucket."""
        now = self.clock()
        with self._lock:
            b = self._window(method, now)
            start = now - (now % self.bucket_seconds)
            b[start] = b.get(start, 0.0) + seconds


_KINDS = {
    "503": "503", "query_limit": "503", "429": "429", "operation_time_limit": "429", "500": "500", "html": "500",
    "truncated": "truncated", "reset": "reset", "slow": "slow", "batch_error": "batch_error",
    "401": "expired", "expired": "expired", "invalid_credentials": "invalid_credentials",
    "insufficient_scope": "insufficient_scope", "scope": "insufficient_scope", "insert": "insert", "delete": "delete",
    "empty": "empty", "short": "short", "trickle": "trickle", "redirect": "redirect",
    "method_missing": "method_missing", "date_misread": "date_misread", "update": "update",
}
#: Faults that change a reply's content (silently, HTTP 200) instead of failing the request.
_CONTENT_KINDS = ("empty", "short", "date_misread")
#: An ISO 8601 datetime with an offset in a filter value (what ``date_misread`` misreads).
_ATOM = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?([+-]\d\d:?\d\d|Z)$")


@dataclass
class Fault:
    """One injected fault.

    ``kind``: ``"503"`` (QUERY_LIMIT_EXCEEDED), ``"429"`` (OPERATION_TIME_LIMIT with
    ``operating_reset_at`` = now + ``seconds``), ``"500"`` (HTML body), ``"truncated"`` (JSON
    cut in half), ``"reset"`` (socket closed without a reply), ``"slow"`` (sleep ``seconds``,
    then answer), ``"batch_error"`` (sub-command ``command`` — index or key — fails with
    ``code``), ``"expired"``/``"401"`` (401 expired_token), ``"invalid_credentials"`` (401),
    ``"insufficient_scope"`` (401), ``"insert"`` / ``"delete"`` (after the request is answered,
    insert ``count`` copies of rows / delete the ``count`` lowest-ID rows, or ``ids``, of
    ``entity`` — default the method's entity: "rows change between page N and N+1"),
    ``"update"`` (after the reply, set ``fields`` on rows ``ids`` of ``entity``: a user
    deactivated mid-export).

    Silent faults, HTTP 200 with a plausible body, the kind a client cannot see by itself:
    ``"empty"`` (a list reply with no rows), ``"short"`` (only the first ``count`` rows; the
    ``total`` stays true), ``"date_misread"`` (a date filter value written as ISO 8601 with an
    offset is misread as a far-future date, so ``>=`` matches nothing; ``2026-11-30 12:00:00``
    is read right: bitrix24-api.md §6.8). Transport faults: ``"trickle"`` (the body is sent one
    byte every ``seconds``), ``"redirect"`` (HTTP 301 to the same path over https),
    ``"method_missing"`` (404 ``ERROR_METHOD_NOT_FOUND``, as a portal whose plan lacks the
    method answers though the scope is listed). On a ``batch`` request the content kinds
    apply to every sub-command; with ``nested=True`` to the matching sub-commands only.

    Matching: requests whose method equals ``method`` (any method when None; ``batch`` for the
    outer call); the fault fires on the ``nth`` matching request (1-based) and the ``times - 1``
    following ones (``times=0`` = forever after). With ``nested=True`` the fault matches batch
    sub-commands of ``method`` instead, and the sub-command fails in ``result_error`` with the
    kind's error (``"429"`` OPERATION_TIME_LIMIT, ``"503"`` QUERY_LIMIT_EXCEEDED, ``"500"``
    INTERNAL_SERVER_ERROR, ``"expired"``, ``"invalid_credentials"``, ``"insufficient_scope"``).
    """

    kind: str
    nth: int = 1
    method: str | None = None
    times: int = 1
    seconds: float = 1.0
    command: int | str = 0
    code: str = "INTERNAL_SERVER_ERROR"
    entity: str | None = None
    count: int = 1
    ids: list[int] | None = None
    fields: dict | None = None
    nested: bool = False
    seen: int = field(default=0, repr=False)

    def __post_init__(self):
        try:
            self.kind = _KINDS[str(self.kind).lower()]
        except KeyError:
            raise ValueError(f"Fault kind {self.kind!r}: expected one of {sorted(set(_KINDS))}") from None


class FaultPlan:
    """Deterministic fault injection: ``FaultPlan([Fault("503", nth=3), Fault("reset", method="crm.deal.list", nth=2)])``.

    ``fired`` lists ``(request_number, kind, method)`` of every fault applied.
    """

    def __init__(self, faults: list[Fault] | None = None):
        self.faults = list(faults or [])
        self.fired: list[tuple[int, str, str]] = []
        self._lock = threading.Lock()

    def match(self, method: str, request_no: int, *, nested: bool = False) -> list[Fault]:
        """Faults that fire for this HTTP request (``nested=False``) or batch sub-command
        (``nested=True``) of ``method``; advances their counters."""
        out = []
        with self._lock:
            for f in self.faults:
                if f.nested != nested or (f.method is not None and f.method.lower() != method.lower()):
                    continue
                f.seen += 1
                if f.seen >= f.nth and (f.times == 0 or f.seen < f.nth + f.times):
                    out.append(f)
                    self.fired.append((request_no, f.kind, method))
        return out


class RequestStats:
    """Requests served: ``total`` HTTP requests, ``by_method[method]`` per HTTP-level method,
    ``nested[method]`` per batch sub-command method. ``stats["crm.deal.list"]`` = by_method."""

    def __init__(self):
        self.total = 0
        self.by_method: collections.Counter = collections.Counter()
        self.nested: collections.Counter = collections.Counter()
        self._lock = threading.Lock()

    def add(self, method: str) -> int:
        with self._lock:
            self.total += 1
            self.by_method[method] += 1
            return self.total

    def __getitem__(self, method: str) -> int:
        return self.by_method[method]

    def __int__(self) -> int:
        return self.total

    def __repr__(self) -> str:
        return f"RequestStats(total={self.total}, by_method={dict(self.by_method)})"


# --------------------------------------------------------------------------- parsing
def php_parse_qs(query: str) -> dict:
    """Parse a PHP ``http_build_query`` string into nested dicts/lists like PHP's ``parse_str``
    (``a[b][]=1&a[b][]=2`` -> ``{"a": {"b": ["1", "2"]}}``; dicts with keys 0..n-1 become lists)."""
    root: dict = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        m = re.match(r"^([^\[]+)((?:\[[^\]]*\])*)", key)
        if not m:
            continue
        parts = [m.group(1)] + re.findall(r"\[([^\]]*)\]", m.group(2))
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(sum(1 for k in node if str(k).isdigit()))
            if last:
                node[part] = value
            else:
                nxt = node.get(part)
                if not isinstance(nxt, dict):
                    nxt = {}
                    node[part] = nxt
                node = nxt
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(str(k).isdigit() for k in node) and sorted(int(k) for k in node) == list(range(len(node))):
            return [node[str(i)] for i in range(len(node))]
    return node


_REF = re.compile(r"\$(result|next|total|time|error)(\S*)", re.IGNORECASE)


def resolve_references(value: Any, ctx: dict) -> Any:
    """Substitute ``$result[...]`` references in a parsed batch parameter (see module doc).

    ``ctx``: ``{"result": {...}, "next": {...}, "total": {...}, "time": {...}, "error": {...}}``
    (the batch results so far, keyed by command key)."""
    if isinstance(value, dict):
        return {k: resolve_references(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_references(v, ctx) for v in value]
    if not isinstance(value, str) or "$" not in value:
        return value
    out: Any = value
    for m in list(_REF.finditer(value)):
        path = re.findall(r"\[([^\]]+)\]", m.group(2))
        if not path:
            continue
        r: Any = ctx.get(m.group(1).lower())
        for key in path:
            if isinstance(r, dict) and key in r and r[key] is not None:
                r = r[key]
            elif isinstance(r, list) and key.isdigit() and int(key) < len(r) and r[int(key)] is not None:
                r = r[int(key)]
            else:
                break
        if m.group(0) == value:
            return r
        if isinstance(r, bool) or not isinstance(r, (str, int, float)):
            continue
        if isinstance(out, str):
            out = out.replace(m.group(0), str(r))
    return out


# --------------------------------------------------------------------------- methods
@dataclass
class _Reply:
    result: Any
    total: int | None = None
    next: int | None = None
    rows: int = 0
    counted: int | None = None


def _ci(params: dict) -> dict:
    """Top-level parameter names lower-cased (Bitrix24 accepts FILTER/filter)."""
    return {str(k).lower(): v for k, v in (params or {}).items()}


def _start(p: dict) -> int:
    v = p.get("start", 0)
    try:
        return int(v) if v not in (None, "") else 0
    except (TypeError, ValueError):
        return 0


def _as_dict(v: Any, name: str) -> dict:
    if v in (None, "", []):
        return {}
    if isinstance(v, dict):
        return v
    raise ApiError(400, "", f"Parameter '{name}' must be array.")


def _list(table: Table, p: dict, *, filter_key="filter", order_key="order", select_key="select", allow=None) -> _Reply:
    filt = _as_dict(p.get(filter_key), filter_key)
    order = p.get(order_key)
    order = _as_dict(order, order_key) if not isinstance(order, list) else order
    start = _start(p)
    rows, total, nxt = table.query(filt, order, p.get(select_key), start, allow=allow)
    return _Reply(rows, total, nxt, rows=len(rows), counted=total if start >= 0 else None)


class _Methods:
    """Method implementations over one portal; each takes lower-cased params, returns a _Reply."""

    SCOPES = {
        "crm.deal.list": "crm", "crm.lead.list": "crm", "crm.activity.list": "crm", "crm.stagehistory.list": "crm",
        "crm.status.list": "crm", "crm.category.list": "crm", "crm.currency.list": "crm",
        "tasks.task.list": "task", "user.get": "user", "user.current": "user", "department.get": "department",
        "voximplant.statistic.get": "telephony", "sonet_group.get": "sonet_group",
        "scope": None, "profile": None, "server.time": None, "batch": None,
        "user.admin": None, "placement.bind": None, "placement.list": None,  # app tokens only
    }

    def __init__(self, portal: DemoPortal, server: "DemoServer"):
        self.portal, self.server = portal, server
        self._viewer = threading.local()

    @property
    def viewer(self) -> int | None:
        """The user an OAuth ``auth=`` token acts for in this request; None = the webhook (admin view)."""
        return getattr(self._viewer, "user_id", None)

    def _allow(self, entity: str):
        v = self.viewer
        return None if v is None else self.server.app.row_filter(entity, v)

    def call(self, method: str, params: dict, viewer: int | None = None) -> _Reply:
        """Run ``method`` as ``viewer`` (an OAuth token's user; None = the webhook's user, who sees all)."""
        self._viewer.user_id = viewer
        if viewer is None and method.startswith("placement."):
            raise ApiError(401, "insufficient_scope", "placement methods need an application token")
        fn = getattr(self, "m_" + method.replace(".", "_"), None)
        if fn is None or method not in self.SCOPES:
            raise ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        need = self.SCOPES[method]
        granted = self.server.scopes
        if need is not None and need not in granted and not (need == "user" and granted & {"user_brief", "user_basic"}):
            raise ApiError(401, "insufficient_scope", "The request requires higher privileges than provided by the webhook token")
        try:
            return fn(_ci(params))
        except QueryError as e:
            raise ApiError(e.status, e.code, e.description) from None

    def m_crm_deal_list(self, p):
        return _list(self.portal.table("deal"), p, allow=self._allow("deal"))

    def m_crm_lead_list(self, p):
        return _list(self.portal.table("lead"), p, allow=self._allow("lead"))

    def m_crm_activity_list(self, p):
        return _list(self.portal.table("activity"), p, allow=self._allow("activity"))

    def m_crm_stagehistory_list(self, p):
        et = str(p.get("entitytypeid", ""))
        table = {"1": "lead_status_history", "2": "deal_stage_history"}.get(et)
        if table is None:
            raise ApiError(400, "ENTITY_TYPE_NOT_SUPPORTED", f"Entity type {et or '(none)'} is not supported")
        r = _list(self.portal.table(table), p, allow=self._allow(table))
        r.result = {"items": r.result}
        return r

    def m_tasks_task_list(self, p):
        r = _list(self.portal.table("task"), p, allow=self._allow("task"))
        r.result = {"tasks": r.result}
        return r

    def m_user_get(self, p):
        reserved = {"sort", "order", "filter", "select", "start", "admin_mode", "auth", "name_search"}
        filt = dict(_as_dict(p.get("filter"), "FILTER"))
        filt.update({k.upper(): v for k, v in p.items() if k not in reserved})
        sort = p.get("sort") or "ID"
        order = {sort: p.get("order") or "ASC"} if isinstance(sort, str) else sort
        rows, total, nxt = self.portal.table("user").query(filt, order, None, _start(p))
        return _Reply(rows, total, nxt, rows=len(rows), counted=total)

    def m_user_current(self, p):
        v = self.viewer
        return _Reply(self.portal.table("user").get(self.server.user_id if v is None else v))

    def m_user_admin(self, p):
        v = self.viewer
        return _Reply((self.server.user_id if v is None else v) in self.server.app.admins)

    def m_placement_bind(self, p):
        try:
            return _Reply(self.server.app.bind(self.viewer, p))
        except OAuthError as e:
            raise ApiError(e.status, e.code, e.description) from None

    def m_placement_list(self, p):
        return _Reply(list(self.server.app.offered_placements))

    def m_department_get(self, p):
        reserved = {"sort", "order", "start", "auth"}
        filt = {k.upper(): v for k, v in p.items() if k not in reserved}
        sort = p.get("sort") or "ID"
        rows, total, nxt = self.portal.table("department").query(filt, {sort: p.get("order") or "ASC"}, None, _start(p))
        rows = [{k: v for k, v in r.items() if not (k in ("PARENT", "UF_HEAD") and v is None)} for r in rows]
        return _Reply(rows, total, nxt, rows=len(rows), counted=total)

    def m_crm_status_list(self, p):
        t = self.portal.table("status")
        order = _as_dict(p.get("order"), "order") or {"SORT": "ASC"}
        rows, total, _ = t.query(_as_dict(p.get("filter"), "filter"), order, None, 0, page_size=10**9)
        return _Reply(rows, total, None, rows=len(rows))

    def m_crm_category_list(self, p):
        et = str(p.get("entitytypeid", ""))
        if et != "2":
            raise ApiError(400, "NOT_FOUND", f"Smart process or entity type {et or '(none)'} not found")
        cats = [dict(c) for c in self.portal.categories]
        return _Reply({"categories": cats}, len(cats), None, rows=len(cats))

    def m_crm_currency_list(self, p):
        cur = [dict(c) for c in self.portal.currencies]
        return _Reply(cur, len(cur), None, rows=len(cur))

    def m_voximplant_statistic_get(self, p):
        filt = _as_dict(p.get("filter"), "FILTER")
        sort = p.get("sort") or "CALL_START_DATE"
        order = {sort: p.get("order") or "DESC"} if isinstance(sort, str) else _as_dict(sort, "SORT")
        start = _start(p)
        rows, total, nxt = self.portal.table("call").query(filt, order, None, start)
        return _Reply(rows, total, nxt, rows=len(rows), counted=total if start >= 0 else None)

    def m_sonet_group_get(self, p):
        return _list(self.portal.table("workgroup"), p)

    def m_scope(self, p):
        return _Reply(sorted(self.server.scopes))

    def m_profile(self, p):
        u = self.portal.table("user").get(self.server.user_id)
        return _Reply({"ID": u["ID"], "ADMIN": True, "NAME": u["NAME"], "LAST_NAME": u["LAST_NAME"],
                       "PERSONAL_GENDER": u["PERSONAL_GENDER"], "PERSONAL_PHOTO": "", "TIME_ZONE": "Europe/Moscow",
                       "TIME_ZONE_OFFSET": 10800})

    def m_server_time(self, p):
        clock = self.portal.server_clock  # a simulated portal clock (DemoPortal.advance) or the wall clock
        return _Reply((dt.datetime.fromtimestamp(clock, TZ) if clock is not None else dt.datetime.now(TZ)).isoformat(timespec="seconds"))


# --------------------------------------------------------------------------- server
def _time_block(start: float, finish: float, processing: float, extra: dict | None = None) -> dict:
    b = {"start": start, "finish": finish, "duration": finish - start, "processing": processing,
         "date_start": dt.datetime.fromtimestamp(start, TZ).isoformat(timespec="seconds"),
         "date_finish": dt.datetime.fromtimestamp(finish, TZ).isoformat(timespec="seconds")}
    if extra:
        b.update(extra)
    return b


_NESTED_ERRORS = {
    "429": (429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."),
    "503": (503, "QUERY_LIMIT_EXCEEDED", "Too many requests"),
    "500": (500, "INTERNAL_SERVER_ERROR", "Internal server error"),
    "expired": (401, "expired_token", "The access token provided has expired."),
    "invalid_credentials": (401, "INVALID_CREDENTIALS", "Invalid request credentials"),
    "insufficient_scope": (401, "insufficient_scope", "The request requires higher privileges than provided by the webhook token"),
    "method_missing": (404, "ERROR_METHOD_NOT_FOUND", "Method not found!"),
}

_ENTITY_OF = {"crm.deal.list": "deal", "crm.lead.list": "lead", "crm.activity.list": "activity",
              "tasks.task.list": "task", "voximplant.statistic.get": "call", "user.get": "user",
              "sonet_group.get": "workgroup", "department.get": "department"}


def _cut(result: Any, n: int) -> Any:
    """A list result (plain, or wrapped in ``items``/``tasks``) cut to its first ``n`` rows."""
    if isinstance(result, list):
        return result[:n]
    if isinstance(result, dict):
        return {k: (v[:n] if isinstance(v, list) else v) for k, v in result.items()}
    return result


def _misread_dates(params: dict) -> dict:
    """``params`` with every filter value in ISO 8601 with an offset replaced by a far-future
    date (the portal misreading it), keys and other values as they are."""
    out = dict(params)
    for k, v in params.items():
        if str(k).lower() == "filter" and isinstance(v, dict):
            out[k] = {fk: ("9999-12-31 00:00:00" if isinstance(fv, str) and _ATOM.match(fv) else fv)
                      for fk, fv in v.items()}
    return out


class DemoServer:
    """Serve ``portal`` over HTTP on ``host``:``port`` (0 = a free port) in a background thread.

    ``webhook_url`` = ``http://127.0.0.1:<port>/rest/<user_id>/<token>/`` (a fake demo token);
    ``requests``: :class:`RequestStats`; ``scopes``: granted scopes (default all).
    ``app``: the installed local application (:class:`~b24reports.demo.oauth.DemoApp`, a
    default one when not given): ``/rest/<method>?auth=<access token>`` acts with that token's
    user's rights, ``oauth_url`` (``oauth_path``) answers refresh requests. The webhook path is
    unchanged: it acts as ``user_id`` and sees everything.
    ``start()``/``stop()`` or use as a context manager.
    """

    def __init__(self, portal: DemoPortal, *, host: str = "127.0.0.1", port: int = 0, user_id: int = 1,
                 token: str = "demo-webhook-token", scopes: set[str] | frozenset[str] | None = None,
                 rate_limit: RateLimit | None = None, faults: FaultPlan | None = None,
                 cost_model: CostModel | None = None, app: DemoApp | None = None, oauth_path: str = "/oauth/token/"):
        self.portal, self.host, self.port, self.user_id, self.token = portal, host, port, int(user_id), token
        self.app = app if app is not None else DemoApp(portal)
        self.oauth_path = oauth_path
        self.scopes = frozenset(ALL_SCOPES if scopes is None else scopes)
        self.rate_limit, self.faults, self.cost_model = rate_limit, faults, cost_model
        self.requests = RequestStats()
        self.methods = _Methods(portal, self)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> "DemoServer":
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        handler = type("Handler", (_Handler,), {"demo": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="b24-demo-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "DemoServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (the "portal" address, no secret)."""
        return f"http://{self.host}:{self.port}"

    @property
    def oauth_url(self) -> str:
        """The token endpoint (oauth.bitrix.info's ``/oauth/token/`` on the demo): set
        ``B24_OAUTH_URL`` to it."""
        return f"{self.base_url}{self.oauth_path}"

    @property
    def webhook_url(self) -> str:
        """The inbound-webhook base URL, ending with ``/``."""
        return f"{self.base_url}/rest/{self.user_id}/{self.token}/"

    # request processing (called by the handler thread)
    def handle(self, http_method: str, path: str, query: str, body: bytes, content_type: str, client: str):
        """-> (status, content_type, body bytes, action) where action is None, "reset" or a callable
        to run after replying."""
        t_start = time.time()
        if path.rstrip("/") == self.oauth_path.rstrip("/"):
            return self._token(query, body, content_type)
        if path.rstrip("/") == "/portal":
            return self._portal_page(query)
        m = re.match(r"^/rest/([^/]+)/([^/]+)/([A-Za-z0-9_.]+?)(?:\.json)?/?$", path)
        m_app = None if m else re.match(r"^/rest/([A-Za-z0-9_.]+?)(?:\.json)?/?$", path)
        method = m.group(3).lower() if m else (m_app.group(1).lower() if m_app else "")
        req_no = self.requests.add(method or path)
        after: list[Callable[[], None]] = []
        viewer: int | None = None
        try:
            if m_app is not None:  # an application call: auth=<access token> in the query or body
                try:
                    viewer = self.app.viewer(str(self._params(query, body, content_type, keep_auth=True).get("auth", "")))
                except OAuthError as e:
                    raise ApiError(e.status, e.code, e.description) from None
            elif not m:
                raise ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
            elif m.group(1) != str(self.user_id) or m.group(2) != self.token:
                raise ApiError(401, "NO_AUTH_FOUND", "Wrong authorization data")
            if self.rate_limit is not None and not self.rate_limit.allow(client, time.monotonic()):
                raise ApiError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
            batch_fail: dict = {}
            content: list[Fault] = []
            for f in (self.faults.match(method, req_no) if self.faults else []):
                if f.kind == "reset":
                    return 0, "", b"", "reset"
                if f.kind == "redirect":
                    target = f"https://{self.host}:{self.port}{path}"
                    return 301, "text/html; charset=utf-8", b"<html><body>Moved Permanently</body></html>", {"Location": target}
                if f.kind in _CONTENT_KINDS:
                    content.append(f)
                elif f.kind == "trickle":
                    after.append(("trickle", f.seconds))
                elif f.kind == "method_missing":
                    raise ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
                if f.kind == "slow":
                    time.sleep(f.seconds)
                elif f.kind == "503":
                    raise ApiError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
                elif f.kind == "429":
                    raise ApiError(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.",
                                   {"operating_reset_at": int(time.time() + f.seconds), "operating": 480.5})
                elif f.kind == "500":
                    return 500, "text/html; charset=utf-8", _HTML_500.encode(), None
                elif f.kind == "expired":
                    raise ApiError(401, "expired_token", "The access token provided has expired.")
                elif f.kind == "invalid_credentials":
                    raise ApiError(401, "INVALID_CREDENTIALS", "Invalid request credentials")
                elif f.kind == "insufficient_scope":
                    raise ApiError(401, "insufficient_scope", "The request requires higher privileges than provided by the webhook token")
                elif f.kind == "batch_error":
                    batch_fail[str(f.command)] = f.code
                elif f.kind in ("insert", "delete", "update"):
                    after.append(lambda f=f: self._mutate(f, method))
                elif f.kind == "truncated":
                    after.append("truncated")
            params = self._params(query, body, content_type)
            if method == "batch":
                payload, processing = self._batch(params, batch_fail, content, viewer)
            else:
                payload, processing = self._single(method, params, content, viewer)
            payload["time"] = self.portal.stamp_time(_time_block(t_start, time.time(), processing, payload.pop("_time_extra", None)))
            status = 200
        except ApiError as e:
            payload = {"error": e.code, "error_description": e.description}
            if e.extra_time or self.cost_model is not None:
                extra = dict(e.extra_time or {})
                payload["time"] = _time_block(t_start, time.time(), 0.0, extra)
            status = e.status
        data = json.dumps(payload, ensure_ascii=False).encode()
        if "truncated" in after:
            after.remove("truncated")
            data = data[: max(1, len(data) // 2)]
        trickle = [a for a in after if isinstance(a, tuple)]
        after = [a for a in after if not isinstance(a, tuple)]
        action: Any = (lambda: [a() for a in after]) if after else None
        if trickle:
            action = (trickle[0], action)
        return status, "application/json; charset=utf-8", data, action

    def _portal_page(self, query: str):
        """``/portal/?user=6&lang=ru[&app=URL][&install=URL]``: the stand-in portal page
        (:func:`b24reports.demo.oauth.portal_page`)."""
        from b24reports.demo.oauth import portal_page

        q = dict(parse_qsl(query))
        try:
            page = portal_page(self.app, domain=f"{self.host}:{self.port}", user_id=int(q.get("user", "1")),
                               lang=q.get("lang", "ru"), target=q.get("install") or q.get("app"),
                               install=bool(q.get("install")))
            status = 200
        except (KeyError, ValueError):
            page, status = "<p>unknown user</p>", 404
        return status, "text/html; charset=utf-8", page.encode(), None

    def _token(self, query: str, body: bytes, content_type: str):
        """oauth.bitrix.info's ``/oauth/token/`` on the demo (see :meth:`DemoApp.token_endpoint`)."""
        try:
            params = self._params(query, body, content_type, keep_auth=True)
            payload, status = self.app.token_endpoint(params, domain=f"{self.host}:{self.port}"), 200
        except OAuthError as e:
            payload, status = {"error": e.code, "error_description": e.description}, e.status
        except ApiError as e:
            payload, status = {"error": "invalid_request", "error_description": e.description}, 400
        return status, "application/json; charset=utf-8", json.dumps(payload).encode(), None

    def _params(self, query: str, body: bytes, content_type: str, *, keep_auth: bool = False) -> dict:
        params = php_parse_qs(query) if query else {}
        if body:
            if "json" in content_type.lower():
                try:
                    data = json.loads(body.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    raise ApiError(400, "INVALID_REQUEST", "Invalid JSON body") from None
                if not isinstance(data, dict):
                    raise ApiError(400, "INVALID_REQUEST", "JSON body must be an object")
                params.update(data)
            else:
                params.update(php_parse_qs(body.decode("utf-8", "replace")))
        if not keep_auth:
            params.pop("auth", None)
        return params

    def _run(self, method: str, params: dict, content: list[Fault] = (), viewer: int | None = None) -> tuple[_Reply, float, dict]:
        """Run one (possibly nested) method with the cost model and the silent ``content``
        faults; -> (reply, execution s, time extras)."""
        if any(f.kind == "date_misread" for f in content):
            params = _misread_dates(params)
        cm = self.cost_model
        if cm is not None:
            reset = cm.blocked(method)
            if reset is not None:
                total, _ = cm.status(method)
                raise ApiError(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.",
                               {"operating_reset_at": int(reset), "operating": total})
        t0 = time.perf_counter()
        reply = self.methods.call(method, params, viewer)
        execution = time.perf_counter() - t0
        for f in content:
            if f.kind in ("empty", "short"):
                reply.result = _cut(reply.result, 0 if f.kind == "empty" else f.count)
        extra: dict = {}
        if cm is not None:
            cost = cm.cost(reply.rows, reply.counted) if method not in ("scope", "profile", "server.time") else 0.0
            if cm.time_scale > 0 and cost > 0:
                time.sleep(cost * cm.time_scale)
            cm.account(method, cost)
            execution = cost
            total, reset = cm.status(method)
            extra = {"operating": total, "operating_reset_at": int(reset)}
        return reply, execution, extra

    def _single(self, method: str, params: dict, content: list[Fault] = (), viewer: int | None = None) -> tuple[dict, float]:
        reply, execution, extra = self._run(method, params, content, viewer)
        payload: dict = {"result": reply.result}
        if reply.total is not None:
            payload["total"] = reply.total
        if reply.next is not None:
            payload["next"] = reply.next
        payload["_time_extra"] = extra
        return payload, execution

    def _batch(self, params: dict, batch_fail: dict, content: list[Fault] = (), viewer: int | None = None) -> tuple[dict, float]:
        p = _ci(params)
        cmd = p.get("cmd")
        if isinstance(cmd, list):
            cmd = {str(i): c for i, c in enumerate(cmd)}
        if not isinstance(cmd, dict) or not cmd:
            raise ApiError(400, "INVALID_ARG_VALUE", "Parameter 'cmd' must be a non-empty array")
        if len(cmd) > 50:
            raise ApiError(400, "ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded")
        halt = str(p.get("halt", "0")).lower() in ("1", "true", "y")
        ctx: dict[str, dict] = {"result": {}, "next": {}, "total": {}, "time": {}, "error": {}}
        processing = 0.0
        for i, (key, line) in enumerate(cmd.items()):
            key = str(key)
            method, _, query = str(line).partition("?")
            method = method.strip().lower()
            if method.endswith(".json"):
                method = method[:-5]
            self.requests.nested[method] += 1
            t0 = time.time()
            try:
                code = batch_fail.get(key, batch_fail.get(str(i)))
                if code is not None:
                    raise ApiError(400, code, "Injected failure of a batch command")
                sub_content = list(content)
                if self.faults is not None:
                    for f in self.faults.match(method, self.requests.total, nested=True):
                        if f.kind in _CONTENT_KINDS:
                            sub_content.append(f)
                        else:
                            raise ApiError(*_NESTED_ERRORS.get(f.kind, _NESTED_ERRORS["500"]))
                if method == "batch":
                    raise ApiError(405, "ERROR_BATCH_METHOD_NOT_ALLOWED", "Method not allowed in batch")
                sub = resolve_references(php_parse_qs(query), ctx)
                reply, execution, extra = self._run(method, sub if isinstance(sub, dict) else {}, sub_content, viewer)
                processing += execution
                ctx["result"][key] = reply.result
                if reply.total is not None:
                    ctx["total"][key] = reply.total
                if reply.next is not None:
                    ctx["next"][key] = reply.next
                ctx["time"][key] = _time_block(t0, time.time(), execution, extra)
            except ApiError as e:
                ctx["error"][key] = {"error": e.code, "error_description": e.description}
                if halt:
                    break
        result = {"result": ctx["result"] or [], "result_error": ctx["error"] or [], "result_total": ctx["total"] or [],
                  "result_next": ctx["next"] or [], "result_time": ctx["time"] or []}
        return {"result": result}, processing

    def _mutate(self, f: Fault, method: str) -> None:
        entity = f.entity or _ENTITY_OF.get(method)
        if entity is None:
            return
        t = self.portal.table(entity)
        if f.kind == "update":
            for i in f.ids or []:
                self.portal.update(entity, i, **dict(f.fields or {}))
            return
        if f.kind == "delete":
            ids = f.ids or [int(x) for x in t.column("ID")[: f.count]]
            for i in ids:
                try:
                    self.portal.delete(entity, i)
                except KeyError:
                    pass
        else:
            template = t.rows([len(t) - 1])[0] if len(t) else {}
            for _ in range(f.count):
                skip = {"ID", "DATE_CREATE", "DATE_MODIFY", "CREATED", "LAST_UPDATED", "CREATED_DATE", "CHANGED_DATE"}
                row = {k: v for k, v in template.items() if k.upper() not in skip
                       and k not in ("createdDate", "changedDate")}
                self.portal.add(entity, row)


class _Handler(BaseHTTPRequestHandler):
    demo: DemoServer
    protocol_version = "HTTP/1.1"
    server_version = "b24-demo/1.0"

    def setup(self):
        super().setup()
        # headers and body go out in two writes: without TCP_NODELAY a keep-alive client
        # waits ~40 ms per reply for the delayed ACK (Nagle)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 - quiet; never log URLs (they hold the token)
        pass

    def _serve(self, http_method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, ctype, data, action = self.demo.handle(http_method, url.path, url.query, body,
                                                       self.headers.get("Content-Type", ""), self.client_address[0])
        if action == "reset":
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            finally:
                self.wfile = io.BytesIO()
            return
        headers: dict = {}
        trickle = None
        if isinstance(action, dict):
            headers, action = action, None
        elif isinstance(action, tuple):
            (_, trickle), action = action
        if action is not None:
            action()  # the reply was computed before: the change is visible from the next request on
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if trickle is None:
            self.wfile.write(data)
        else:  # one byte every `trickle` seconds; a client gone away ends it
            try:
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(trickle)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
                return
        self.wfile.flush()

    def do_GET(self):  # noqa: N802
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")


def main(argv: list[str] | None = None) -> None:
    """``python -m b24reports.demo.server --scale 1 --port 8765``: serve a demo portal until Ctrl+C."""
    import click

    from b24reports.demo.generator import generate_portal

    @click.command()
    @click.option("--scale", type=float, default=1.0, show_default=True, help="Portal size factor.")
    @click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
    @click.option("--anchor", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Portal 'today' (default: today).")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", type=int, default=8765, show_default=True)
    @click.option("--rate-limit/--no-rate-limit", default=False, help="Enforce 50 burst / 2 per s.")
    def cli(scale, seed, anchor, host, port, rate_limit):
        t0 = time.perf_counter()
        portal = generate_portal(seed=seed, scale=scale, anchor=anchor.date() if anchor else None)
        click.echo(f"generated portal (seed={seed}, scale={scale}, anchor={portal.anchor}) in {time.perf_counter() - t0:.1f} s: "
                   + ", ".join(f"{k} {len(t)}" for k, t in portal.tables.items()))
        srv = DemoServer(portal, host=host, port=port, rate_limit=RateLimit() if rate_limit else None)
        srv.start()
        click.echo(f"demo webhook (fake token): {srv.webhook_url}")
        click.echo(f"local application: token endpoint {srv.oauth_url}, stand-in portal page {srv.base_url}/portal/ "
                   f"(README, \"installing the local application\")")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            srv.stop()

    cli.main(args=argv, standalone_mode=True)


if __name__ == "__main__":
    main()

__all__ = ["DemoServer", "RateLimit", "CostModel", "Fault", "FaultPlan", "RequestStats", "ALL_SCOPES",
           "php_parse_qs", "resolve_references", "PAGE_SIZE"]
