"""`serve --app`: install and app handlers against the demo portal, refusals that make no call
to a foreign domain, signed sessions, the kernel's check, and the HTTP contract (CSP, no
cookies, 403 pages in the viewer's language)."""

from __future__ import annotations

import datetime as dt
import json
import re
import stat

import httpx
import pandas as pd
import pytest

from b24reports.outputs import appmode
from b24reports.outputs import nb
from b24reports.outputs.appmode import AppConfig, Viewer, ViewerRefused
from b24reports.ingest.dataset import Dataset
from b24reports.demo import DemoServer, generate_portal
from b24reports.ingest.visibility import cached_visibility

ANCHOR = dt.date(2026, 11, 30)
KEY = "test-session-key-0123456789"


@pytest.fixture(scope="module")
def portal():
    return generate_portal(seed=42, scale=0.03, anchor=ANCHOR)


@pytest.fixture()
def srv(portal):
    with DemoServer(portal) as s:
        yield s


@pytest.fixture()
def attacker(portal):
    """A second server standing for someone else's domain: it must never be called."""
    with DemoServer(portal) as s:
        yield s


@pytest.fixture()
def cfg(tmp_path, monkeypatch, srv):
    monkeypatch.setenv(appmode.KEY_ENV, KEY)
    monkeypatch.setenv("B24_CLIENT_ID", srv.app.client_id)
    monkeypatch.setenv("B24_CLIENT_SECRET", srv.app.client_secret)
    monkeypatch.setenv("B24_OAUTH_URL", srv.oauth_url)
    return AppConfig(store=str(tmp_path / "p.duckdb"))


def fields(srv, user_id, **over):
    pair = srv.app.issue(user_id)
    f = {"DOMAIN": f"{srv.host}:{srv.port}", "PROTOCOL": "0", "LANG": "ru", "APP_SID": "sid",
         "AUTH_ID": pair["access_token"], "AUTH_EXPIRES": "3600", "REFRESH_ID": pair["refresh_token"],
         "member_id": srv.app.member_id, "status": "L", "PLACEMENT": "DEFAULT", "PLACEMENT_OPTIONS": "{}"}
    f.update(over)
    return f


# ----------------------------------------------------------------- sessions
def test_session_round_trip_and_refusals():
    v = Viewer(6, False, "m1", "en")
    tok = appmode.issue_session(v, KEY)
    assert appmode.verify_session(tok, max_age=60, member_id="m1", key=KEY) == v
    refused = [None, "", tok[:-2] + ("AA" if not tok.endswith("AA") else "BB")]
    for bad in refused:
        with pytest.raises(ViewerRefused):
            appmode.verify_session(bad, max_age=60, key=KEY)
    with pytest.raises(ViewerRefused):  # expired: older than max_age
        appmode.verify_session(tok, max_age=-1, key=KEY)
    with pytest.raises(ViewerRefused):  # signed with another server's key
        appmode.verify_session(tok, max_age=60, key="another-key")
    with pytest.raises(ViewerRefused):  # issued for another portal
        appmode.verify_session(tok, max_age=60, member_id="m2", key=KEY)


def test_lang_and_origin():
    assert [appmode.lang_of(x) for x in ("ru", "en", "de", "ua", None, "EN")] == ["ru", "en", "en", "ru", "ru", "en"]
    assert appmode.portal_origin({"DOMAIN": "acme.bitrix24.ru", "PROTOCOL": "1"}) == "https://acme.bitrix24.ru"
    assert appmode.portal_origin({"DOMAIN": "127.0.0.1:8000", "PROTOCOL": "0"}) == "http://127.0.0.1:8000"
    for bad in ({"DOMAIN": "acme.bitrix24.ru", "PROTOCOL": "0"}, {"DOMAIN": "evil.com/x"}, {"DOMAIN": "a@b.ru"}, {}):
        with pytest.raises(ViewerRefused):
            appmode.portal_origin(bad)


