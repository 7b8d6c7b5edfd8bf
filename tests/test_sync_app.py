"""Sync as the local application (OAuth tokens) against the demo portal: the same store as
through the webhook, a refresh in the middle of a sync, a revoked application -> exit 2, and
the token file kept owner-only."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import httpx
import pandas as pd
import pytest

from b24reports import cli
from b24reports.ingest.auth import AppToken, app_tokens_path
from b24reports.ingest.client import B24Client
from b24reports.demo import DemoServer, generate_portal
from b24reports.core.errors import B24AppRevokedError, BadParameter
from b24reports.ingest.store import TABLES, open_store
from b24reports.ingest.sync import sync

ANCHOR = dt.date(2026, 11, 30)
SCALE = 0.03
#: columns that say when the row was written, not what the portal holds
VOLATILE = ("synced_at", "first_seen_at", "seen_at", "valid_from", "valid_to", "recorded_at")


@pytest.fixture(scope="module")
def portal():
    return generate_portal(seed=42, scale=SCALE, anchor=ANCHOR)


@pytest.fixture()
def srv(portal):
    with DemoServer(portal) as s:
        yield s


@pytest.fixture()
def env(srv, monkeypatch):
    monkeypatch.setenv("B24_CLIENT_ID", srv.app.client_id)
    monkeypatch.setenv("B24_CLIENT_SECRET", srv.app.client_secret)
    monkeypatch.setenv("B24_OAUTH_URL", srv.oauth_url)


def install(srv, store, user_id=1) -> AppToken:
    """What `serve --app` does at install: keep the admin's pair next to the store."""
    pair = srv.app.issue(user_id)
    auth = AppToken(srv.base_url, pair["access_token"], pair["refresh_token"], member_id=pair["member_id"],
                    user_id=user_id, token_file=app_tokens_path(store))
    auth.save(app_tokens_path(store))
    return auth


def tables(path) -> dict[str, pd.DataFrame]:
    out = {}
    with open_store(path, read_only=True) as s:
        for t in [*TABLES, "deal_versions"]:
            df = s.con.execute(f"SELECT * FROM {t}").df()
            df = df.drop(columns=[c for c in df.columns if c in VOLATILE])
            order = df.map(repr).agg("\x1f".join, axis=1).argsort(kind="stable")  # a total order
            out[t] = df.iloc[order.to_numpy()].reset_index(drop=True)
    return out


def test_app_sync_writes_the_same_store_as_the_webhook(srv, env, tmp_path):
    sync(srv.webhook_url, tmp_path / "hook.duckdb", progress=False)
    auth = install(srv, tmp_path / "app.duckdb")
    with B24Client(auth) as client:
        rep = sync(client, tmp_path / "app.duckdb", progress=False)
    assert rep.status == "ok"
    a, b = tables(tmp_path / "hook.duckdb"), tables(tmp_path / "app.duckdb")
    assert sum(len(df) for df in a.values()) > 1000
    for t in a:
        pd.testing.assert_frame_equal(a[t], b[t], obj=t)
    with open_store(tmp_path / "app.duckdb", read_only=True) as s:
        assert s.con.execute("SELECT count(*) FROM deals").fetchone()[0] == len(srv.portal.table("deal"))


def test_refresh_in_the_middle_of_a_sync(srv, env, tmp_path):
    store = tmp_path / "app.duckdb"
    auth = install(srv, store)
    first_refresh = auth._refresh
    srv.app.expire_all(after_calls=5)  # the hour runs out after the fifth call
    with B24Client(auth) as client:
        rep = sync(client, store, progress=False)
    assert rep.status == "ok"
    assert auth.refreshes == 1 and client.retries["expired_token"] == 1
    with open_store(store, read_only=True) as s:
        assert s.con.execute("SELECT count(*) FROM deals").fetchone()[0] == len(srv.portal.table("deal"))
    path = app_tokens_path(store)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept = json.loads(path.read_text())
    assert kept["refresh_token"] == auth._refresh != first_refresh  # the new pair is what is kept
    assert srv.app.client_secret not in path.read_text()
    # the spent refresh token no longer works at the OAuth server
    r = httpx.get(srv.oauth_url, params={"grant_type": "refresh_token", "client_id": srv.app.client_id,
                                         "client_secret": srv.app.client_secret, "refresh_token": first_refresh})
    assert r.json()["error"] == "invalid_grant"


def test_revoked_application_is_a_clear_exit_2(srv, env, tmp_path, capsys):
    store = tmp_path / "app.duckdb"
    auth = install(srv, store)
    srv.app.expire_all()
    srv.app.revoke()
    code = cli.run(["sync", "--app", "--store", str(store)])
    err = capsys.readouterr().err
    assert code == 2
    assert "can no longer refresh its tokens (invalid_client)" in err and "Reinstall" in err
    for secret in (auth._access, auth._refresh, srv.app.client_secret):
        assert secret not in err
    with pytest.raises(B24AppRevokedError):
        auth.refresh()


def test_token_file_must_be_owner_only_and_present(srv, env, tmp_path):
    store = tmp_path / "app.duckdb"
    with pytest.raises(BadParameter, match="install the application first"):
        AppToken.load(app_tokens_path(store))
    install(srv, store)
    os.chmod(app_tokens_path(store), 0o644)
    with pytest.raises(BadParameter, match="readable by others"):
        AppToken.load(app_tokens_path(store))


def test_missing_client_secret_names_the_variable(srv, env, tmp_path, monkeypatch):
    monkeypatch.delenv("B24_CLIENT_SECRET")
    with pytest.raises(BadParameter, match="B24_CLIENT_SECRET"):
        AppToken(srv.base_url, "a" * 10, "r" * 10)
    monkeypatch.setenv("B24_CLIENT_SECRET", "x")
    with pytest.raises(BadParameter, match="B24_OAUTH_URL"):
        AppToken(srv.base_url, "a" * 10, "r" * 10, oauth_url="http://oauth.example.com/oauth/token/")


def test_app_token_is_never_shown(srv, env):
    auth = AppToken(srv.base_url, "ACCESS-abcdef", "REFRESH-abcdef")
    assert "ACCESS" not in repr(auth) and "ACCESS" not in str(auth)
    assert auth.redact("x ACCESS-abcdef y REFRESH-abcdef z " + srv.app.client_secret) == "x *** y *** z ***"
    assert auth.method_url("crm.deal.list") == f"{srv.base_url}/rest/crm.deal.list.json?auth=ACCESS-abcdef"


def test_a_refresh_by_another_process_is_taken_not_repeated(srv, env, tmp_path):
    """`serve --app` and `sync --app` share the token file: when one has refreshed, the other
    takes the saved pair instead of trading the spent refresh token (which Bitrix24 would
    refuse as invalid_grant, read as a revoked application)."""
    store = tmp_path / "app.duckdb"
    install(srv, store)
    a, b = AppToken.load(app_tokens_path(store)), AppToken.load(app_tokens_path(store))
    srv.app.expire_all()
    a.refresh()
    assert a.refreshes == 1
    b.refresh()  # no request to the OAuth server: it adopts a's pair
    assert b.refreshes == 0 and (b.access_token, b._refresh) == (a.access_token, a._refresh)
    with B24Client(b) as client:
        assert int(client.call("user.current")["result"]["ID"]) == 1
