"""Authentication for the Bitrix24 REST API.

Two kinds: an inbound webhook (``https://portal/rest/<user_id>/<secret>/``) and a local
application's OAuth tokens (:class:`AppToken`: ``auth=<access token>``, refreshed at the OAuth
server on ``expired_token``). The client talks to an :class:`Auth` (``portal``,
``method_url(method)``, ``redacted()``, ``redact(text)``; an auth that can ``refresh(spent)`` is
refreshed once per call when the portal says ``expired_token``).

The webhook secret is never printed: ``repr``/``str``/``redacted()`` replace it by ``***``
and :meth:`Webhook.redact` scrubs it from any text (used on httpx exception messages).
"""

from __future__ import annotations

import ipaddress
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from b24reports.core.errors import BadParameter

if TYPE_CHECKING:
    import httpx

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


# --------------------------------------------------------------------------- application tokens
#: Environment variables of the local application (the portal admin copies them from the app's card).
CLIENT_ID_ENV, CLIENT_SECRET_ENV, OAUTH_URL_ENV = "B24_CLIENT_ID", "B24_CLIENT_SECRET", "B24_OAUTH_URL"
#: Bitrix24's token endpoint (refresh_token grant).
DEFAULT_OAUTH_URL = "https://oauth.bitrix.info/oauth/token/"


def app_tokens_path(store: str | os.PathLike) -> Path:
    """Where the application's tokens live: ``<store>.app-tokens.json`` next to the store."""
    p = Path(store)
    return p.with_name(p.name + ".app-tokens.json")


def _portal_of(url: str, what: str) -> str:
    """``scheme://host[:port]`` of ``url``; http only on loopback (as for the webhook)."""
    parts = urlsplit(str(url).strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadParameter(what, url, "expected https://<portal> (http:// only on loopback)")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise BadParameter(what, url, "http:// is allowed only on loopback (the demo); a Bitrix24 portal needs https://")
    return f"{parts.scheme}://{parts.netloc.lower()}"


class UserToken:
    """One user's access token (a viewer's ``AUTH_ID``): ``auth=<token>`` on every call, no
    refresh. The calls act with that user's rights on the portal (bitrix24-api.md §8).

    Raises:
        BadParameter("portal", ...): not ``https://`` (``http://`` only on loopback).
        BadParameter("AUTH_ID", "<redacted>", ...): empty.
    """

    def __init__(self, portal: str, access_token: str):
        self._portal = _portal_of(portal, "portal")
        self._access = str(access_token or "")
        if not self._access:
            raise BadParameter("AUTH_ID", "<redacted>", "empty")
        self._old: list[str] = []

    @property
    def portal(self) -> str:
        """``scheme://host[:port]`` of the portal (safe to show and store)."""
        return self._portal

    @property
    def access_token(self) -> str:
        """The current access token (only for the HTTP layer; never print it)."""
        return self._access

    def method_url(self, method: str) -> str:
        """URL to POST ``method`` to, with ``auth=<access token>`` in the query (a secret)."""
        if not re.fullmatch(r"[A-Za-z0-9_.]+", method or ""):
            raise BadParameter("method", method, "a Bitrix24 method name has only letters, digits, '.' and '_'")
        return f"{self._portal}/rest/{method}.json?auth={self._access}"

    def redacted(self) -> str:
        return f"{self._portal}/rest/ (token ***)"

    def secrets(self) -> tuple[str, ...]:
        """Every secret this auth knows (current and spent), for :meth:`redact`."""
        return (self._access, *self._old)

    def redact(self, text: str) -> str:
        """``text`` with every secret of :meth:`secrets` masked."""
        text = str(text)
        for s in self.secrets():
            if s:
                text = text.replace(s, "***")
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.redacted()!r})"

    __str__ = redacted


