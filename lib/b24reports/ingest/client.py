"""Bitrix24 REST client: ``call``, ``batch`` and the documented fast ID-cursor ``export``.

* HTTP: one ``httpx.Client``, JSON POST bodies (``<webhook>/<method>``).
* Rate: a client-side leaky bucket (default 2 req/s, burst 50 -- Bitrix24 cloud non-Enterprise;
  Enterprise is 5/250). A ``batch`` is one request.
* Retries (tenacity, jittered exponential backoff): 503 ``QUERY_LIMIT_EXCEEDED``, 500/502/504,
  ``INTERNAL_SERVER_ERROR``, non-JSON (HTML) or truncated JSON bodies, connection errors and
  timeouts. 429 ``OPERATION_TIME_LIMIT`` waits until that method's ``operating_reset_at``.
  Auth/scope errors (401/403 codes) are never retried -> :class:`B24AuthError`, except
  ``expired_token`` with an application token (:class:`~b24reports.auth.AppToken`): the token
  is refreshed once and the call repeated (a sync outlives the token's hour).
* Errors are keyed on the reply's ``error`` string (method errors can be HTTP 400 with an
  empty code), never on the status alone. No message ever contains the webhook secret.

Source: /work/shared/bitrix24-api.md sections 1-3 (limits, paging, batch, fast export).

Length: ~900 lines, one concern — one HTTP client whose retries, limits, batch chaining and
list readers share its state (bucket, operating budget, counters); the move into an ``ingest``
package is issue 15's.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from datetime import datetime, timezone
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import tenacity

from b24reports.ingest.auth import Auth, Webhook
from b24reports.core.errors import (
    B24ApiError,
    B24AuthError,
    B24BatchError,
    B24CursorError,
    B24RateLimitError,
    B24RedirectError,
    B24TransportError,
    B24UnreachableError,
    BadParameter,
)
from b24reports.core.i18n import count_text

# httpx logs every request URL at INFO -- that URL contains the webhook secret.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

log = logging.getLogger(__name__)

#: Bitrix24 list page size (fixed by the server).
PAGE_SIZE = 50
#: Max commands in one ``batch``.
BATCH_MAX = 50

AUTH_CODES = {
    "NO_AUTH_FOUND": "the webhook is wrong or was deleted (NO_AUTH_FOUND)",
    "expired_token": "the access token or webhook has expired (expired_token)",
    "invalid_token": "the access token is unknown or malformed (invalid_token)",
    "INVALID_CREDENTIALS": "the webhook is blocked, expired, or its user lacks rights (INVALID_CREDENTIALS)",
    "insufficient_scope": "the webhook lacks a scope this method needs (insufficient_scope)",
    "ACCESS_DENIED": "access denied: REST is not available on this plan or the webhook user lacks rights (ACCESS_DENIED)",
    "user_access_error": "the application is restricted to other users (user_access_error)",
    "OVERLOAD_LIMIT": "REST access was blocked by Bitrix24 support (OVERLOAD_LIMIT)",
    "PORTAL_DELETED": "the portal is closed or deleted (PORTAL_DELETED)",
    "INVALID_REQUEST": "the portal requires https (INVALID_REQUEST)",
}
#: Scope that each method family needs (for auth error messages).
METHOD_SCOPE = {
    "crm.": "crm", "user.": "user", "department.": "department", "tasks.": "task",
    "voximplant.": "telephony", "sonet_group.": "sonet_group",
}
RETRY_CODES = {"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT", "INTERNAL_SERVER_ERROR",
               "ERROR_UNEXPECTED_ANSWER"}
RETRY_STATUS = {500, 502, 503, 504}
#: Connection attempts (DNS failure, refused) before the first reply of the portal after which
#: the host is taken as unreachable: B24UnreachableError, no further retries.
UNREACHABLE_ATTEMPTS = 3
#: A wait at least this long (s) is announced in one line (``on_wait``), terminal or not, so a
#: scheduled log never looks hung during an operating-limit pause of up to ~11 minutes.
WAIT_NOTICE_SECONDS = 3.0
#: Times a paged dictionary list (offset paging, no ID cursor) is read before giving up when two
#: consecutive reads keep disagreeing (rows added/removed/reordered while it is read).
LIST_READS = 4


def as_total(value: Any) -> int | None:
    """A reply's ``total`` (or a batch's ``result_total`` entry) as an int; None when absent or
    not a number (a method that gives no count)."""
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _scope_of(method: str) -> str | None:
    for prefix, scope in METHOD_SCOPE.items():
        if method.startswith(prefix):
            return scope
    return None


# ----------------------------------------------------------------------------------- encoding

class BatchRef(str):
    """A ``$result[...]`` reference inside a batch command; sent unescaped.

    ``BatchRef.last_id("p0", "ID")`` -> ``$result[p0][49][ID]``;
    ``BatchRef.last_id("p0", "id", "tasks")`` -> ``$result[p0][tasks][49][id]``.
    """

    @classmethod
    def last_id(cls, key: str, id_field: str, result_key: str | None = None, index: int = PAGE_SIZE - 1) -> BatchRef:
        wrap = f"[{result_key}]" if result_key else ""
        return cls(f"$result[{key}]{wrap}[{index}][{id_field}]")


def _scalar(value: Any) -> str:
    if value is None:
        return ""  # PHP http_build_query drops nulls; Bitrix reads "" as empty (pitfall 11)
    if value is True:
        return "1"
    if value is False:
        return "0"
    return str(value)


def php_query(params: Mapping[str, Any]) -> str:
    """Encode ``params`` as a PHP ``http_build_query`` string (what Bitrix24 parses).

    Nested mappings become ``key[sub]=v``, lists ``key[]=v``; keys and values are
    percent-encoded once (``filter[>ID]=5`` -> ``filter%5B%3EID%5D=5``). A :class:`BatchRef`
    value is left unescaped so the batch engine can resolve it. ``None`` -> ``""``.

    Raises:
        BadParameter("params", ...): ``params`` is not a mapping.
    """
    if not isinstance(params, Mapping):
        raise BadParameter("params", type(params).__name__, "must be a mapping of parameter -> value")
    pairs: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            if not value:
                return
            for k, v in value.items():
                walk(f"{prefix}[{k}]", v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(f"{prefix}[]", v)
        else:
            enc = str(value) if isinstance(value, BatchRef) else quote(_scalar(value), safe="")
            pairs.append(f"{quote(prefix, safe='')}={enc}")

    for k, v in params.items():
        walk(str(k), v)
    return "&".join(pairs)


# ----------------------------------------------------------------------------------- rate limit

class LeakyBucket:
    """Client-side leaky bucket: each request adds 1, the level drains ``rate``/s, a request
    waits while the level would exceed ``burst`` (Bitrix24: 2/s & 50, Enterprise 5/s & 250)."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float], sleep: Callable[[float], None]):
        if rate <= 0:
            raise BadParameter("rate", rate, "must be > 0 requests per second")
        if burst < 1:
            raise BadParameter("burst", burst, "must be >= 1")
        self.rate, self.burst = float(rate), float(burst)
        self._clock, self._sleep = clock, sleep
        self.level = 0.0
        self._t = clock()
        self.waited = 0.0  # seconds spent waiting (for benchmarks)

    def _drain(self) -> None:
        now = self._clock()
        self.level = max(0.0, self.level - (now - self._t) * self.rate)
        self._t = now

    def acquire(self) -> None:
        """Block until one more request fits, then count it."""
        self._drain()
        over = self.level + 1 - self.burst
        if over > 0:
            wait = over / self.rate
            self.waited += wait
            self._sleep(wait)
            self._drain()
        self.level += 1

    def fill(self) -> None:
        """The server said QUERY_LIMIT_EXCEEDED: assume its bucket is full."""
        self._drain()
        self.level = max(self.level, self.burst)


