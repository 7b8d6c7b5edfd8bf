"""The demo portal's local application: OAuth tokens per user and CRM rights per user.

Bitrix24 gives a local application its tokens when it is installed or opened (the
"simplified" OAuth flow, ``/work/shared/bitrix24-api.md`` §8), and refreshes them at
``oauth.bitrix.info/oauth/token/``. The demo reproduces what a client sees:

* :meth:`DemoApp.issue` hands out an access + refresh token pair for one user (what Bitrix24
  POSTs as ``AUTH_ID`` / ``REFRESH_ID`` to the install and app handlers);
* :meth:`DemoApp.token_endpoint` answers ``grant_type=refresh_token`` like oauth.bitrix.info:
  a NEW access token and a NEW refresh token (the old refresh token stops working);
  ``invalid_client`` for a wrong client id/secret or a revoked application, ``invalid_grant``
  for an unknown or used refresh token;
* :meth:`DemoApp.viewer` resolves ``auth=<access token>`` of a REST call: 401
  ``expired_token`` after ``access_ttl`` seconds (or after :meth:`expire_all`), 401
  ``NO_AUTH_FOUND`` for an unknown token or a revoked application.

Rights: each user has a CRM access level, as a portal's CRM roles give it:

* ``all`` -- everything (the portal admin, user 1, and anyone given "all" in ``levels``);
* ``department`` -- records whose responsible is in the user's departments and their
  sub-departments, for a department's head (``UF_HEAD``);
* ``own`` -- records whose responsible is the user (every other employee).

:meth:`DemoApp.visible_users` turns a level into the set of responsible ids; the server then
filters crm.deal.list / crm.lead.list (``ASSIGNED_BY_ID``), tasks.task.list (responsible or
creator), crm.activity.list (its deal or lead is visible, or its responsible is the viewer)
and crm.stagehistory.list (its deal or lead is visible). user.get, department.get and the
reference lists stay whole, as on a portal where every employee sees the company structure.

Deterministic: tokens are derived from a counter and the user id (no randomness, no clock
unless ``clock`` is given), so two runs hand out the same tokens in the same order.
"""

from __future__ import annotations

import collections
import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from b24reports.demo.generator import DemoPortal
from b24reports.demo.table import NULL

#: Demo users at each access level (the three a browser test opens the app as).
DEMO_VIEWERS = {"all": 1, "department": 3, "own": 6}

LEVELS = ("own", "department", "all")


class OAuthError(Exception):
    """A refused token request: HTTP ``status`` with ``{"error": code, "error_description": ...}``."""

    def __init__(self, status: int, code: str, description: str):
        self.status, self.code, self.description = status, code, description
        super().__init__(f"{status} {code}: {description}")


@dataclass
class _Token:
    user_id: int
    expires_at: float


