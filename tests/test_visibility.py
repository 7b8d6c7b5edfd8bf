"""What a viewer may open: restrict() by hand on small data, fetch_visibility() against the demo
portal's per-user rights (one request when everything is visible), the per-viewer cache."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from b24reports.outputs.appmode import AppConfig, Viewer
from b24reports.demo import DemoServer, generate_portal
from b24reports.demo.oauth import DemoApp
from b24reports.ingest.auth import UserToken
from b24reports.ingest.client import B24Client
from b24reports.ingest.dataset import Dataset
from b24reports.ingest.visibility import Visibility, cache_visibility, cached_visibility, fetch_visibility, restrict

ANCHOR = dt.date(2026, 11, 30)


def small() -> Dataset:
    return Dataset.from_frames(
        users=pd.DataFrame({"id": [1, 6, 7, 8], "name": ["A", "B", "C", "D"]}),
        deals=pd.DataFrame({"id": [10, 11, 12], "assigned_by_id": [6, 7, 6], "opportunity": [100.0, 200.0, 300.0]}),
        leads=pd.DataFrame({"id": [20, 21], "assigned_by_id": [6, 8]}),
        tasks=pd.DataFrame({"id": [30, 31, 32], "responsible_id": [6, 7, 8], "created_by": [2, 6, 8],
                            "title": ["мой", "поручил я", "уволить Антона"]}),
        deal_versions=pd.DataFrame({"id": [10, 11], "valid_from": ["2026-01-01 10:00", "2026-01-02 10:00"],
                                    "assigned_by_id": [6, 7]}),
        deal_stage_history=pd.DataFrame({"id": [1, 2, 3], "owner_id": [10, 11, 12]}),
        lead_status_history=pd.DataFrame({"id": [1, 2], "owner_id": [20, 21]}),
        activities=pd.DataFrame({"id": [40, 41, 42, 43, 44], "owner_type_id": [2, 2, 1, 1, 2],
                                 "owner_id": [10, 11, 21, 20, 11], "responsible_id": [7, 6, 8, 8, 7]}),
        calls=pd.DataFrame({"id": [50, 51, 52], "crm_activity_id": [40, 44, None], "portal_user_id": [7, 7, 6]}),
        departments=pd.DataFrame({"id": [1, 3], "name": ["Компания", "Продажи"]}),
    )


def test_restrict_by_hand():
    ds = small()
    vis = Visibility(6, False, frozenset({10, 12}), frozenset({20}), frozenset({30, 31}))
    out = restrict(ds, vis)
    ids = {t: out.frames[t]["id"].tolist() for t in ("deals", "leads", "tasks", "activities", "calls", "users")}
    assert ids == {"deals": [10, 12], "leads": [20], "tasks": [30, 31],
                   "activities": [40, 41, 43],   # 40 on deal 10, 41 the viewer's own, 43 on lead 20
                   "calls": [50, 52],            # 50 of activity 40, 52 the viewer's own
                   "users": [6, 7, 8]}           # people on what remains (user 2 is not in the table)
    assert out.deal_versions["id"].tolist() == [10]
    assert out.deal_stage_history["owner_id"].tolist() == [10, 12]
    assert out.lead_status_history["owner_id"].tolist() == [20]
    assert "уволить Антона" not in out.tasks["title"].tolist()
    assert out.deals["opportunity"].sum() == 400.0
    assert out.departments.equals(ds.departments)
    assert len(ds.deals) == 3 and len(ds.activities) == 5  # the input is unchanged
    assert list(out.deals.columns) == list(ds.deals.columns) and out.deals["id"].dtype == ds.deals["id"].dtype


def test_the_restricted_dataset_carries_the_visibility_into_the_report_scope():
    """The viewer's rights are one more constraint of the Scope: restrict() records them on the
    dataset and resolve_scope() puts them on the scope every metric reads."""
    from b24reports.metrics.scope import Scope
    from b24reports.reports.params import resolve_scope

    ds = small()
    vis = Visibility(6, False, frozenset({10, 12}), frozenset({20}), frozenset({30, 31}))
    out = restrict(ds, vis)
    assert out.visibility is vis and ds.visibility is None
    assert Scope.build(out, as_of="2026-11-30", visible=out.visibility).visible is vis
    from b24reports import reports

    spec = reports.get("forgotten")
    params = spec.parse_params({"as_of": "2026-11-30T12:00", "currency": "RUB"}).validate_against(out)
    assert resolve_scope(out, params).visible is vis
    assert resolve_scope(ds, params.validate_against(ds)).visible is None


def test_restrict_sees_all_is_the_same_dataset():
    ds = small()
    assert restrict(ds, Visibility(1, True)) is ds


def test_restrict_nothing_visible_keeps_the_viewer():
    out = restrict(small(), Visibility(8, False))
    assert [len(out.frames[t]) for t in ("deals", "leads", "tasks")] == [0, 0, 0]
    assert out.activities["id"].tolist() == [42, 43]  # 8 is their responsible
    assert out.users["id"].tolist() == [8]


# ----------------------------------------------------------------- asking the demo portal
@pytest.fixture(scope="module")
def portal():
    return generate_portal(seed=42, scale=0.1, anchor=ANCHOR)


@pytest.fixture()
def srv(portal):
    with DemoServer(portal, app=DemoApp(portal, levels={2: "all"})) as s:
        yield s


def client_for(srv, user_id):
    return B24Client(UserToken(srv.base_url, srv.app.issue(user_id)["access_token"]))


def ids_of(portal, entity, users, *cols):
    t = portal.table(entity)
    keep = [any(int(t.column(c)[i]) in users for c in cols) for i in range(len(t))]
    return frozenset(int(x) for x, k in zip(t.column("ID").tolist(), keep) if k)


def test_admin_sees_all_in_one_request(srv):
    with client_for(srv, 1) as c:
        vis = fetch_visibility(c)
        assert vis == Visibility(1, True) and c.requests == 1


def test_all_role_without_admin_is_proven_by_the_counts(srv):
    with client_for(srv, 1) as admin:
        from b24reports.ingest.visibility import portal_counts

        full = portal_counts(admin)
    with client_for(srv, 2) as c:
        assert fetch_visibility(c).sees_all is False  # not admin, no counts: must page
    with client_for(srv, 2) as c:
        vis = fetch_visibility(c, full_counts=full)
        assert vis.sees_all and c.requests == 1


def test_manager_and_head_get_their_ids(srv, portal):
    moscow = {3, 6, 7, 8, 9, 10, 11, 12}
    for user, users in ((6, {6}), (3, moscow)):
        with client_for(srv, user) as c:
            before = srv.requests.total
            vis = fetch_visibility(c)
            sent = srv.requests.total - before
            n_deals = len(vis.deal_ids)
            assert vis.user_id == user and not vis.sees_all
            assert vis.deal_ids == ids_of(portal, "deal", users, "ASSIGNED_BY_ID")
            assert vis.lead_ids == ids_of(portal, "lead", users, "ASSIGNED_BY_ID")
            assert vis.task_ids == ids_of(portal, "task", users, "RESPONSIBLE_ID", "CREATED_BY")
            # 1 probe batch, then per entity ~ids/2,500 batch requests (+1 when a chain ends exactly full)
            assert 4 <= sent <= 1 + 3 * (1 + n_deals // 2500 + 1)


def test_cache_per_viewer(srv, tmp_path):
    cfg = AppConfig(store=str(tmp_path / "p.duckdb"), visibility_ttl=300)
    viewer = Viewer(6, False, "m", "ru")
    assert cached_visibility(cfg, viewer) is None
    with client_for(srv, 6) as c:
        first = cache_visibility(cfg, viewer, c)
        n = c.requests
        assert cache_visibility(cfg, viewer, c) == first and c.requests == n  # reused: no request
    assert cached_visibility(cfg, Viewer(7, False, "m", "ru")) is None  # another viewer's is not shared
    assert cached_visibility(cfg, viewer, max_age=-1) is None  # too old


def test_structure_visibility_by_hand():
    """A scheduled recipient's slice from the store's structure: company 1 > sales 2 > Moscow 3;
    user 2 heads sales (sees 2, 3 and their people), user 3 heads Moscow, user 6 is a manager."""
    from b24reports.core.errors import BadParameter
    from b24reports.ingest.visibility import fingerprint, structure_level, structure_visibility

    ds = Dataset.from_frames(
        users=pd.DataFrame({"id": [1, 2, 3, 6, 7, 8], "uf_department": [[1], [2], [3], [3], [2], [1]]}),
        departments=pd.DataFrame({"id": [1, 2, 3], "parent": [None, 1, 2], "uf_head": [1, 2, 3]}),
        deals=pd.DataFrame({"id": [10, 11, 12, 13], "assigned_by_id": [6, 7, 8, 3]}),
        leads=pd.DataFrame({"id": [20, 21], "assigned_by_id": [6, 8]}),
        tasks=pd.DataFrame({"id": [30, 31, 32], "responsible_id": [8, 7, 8], "created_by": [6, 8, 8]}),
    )
    assert [structure_level(ds, u) for u in (1, 2, 3, 6)] == ["department", "department", "department", "own"]
    got = {u: structure_visibility(ds, u) for u in (2, 3, 6)}
    assert got[6] == Visibility(6, False, frozenset({10}), frozenset({20}), frozenset({30}))  # 30: created by 6
    assert got[3] == Visibility(3, False, frozenset({10, 13}), frozenset({20}), frozenset({30}))
    assert got[2] == Visibility(2, False, frozenset({10, 11, 13}), frozenset({20}), frozenset({30, 31}))
    assert structure_visibility(ds, 6, "all").sees_all and structure_visibility(ds, 3, "own").deal_ids == {13}
    assert len({fingerprint(v) for v in got.values()}) == 3 and fingerprint(Visibility(1, True)) == ""
    with pytest.raises(BadParameter, match="sees"):
        structure_visibility(ds, 6, "boss")
    with pytest.raises(BadParameter, match="no such user"):
        structure_visibility(ds, 99)
