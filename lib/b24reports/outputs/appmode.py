"""``b24reports serve --app``: the dashboards as a Bitrix24 local application.

Source: bitrix24-api.md §8 (local applications, simplified OAuth 2.0, placements); the
issue's contract (issue 21):

* ``/b24/install`` -- Bitrix24 POSTs the installing admin's ``AUTH_ID`` / ``REFRESH_ID`` with
  ``DOMAIN``, ``PROTOCOL``, ``member_id``. The handler checks the portal (``--portal`` when
  given, else the first install decides), checks that the token's user is a portal admin
  (``user.admin``), keeps the pair in ``<store>.app-tokens.json`` (0600, for ``sync --app``)
  with ``member_id``, and binds the placements the portal offers (``LEFT_MENU``,
  ``CRM_ANALYTICS_MENU``) to ``/b24/app``.
* ``/b24/app`` -- Bitrix24 POSTs (inside an iframe) ``DOMAIN``, ``PROTOCOL``, ``LANG``,
  ``APP_SID`` in the query and ``AUTH_ID``, ``AUTH_EXPIRES``, ``REFRESH_ID``, ``member_id``,
  ``status``, ``PLACEMENT``, ``PLACEMENT_OPTIONS`` in the body; each is read from either
  place. A ``DOMAIN``/``PROTOCOL`` or ``member_id`` that is not the installed portal is
  refused (403) WITHOUT any request to that domain. Otherwise the viewer is identified on the
  installed portal with their own token (``user.current``, ``user.admin``), what they may open
  is asked the same way (meanwhile the page says «Проверяю доступ в Битрикс24…» and fetches
  ``/b24/check`` with a one-time nonce; the viewer's token stays on the server) (:func:`b24reports.ingest.visibility.fetch_visibility`, cached per viewer),
  and the page lists the reports. No cookie is set: Chromium blocks third-party cookies in
  the portal's iframe.
* ``/b24/open`` -- a report is opened by a POST from that list (never a bare link) carrying
  the signed, expiring session token (``b24s``; itsdangerous) and the viewer's ``AUTH_ID``
  as Bitrix24 POSTed it into the frame (held by the page, never put in a URL). The handler
  asks the installed portal ``user.current`` with that ``AUTH_ID`` (the answer kept 60 s per
  ``AUTH_ID``) and refuses (403) unless it is the session's user; then it mints a one-time
  open ticket (:func:`issue_ticket`: 32 random bytes, a 0600 file for 60 s under
  ``<store>.viewers/tickets``) and redirects to the dashboard with ``?b24s=…&b24t=…``.
* The kernel (``nb.open_report`` under Voila) verifies ``b24s`` and spends the ticket before
  anything is shown (:func:`viewer_of_query`): no token, a tampered or an expired one, or a
  ticket missing, spent, expired or issued to another user shows only a sign-in hint. So a
  dashboard URL replayed by someone else (copied, from history or a log) shows nothing: its
  ticket was spent by the viewer it was issued to, and a new one needs that viewer's own
  live ``AUTH_ID``. A valid open restricts the report's dataset to what that viewer may open.
* Every page answers with ``Content-Security-Policy: frame-ancestors <portal origin>``
  (``'none'`` before install when no ``--portal`` was given).

The server is Voila with two more handlers (:class:`AppVoila`), started as
``python -m b24reports.outputs.appmode <voila args>``; its settings come from ``$B24REPORTS_APP``
(JSON: store, portal, public_url, session_ttl, visibility_ttl) and the signing key from
``$B24REPORTS_SESSION_KEY`` (random per start unless set; never printed).

Why a ticket and not a cookie or ``BX24.getAuth()`` in the dashboard: cookies are blocked in
the iframe; the BX24 JS SDK would need Bitrix24's script in every Voila page and its
postMessage handshake with the portal. Bitrix24 hands the frame ``AUTH_ID`` on every open
(bitrix24-api.md §8), so the check rides on that: one ``user.current`` per open (cached per
``AUTH_ID``), nothing new in the browser. A reload of a dashboard page needs a new open from
the list (its ticket is spent).

Length: ~660 lines, one concern -- the local application's HTTP contract (install, open,
check, open-a-report) and the viewer's session, kept together so each refusal is read in one
place.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from b24reports.ingest.auth import UserToken, _portal_of, app_tokens_path, read_secret_json, write_secret_json
from b24reports.core.errors import B24ApiError, B24AuthError, B24ReportsError, BadParameter
from b24reports.core.i18n import t

#: URL query key of the viewer's session token.
SESSION_PARAM = "b24s"
#: URL query key of the one-time open ticket ``/b24/open`` mints for one dashboard open.
TICKET_PARAM = "b24t"
#: Seconds a ticket may wait to be spent by the dashboard's kernel.
TICKET_TTL = 60.0
#: Seconds a ``user.current`` answer for one ``AUTH_ID`` is reused by ``/b24/open``.
AUTH_CHECK_TTL = 60.0
CONFIG_ENV = "B24REPORTS_APP"
KEY_ENV = "B24REPORTS_SESSION_KEY"
#: Seconds a ``/b24/app`` open may take to ask ``/b24/check`` (one-time nonce).
CHECK_NONCE_TTL = 60.0
#: Placements bound at install when the portal offers them (``placement.list``).
PLACEMENTS = ("LEFT_MENU", "CRM_ANALYTICS_MENU")
_SALT = "b24reports-viewer-session"


class ViewerRefused(B24ReportsError):
    """A page that must not show data: ``reason`` is one of ``not_installed``,
    ``wrong_portal``, ``bad_auth``, ``not_admin``, ``no_session``, ``other_viewer``;
    ``status`` the HTTP status."""

    def __init__(self, reason: str, status: int = 403):
        self.reason, self.status = reason, status
        super().__init__(f"refused: {reason}")


@dataclass(frozen=True)
class Viewer:
    """Who opens the dashboards: ``user_id`` on the portal, ``admin`` (``user.admin``),
    ``member_id`` of the portal, ``lang`` (``ru``/``en`` from ``LANG``)."""

    user_id: int
    admin: bool
    member_id: str
    lang: str = "ru"


@dataclass(frozen=True)
class AppConfig:
    """Settings of the app-mode server: the ``store`` (tokens and viewer caches live next to
    it), the ``portal`` origin when fixed by ``--portal``, the ``public_url`` Bitrix24 reaches
    this server at (for placement handlers; default: the request's own origin),
    ``session_ttl`` (s a dashboard link stays valid) and ``visibility_ttl`` (s a viewer's
    visible ids are reused before the portal is asked again)."""

    store: str
    portal: str | None = None
    public_url: str | None = None
    session_ttl: int = 3600
    visibility_ttl: int = 300

    @classmethod
    def from_env(cls) -> AppConfig | None:
        """The config in ``$B24REPORTS_APP``, or None when the server is not in app mode."""
        text = os.environ.get(CONFIG_ENV, "")
        if not text:
            return None
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def to_env(self) -> str:
        return json.dumps(self.__dict__)

    @property
    def tokens_path(self) -> Path:
        return app_tokens_path(self.store)

    def installation(self) -> dict | None:
        """The installed portal (``portal``, ``member_id``, tokens) or None before install."""
        try:
            return read_secret_json(self.tokens_path)
        except BadParameter:
            if self.tokens_path.exists():
                raise
            return None


def lang_of(value: str | None) -> str:
    """``ru`` unless Bitrix24's ``LANG`` asks for English (``en``, ``ua``→ru, ``de``→en …): the
    UI has ru and en; Russian for ru/ua/by/kz, English for any other language."""
    v = (value or "ru").strip().lower()[:2]
    return "ru" if v in ("ru", "ua", "by", "kz", "") else "en"


def portal_origin(fields: dict[str, str]) -> str:
    """``http(s)://DOMAIN`` from Bitrix24's ``PROTOCOL`` (1 = https, 0 = http) and ``DOMAIN``.

    Raises:
        ViewerRefused("wrong_portal"): no DOMAIN, a DOMAIN with a path or credentials, or
            http to a host that is not loopback.
    """
    domain = fields.get("DOMAIN", "").strip().lower()
    scheme = "http" if fields.get("PROTOCOL", "1").strip() == "0" else "https"
    if not domain or any(c in domain for c in "/@?#\\ "):
        raise ViewerRefused("wrong_portal")
    try:
        return _portal_of(f"{scheme}://{domain}", "DOMAIN")
    except BadParameter:
        raise ViewerRefused("wrong_portal") from None


# --------------------------------------------------------------------------- sessions
def _serializer(key: str | bytes | None = None) -> Any:
    from itsdangerous import URLSafeTimedSerializer

    key = key if key is not None else os.environ.get(KEY_ENV, "")
    if not key:
        raise ViewerRefused("no_session")
    return URLSafeTimedSerializer(key, salt=_SALT)


def issue_session(viewer: Viewer, key: str | bytes | None = None) -> str:
    """A signed, timestamped token for ``viewer`` (goes into dashboard links as ``?b24s=``)."""
    return _serializer(key).dumps({"u": viewer.user_id, "a": viewer.admin, "m": viewer.member_id, "l": viewer.lang})


def verify_session(token: str | None, *, max_age: int, member_id: str | None = None,
                   key: str | bytes | None = None) -> Viewer:
    """The viewer a session token was issued to.

    Raises:
        ViewerRefused("no_session"): missing, tampered, signed with another key, older than
            ``max_age`` seconds, or issued for another portal (``member_id``).
    """
    from itsdangerous import BadSignature

    if not token:
        raise ViewerRefused("no_session")
    try:
        d = _serializer(key).loads(token, max_age=max_age)
        viewer = Viewer(int(d["u"]), bool(d["a"]), str(d["m"]), lang_of(d.get("l")))
    except (BadSignature, KeyError, TypeError, ValueError):
        raise ViewerRefused("no_session") from None
    if member_id is not None and viewer.member_id != member_id:
        raise ViewerRefused("no_session")
    return viewer


# --------------------------------------------------------------------------- pages
_PAGE = ('<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
         '<meta name="viewport" content="width=device-width, initial-scale=1.0">'
         '<style>body{{font-family:-apple-system,"Segoe UI",Roboto,Arial,sans-serif;background:#f7f8fa;color:#222;'
         'margin:0}}.b24r-app{{max-width:880px;margin:40px auto;padding:0 16px}}'
         '.b24r-refused{{border:1px solid #c62828;border-radius:6px;padding:10px 14px;color:#8e1b1b;background:#fff5f5}}'
         '.b24r-landing ul{{list-style:none;padding:0}}.b24r-landing li{{background:#fff;border:1px solid #dde1e6;'
         'border-radius:8px;margin:10px 0;padding:12px 16px}}.b24r-landing li a{{font-size:18px;font-weight:600;'
         'color:#1f5fbf;text-decoration:none}}.b24r-landing li p{{margin:6px 0 0 0;color:#555}}</style>{head}'
         '</head><body><div class="b24r-app">{body}</div></body></html>')


def refused_page(reason: str, lang: str) -> str:
    """The 403 page of a refused open: a heading and what to do, in ``lang``; no data."""
    body = (f'<div class="b24r-refused" data-reason="{html.escape(reason)}"><h1>{html.escape(t("app_refused_title", lang))}'
            f'</h1><p>{html.escape(t("app_" + reason, lang) if reason != "no_session" else t("app_signin_hint", lang))}'
            f'</p></div>')
    return _PAGE.format(lang=lang, title=html.escape(t("app_refused_title", lang)), head="", body=body)


def reports_page(session: str, lang: str, auth_id: str) -> str:
    """The app's first page: the report list. A click POSTs the report's name, the session
    token and the viewer's ``auth_id`` (Bitrix24's ``AUTH_ID`` of this open, held in the page,
    never in a URL) to ``/b24/open``; the links themselves carry no session."""
    from b24reports.outputs.landing import landing_html

    esc = html.escape
    form = (f'<form id="b24r-open" method="post" action="open" style="display:none">'
            f'<input type="hidden" name="{SESSION_PARAM}" value="{esc(session)}">'
            f'<input type="hidden" name="AUTH_ID" value="{esc(auth_id)}">'
            f'<input type="hidden" name="lang" value="{esc(lang)}"><input type="hidden" name="report" value=""></form>'
            "<script>document.querySelectorAll('li[data-report] a').forEach(function(a){"
            "a.addEventListener('click',function(e){e.preventDefault();var f=document.getElementById('b24r-open');"
            "f.report.value=a.closest('li').dataset.report;f.submit();});});</script>")
    q = "lang=en" if lang == "en" else ""
    return _PAGE.format(lang=lang, title=esc(t("app_reports", lang)), head="",
                        body=landing_html(lang, "/", query=q) + form)


def checking_page(nonce: str, lang: str) -> str:
    """Shown at once while the viewer's rights are asked of the portal («Проверяю доступ в
    Битрикс24…»): its script POSTs the one-time ``nonce`` to ``/b24/check`` and replaces the
    page with the answer (the report list, or a refusal). The page holds no token."""
    body = (f'<p class="b24r-checking">{html.escape(t("app_checking", lang))}</p>'
            "<script>fetch('check',{method:'POST',headers:{'Content-Type':'application/x-www-form-urlencoded'},"
            f"body:'n={nonce}'}}).then(r=>r.text()).then(h=>{{document.open();document.write(h);document.close();}});"
            "</script>")
    return _PAGE.format(lang=lang, title=html.escape(t("app_reports", lang)), head="", body=body)


def installed_page(lang: str, notes: list[str]) -> str:
    """After install: tells Bitrix24 the install is finished (``BX24.installFinish``)."""
    head = ('<script src="//api.bitrix24.com/api/v1/"></script>'
            '<script>window.BX24 && BX24.init(function(){BX24.installFinish();});</script>')
    body = f"<h1>{html.escape(t('app_installed', lang))}</h1>" + "".join(f"<p>{html.escape(n)}</p>" for n in notes)
    return _PAGE.format(lang=lang, title=html.escape(t("app_reports", lang)), head=head, body=body)


def frame_ancestors(cfg: AppConfig) -> str:
    """``Content-Security-Policy`` value: framing by the installed portal's origin only."""
    inst = None
    try:
        inst = cfg.installation()
    except BadParameter:
        pass
    origin = (inst or {}).get("portal") or cfg.portal
    return f"frame-ancestors {origin}" if origin else "frame-ancestors 'none'"


