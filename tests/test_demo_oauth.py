"""The demo portal's local application: OAuth refresh, per-user tokens, expiry, revocation,
user.current / user.admin / placement.bind, and CRM rights that follow the token."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from b24reports.demo import DemoServer, generate_portal
from b24reports.demo.oauth import DEMO_VIEWERS, DemoApp

ANCHOR = dt.date(2026, 11, 30)
HTTP = httpx.Client(timeout=10)

#: By hand from the demo's structure (generator._USERS / _DEPARTMENTS): department 3 "Продажи
#: Москва" (head 3) holds users 3, 6..12; department 2 "Отдел продаж" (head 2) has
#: sub-departments 3 and 4 (users 4, 13..18).
MOSCOW = {3, 6, 7, 8, 9, 10, 11, 12}
SALES = {2} | MOSCOW | {4, 13, 14, 15, 16, 17, 18}


class Clock:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def portal():
    return generate_portal(seed=42, scale=0.1, anchor=ANCHOR)


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def srv(portal, clock):
    with DemoServer(portal, app=DemoApp(portal, clock=clock)) as s:
        yield s


def app_call(s, method, token, payload=None, *, in_query=False):
    if in_query:
        return HTTP.post(f"{s.base_url}/rest/{method}.json?auth={token}", json=payload or {})
    return HTTP.post(f"{s.base_url}/rest/{method}.json", data={"auth": token, **(payload or {})})


def all_ids(s, method, token, result_key=None, id_key="ID"):
    """Every id the token's user may read, by >ID paging (50 a page)."""
    out, last = [], 0
    while True:
        r = app_call(s, method, token, {"order[ID]": "ASC", f"filter[>{id_key}]": str(last),
                                         "select[]": id_key, "start": "-1"})
        assert r.status_code == 200, r.text
        rows = r.json()["result"]
        rows = rows[result_key] if result_key else rows
        if not rows:
            return out
        out += [int(x[id_key.lower()] if id_key.lower() in x else x[id_key]) for x in rows]
        last = out[-1]


def test_levels_follow_the_structure(portal):
    app = DemoApp(portal)
    assert [app.level(u) for u in (1, 2, 3, 5, 6, 12)] == ["all", "department", "department", "department", "own", "own"]
    assert app.visible_users(1) is None
    assert app.visible_users(6) == {6}
    assert app.visible_users(3) == MOSCOW
    assert app.visible_users(2) == SALES
    assert app.visible_users(5) == {5}
    assert DEMO_VIEWERS == {"all": 1, "department": 3, "own": 6}
    assert DemoApp(portal, levels={6: "all"}).visible_users(6) is None


def test_refresh_gives_a_new_pair_and_spends_the_old(srv):
    pair = srv.app.issue(6)
    q = {"grant_type": "refresh_token", "client_id": srv.app.client_id, "client_secret": srv.app.client_secret,
         "refresh_token": pair["refresh_token"]}
    r = HTTP.get(srv.oauth_url, params=q)
    assert r.status_code == 200
    new = r.json()
    assert new["user_id"] == 6 and new["member_id"] == srv.app.member_id and new["expires_in"] == 3600
    assert new["access_token"] != pair["access_token"] and new["refresh_token"] != pair["refresh_token"]
    assert app_call(srv, "user.current", new["access_token"]).json()["result"]["ID"] == "6"
    again = HTTP.get(srv.oauth_url, params=q)  # the old refresh token is spent
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    bad = HTTP.get(srv.oauth_url, params={**q, "refresh_token": new["refresh_token"], "client_secret": "wrong"})
    assert (bad.status_code, bad.json()["error"]) == (401, "invalid_client")
    other = HTTP.get(srv.oauth_url, params={**q, "grant_type": "authorization_code"})
    assert (other.status_code, other.json()["error"]) == (400, "invalid_request")


def test_token_expiry_unknown_and_revoked(srv, clock):
    pair = srv.app.issue(3)
    assert app_call(srv, "user.current", pair["access_token"], in_query=True).json()["result"]["ID"] == "3"
    clock.t += 3599
    assert app_call(srv, "user.current", pair["access_token"]).status_code == 200
    clock.t += 1
    r = app_call(srv, "user.current", pair["access_token"])
    assert (r.status_code, r.json()["error"]) == (401, "expired_token")
    r = app_call(srv, "user.current", "forged" + pair["access_token"][6:])
    assert (r.status_code, r.json()["error"]) == (401, "NO_AUTH_FOUND")
    fresh = srv.app.issue(3)
    srv.app.revoke()
    r = app_call(srv, "crm.deal.list", fresh["access_token"])
    assert (r.status_code, r.json()["error"]) == (401, "NO_AUTH_FOUND")
    r = HTTP.get(srv.oauth_url, params={"grant_type": "refresh_token", "client_id": srv.app.client_id,
                                         "client_secret": srv.app.client_secret, "refresh_token": fresh["refresh_token"]})
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")


def test_expire_after_calls_is_deterministic(srv):
    pair = srv.app.issue(1)
    srv.app.expire_all(after_calls=2)
    codes = [app_call(srv, "server.time", pair["access_token"]).status_code for _ in range(3)]
    assert codes == [200, 200, 401]