@dataclass
class DemoApp:
    """One local application installed on a demo portal.

    ``client_id`` / ``client_secret``: what the portal admin copies from the app's card;
    ``member_id``: the portal's stable id sent with every install/app POST; ``access_ttl``:
    seconds an access token lives (Bitrix24: 3600); ``clock``: time source (seconds);
    ``levels``: ``{user_id: "own"|"department"|"all"}`` overriding the structure-derived
    default (admin -> all, a department's head -> department, others -> own);
    ``admins``: user ids for which ``user.admin`` is true.
    """

    portal: DemoPortal
    client_id: str = "local.demo0000000000.00000001"
    client_secret: str = "demo-client-secret-0001"
    member_id: str = "d3m0portal000000000000000000member"
    access_ttl: float = 3600.0
    clock: Callable[[], float] = time.time
    levels: dict[int, str] = field(default_factory=dict)
    admins: frozenset[int] = frozenset({1})
    revoked: bool = False
    placements: list[dict] = field(default_factory=list)
    offered_placements: tuple[str, ...] = ("DEFAULT", "LEFT_MENU", "CRM_ANALYTICS_MENU")
    _access: dict[str, _Token] = field(default_factory=dict, repr=False)
    _refresh: dict[str, int] = field(default_factory=dict, repr=False)
    _counter: int = field(default=0, repr=False)
    #: every token handed out so far (tests grep outputs for them)
    minted: list[str] = field(default_factory=list, repr=False)
    _expire_after: int | None = field(default=None, repr=False)
    _calls: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _masks: collections.OrderedDict = field(default_factory=collections.OrderedDict, repr=False)

    # ------------------------------------------------------------------ tokens
    def _mint(self, kind: str, user_id: int) -> str:
        self._counter += 1
        raw = f"{self.client_secret}|{kind}|{user_id}|{self._counter}".encode()
        token = hashlib.sha256(raw).hexdigest()[:64]
        self.minted.append(token)
        return token

    def issue(self, user_id: int) -> dict:
        """A fresh token pair for ``user_id`` (what Bitrix24 POSTs when the user opens the app):
        ``{"access_token", "refresh_token", "expires_in", "member_id", "user_id"}``.

        Raises:
            KeyError: no such user on the portal.
        """
        self.portal.table("user").get(int(user_id))  # KeyError for an unknown user
        with self._lock:
            access, refresh = self._mint("a", user_id), self._mint("r", user_id)
            self._access[access] = _Token(int(user_id), self.clock() + self.access_ttl)
            self._refresh[refresh] = int(user_id)
        return {"access_token": access, "refresh_token": refresh, "expires_in": int(self.access_ttl),
                "member_id": self.member_id, "user_id": int(user_id)}

    def token_endpoint(self, params: dict, *, domain: str) -> dict:
        """Answer one oauth.bitrix.info ``/oauth/token/`` request (``params``: its query or form).

        Returns the reply of ``grant_type=refresh_token``: ``access_token``, ``refresh_token``
        (new; the old one is spent), ``expires_in``, ``expires`` (unix s), ``scope``, ``domain``,
        ``server_endpoint``, ``client_endpoint``, ``member_id``, ``user_id``, ``status`` "L".

        Raises:
            OAuthError(400, "invalid_request"): another grant type or a missing parameter.
            OAuthError(401, "invalid_client"): wrong client id/secret, or the app was revoked.
            OAuthError(400, "invalid_grant"): unknown or already used refresh token.
        """
        p = {str(k).lower(): str(v) for k, v in params.items()}
        if p.get("grant_type") != "refresh_token" or not p.get("refresh_token"):
            raise OAuthError(400, "invalid_request", "grant_type=refresh_token and refresh_token are required")
        if p.get("client_id") != self.client_id or p.get("client_secret") != self.client_secret or self.revoked:
            raise OAuthError(401, "invalid_client", "Invalid client credentials; the application may not be installed")
        with self._lock:
            user_id = self._refresh.pop(p["refresh_token"], None)
        if user_id is None:
            raise OAuthError(400, "invalid_grant", "Invalid refresh token")
        pair = self.issue(user_id)
        now = int(self.clock())
        return {**pair, "expires": now + int(self.access_ttl), "scope": "crm,task,user,department,placement",
                "domain": domain, "server_endpoint": "https://oauth.bitrix.info/rest/",
                "client_endpoint": f"http://{domain}/rest/", "status": "L"}

    def viewer(self, access_token: str) -> int:
        """The user id an ``auth=`` access token acts for.

        Raises:
            OAuthError(401, "NO_AUTH_FOUND"): unknown token, or the application was revoked.
            OAuthError(401, "expired_token"): the token's lifetime is over.
        """
        with self._lock:
            tok = self._access.get(str(access_token))
            if self._expire_after is not None and tok is not None:
                self._calls += 1
                if self._calls > self._expire_after:
                    for t in self._access.values():
                        t.expires_at = min(t.expires_at, self.clock() - 1)
                    self._expire_after = None
        if tok is None or self.revoked:
            raise OAuthError(401, "NO_AUTH_FOUND", "Wrong authorization data")
        if self.clock() >= tok.expires_at:
            raise OAuthError(401, "expired_token", "The access token provided has expired.")
        return tok.user_id

    def expire_all(self, *, after_calls: int = 0) -> None:
        """Make every access token issued so far lapse, now (``after_calls=0``) or once
        ``after_calls`` more token-authenticated REST calls have been answered (a refresh in
        the middle of a sync, deterministically)."""
        with self._lock:
            if after_calls <= 0:
                for t in self._access.values():
                    t.expires_at = min(t.expires_at, self.clock() - 1)
            else:
                self._expire_after, self._calls = int(after_calls), 0

    def revoke(self) -> None:
        """The admin deleted the application: every token and refresh is refused from now on."""
        self.revoked = True

    # ------------------------------------------------------------------ rights
    def level(self, user_id: int) -> str:
        """``"all"``, ``"department"`` or ``"own"`` for ``user_id`` (see module doc)."""
        if user_id in self.levels:
            return self.levels[user_id]
        if user_id in self.admins:
            return "all"
        heads = self.portal.table("department").column("UF_HEAD")
        return "department" if int(user_id) in {int(h) for h in heads.tolist() if h != NULL} else "own"

    def visible_users(self, user_id: int) -> frozenset[int] | None:
        """Responsible ids whose records ``user_id`` may open; None = everything.

        ``department``: every user whose ``UF_DEPARTMENT`` is a department the user heads or a
        sub-department of one (walking ``PARENT``), plus the user."""
        level = self.level(user_id)
        if level == "all":
            return None
        if level == "own":
            return frozenset({int(user_id)})
        deps = self.portal.table("department")
        ids, parents, heads = (deps.column(c).tolist() for c in ("ID", "PARENT", "UF_HEAD"))
        tree = {int(d): [int(c) for c, p in zip(ids, parents) if p == d] for d in ids}
        todo = [int(d) for d, h in zip(ids, heads) if h == user_id]
        seen: set[int] = set()
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo.extend(tree.get(d, []))
        users = self.portal.table("user")
        out = {int(user_id)}
        for uid, udeps in zip(users.column("ID").tolist(), users.column("UF_DEPARTMENT").tolist()):
            if set(int(x) for x in (udeps or [])) & seen:
                out.add(int(uid))
        return frozenset(out)

    def row_filter(self, entity: str, user_id: int) -> Callable[[dict], np.ndarray] | None:
        """A predicate over a table's column snapshot -> bool mask of the rows ``user_id`` may
        read, for ``entity`` in deal / lead / task / activity / deal_stage_history /
        lead_status_history; None when everything is visible or the entity is not restricted."""
        users = self.visible_users(user_id)
        if users is None:
            return None
        allowed = np.array(sorted(users), dtype=np.int64)
        key = (entity, int(user_id), tuple(allowed.tolist()))

        def owners(name: str) -> tuple:
            t = self.portal.table(name)
            return (t.column("ID"), t.column("ASSIGNED_BY_ID"))

        if entity in ("deal", "lead"):
            return lambda cols: self._mask(key, (cols["ASSIGNED_BY_ID"],),
                                           lambda: np.isin(cols["ASSIGNED_BY_ID"], allowed))
        if entity == "task":
            return lambda cols: self._mask(key, (cols["RESPONSIBLE_ID"], cols["CREATED_BY"]), lambda: (
                np.isin(cols["RESPONSIBLE_ID"], allowed) | np.isin(cols["CREATED_BY"], allowed)))
        if entity in ("deal_stage_history", "lead_status_history"):
            owner = "deal" if entity == "deal_stage_history" else "lead"
            return lambda cols: self._mask(key, (cols["OWNER_ID"], *owners(owner)), lambda: (
                np.isin(cols["OWNER_ID"], self._visible_ids(owner, allowed))))
        if entity == "activity":
            def act(cols: dict) -> np.ndarray:
                deals, leads = self._visible_ids("deal", allowed), self._visible_ids("lead", allowed)
                own = (cols["OWNER_TYPE_ID"] == 2) & np.isin(cols["OWNER_ID"], deals)
                own |= (cols["OWNER_TYPE_ID"] == 1) & np.isin(cols["OWNER_ID"], leads)
                return own | (cols["RESPONSIBLE_ID"] == int(user_id))
            return lambda cols: self._mask(key, (cols["OWNER_TYPE_ID"], cols["OWNER_ID"], cols["RESPONSIBLE_ID"],
                                                 *owners("deal"), *owners("lead")), lambda: act(cols))
        return None

    def _mask(self, key: tuple, arrays: tuple, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()`` cached while the ``arrays`` it reads are the same objects (a table
        change replaces the arrays it touches), so paging through a viewer's list does not
        recompute the rights mask for every page."""
        k = key + tuple(id(a) for a in arrays)
        with self._lock:
            hit = self._masks.get(k)
        if hit is not None:
            return hit[1]
        mask = compute()
        with self._lock:
            self._masks[k] = (arrays, mask)  # the arrays are kept: their ids stay unique while cached
            while len(self._masks) > 64:
                self._masks.popitem(last=False)
        return mask

    def _visible_ids(self, entity: str, allowed: np.ndarray) -> np.ndarray:
        t = self.portal.table(entity)
        return t.column("ID")[np.isin(t.column("ASSIGNED_BY_ID"), allowed)]

    def bind(self, user_id: int, params: dict) -> bool:
        """``placement.bind`` with ``user_id``'s token: records ``{PLACEMENT, HANDLER, TITLE}``.

        Raises:
            OAuthError(403, "ACCESS_DENIED"): the user is not a portal admin.
            OAuthError(400, "ERROR_PLACEMENT_NOT_FOUND"): a code the portal does not offer.
            OAuthError(400, "ERROR_ARGUMENT"): no HANDLER.
        """
        if int(user_id) not in self.admins:
            raise OAuthError(403, "ACCESS_DENIED", "Application context required / admin rights required")
        p = {str(k).upper(): v for k, v in params.items()}
        code = str(p.get("PLACEMENT", "")).upper()
        if code not in self.offered_placements:
            raise OAuthError(400, "ERROR_PLACEMENT_NOT_FOUND", f"Placement not found: {code}")
        if not p.get("HANDLER"):
            raise OAuthError(400, "ERROR_ARGUMENT", "Argument 'HANDLER' is null or empty")
        with self._lock:
            self.placements = [b for b in self.placements if b["PLACEMENT"] != code]
            self.placements.append({"PLACEMENT": code, "HANDLER": str(p["HANDLER"]), "TITLE": str(p.get("TITLE", ""))})
        return True


__all__ = ["DemoApp", "OAuthError", "DEMO_VIEWERS", "LEVELS"]


# --------------------------------------------------------------------------- the stand-in portal page
def portal_page(app: DemoApp, *, domain: str, user_id: int, lang: str = "ru", target: str | None = None,
                install: bool = False) -> str:
    """A page standing in for the portal around the app, as Bitrix24 opens it: a user switcher
    and an iframe into which a form is POSTed to ``target`` (the bound ``LEFT_MENU`` handler by
    default) with ``DOMAIN``, ``PROTOCOL``, ``LANG``, ``APP_SID`` in the query and a fresh
    ``AUTH_ID``/``REFRESH_ID`` of ``user_id`` with ``member_id``, ``status``, ``PLACEMENT``,
    ``PLACEMENT_OPTIONS`` in the body. ``install=True``: the same POST to ``target`` as the
    install call (the admin's pair). Served by the demo server at ``/portal/``.

    Raises:
        KeyError: no such user.
    """
    import html as h
    import json as j
    from urllib.parse import urlencode

    users = app.portal.table("user")
    names = {int(u["ID"]): f'{u["NAME"]} {u["LAST_NAME"]}' for u in users.rows()}
    if int(user_id) not in names:
        raise KeyError(user_id)
    if target is None:
        bound = {b["PLACEMENT"]: b["HANDLER"] for b in app.placements}
        target = bound.get("LEFT_MENU")
    opts = "".join(
        f'<option value="{u}"{" selected" if u == int(user_id) else ""}>{h.escape(n)} — {app.level(u)}</option>'
        for u, n in names.items())
    switcher = (f'<form method="get" action="/portal/"><label>Пользователь / User <select name="user" '
                f'onchange="this.form.submit()">{opts}</select></label><input type="hidden" name="lang" '
                f'value="{h.escape(lang)}"></form>')
    if not target:
        body = ('<p class="portal-note">Приложение не установлено: откройте /portal/?install=URL_установки. / '
                'The application is not installed: open /portal/?install=INSTALL_URL.</p>')
    else:
        pair = app.issue(1 if install else int(user_id))
        query = urlencode({"DOMAIN": domain, "PROTOCOL": "0", "LANG": lang, "APP_SID": f"demo{app._counter}"})
        fields = {"AUTH_ID": pair["access_token"], "AUTH_EXPIRES": str(pair["expires_in"]),
                  "REFRESH_ID": pair["refresh_token"], "member_id": app.member_id, "status": "L",
                  "PLACEMENT": "DEFAULT" if install else "LEFT_MENU", "PLACEMENT_OPTIONS": j.dumps({})}
        hidden = "".join(f'<input type="hidden" name="{k}" value="{h.escape(v)}">' for k, v in fields.items())
        sep = "&" if "?" in target else "?"
        body = (f'<form id="b24open" method="post" target="b24app" action="{h.escape(target + sep + query)}">{hidden}'
                f'</form><iframe name="b24app" id="b24app" style="width:100%;height:85vh;border:1px solid #ccd"></iframe>'
                '<script>document.getElementById("b24open").submit()</script>')
    return (f'<!DOCTYPE html><html lang="{h.escape(lang)}"><head><meta charset="utf-8"><title>Демо-портал Битрикс24'
            f'</title></head><body style="font-family:Arial,sans-serif;margin:12px"><h3>Демо-портал Битрикс24 '
            f'(stand-in)</h3>{switcher}{body}</body></html>')