@dataclass
class OperatingStats:
    """Per-method execution-time accounting from the replies' ``time`` block (cloud only)."""

    calls: int = 0
    operating: float = 0.0            # last seen ``time.operating`` (s, sliding 10 min)
    operating_reset_at: float | None = None  # unix ts
    duration: float = 0.0             # sum of ``time.duration`` (s)
    limited: int = 0                  # OPERATION_TIME_LIMIT replies seen


@dataclass(eq=False)
class _Retry(Exception):
    """Internal: a failure worth retrying; ``error`` is raised if the budget runs out."""

    error: Exception
    wait_until: float | None = None   # unix ts (429 operating_reset_at)
    rate_limited: bool = False

    def __str__(self) -> str:
        return str(self.error)


@dataclass
class BatchResult:
    """Normalised ``batch`` reply: dicts keyed by command key (PHP ``[]`` -> ``{}``)."""

    result: dict[str, Any] = field(default_factory=dict)
    result_error: dict[str, Any] = field(default_factory=dict)
    result_total: dict[str, Any] = field(default_factory=dict)
    result_next: dict[str, Any] = field(default_factory=dict)
    result_time: dict[str, Any] = field(default_factory=dict)


def _as_dict(section: Any, keys: list[str]) -> dict[str, Any]:
    if isinstance(section, dict):
        return {str(k): v for k, v in section.items()}
    if isinstance(section, list):  # PHP empty array, or numeric keys
        if not section:
            return {}
        return {str(i): v for i, v in enumerate(section)}
    return {}


# ----------------------------------------------------------------------------------- client