def test_user_admin_and_placements(srv):
    admin, manager = srv.app.issue(1), srv.app.issue(6)
    assert app_call(srv, "user.admin", admin["access_token"]).json()["result"] is True
    assert app_call(srv, "user.admin", manager["access_token"]).json()["result"] is False
    assert "CRM_ANALYTICS_MENU" in app_call(srv, "placement.list", admin["access_token"]).json()["result"]
    ok = app_call(srv, "placement.bind", admin["access_token"],
                  {"PLACEMENT": "LEFT_MENU", "HANDLER": "https://reports.example/b24/app", "TITLE": "Отчёты"})
    assert ok.json()["result"] is True
    assert srv.app.placements == [{"PLACEMENT": "LEFT_MENU", "HANDLER": "https://reports.example/b24/app", "TITLE": "Отчёты"}]
    denied = app_call(srv, "placement.bind", manager["access_token"], {"PLACEMENT": "LEFT_MENU", "HANDLER": "https://x/"})
    assert (denied.status_code, denied.json()["error"]) == (403, "ACCESS_DENIED")
    unknown = app_call(srv, "placement.bind", admin["access_token"], {"PLACEMENT": "NO_SUCH", "HANDLER": "https://x/"})
    assert unknown.json()["error"] == "ERROR_PLACEMENT_NOT_FOUND"
    # the webhook cannot bind placements (an application token is needed)
    assert HTTP.post(srv.webhook_url + "placement.bind", json={"PLACEMENT": "LEFT_MENU"}).status_code == 401


def test_crm_visibility_per_level(srv, portal):
    deals, leads = portal.table("deal"), portal.table("lead")
    d_resp = dict(zip(deals.column("ID").tolist(), deals.column("ASSIGNED_BY_ID").tolist()))
    l_resp = dict(zip(leads.column("ID").tolist(), leads.column("ASSIGNED_BY_ID").tolist()))
    for user, users in ((1, None), (3, MOSCOW), (6, {6})):
        tok = srv.app.issue(user)["access_token"]
        got = all_ids(srv, "crm.deal.list", tok)
        want = sorted(i for i, a in d_resp.items() if users is None or a in users)
        assert got == want and len(want) > 0
        got_l = all_ids(srv, "crm.lead.list", tok)
        assert got_l == sorted(i for i, a in l_resp.items() if users is None or a in users)
    # the counts shrink strictly: own < department < all
    tok6, tok3 = srv.app.issue(6)["access_token"], srv.app.issue(3)["access_token"]
    totals = [app_call(srv, "crm.deal.list", t, {"select[]": "ID"}).json()["total"] for t in (tok6, tok3)]
    assert totals[0] < totals[1] < len(deals)


def test_tasks_activities_and_history_follow_the_deals(srv, portal):
    tok = srv.app.issue(6)["access_token"]
    tasks = portal.table("task")
    want_t = sorted(i for i, r, c in zip(tasks.column("ID").tolist(), tasks.column("RESPONSIBLE_ID").tolist(),
                                         tasks.column("CREATED_BY").tolist()) if 6 in (r, c))
    assert all_ids(srv, "tasks.task.list", tok, "tasks", "ID") == want_t
    deals, leads = portal.table("deal"), portal.table("lead")
    mine_d = {i for i, a in zip(deals.column("ID").tolist(), deals.column("ASSIGNED_BY_ID").tolist()) if a == 6}
    mine_l = {i for i, a in zip(leads.column("ID").tolist(), leads.column("ASSIGNED_BY_ID").tolist()) if a == 6}
    acts = portal.table("activity")
    want_a = sorted(i for i, ot, oi, r in zip(acts.column("ID").tolist(), acts.column("OWNER_TYPE_ID").tolist(),
                                              acts.column("OWNER_ID").tolist(), acts.column("RESPONSIBLE_ID").tolist())
                    if (ot == 2 and oi in mine_d) or (ot == 1 and oi in mine_l) or r == 6)
    assert all_ids(srv, "crm.activity.list", tok) == want_a
    hist = portal.table("deal_stage_history")
    r = app_call(srv, "crm.stagehistory.list", tok, {"entityTypeId": "2", "select[]": "OWNER_ID", "start": "0"})
    assert r.json()["total"] == sum(1 for o in hist.column("OWNER_ID").tolist() if o in mine_d)


def test_batch_runs_as_the_token_user(srv, portal):
    tok = srv.app.issue(6)["access_token"]
    r = app_call(srv, "batch", tok, {"cmd[me]": "user.current", "cmd[d]": "crm.deal.list?select[]=ASSIGNED_BY_ID"})
    res = r.json()["result"]["result"]
    assert res["me"]["ID"] == "6"
    assert {row["ASSIGNED_BY_ID"] for row in res["d"]} == {"6"}


def test_webhook_path_still_sees_everything(srv, portal):
    r = HTTP.post(srv.webhook_url + "crm.deal.list", json={"select": ["ID"]})
    assert r.json()["total"] == len(portal.table("deal"))
    assert HTTP.post(srv.webhook_url + "user.current", json={}).json()["result"]["ID"] == "1"
    assert HTTP.post(srv.webhook_url + "user.admin", json={}).json()["result"] is True


def test_rights_follow_a_reassignment():
    """The cached rights mask is recomputed when the table changes: a deal handed to manager 6
    becomes visible to him on the next request, and his former one disappears."""
    portal = generate_portal(seed=42, scale=0.03, anchor=ANCHOR)
    with DemoServer(portal) as s:
        tok = s.app.issue(6)["access_token"]
        before = all_ids(s, "crm.deal.list", tok)
        deals = portal.table("deal")
        other = next(i for i, a in zip(deals.column("ID").tolist(), deals.column("ASSIGNED_BY_ID").tolist()) if a != 6)
        portal.update("deal", other, ASSIGNED_BY_ID=6)
        portal.update("deal", before[0], ASSIGNED_BY_ID=7)
        assert all_ids(s, "crm.deal.list", tok) == sorted(set(before) - {before[0]} | {other})