# --------------------------------------------------------------------------- the two handlers (sync core)
def request_fields(query: str, body: bytes, content_type: str = "") -> dict[str, str]:
    """Bitrix24's fields from the query and the form body (either place; the body wins)."""
    fields = {k: v for k, v in parse_qsl(query or "", keep_blank_values=True)}
    if body and "json" not in (content_type or "").lower():
        fields.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return fields


def _client(portal: str, token: str) -> Any:
    from b24reports.ingest.client import B24Client

    return B24Client(UserToken(portal, token), max_retries=1, timeout=15)


def install(cfg: AppConfig, fields: dict[str, str], *, public_url: str) -> list[str]:
    """Handle ``/b24/install``: returns notes for the page (placements bound or not).

    Raises:
        ViewerRefused: ``wrong_portal`` (not the ``--portal``, or another portal is installed;
            no request is made to that DOMAIN), ``bad_auth`` (the token was refused),
            ``not_admin`` (``user.admin`` is false).
    """
    origin = portal_origin(fields)
    member = fields.get("member_id", "").strip()
    inst = cfg.installation()
    if (cfg.portal and _portal_of(cfg.portal, "portal") != origin) or not member or (
            inst and (inst.get("portal") != origin or inst.get("member_id") != member)):
        raise ViewerRefused("wrong_portal")
    access, refresh = fields.get("AUTH_ID", ""), fields.get("REFRESH_ID", "")
    if not access or not refresh:
        raise ViewerRefused("bad_auth")
    notes: list[str] = []
    with _client(origin, access) as c:
        try:
            if c.call("user.admin")["result"] is not True:
                raise ViewerRefused("not_admin")
            user_id = int(c.call("user.current")["result"]["ID"])
        except B24AuthError:
            raise ViewerRefused("bad_auth") from None
        write_secret_json(cfg.tokens_path, {"portal": origin, "member_id": member, "user_id": user_id,
                                            "access_token": access, "refresh_token": refresh})
        try:
            offered = set(c.call("placement.list")["result"] or [])
        except B24ApiError:
            offered = set()
        handler = public_url.rstrip("/") + "/b24/app"
        for code in PLACEMENTS:
            if code not in offered:
                notes.append(f"{code}: not offered by this portal")
                continue
            try:
                c.call("placement.bind", {"PLACEMENT": code, "HANDLER": handler,
                                          "TITLE": t("app_reports", lang_of(fields.get("LANG")))})
                notes.append(f"{code}: bound")
            except B24ApiError as e:
                notes.append(f"{code}: not bound ({e.code})")
    return notes