# ----------------------------------------------------------------- install
def test_install_keeps_tokens_and_binds_placements(srv, cfg):
    notes = appmode.install(cfg, fields(srv, 1), public_url="https://reports.example.com")
    kept = json.loads(cfg.tokens_path.read_text())
    assert stat.S_IMODE(cfg.tokens_path.stat().st_mode) == 0o600
    assert (kept["portal"], kept["member_id"], kept["user_id"]) == (srv.base_url, srv.app.member_id, 1)
    assert notes == ["LEFT_MENU: bound", "CRM_ANALYTICS_MENU: bound"]
    assert [(b["PLACEMENT"], b["HANDLER"]) for b in srv.app.placements] == [
        ("LEFT_MENU", "https://reports.example.com/b24/app"), ("CRM_ANALYTICS_MENU", "https://reports.example.com/b24/app")]
    # a second install from the same portal (reinstall) is accepted; another member_id is not
    appmode.install(cfg, fields(srv, 1), public_url="https://reports.example.com")
    before = srv.requests.total
    with pytest.raises(ViewerRefused) as e:
        appmode.install(cfg, fields(srv, 1, member_id="other"), public_url="https://x")
    assert e.value.reason == "wrong_portal" and srv.requests.total == before


def test_install_refusals(srv, cfg, attacker):
    with pytest.raises(ViewerRefused) as e:
        appmode.install(cfg, fields(srv, 6), public_url="https://x")
    assert e.value.reason == "not_admin" and not cfg.tokens_path.exists()
    fixed = AppConfig(store=cfg.store, portal="https://acme.bitrix24.ru")
    with pytest.raises(ViewerRefused) as e:
        appmode.install(fixed, fields(attacker, 1), public_url="https://x")
    assert e.value.reason == "wrong_portal" and attacker.requests.total == 0


# ----------------------------------------------------------------- app
def test_open_before_install_is_refused(srv, cfg):
    with pytest.raises(ViewerRefused) as e:
        appmode.open_app(cfg, fields(srv, 6))
    assert e.value.reason == "not_installed" and srv.requests.total == 0


def test_foreign_domain_or_member_makes_no_call(srv, cfg, attacker):
    appmode.install(cfg, fields(srv, 1), public_url="https://x")
    for f in (fields(attacker, 1), fields(srv, 1, member_id="forged-member"),
              fields(srv, 1, PROTOCOL="1")):  # https://127.0.0.1:port is not the installed http origin
        with pytest.raises(ViewerRefused) as e:
            appmode.open_app(cfg, f)
        assert e.value.reason == "wrong_portal"
    assert attacker.requests.total == 0


def test_expired_or_forged_auth_is_refused(srv, cfg):
    appmode.install(cfg, fields(srv, 1), public_url="https://x")
    f = fields(srv, 6)
    srv.app.expire_all()
    for bad in (f, fields(srv, 6, AUTH_ID="forged-token"), fields(srv, 6, AUTH_ID="")):
        with pytest.raises(ViewerRefused) as e:
            appmode.open_app(cfg, bad)
        assert e.value.reason == "bad_auth"


def test_open_identifies_the_viewer_and_keeps_what_they_may_open(srv, cfg, portal):
    appmode.install(cfg, fields(srv, 1), public_url="https://x")
    viewer, session = appmode.open_app(cfg, fields(srv, 6, LANG="en"))
    assert viewer == Viewer(6, False, srv.app.member_id, "en")
    assert appmode.verify_session(session, max_age=60, member_id=srv.app.member_id) == viewer
    vis = cached_visibility(cfg, viewer)
    deals = portal.table("deal")
    own = {i for i, a in zip(deals.column("ID").tolist(), deals.column("ASSIGNED_BY_ID").tolist()) if a == 6}
    assert not vis.sees_all and vis.deal_ids == own and len(own) > 0
    admin, _ = appmode.open_app(cfg, fields(srv, 1))
    assert admin.admin and cached_visibility(cfg, admin).sees_all