class AppToken(UserToken):
    """A local application's OAuth tokens: ``auth=<access token>`` on every call, refreshed at
    the OAuth server when the portal answers ``expired_token``.

    Source: Bitrix24 "simplified OAuth 2.0" for local applications (bitrix24-api.md §8): REST
    at ``{portal}/rest/{method}.json?auth=…``; refresh with ``GET {oauth_url}?grant_type=
    refresh_token&client_id&client_secret&refresh_token`` -> a NEW access AND refresh token.

    Args:
        portal: ``https://<domain>`` (http only on loopback).
        access_token, refresh_token: the current pair (secrets: never shown).
        client_id, client_secret: the app's credentials (default: env ``B24_CLIENT_ID`` /
            ``B24_CLIENT_SECRET``).
        oauth_url: the full token endpoint (default env ``B24_OAUTH_URL``, else
            ``https://oauth.bitrix.info/oauth/token/``).
        token_file: where the pair is kept (JSON, mode 0600); rewritten after each refresh,
            because the old refresh token stops working.
        member_id, user_id: the portal's id and the token's user (kept in the file).
        http: an ``httpx.Client`` for the refresh (tests: a MockTransport client).

    Raises:
        BadParameter("portal"|"B24_CLIENT_ID"|"B24_CLIENT_SECRET"|"B24_OAUTH_URL", ...):
            missing or malformed; the value shown for a secret is ``"<redacted>"``.
    """

    def __init__(self, portal: str, access_token: str, refresh_token: str, *, client_id: str | None = None,
                 client_secret: str | None = None, oauth_url: str | None = None, token_file: Path | None = None,
                 member_id: str = "", user_id: int | None = None, http: "httpx.Client | None" = None):
        super().__init__(portal, access_token or "-")
        self._access, self._refresh = str(access_token or ""), str(refresh_token or "")
        if not self._access or not self._refresh:
            raise BadParameter("app tokens", "<redacted>", "access and refresh tokens are required; install the application")
        self.client_id = client_id if client_id is not None else os.environ.get(CLIENT_ID_ENV, "")
        self._secret = client_secret if client_secret is not None else os.environ.get(CLIENT_SECRET_ENV, "")
        if not self.client_id:
            raise BadParameter(CLIENT_ID_ENV, None, "not set; copy the client id (local.…) from the application's card")
        if not self._secret:
            raise BadParameter(CLIENT_SECRET_ENV, None, "not set; copy the client secret from the application's card")
        url = oauth_url or os.environ.get(OAUTH_URL_ENV) or DEFAULT_OAUTH_URL
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or (
                parts.scheme == "http" and not is_loopback_host(parts.hostname)):
            raise BadParameter(OAUTH_URL_ENV, url, "expected the full https:// token endpoint (http:// only on loopback)")
        self.oauth_url = url
        self.token_file = Path(token_file) if token_file else None
        self.member_id, self.user_id = str(member_id or ""), user_id
        self._http = http
        self._lock = threading.Lock()
        self.refreshes = 0

    def redacted(self) -> str:
        return f"{self._portal}/rest/ (application token ***)"

    def secrets(self) -> tuple[str, ...]:
        """The access/refresh tokens (current and spent) and the client secret."""
        return (self._access, self._refresh, self._secret, *self._old)

    # ---- refresh
    def refresh(self, spent: str | None = None) -> None:
        """Trade the refresh token for a new pair at ``oauth_url`` and save it.

        ``spent``: the access token a call was refused with; when another thread has refreshed
        since, nothing is done (the caller just retries with the new token). Across processes
        (``serve --app`` and ``sync --app`` share ``token_file``) the refresh runs under a file
        lock, and a pair another process saved meanwhile is taken as is: a refresh token works
        once, so refreshing with the spent one would look like a revoked application.

        Raises:
            B24AppRevokedError: ``invalid_client`` / ``invalid_grant`` (the app was deleted, the
                secret changed, or the refresh token is spent or too old): reinstall the app.
            B24TransportError: the OAuth server could not be reached or did not answer JSON.
        """
        import httpx

        from b24reports.core.errors import B24AppRevokedError, B24TransportError

        import contextlib

        from filelock import FileLock

        lock = FileLock(str(self.token_file) + ".lock") if self.token_file is not None else contextlib.nullcontext()
        with self._lock, lock:
            if spent is not None and spent != self._access:
                return
            if self.token_file is not None and self.token_file.exists():
                kept = read_secret_json(self.token_file)
                if kept.get("refresh_token") and kept["refresh_token"] != self._refresh:  # refreshed elsewhere
                    self._old += [self._access, self._refresh]
                    self._access, self._refresh = str(kept["access_token"]), str(kept["refresh_token"])
                    return
            params = {"grant_type": "refresh_token", "client_id": self.client_id, "client_secret": self._secret,
                      "refresh_token": self._refresh}
            http = self._http or httpx.Client(timeout=30)
            try:
                r = http.get(self.oauth_url, params=params)
                body = r.json()
            except (httpx.HTTPError, ValueError) as e:
                raise B24TransportError(self.redact(f"the OAuth server {urlsplit(self.oauth_url).netloc} did not refresh "
                                                    f"the application token ({type(e).__name__})")) from None
            finally:
                if self._http is None:
                    http.close()
            err = str(body.get("error", "")) if isinstance(body, dict) else "bad reply"
            if err or not isinstance(body, dict) or not body.get("access_token") or not body.get("refresh_token"):
                if err in ("invalid_client", "invalid_grant", "NO_AUTH_FOUND", "invalid_token"):
                    raise B24AppRevokedError(err, f"the local application on {self._portal} can no longer refresh its "
                                             f"tokens ({err}): it was deleted, its secret changed, or it was not "
                                             f"opened for too long. Reinstall it (README, \"installing the local "
                                             f"application\")", status=r.status_code)
                raise B24TransportError(f"the OAuth server answered the token refresh with HTTP {r.status_code} "
                                        f"({self.redact(err) or 'no tokens'})")
            self._old += [self._access, self._refresh]
            self._access, self._refresh = str(body["access_token"]), str(body["refresh_token"])
            self.member_id = str(body.get("member_id") or self.member_id)
            self.refreshes += 1
            if self.token_file is not None:
                self.save(self.token_file)

    # ---- the token file
    def save(self, path: Path) -> None:
        """Write the pair to ``path`` (JSON, mode 0600, atomically). The client secret is not written."""
        data = {"portal": self._portal, "member_id": self.member_id, "user_id": self.user_id,
                "access_token": self._access, "refresh_token": self._refresh}
        write_secret_json(path, data)

    @classmethod
    def load(cls, path: str | os.PathLike, **kw) -> "AppToken":
        """The application token kept in ``path`` (see :func:`app_tokens_path`); ``kw`` as for the
        constructor (client id/secret, oauth_url, http).

        Raises:
            BadParameter("app tokens", path, ...): missing (install the app first), unreadable, or
                readable by others (mode must be 0600).
        """
        data = read_secret_json(path)
        try:
            return cls(data["portal"], data["access_token"], data["refresh_token"], token_file=Path(path),
                       member_id=data.get("member_id", ""), user_id=data.get("user_id"), **kw)
        except KeyError as e:
            raise BadParameter("app tokens", str(path), f"has no {e.args[0]}; reinstall the application") from None


def write_secret_json(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` with owner-only permissions (0600), atomically
    (a temporary file in the same directory, then rename)."""
    import json
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_secret_json(path: str | os.PathLike) -> dict:
    """The JSON object in ``path``, refused when group or others may read it.

    Raises:
        BadParameter("app tokens", path, reason): missing, not JSON, or mode not owner-only.
    """
    import json
    import stat

    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise BadParameter("app tokens", str(path), "not found; install the application first "
                                                    "(b24reports serve --app, then install it in Bitrix24)") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BadParameter("app tokens", str(path), f"is readable by others (mode {stat.S_IMODE(st.st_mode):o}); "
                                                    f"run chmod 600 on it")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise BadParameter("app tokens", str(path), f"unreadable ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise BadParameter("app tokens", str(path), "is not a JSON object")
    return data