def precheck(cfg: AppConfig, fields: dict[str, str]) -> tuple[dict, str]:
    """What ``/b24/app`` checks before any request: -> (installation, portal origin).

    Raises:
        ViewerRefused: ``not_installed``; ``wrong_portal`` (DOMAIN/PROTOCOL or member_id not
            the installed portal); ``bad_auth`` (no AUTH_ID).
    """
    inst = cfg.installation()
    if inst is None:
        raise ViewerRefused("not_installed")
    origin = portal_origin(fields)
    if origin != inst.get("portal") or fields.get("member_id", "").strip() != inst.get("member_id"):
        raise ViewerRefused("wrong_portal")
    if not fields.get("AUTH_ID", ""):
        raise ViewerRefused("bad_auth")
    return inst, origin


def open_app(cfg: AppConfig, fields: dict[str, str]) -> tuple[Viewer, str]:
    """Handle ``/b24/app``: identify the viewer on the installed portal, ask what they may
    open (cached per viewer), and return ``(viewer, session token)``.

    Raises:
        ViewerRefused: ``not_installed``; ``wrong_portal`` (DOMAIN/PROTOCOL or member_id not
            the installed portal: no request is made); ``bad_auth`` (expired or forged
            AUTH_ID: the portal refused it).
    """
    inst, origin = precheck(cfg, fields)
    with _client(origin, fields["AUTH_ID"]) as c:
        try:  # one request: who, and whether a portal admin
            who = c.batch({"me": ("user.current", {}), "admin": ("user.admin", {})}).result
            user_id, admin = int(who["me"]["ID"]), who["admin"] is True
        except (B24AuthError, KeyError, TypeError, ValueError):
            raise ViewerRefused("bad_auth") from None
        viewer = Viewer(user_id, admin, inst["member_id"], lang_of(fields.get("LANG")))
        from b24reports.ingest.visibility import cache_visibility

        cache_visibility(cfg, viewer, c)
    return viewer, issue_session(viewer)