def test_kernel_shows_nothing_without_a_valid_session(srv, cfg, portal, monkeypatch):
    appmode.install(cfg, fields(srv, 1), public_url="https://x")
    monkeypatch.setenv(appmode.CONFIG_ENV, cfg.to_env())
    deals = portal.table("deal")
    own = [i for i, a in zip(deals.column("ID").tolist(), deals.column("ASSIGNED_BY_ID").tolist()) if a == 6][:2]
    ds = Dataset.from_frames(deals=pd.DataFrame({"id": [own[0], 1, own[1]], "assigned_by_id": [6, 10, 6]}))
    for q in ("", "lang=en", "b24s=forged", f"b24s={appmode.issue_session(Viewer(6, False, 'other-member'))}"):
        with pytest.raises(ViewerRefused):
            nb.viewer_dataset(ds, q)
    f6 = fields(srv, 6)
    _viewer, session = appmode.open_app(cfg, f6)
    with pytest.raises(ViewerRefused):  # a session alone, without the one-time ticket of an open
        nb.viewer_dataset(ds, f"lang=en&b24s={session}")
    url = appmode.open_report_url(cfg, {"b24s": session, "AUTH_ID": f6["AUTH_ID"], "report": "funnel"})
    out = nb.viewer_dataset(ds, "lang=en&" + url.split("?", 1)[1])
    assert out.deals["id"].tolist() == own  # deal 1 is manager 10's
    monkeypatch.delenv(appmode.CONFIG_ENV)
    assert nb.viewer_dataset(ds, "") is ds  # not app mode: the whole store


def test_a_session_replayed_by_another_viewer_is_refused(srv, cfg, portal, monkeypatch):
    """Viewer 6's session with viewer 7's AUTH_ID gets no ticket (user.current says 7); a
    dashboard URL opens once: replayed (spent ticket), with a ticket of another viewer, or an
    expired ticket, the kernel shows nothing. user.current is asked once per AUTH_ID a minute."""
    appmode.install(cfg, fields(srv, 1), public_url="https://x")
    monkeypatch.setenv(appmode.CONFIG_ENV, cfg.to_env())
    f6, f7 = fields(srv, 6), fields(srv, 7)
    v6, s6 = appmode.open_app(cfg, f6)
    v7, s7 = appmode.open_app(cfg, f7)
    with pytest.raises(ViewerRefused) as e:
        appmode.open_report_url(cfg, {"b24s": s6, "AUTH_ID": f7["AUTH_ID"], "report": "funnel"})
    assert e.value.reason == "other_viewer"
    for bad in ({"b24s": s6, "AUTH_ID": "forged", "report": "funnel"},
                {"b24s": s6, "AUTH_ID": f6["AUTH_ID"], "report": "../../etc/passwd"},
                {"b24s": "forged", "AUTH_ID": f6["AUTH_ID"], "report": "funnel"}):
        with pytest.raises(ViewerRefused):
            appmode.open_report_url(cfg, bad)
    before = srv.requests.total
    url = appmode.open_report_url(cfg, {"b24s": s6, "AUTH_ID": f6["AUTH_ID"], "report": "managers"})
    assert srv.requests.total == before  # f6's AUTH_ID was checked a moment ago
    assert url.startswith("/voila/render/managers.ipynb?")
    query = url.split("?", 1)[1]
    assert appmode.viewer_of_query(query, cfg) == v6
    with pytest.raises(ViewerRefused):  # the same URL again: its ticket is spent
        appmode.viewer_of_query(query, cfg)
    t7 = appmode.issue_ticket(cfg, v7)  # 7's ticket under 6's session
    with pytest.raises(ViewerRefused):
        appmode.viewer_of_query(f"b24s={s6}&b24t={t7}", cfg)
    with monkeypatch.context() as m:
        m.setattr(appmode, "TICKET_TTL", -1.0)
        late = appmode.issue_ticket(cfg, v6)
    t6 = appmode.issue_ticket(cfg, v6)
    with pytest.raises(ViewerRefused):
        appmode.viewer_of_query(f"b24s={s6}&b24t={late}", cfg)
    assert appmode.viewer_of_query(f"b24s={s6}&b24t={t6}", cfg) == v6
    assert list(appmode._tickets_dir(cfg).iterdir()) == [] or all(
        stat.S_IMODE(p.stat().st_mode) == 0o600 for p in appmode._tickets_dir(cfg).iterdir())


# ----------------------------------------------------------------- over HTTP (tornado handlers)
@pytest.fixture()
def http_app(cfg):
    import asyncio
    import threading

    import tornado.web

    loop = asyncio.new_event_loop()
    holder = {}

    def run():
        asyncio.set_event_loop(loop)
        app = tornado.web.Application(appmode._handlers(cfg))
        server = app.listen(0, "127.0.0.1")
        holder["port"] = next(iter(server._sockets.values())).getsockname()[1]
        holder["ready"].set()
        loop.run_forever()

    holder["ready"] = threading.Event()
    th = threading.Thread(target=run, daemon=True)
    th.start()
    holder["ready"].wait(5)
    yield f"http://127.0.0.1:{holder['port']}"
    loop.call_soon_threadsafe(loop.stop)
    th.join(5)


