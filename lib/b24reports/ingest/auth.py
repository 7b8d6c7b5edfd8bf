"""Authentication for the Bitrix24 REST API.

Today the only kind is an inbound webhook (``https://portal/rest/<user_id>/<secret>/``).
The client talks to an :class:`Auth` (``portal``, ``method_url(method)``, ``redacted()``,
``redact(text)``) so OAuth can be added later without touching the client.

The webhook secret is never printed: ``repr``/``str``/``redacted()`` replace it by ``***``
and :meth:`Webhook.redact` scrubs it from any text (used on httpx exception messages).
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Protocol
from urllib.parse import urlsplit

from b24reports.core.errors import BadParameter

#: Environment variable read when no ``--webhook`` is given.
ENV_VAR = "B24_WEBHOOK_URL"

_PATH_RE = re.compile(r"^/rest/(?P<user>\d+)/(?P<secret>[A-Za-z0-9_\-]+)/?$")


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` (and ``*.localhost``) and loopback IP addresses."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Auth(Protocol):
    """What :class:`b24reports.ingest.client.B24Client` needs from an auth method."""

    @property
    def portal(self) -> str: ...  # scheme://host[:port], safe to show

    def method_url(self, method: str) -> str: ...

    def redacted(self) -> str: ...

    def redact(self, text: str) -> str: ...


class Webhook:
    """An inbound webhook URL ``http(s)://host[:port]/rest/<user_id>/<secret>/``.

    ``http`` is accepted only on a loopback host (``localhost``, ``127.x.x.x``, ``::1``: the
    demo server); a real portal uses https, so ``http://`` to any other host is refused here,
    before any request is sent.

    Raises:
        BadParameter("webhook", "<redacted>", reason): the URL does not have that shape. The
        value in the error is always ``"<redacted>"`` so the secret never reaches a log.
    """

    __slots__ = ("_scheme", "_netloc", "_user_id", "_secret")

    def __init__(self, url: str):
        if not isinstance(url, str) or not url.strip():
            raise BadParameter("webhook", "<redacted>", "empty; pass --webhook or set B24_WEBHOOK_URL")
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https"):
            raise BadParameter("webhook", "<redacted>", "must start with https:// (or http:// on loopback)")
        if not parts.hostname:
            raise BadParameter("webhook", "<redacted>", "has no host name")
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise BadParameter(
                "webhook", "<redacted>",
                "http:// is allowed only on loopback (the demo); a Bitrix24 portal needs https://",
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise BadParameter("webhook", "<redacted>", "must not contain a query, fragment or user:password@")
        try:
            parts.port  # noqa: B018 -- validates the port
        except ValueError:
            raise BadParameter("webhook", "<redacted>", "has an invalid port") from None
        m = _PATH_RE.match(parts.path)
        if not m:
            raise BadParameter(
                "webhook", "<redacted>",
                "expected the shape https://<portal>/rest/<user_id>/<secret>/ (as Bitrix24 shows it)",
            )
        self._scheme = parts.scheme
        self._netloc = parts.netloc.lower()
        self._user_id = int(m["user"])
        self._secret = m["secret"]

    @classmethod
    def from_env(cls, url: str | None = None) -> Webhook:
        """The webhook from ``url`` if given, else from env ``B24_WEBHOOK_URL``.

        Raises:
            BadParameter("webhook", ...): neither is set or the URL is malformed.
        """
        url = url or os.environ.get(ENV_VAR, "")
        if not url:
            raise BadParameter("webhook", "<redacted>", f"not given; pass --webhook or set {ENV_VAR}")
        return cls(url)

    @property
    def portal(self) -> str:
        """``scheme://host[:port]`` of the portal (safe to show and store)."""
        return f"{self._scheme}://{self._netloc}"

    @property
    def host(self) -> str:
        """Host name (with port when not default), e.g. ``acme.bitrix24.ru``; safe to show."""
        return self._netloc

    @property
    def user_id(self) -> int:
        """Id of the employee who created the webhook."""
        return self._user_id

    @property
    def base_url(self) -> str:
        """The full webhook URL WITH the secret (only for the HTTP layer; never print it)."""
        return f"{self.portal}/rest/{self._user_id}/{self._secret}/"

    def method_url(self, method: str) -> str:
        """URL to POST ``method`` to (contains the secret)."""
        if not re.fullmatch(r"[A-Za-z0-9_.]+", method or ""):
            raise BadParameter("method", method, "a Bitrix24 method name has only letters, digits, '.' and '_'")
        return f"{self.base_url}{method}"

    def redacted(self) -> str:
        """The webhook URL with the secret replaced by ``***``."""
        return f"{self.portal}/rest/{self._user_id}/***/"

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the secret replaced by ``***``."""
        return str(text).replace(self._secret, "***")

    def __repr__(self) -> str:
        return f"Webhook({self.redacted()!r})"

    __str__ = redacted

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Webhook) and self.base_url == other.base_url

    def __hash__(self) -> int:
        return hash(self.base_url)