class B24Client:
    """A Bitrix24 REST client over one auth (today a :class:`~b24reports.ingest.auth.Webhook`).

    Args:
        auth: a ``Webhook`` (or its URL string).
        rate, burst: leaky bucket (requests/s, bucket size).
        timeout: one deadline per HTTP request, seconds: connect, send and the whole body
            (a reply trickling in byte by byte is cut at the deadline and retried like a
            timeout; it can overrun by at most one socket read of ``timeout``).
        max_retries: retries after the first attempt (per request).
        on_request: ``f(method, status_or_None, seconds)`` called after every HTTP attempt.
        on_wait: ``f(line)`` told of every wait of ``WAIT_NOTICE_SECONDS`` or more (retry
            backoff, operating-limit pause) in one line: what it waits for and how long. Default:
            a ``logging`` warning (printed on stderr even when nothing configured logging).
        transport: an ``httpx`` transport (tests: ``httpx.MockTransport``).
        sleep, clock, wall: injectable time functions (tests use fakes; ``clock`` monotonic s,
            ``wall`` unix s).
        backoff_base, backoff_max: backoff seconds (jittered exponential).
        max_wait_reset: longest wait for an ``operating_reset_at`` (s; Bitrix24 window is 10 min).
        operating_budget: per-method execution seconds per 10 min (Bitrix24: 480); a method whose
            last reply reported ``operating`` at or above it waits for ``operating_reset_at``
            before its next call instead of provoking a 429.

    Attributes:
        requests: HTTP requests sent (attempts, including retries).
        requests_by_method: Counter of HTTP requests per REST method (``batch`` included).
        commands_by_method: Counter of batch sub-commands per method.
        operating: ``{method: OperatingStats}``.
        retries: Counter of retry reasons.
    """

    def __init__(
        self,
        auth: Auth | str,
        *,
        rate: float = 2.0,
        burst: int = 50,
        timeout: float = 30.0,
        max_retries: int = 8,
        on_request: Callable[[str, int | None, float], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_wait_reset: float = 660.0,
        operating_budget: float = 480.0,
    ):
        self.auth: Auth = Webhook(auth) if isinstance(auth, str) else auth
        if max_retries < 0:
            raise BadParameter("max_retries", max_retries, "must be >= 0")
        self.timeout = timeout
        self.max_retries = max_retries
        self.on_request = on_request
        self.on_wait = on_wait
        self._sleep, self._clock, self._wall = sleep, clock, wall
        self.bucket = LeakyBucket(rate, burst, clock=clock, sleep=sleep)
        self.backoff_base, self.backoff_max, self.max_wait_reset = backoff_base, backoff_max, max_wait_reset
        self.operating_budget = operating_budget
        self._http = httpx.Client(
            timeout=timeout, transport=transport,
            headers={"Accept": "application/json", "User-Agent": "b24reports/0.1 (+httpx)"},
        )
        self.requests = 0
        self.requests_by_method: Counter[str] = Counter()
        self.commands_by_method: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.operating: dict[str, OperatingStats] = {}
        self.batch_supported: bool | None = None
        self.last_reply_time: dict | None = None  # ``time`` block of the last successful reply
        self._replied = False        # any HTTP reply received from the portal yet
        self._connect_failures = 0   # ConnectErrors before the first reply

    # -------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> B24Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"B24Client({self.auth.redacted()!r}, requests={self.requests})"

    @property
    def portal(self) -> str:
        """``scheme://host[:port]`` of the portal (safe to show)."""
        return self.auth.portal

    def stats(self) -> dict[str, Any]:
        """Request counters (for ``sync_runs`` and benchmarks)."""
        return {
            "requests": self.requests,
            "by_method": dict(self.requests_by_method),
            "commands_by_method": dict(self.commands_by_method),
            "retries": dict(self.retries),
            "rate_wait_s": round(self.bucket.waited, 3),
            "operating": {m: s.__dict__.copy() for m, s in self.operating.items()},
        }

    def _announce_wait(self, seconds: float, what: str) -> None:
        """One line for a wait of ``WAIT_NOTICE_SECONDS`` or more (never the secret)."""
        if seconds < WAIT_NOTICE_SECONDS:
            return
        line = self.auth.redact(f"waiting {seconds:.0f} s: {what}")
        if self.on_wait is not None:
            self.on_wait(line)
        else:
            log.warning("%s", line)

    # -------------------------------------------------------------- one HTTP request
    def _record_time(self, method: str, t: Any) -> None:
        if not isinstance(t, dict):
            return
        st = self.operating.setdefault(method, OperatingStats())
        st.calls += 1
        try:
            if "operating" in t:
                st.operating = float(t["operating"])
            if t.get("operating_reset_at") is not None:
                st.operating_reset_at = float(t["operating_reset_at"])
            st.duration += float(t.get("duration") or 0.0)
        except (TypeError, ValueError):
            pass

    def _classify(self, method: str, status: int, body: Any) -> Exception | None:
        """Return the error for an error reply, or None when ``body`` is a success."""
        err = body.get("error") if isinstance(body, dict) else None
        has_result = isinstance(body, dict) and "result" in body
        is_error = err not in (None, "", 0, "0") or status >= 400 or not has_result
        if not is_error:
            return None
        code = "" if err in (None, 0, "0") else str(err)
        desc = str(body.get("error_description", "")) if isinstance(body, dict) else ""
        desc = self.auth.redact(desc)
        if code == "OPERATION_TIME_LIMIT" or (status == 429 and not code):
            st = self.operating.setdefault(method, OperatingStats())
            st.limited += 1
            if isinstance(body, dict):
                self._record_time(method, body.get("time"))
            reset = st.operating_reset_at
            wait_until = reset if reset and reset > self._wall() else None
            return _Retry(B24RateLimitError(code or "OPERATION_TIME_LIMIT", desc or "method execution-time budget exceeded",
                                            method=method, status=status), wait_until=wait_until, rate_limited=True)
        if code == "QUERY_LIMIT_EXCEEDED":
            self.bucket.fill()
            return _Retry(B24RateLimitError(code, desc or "too many requests", method=method, status=status),
                          rate_limited=True)
        if code in AUTH_CODES or status in (401, 403):
            what = AUTH_CODES.get(code, "the webhook was refused")
            scope = _scope_of(method)
            if code in ("insufficient_scope", "ACCESS_DENIED") and scope:
                what += f"; {method} needs the scope '{scope}' -- tick it in the webhook settings"
            return B24AuthError(code, f"{what}. Portal {self.auth.portal}. {desc}".strip(), method=method, status=status)
        if code in RETRY_CODES or status in RETRY_STATUS:
            return _Retry(B24TransportError(
                f"Bitrix24 server error {code or '(no code)'} in {method} (HTTP {status}): {desc}".rstrip(": ")))
        return B24ApiError(code, desc, method=method, status=status)

    def _send_once(self, method: str, params: Mapping[str, Any]) -> dict:
        url = self.auth.method_url(method)
        self.bucket.acquire()
        self.requests += 1
        self.requests_by_method[method] += 1
        t0 = self._clock()
        deadline = time.monotonic() + self.timeout  # real time: it bounds real network waits
        status: int | None = None
        location = ""
        try:
            with self._http.stream("POST", url, json=dict(params)) as resp:
                status = resp.status_code
                location = resp.headers.get("location", "")
                chunks = []
                for chunk in resp.iter_bytes():
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("the reply did not arrive whole within the deadline")
                raw = b"".join(chunks)
        except httpx.TimeoutException as e:
            raise _Retry(B24TransportError(f"timeout after {self.timeout}s calling {method} on "
                                           f"{self.auth.portal} ({type(e).__name__})")) from None
        except httpx.TransportError as e:
            reason = f"{type(e).__name__}: {self.auth.redact(str(e))}"
            if isinstance(e, httpx.ConnectError) and not self._replied:
                self._connect_failures += 1
                if self._connect_failures >= min(UNREACHABLE_ATTEMPTS, self.max_retries + 1):
                    raise B24UnreachableError(
                        f"cannot reach the portal {self.auth.portal} ({reason}); check the host in the webhook "
                        f"URL -- gave up after {count_text(self._connect_failures, 'attempt', 'en')}") from None
            raise _Retry(B24TransportError(f"connection error calling {method} on {self.auth.portal}: "
                                           f"{reason}")) from None
        finally:
            if self.on_request:
                self.on_request(method, status, self._clock() - t0)
        self._replied = True
        if 300 <= status < 400:
            raise self._redirect_error(method, status, location)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            kind = "HTML page" if raw.lstrip()[:1] == b"<" else ("empty body" if not raw.strip() else "truncated or invalid JSON")
            if status in (401, 403):
                raise B24AuthError("", f"the webhook was refused (HTTP {status}, {kind}). Portal {self.auth.portal}",
                                   method=method, status=status) from None
            raise _Retry(B24TransportError(f"non-JSON reply from {self.auth.portal} for {method} "
                                           f"(HTTP {status}, {kind})")) from None
        err = self._classify(method, status, body)
        if err is not None:
            raise err
        self._record_time(method, body.get("time"))
        if isinstance(body.get("time"), dict):
            self.last_reply_time = body["time"]
        return body

    def _redirect_error(self, method: str, status: int, location: str) -> B24RedirectError:
        """The error for a redirect reply: names ``scheme://host`` of the portal and of the
        target (never a path: it would hold the secret) and the URL form to use."""
        ours = httpx.URL(self.auth.method_url(method))
        try:
            target = httpx.URL(location) if location else None
        except (httpx.InvalidURL, TypeError):
            target = None
        if target is not None and not target.is_absolute_url:
            target = ours.join(target)
        if target is not None and target.host:
            port = f":{target.port}" if target.port else ""
            where = f"{target.scheme}://{target.host}{port}"
            hint = (f"use the webhook URL that starts with {where}/rest/ "
                    f"(the portal moved from {self.auth.portal} to {where})")
        else:
            where, hint = "another address", "use the webhook URL exactly as Bitrix24 shows it"
        return B24RedirectError(f"the portal {self.auth.portal} answered {method} with a redirect (HTTP {status}) "
                                f"to {where}; b24reports does not follow redirects, since that would send the "
                                f"webhook secret to another address: {hint}")

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        n = state.attempt_number
        backoff = min(self.backoff_max, self.backoff_base * 2 ** (n - 1))
        backoff = random.uniform(backoff / 2, backoff)  # jitter
        if isinstance(exc, _Retry) and exc.wait_until:
            return min(self.max_wait_reset, max(0.0, exc.wait_until - self._wall()) + 1.0)
        return backoff

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = type(exc.error).__name__ if isinstance(exc, _Retry) else "?"
        self.retries[reason] += 1
        log.info("retrying after %s (attempt %d): %s", reason, state.attempt_number, exc)
        upcoming = state.next_action.sleep if state.next_action is not None else 0.0
        what = ("the method's operating limit to reset" if isinstance(exc, _Retry) and exc.wait_until
                else f"a retry after: {exc}")
        self._announce_wait(upcoming, f"{what} (attempt {state.attempt_number + 1} of {self.max_retries + 1})")

    def _respect_budget(self, methods: Iterable[str]) -> None:
        """Proactive pause: wait for the reset of any method known to be over its budget."""
        now = self._wall()
        until = 0.0
        for m in set(methods):
            st = self.operating.get(m)
            if st and st.operating >= self.operating_budget and st.operating_reset_at and st.operating_reset_at > now:
                until = max(until, st.operating_reset_at)
        if until:
            wait = min(self.max_wait_reset, until - now + 1.0)
            log.info("execution-time budget used up; pausing %.1fs", wait)
            self._announce_wait(wait, "the Bitrix24 operating limit (execution time of "
                                      + ", ".join(sorted(set(methods))) + " in the last 10 minutes) to reset")
            self._sleep(wait)
            for m in set(methods):  # the window has moved on
                st = self.operating.get(m)
                if st:
                    st.operating = 0.0

    def _request(self, method: str, params: Mapping[str, Any]) -> dict:
        if method == "batch":
            cmds = params.get("cmd") or {}
            self._respect_budget(str(c).split("?", 1)[0] for c in (cmds.values() if isinstance(cmds, dict) else cmds))
        else:
            self._respect_budget([method])
        retrying = tenacity.Retrying(
            sleep=self._sleep,
            stop=tenacity.stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retry),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        refresh = getattr(self.auth, "refresh", None)
        try:
            try:
                sent_with = getattr(self.auth, "access_token", None)
                return retrying(self._send_once, method, params)
            except B24AuthError as e:
                # an application token lapsed (they live an hour) or was dropped: refresh once, then
                # retry the call; a refresh the OAuth server refuses is B24AppRevokedError
                if e.code not in ("expired_token", "invalid_token", "NO_AUTH_FOUND") or refresh is None:
                    raise
                refresh(sent_with)
                self.retries[e.code] += 1
                return retrying(self._send_once, method, params)
        except _Retry as r:
            e = r.error
            if isinstance(e, B24TransportError):
                raise B24TransportError(f"{e} -- gave up after {count_text(self.max_retries + 1, 'attempt', 'en')}") from None
            raise e from None

    # -------------------------------------------------------------- public API
    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict:
        """Call one REST method; returns the full reply envelope (``result``, ``total``, ``next``, ``time``).

        Raises:
            B24AuthError: 401/403 codes (not retried; message says what is wrong, never the secret).
            B24RateLimitError: rate/time limits outlasted the retry budget.
            B24TransportError: network/5xx/non-JSON failures outlasted the retry budget.
            B24UnreachableError: the host never answered (DNS failure, connection refused) in
                ``UNREACHABLE_ATTEMPTS`` attempts (exit code 2).
            B24ApiError: any other error reply (``code`` = the ``error`` string, may be empty).
        """
        return self._request(method, params or {})

    def batch(self, cmds: Mapping[str, tuple[str, Mapping[str, Any]]], halt: bool = True,
              *, raise_errors: bool = True) -> BatchResult:
        """Run up to 50 commands in one ``batch`` request (one request against the rate limit).

        ``cmds``: ``{key: (method, params)}``; params are PHP-encoded into ``method?query``.

        Raises:
            B24BatchError: any sub-command failed (``result_error`` not empty), unless
                ``raise_errors=False``; code and description name the key and method.
            BadParameter("cmds", ...): empty or more than 50 commands.
            plus the errors of :meth:`call`.
        """
        if not cmds or len(cmds) > BATCH_MAX:
            raise BadParameter("cmds", len(cmds or {}), f"a batch takes 1..{BATCH_MAX} commands")
        wire = {str(k): f"{m}?{php_query(p)}" for k, (m, p) in cmds.items()}
        for m, _ in cmds.values():
            self.commands_by_method[m] += 1
        env = self._request("batch", {"halt": 1 if halt else 0, "cmd": wire})
        res = env.get("result") or {}
        if not isinstance(res, dict):
            raise B24ApiError("ERROR_UNEXPECTED_ANSWER", "batch result is not an object", method="batch")
        keys = list(wire)
        out = BatchResult(**{s: _as_dict(res.get(s), keys) for s in
                             ("result", "result_error", "result_total", "result_next", "result_time")})
        for k, t in out.result_time.items():
            if k in cmds:
                self._record_time(cmds[k][0], t)
        if raise_errors and out.result_error:
            self._raise_batch_error(cmds, out.result_error)
        return out

    def _raise_batch_error(self, cmds: Mapping[str, tuple[str, Any]], errors: Mapping[str, Any]) -> None:
        key, e = next(iter(errors.items()))
        method = cmds[key][0] if key in cmds else "?"
        code = str(e.get("error", "")) if isinstance(e, dict) else str(e)
        desc = self.auth.redact(str(e.get("error_description", ""))) if isinstance(e, dict) else ""
        codes = {str(v.get("error", "")) if isinstance(v, dict) else str(v) for v in errors.values()}
        if codes <= {"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT"}:
            raise B24RateLimitError(code, f"batch command {key!r}: {desc}", method=method)
        if code in AUTH_CODES:
            scope = _scope_of(method)
            hint = f"; {method} needs the scope '{scope}'" if scope else ""
            raise B24AuthError(code, f"batch command {key!r}: {AUTH_CODES[code]}{hint}. {desc}".strip(), method=method)
        raise B24BatchError(code, f"batch command {key!r} failed ({len(errors)} failed in all): {desc}", method=method)

    # -------------------------------------------------------------- listing
    def export(
        self,
        method: str,
        *,
        select: list[str],
        filter: Mapping[str, Any] | None = None,  # noqa: A002 -- Bitrix24 parameter name
        id_field: str = "ID",
        row_id_field: str | None = None,
        result_key: str | None = None,
        filter_key: str = "filter",
        select_key: str = "select",
        order: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        start_after: int = 0,
        pages_per_batch: int = BATCH_MAX,
        first_chain: int = 1,
    ) -> Iterator[list[dict]]:
        """The documented fast export: ``order ID ASC``, filter ``>ID`` = last id, ``start=-1``.

        Up to ``pages_per_batch`` page commands are chained in ONE ``batch`` request, page k
        filtering ``>ID`` on ``$result[p{k-1}][49][ID]`` (``[<result_key>][49][<row id>]`` for
        wrapped results), so one HTTP request brings up to 2,500 rows. Stops at the first page
        with fewer than 50 rows; commands after it in the same batch (whose reference to row
        49 does not resolve) are ignored, result or error. Bitrix24 (CRestUtil::processBatchElement)
        walks a reference key by key and stops at the first missing key, so an unresolved
        ``$result[p][49][ID]`` becomes the whole short page, which a ``>ID`` filter reads as
        PHP ``intval(array)`` = 1: those later pages restart near the beginning and must be
        dropped, never merged. Without ``batch``
        (ERROR_METHOD_NOT_FOUND) falls back to one request per page.

        Args:
            method: list method, e.g. ``crm.deal.list``, ``tasks.task.list``.
            select: fields to fetch (always pass it; ``*`` is slow).
            filter: extra filter (merged with ``>ID``).
            id_field: id field for filter/order (``ID``; ``id`` for crm.item.list).
            row_id_field: id key in the rows (``id`` for tasks.task.list); default ``id_field``.
            result_key: wrapped results (``tasks`` for tasks.task.list, ``items`` for
                crm.stagehistory.list); None for a plain array.
            filter_key / select_key: parameter names (``FILTER`` for voximplant.statistic.get).
            order: order parameters; default ``{"order": {id_field: "ASC"}}``
                (voximplant: ``{"SORT": "ID", "ORDER": "ASC"}``).
            extra: other parameters (``entityTypeId``...).
            start_after: resume after this id.
            first_chain: page commands in the FIRST batch (default 1, a probe). Commands after
                a short page still execute on the server and burn the method's execution-time
                budget (up to 49 wasted pages); probing first means a small result (an
                incremental window, a small table) costs one page, at the price of one extra
                request for results over 50 rows. ``first_chain=50`` reaches the request floor
                ceil(rows / 2500).

        Yields: pages (list of raw row dicts), ids strictly increasing across pages, no duplicates.

        Raises:
            B24CursorError: a page's ids did not strictly grow past the previous last id
                (the server ignored ``>ID``/order).
            B24BatchError: a page command failed.
            plus the errors of :meth:`call`.
        """
        rid = row_id_field or id_field
        order = dict(order) if order is not None else {"order": {id_field: "ASC"}}
        base = {**(extra or {}), **order, select_key: list(select), "start": -1}
        flt = dict(filter or {})
        gt = f">{id_field}"
        if gt in flt:
            raise BadParameter("filter", gt, "export sets the >ID cursor itself; use start_after")
        last = int(start_after)
        per_max = max(1, min(BATCH_MAX, pages_per_batch))
        per = max(1, min(per_max, first_chain))

        def params_for(cursor: Any) -> dict:
            return {**base, filter_key: {**flt, gt: cursor}}

        limited = 0  # consecutive rate-limited page commands

        while True:
            if self.batch_supported is not False:
                cmds = {}
                for i in range(per):
                    cursor = last if i == 0 else BatchRef.last_id(f"p{i - 1}", rid, result_key)
                    cmds[f"p{i}"] = (method, params_for(cursor))
                try:
                    br = self.batch(cmds, halt=True, raise_errors=False)
                    self.batch_supported = True
                except B24ApiError as e:
                    if e.code == "ERROR_METHOD_NOT_FOUND" and e.method == "batch":
                        self.batch_supported = False
                        continue
                    raise
                done = False
                for i in range(per):
                    key = f"p{i}"
                    if key in br.result_error:
                        err = br.result_error[key]
                        code = str(err.get("error", "")) if isinstance(err, dict) else ""
                        if code in ("OPERATION_TIME_LIMIT", "QUERY_LIMIT_EXCEEDED") and limited < self.max_retries:
                            # pages before this one are good (yielded); wait, then go on from `last`
                            limited += 1
                            self._pause(method, code, limited)
                            break
                        self._raise_batch_error(cmds, {key: err})
                    limited = 0
                    if key not in br.result:
                        raise B24BatchError("ERROR_UNEXPECTED_ANSWER",
                                            f"batch command {key!r} has no result (halted?)", method=method)
                    raw = self._unwrap(br.result[key], result_key, method)
                    page = self._check_page(raw, last, rid, method)
                    if page:
                        last = int(page[-1][rid])
                        yield page
                    if len(raw) < PAGE_SIZE:
                        done = True
                        break
                if done:
                    return
                per = per_max
            else:
                env = self.call(method, params_for(last))
                raw = self._unwrap(env.get("result"), result_key, method)
                page = self._check_page(raw, last, rid, method)
                if page:
                    last = int(page[-1][rid])
                    yield page
                if len(raw) < PAGE_SIZE:
                    return

    def _pause(self, method: str, code: str, attempt: int) -> None:
        """Wait after a rate-limited batch sub-command: until ``method``'s ``operating_reset_at``
        (known from earlier replies' ``time``) for OPERATION_TIME_LIMIT, else a jittered backoff."""
        st = self.operating.setdefault(method, OperatingStats())
        reset = st.operating_reset_at
        if code == "OPERATION_TIME_LIMIT":
            st.limited += 1
        if code == "OPERATION_TIME_LIMIT" and reset and reset > self._wall():
            wait = min(self.max_wait_reset, reset - self._wall() + 1.0)
        else:
            if code == "QUERY_LIMIT_EXCEEDED":
                self.bucket.fill()
            b = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
            wait = random.uniform(b / 2, b)
        self.retries["B24RateLimitError"] += 1
        log.info("%s: %s in batch, waiting %.1fs", method, code, wait)
        self._announce_wait(wait, f"{method}: {code} from Bitrix24"
                                  + (" (operating limit of the method)" if code == "OPERATION_TIME_LIMIT" else ""))
        self._sleep(wait)

    @staticmethod
    def _unwrap(result: Any, result_key: str | None, method: str) -> list[dict]:
        if result_key:
            if isinstance(result, dict):
                result = result.get(result_key, [])
            elif result == []:
                result = []
        if isinstance(result, dict):  # PHP arrays with numeric keys
            result = list(result.values())
        if not isinstance(result, list):
            raise B24ApiError("ERROR_UNEXPECTED_ANSWER",
                              f"expected a list{' in result.' + result_key if result_key else ''}, got {type(result).__name__}",
                              method=method)
        return result

    @staticmethod
    def _check_page(raw: list[dict], last: int, rid: str, method: str) -> list[dict]:
        """Rows of one page with the cursor checked: ids strictly above ``last`` and strictly
        increasing; an exact duplicate id within the page is dropped."""
        out: list[dict] = []
        prev = last
        for row in raw:
            try:
                i = int(row[rid])
            except (KeyError, TypeError, ValueError):
                raise B24ApiError("ERROR_UNEXPECTED_ANSWER", f"row without a valid {rid!r}", method=method) from None
            if out and i == prev:
                continue  # duplicate row (e.g. activity with several bindings)
            if i <= prev:
                raise B24CursorError(
                    f"{method}: id {i} after {prev} -- the ID cursor did not grow (server ignored >ID/order)")
            out.append(row)
            prev = i
        return out

    def list_all(self, method: str, params: Mapping[str, Any] | None = None, *, result_key: str | None = None,
                 id_field: str | None = "ID") -> list[dict]:
        """All rows of a small dictionary method read by offset paging (``start``/``next``), for
        methods without an ID cursor: ``crm.status.list``, ``department.get``,
        ``crm.category.list`` (``result_key="categories"``), ``crm.currency.list``,
        ``sonet_group.get``. Rows are deduped by ``id_field`` (None: no dedupe), first seen wins.

        Offset pages shift when a row is added or removed while they are read, so a row can be
        skipped without any error. A list that fits one page cannot shift and is read once; a
        longer one is read again until two consecutive reads give the same ids and match the
        reply's ``total`` (at most ``LIST_READS`` reads).

        Raises: the errors of :meth:`call`; ``B24ApiError`` (``ERROR_UNEXPECTED_ANSWER``) when
        ``next`` does not advance, or the list kept changing for ``LIST_READS`` reads.
        """
        prev: list[dict] | None = None
        for _ in range(LIST_READS):
            rows, total, pages = self._offset_pass(method, dict(params or {}), result_key, id_field)
            complete = total is None or len(rows) == total or id_field is None
            if pages <= 1 and complete:
                return rows
            if complete and prev is not None and self._ids(prev, id_field) == self._ids(rows, id_field):
                return rows
            prev = rows
        raise B24ApiError("ERROR_UNEXPECTED_ANSWER",
                          f"the list kept changing while it was read ({LIST_READS} reads disagreed); "
                          "run the sync again", method=method)

    @staticmethod
    def _ids(rows: list[dict], id_field: str | None) -> list:
        return [r.get(id_field) if isinstance(r, dict) else r for r in rows] if id_field else rows

    def _offset_pass(self, method: str, params: dict, result_key: str | None,
                     id_field: str | None) -> tuple[list[dict], int | None, int]:
        """One read of an offset-paged list -> (rows deduped by ``id_field``, the first
        reply's ``total`` or None, pages read)."""
        rows: list[dict] = []
        seen: set = set()
        start, total, pages = 0, None, 0
        for _ in range(100_000):
            env = self.call(method, {**params, "start": start})
            pages += 1
            if total is None:
                total = as_total(env.get("total"))
            page = self._unwrap(env.get("result"), result_key, method)
            for r in page:
                key = r.get(id_field) if (id_field and isinstance(r, dict)) else None
                if key is not None:
                    if key in seen:
                        continue
                    seen.add(key)
                rows.append(r)
            nxt = env.get("next")
            if nxt is None or not page:
                return rows, total, pages
            if int(nxt) <= start:
                raise B24ApiError("ERROR_UNEXPECTED_ANSWER", f"'next'={nxt} does not advance past {start}",
                                  method=method)
            start = int(nxt)
        raise B24ApiError("ERROR_UNEXPECTED_ANSWER", "too many pages", method=method)

    def list_by_id(self, method: str, params: Mapping[str, Any] | None = None, *, filter_key: str = "FILTER",
                   id_field: str = "ID") -> list[dict]:
        """All rows of a list method whose filter takes ``>ID`` but that has no fast export
        (``user.get``): each request asks for the first page of ``ID > last id seen`` in ID
        order, so a row added, removed or moved between requests can never shift another one
        out of the read. The count is checked against the first reply's ``total``; a mismatch
        (rows added or removed meanwhile) is read once more.

        Raises: the errors of :meth:`call`; :class:`B24CursorError` when ids do not grow (the
        server ignored ``>ID``).
        """
        params = dict(params or {})
        flt = dict(params.pop(filter_key, None) or {})
        rows: list[dict] = []
        for _ in range(2):
            rows, total, last = [], None, 0
            while True:
                env = self.call(method, {**params, filter_key: {**flt, f">{id_field}": last}, "start": 0})
                raw = self._unwrap(env.get("result"), None, method)
                if total is None:
                    total = as_total(env.get("total"))
                page = self._check_page(raw, last, id_field, method)
                rows += page
                if page:
                    last = int(page[-1][id_field])
                if len(raw) < PAGE_SIZE or env.get("next") is None:
                    break
            if total is None or len(rows) == total:
                return rows
        return rows

    def server_now(self) -> datetime | None:
        """Server time of the last reply (``time.date_start``, else ``time.start`` unix), tz-aware."""
        t = self.last_reply_time or {}
        if t.get("date_start"):
            try:
                dt = datetime.fromisoformat(str(t["date_start"]))
                if dt.tzinfo is not None:
                    return dt
            except ValueError:
                pass
        if t.get("start") is not None:
            try:
                return datetime.fromtimestamp(float(t["start"]), tz=timezone.utc)
            except (TypeError, ValueError, OverflowError):
                pass
        return None

    def scope(self) -> set[str]:
        """The webhook's scopes (REST method ``scope``)."""
        res = self.call("scope").get("result") or []
        return {str(s) for s in res}