def test_http_contract(srv, cfg, http_app, attacker):
    with httpx.Client(timeout=20) as h:
        r = h.post(f"{http_app}/b24/app", data=fields(srv, 6))
        assert r.status_code == 403 and "Приложение ещё не установлено" in r.text
        assert r.headers["content-security-policy"] == "frame-ancestors 'none'"
        f = fields(srv, 1)
        q = {k: f.pop(k) for k in ("DOMAIN", "PROTOCOL", "LANG", "APP_SID")}  # as Bitrix24 sends them
        r = h.post(f"{http_app}/b24/install", params=q, data=f)
        assert r.status_code == 200 and "installFinish" in r.text
        assert srv.app.placements[0]["HANDLER"] == f"{http_app}/b24/app"
        assert r.headers["content-security-policy"] == f"frame-ancestors {srv.base_url}"
        f = fields(srv, 6, LANG="en")
        q = {k: f.pop(k) for k in ("DOMAIN", "PROTOCOL", "LANG", "APP_SID")}
        before = srv.requests.total
        first = h.post(f"{http_app}/b24/app", params=q, data=f)  # at once, before asking the portal
        assert first.status_code == 200 and "Checking your access in Bitrix24…" in first.text
        assert srv.requests.total == before
        nonce = re.search(r"body:'n=([^']+)'", first.text).group(1)
        r = h.post(f"{http_app}/b24/check", data={"n": nonce})
        assert r.status_code == 200
        assert r.headers["content-security-policy"] == f"frame-ancestors {srv.base_url}"
        assert "set-cookie" not in r.headers and "set-cookie" not in first.headers
        assert "Sales reports" in r.text and "lang=en" in r.text
        session = re.search(r'name="b24s" value="([^"]+)"', r.text).group(1)
        # the list holds this open's AUTH_ID in its form (never in a link); no other secret
        assert f'name="AUTH_ID" value="{f["AUTH_ID"]}"' in r.text and "b24s=" not in r.text
        for secret in (f["REFRESH_ID"], srv.app.client_secret):
            assert secret not in r.text and secret not in first.text
        assert f["AUTH_ID"] not in first.text
        again = h.post(f"{http_app}/b24/check", data={"n": nonce})  # a nonce is used once
        assert again.status_code == 403 and "Откройте отчёты из Битрикс24" in again.text
        bad = h.post(f"{http_app}/b24/app", data=fields(attacker, 1, LANG="en"))
        assert bad.status_code == 403 and "installed for another Bitrix24 portal" in bad.text
        assert attacker.requests.total == 0
        first = h.post(f"{http_app}/b24/app", data=fields(srv, 6, AUTH_ID="forged"))
        assert "Проверяю доступ в Битрикс24…" in first.text
        ru = h.post(f"{http_app}/b24/check", data={"n": re.search(r"body:'n=([^']+)'", first.text).group(1)})
        assert ru.status_code == 403 and "Битрикс24 не подтвердил вход" in ru.text
        # opening a report: manager 6's session with his own AUTH_ID -> the dashboard with a ticket;
        # with manager 7's AUTH_ID (a replayed session) or a forged one -> 403, no ticket
        mine = h.post(f"{http_app}/b24/open", data={"b24s": session, "AUTH_ID": f["AUTH_ID"], "report": "funnel"})
        assert mine.status_code == 303
        assert re.fullmatch(r"/voila/render/funnel\.ipynb\?b24s=[^&]+&b24t=[\w-]{40,}&lang=en", mine.headers["location"])
        other = fields(srv, 7)["AUTH_ID"]
        for auth, text in ((other, "Эта ссылка выдана другому пользователю Битрикс24"),
                           ("forged", "Битрикс24 не подтвердил вход")):
            r = h.post(f"{http_app}/b24/open", data={"b24s": session, "AUTH_ID": auth, "report": "funnel"})
            assert r.status_code == 403 and text in r.text and "location" not in r.headers
        r = h.post(f"{http_app}/b24/open", data={"b24s": session, "AUTH_ID": other, "report": "funnel", "lang": "en"})
        assert r.status_code == 403 and "This link was issued to another Bitrix24 user" in r.text
