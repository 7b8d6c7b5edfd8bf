"""Every exception b24reports raises on purpose. The CLI maps them to exit codes.

``BadInput`` and its subclasses mean the user gave something wrong (exit code 2); the message
names the input. ``B24ApiError`` and its subclasses come from the Bitrix24 REST API; their
messages never contain the webhook secret.
"""

from __future__ import annotations


class B24ReportsError(Exception):
    """Base class of every error b24reports raises on purpose (exit code 1)."""

    exit_code = 1


class BadInput(B24ReportsError):
    """The user gave something wrong: a parameter, a file, a URL (exit code 2)."""

    exit_code = 2


class BadParameter(BadInput):
    """A report or CLI parameter has a bad value; names the parameter and the value."""

    def __init__(self, name: str, value: object, reason: str):
        self.name, self.value, self.reason = name, value, reason
        # a missing value is named as missing, never as ``webhook=None``
        super().__init__(f"parameter {name}: {reason}" if value is None else f"parameter {name}={value!r}: {reason}")


class PlanFileError(BadInput):
    """The plan file is missing, empty or unreadable as a whole."""


class StoreError(B24ReportsError):
    """The local store is missing, locked or not a b24reports store."""


class StoreNotSynced(StoreError, BadInput):
    """The store holds no completed sync (never synced, or the first sync failed, e.g. an
    expired webhook): the user must run ``b24reports sync`` first (exit code 2). The message
    is one line naming the store path."""

    exit_code = 2


class B24ApiError(B24ReportsError):
    """An error reply of the Bitrix24 REST API.

    ``code`` is the ``error`` string of the reply (may be empty), ``description`` its
    ``error_description``, ``method`` the REST method, ``status`` the HTTP status.
    """

    def __init__(self, code: str, description: str = "", *, method: str = "", status: int | None = None):
        self.code, self.description, self.method, self.status = code, description, method, status
        where = f" in {method}" if method else ""
        http = f" (HTTP {status})" if status else ""
        super().__init__(f"Bitrix24 error {code or '(no code)'}{where}{http}: {description}".rstrip(": "))


class B24AuthError(B24ApiError):
    """401/403: expired, blocked or wrong webhook, or missing scope. Not retried (exit code 2)."""

    exit_code = 2


class B24RateLimitError(B24ApiError):
    """QUERY_LIMIT_EXCEEDED / OPERATION_TIME_LIMIT that retries could not outlast."""


class B24TransportError(B24ReportsError):
    """Network failure, timeout or a non-JSON reply that retries could not outlast."""


class B24UnreachableError(B24TransportError):
    """The portal host could not be reached at all (DNS failure, connection refused) before any
    reply: most likely a wrong host in the webhook URL (exit code 2)."""

    exit_code = 2


class B24RedirectError(B24TransportError):
    """The portal answered with an HTTP redirect (301/302/307/308). b24reports never follows a
    redirect (it would resend the webhook secret to another URL): the user must use the URL form
    the redirect points to (exit code 2). The message names only ``scheme://host`` of both."""

    exit_code = 2


class SyncIncomplete(B24ReportsError):
    """A sync pass could not be shown complete against the portal's own count, so what it did
    not see was kept rather than deleted (or, on a first sync, nothing was received although the
    portal counts rows). Everything stored before stays; the message names each entity with
    both numbers. Exit code 3, so a scheduler notices."""

    exit_code = 3


class B24BatchError(B24ApiError):
    """A sub-command of a ``batch`` call failed: the whole result is refused, never short."""


class B24CursorError(B24ReportsError):
    """The ID cursor did not strictly grow: the server ignored ``>ID``/``order``."""


class ScheduleFileError(BadInput):
    """The schedule file (``run-schedule``) is unreadable or invalid; names the entry and line."""


class DeliveryError(B24ReportsError):
    """A report could not be delivered (e.g. SMTP send failed after retries); files stay on disk."""


class B24AppRevokedError(B24AuthError):
    """The local application's tokens cannot be refreshed any more (``invalid_client``: the app
    was deleted or its secret changed; ``invalid_grant``: the refresh token is spent or older
    than its ~28 days). The admin must reinstall or reopen the application (exit code 2). The
    message never contains a token or the client secret."""

    exit_code = 2