# --------------------------------------------------------------------------- one open of one report
def _tickets_dir(cfg: AppConfig) -> Path:
    store = Path(cfg.store)
    return store.with_name(store.name + ".viewers") / "tickets"


def _ticket_path(cfg: AppConfig, ticket: str) -> Path:
    import hashlib

    return _tickets_dir(cfg) / hashlib.sha256(ticket.encode()).hexdigest()


def issue_ticket(cfg: AppConfig, viewer: Viewer) -> str:
    """A one-time ticket for one dashboard open by ``viewer``: random, kept (only its sha256
    as the file name) for :data:`TICKET_TTL` s in a 0600 file with the viewer's user and
    portal; :func:`spend_ticket` accepts it once."""
    ticket = secrets.token_urlsafe(32)
    d = _tickets_dir(cfg)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_secret_json(_ticket_path(cfg, ticket), {"u": viewer.user_id, "m": viewer.member_id,
                                                   "exp": time.time() + TICKET_TTL})
    now = time.time()
    for old in d.iterdir():  # spent ones are gone; drop the expired ones nobody spent
        try:
            if old.stat().st_mtime < now - 2 * TICKET_TTL:
                old.unlink()
        except OSError:
            pass
    return ticket


def spend_ticket(cfg: AppConfig, ticket: str | None, viewer: Viewer) -> None:
    """Accept ``ticket`` once, for ``viewer`` only (the kernel, before anything is shown).

    Raises:
        ViewerRefused("no_session"): no ticket, unknown, already spent (two kernels racing
            for it: one wins, the file is renamed away atomically), expired, or issued to
            another user or portal.
    """
    if not ticket:
        raise ViewerRefused("no_session")
    p = _ticket_path(cfg, ticket)
    taken = p.with_name(p.name + f".spent-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.rename(p, taken)
    except OSError:
        raise ViewerRefused("no_session") from None
    try:
        d = read_secret_json(taken)
    except BadParameter:
        raise ViewerRefused("no_session") from None
    finally:
        taken.unlink(missing_ok=True)
    if float(d.get("exp", 0)) < time.time() or (int(d.get("u", -1)), d.get("m")) != (viewer.user_id, viewer.member_id):
        raise ViewerRefused("no_session")


_AUTH_SEEN: dict[str, tuple[float, int]] = {}  # sha256(AUTH_ID) -> (deadline, user id)


def current_user(cfg: AppConfig, auth_id: str) -> int:
    """The user id the installed portal says ``auth_id`` belongs to (``user.current``),
    reused for :data:`AUTH_CHECK_TTL` s per ``AUTH_ID`` (kept by its sha256 only).

    Raises:
        ViewerRefused: ``not_installed``; ``bad_auth`` (no AUTH_ID, or the portal refused it).
    """
    import hashlib

    inst = cfg.installation()
    if inst is None:
        raise ViewerRefused("not_installed")
    if not auth_id:
        raise ViewerRefused("bad_auth")
    key, now = hashlib.sha256(auth_id.encode()).hexdigest(), time.monotonic()
    hit = _AUTH_SEEN.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    with _client(inst["portal"], auth_id) as c:
        try:
            user_id = int(c.call("user.current")["result"]["ID"])
        except (B24AuthError, KeyError, TypeError, ValueError):
            raise ViewerRefused("bad_auth") from None
    for k in [k for k, (deadline, _) in _AUTH_SEEN.items() if deadline <= now]:
        del _AUTH_SEEN[k]
    _AUTH_SEEN[key] = (now + AUTH_CHECK_TTL, user_id)
    return user_id


def open_report_url(cfg: AppConfig, fields: dict[str, str]) -> str:
    """Handle ``/b24/open``: the dashboard URL (``/voila/render/<notebook>?b24s=…&b24t=…``)
    for the report ``fields["report"]``, once ``fields["AUTH_ID"]`` is proven (on the
    installed portal, :func:`current_user`) to be the session's viewer.

    Raises:
        ViewerRefused: ``no_session`` (no, tampered or expired ``b24s``; an unknown report),
            ``bad_auth`` (the portal refused the AUTH_ID), ``other_viewer`` (the AUTH_ID is
            another user's: a replayed session).
    """
    from b24reports import reports

    inst = cfg.installation()
    if inst is None:
        raise ViewerRefused("not_installed")
    viewer = verify_session(fields.get(SESSION_PARAM), max_age=cfg.session_ttl, member_id=inst.get("member_id"))
    try:
        spec = reports.get(fields.get("report", ""))
    except BadParameter:
        raise ViewerRefused("no_session") from None
    if current_user(cfg, fields.get("AUTH_ID", "")) != viewer.user_id:
        raise ViewerRefused("other_viewer")
    q = {SESSION_PARAM: issue_session(viewer), TICKET_PARAM: issue_ticket(cfg, viewer),
         **({"lang": "en"} if viewer.lang == "en" else {})}
    return f"/voila/render/{Path(spec.notebook).name}?{urlencode(q)}"


def public_origin(cfg: AppConfig, request_origin: str) -> str:
    """Where Bitrix24 reaches this server: ``public_url`` if set, else the request's origin."""
    if cfg.public_url:
        p = urlsplit(cfg.public_url)
        return f"{p.scheme}://{p.netloc}{p.path.rstrip('/')}"
    return request_origin


# --------------------------------------------------------------------------- the kernel side
def viewer_of_query(query: str, cfg: AppConfig) -> Viewer:
    """The viewer whose session token is in a dashboard URL's ``query``, once its one-time
    ticket (``b24t``, minted by ``/b24/open`` for this viewer) is spent (:func:`spend_ticket`).

    Raises:
        ViewerRefused("no_session"): no token, tampered, expired, or another portal's; no
            ticket, or one spent, expired or issued to another user (a replayed URL).
        ViewerRefused("not_installed"): the app is not installed.
    """
    inst = cfg.installation()
    if inst is None:
        raise ViewerRefused("not_installed")
    q = dict(parse_qsl(query or ""))
    viewer = verify_session(q.get(SESSION_PARAM), max_age=cfg.session_ttl, member_id=inst.get("member_id"))
    spend_ticket(cfg, q.get(TICKET_PARAM), viewer)
    return viewer


def signin_hint_html(lang: str) -> str:
    """What a dashboard shows when its URL has no valid session token: the hint only (and
    Voila's own error line under it hidden, as for ``dashboard.error_card``)."""
    hide = ('<style>.jp-OutputArea:has(.b24r-signin) '
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]{display:none}</style>')
    return (hide + '<div class="b24r-signin b24r-open-error" style="border:1px solid #c62828;border-radius:6px;'
            f'padding:10px 14px;color:#8e1b1b;background:#fff5f5"><b>{html.escape(t("app_refused_title", lang))}</b>'
            f'<p>{html.escape(t("app_signin_hint", lang))}</p></div>')


# --------------------------------------------------------------------------- the server
def _handlers(cfg: AppConfig) -> list:
    import tornado.ioloop
    import tornado.web

    class _Base(tornado.web.RequestHandler):
        def check_xsrf_cookie(self) -> None:  # Bitrix24 POSTs cross-site; identity is checked on the portal
            return None

        def set_default_headers(self) -> None:
            self.set_header("Content-Security-Policy", frame_ancestors(cfg))
            self.set_header("Cache-Control", "no-store")
            self.set_header("Referrer-Policy", "no-referrer")

        def fields(self) -> dict[str, str]:
            return request_fields(self.request.query, self.request.body, self.request.headers.get("Content-Type", ""))

        def refuse(self, e: ViewerRefused, lang: str) -> None:
            self.set_status(e.status)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(refused_page(e.reason, lang))

        async def work(self, fn: Any) -> Any:
            return await tornado.ioloop.IOLoop.current().run_in_executor(None, fn)

    class InstallHandler(_Base):
        async def post(self) -> None:
            f = self.fields()
            lang = lang_of(f.get("LANG"))
            origin = public_origin(cfg, f"{self.request.protocol}://{self.request.host}")
            try:
                notes = await self.work(lambda: install(cfg, f, public_url=origin))
            except ViewerRefused as e:
                return self.refuse(e, lang)
            # the portal is known now: Voila's pages (same Application) may be framed by it
            self.application.settings.setdefault("headers", {})["Content-Security-Policy"] = frame_ancestors(cfg)
            self.set_header("Content-Security-Policy", frame_ancestors(cfg))
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(installed_page(lang, notes))

        get = post

    pending: dict[str, tuple[float, dict[str, str]]] = {}  # one-time nonce -> (deadline, fields)

    class AppHandler(_Base):
        """Refuses at once what needs no request (not installed, another portal); otherwise
        answers «Проверяю доступ в Битрикс24…» and keeps the fields for ``/b24/check``."""

        async def post(self) -> None:
            f = self.fields()
            lang = lang_of(f.get("LANG"))
            try:
                precheck(cfg, f)
            except ViewerRefused as e:
                return self.refuse(e, lang)
            now = time.monotonic()
            for k in [k for k, (deadline, _) in pending.items() if deadline < now]:
                del pending[k]
            nonce = secrets.token_urlsafe(24)
            pending[nonce] = (now + CHECK_NONCE_TTL, f)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(checking_page(nonce, lang))

        get = post

    class CheckHandler(_Base):
        """The rights check the checking page asks for: the report list, or a refusal (403)."""

        async def post(self) -> None:
            item = pending.pop(self.get_body_argument("n", ""), None)
            if item is None or item[0] < time.monotonic():
                return self.refuse(ViewerRefused("no_session"), "ru")
            f = item[1]
            lang = lang_of(f.get("LANG"))
            try:
                _viewer, session = await self.work(lambda: open_app(cfg, f))
            except ViewerRefused as e:
                return self.refuse(e, lang)
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.finish(reports_page(session, lang, f.get("AUTH_ID", "")))

    class OpenHandler(_Base):
        """One report opened from the list: the viewer's AUTH_ID proven, a one-time ticket."""

        async def post(self) -> None:
            f = self.fields()
            lang = lang_of(f.get("lang"))
            try:
                url = await self.work(lambda: open_report_url(cfg, f))
            except ViewerRefused as e:
                return self.refuse(e, lang)
            self.redirect(url, status=303)

    return [(r"/b24/install/?", InstallHandler), (r"/b24/app/?", AppHandler), (r"/b24/check/?", CheckHandler),
            (r"/b24/open/?", OpenHandler)]


def _voila_class() -> type:
    from voila.app import Voila

    class AppVoila(Voila):
        """Voila plus ``/b24/install`` and ``/b24/app``; every Voila page carries the portal's
        ``frame-ancestors`` (Jupyter's default is ``'self'``, which the portal's iframe refuses)."""

        def init_handlers(self) -> list:
            cfg = AppConfig.from_env()
            return [*_handlers(cfg), *super().init_handlers()]

        def start(self) -> None:
            cfg = AppConfig.from_env()
            headers = dict(self.tornado_settings.get("headers") or {})
            headers["Content-Security-Policy"] = frame_ancestors(cfg)  # updated by /b24/install
            # dashboard URLs carry the viewer's session: no Referer hands it to a linked site
            headers["Referrer-Policy"] = "no-referrer"
            self.tornado_settings = {**self.tornado_settings, "headers": headers}
            super().start()

    return AppVoila


def main(argv: list[str] | None = None) -> None:
    """``python -m b24reports.outputs.appmode <voila args>``: Voila with the app handlers."""
    import sys

    _voila_class().launch_instance(argv=sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
