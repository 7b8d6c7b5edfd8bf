"""The demo Bitrix24 server: transport, list semantics, batch references, limits and faults."""

from __future__ import annotations

import datetime as dt
import json
import time

import httpx
import numpy as np
import pytest

from b24reports.demo import CostModel, DemoServer, Fault, FaultPlan, RateLimit, generate_portal
from b24reports.demo.server import php_parse_qs, resolve_references
from b24reports.demo.table import Table

ANCHOR = dt.date(2026, 11, 30)
#: one client for the module: a new httpx client per call costs ~0.2 s (TLS context set-up)
HTTP = httpx.Client(timeout=10)


@pytest.fixture(scope="module")
def portal():
    return generate_portal(seed=42, scale=0.2, anchor=ANCHOR)


@pytest.fixture(scope="module")
def srv(portal):
    with DemoServer(portal) as s:
        yield s


def post(s, method, payload=None, **kw):
    return HTTP.post(s.webhook_url + method, json=payload or {}, **kw)


# ----------------------------------------------------------------- pure helpers
def test_php_parse_qs_nesting():
    q = "filter%5B%3EID%5D=5&select%5B%5D=ID&select%5B%5D=TITLE&order%5BID%5D=ASC&filter%5B%40STAGE_ID%5D%5B%5D=NEW&start=-1"
    assert php_parse_qs(q) == {"filter": {">ID": "5", "@STAGE_ID": ["NEW"]}, "select": ["ID", "TITLE"],
                               "order": {"ID": "ASC"}, "start": "-1"}


def test_batch_references_resolve_like_bitrix():
    page = [{"ID": "1"}, {"ID": "2"}]
    ctx = {"result": {"a": page, "s": {"items": [{"id": 7}]}}, "next": {"a": 50}, "total": {}, "time": {}, "error": {}}
    assert resolve_references("$result[a][1][ID]", ctx) == "2"
    assert resolve_references("$result[s][items][0][id]", ctx) == 7
    # row 49 does not exist: the walk stops at the page itself, which replaces the whole value
    assert resolve_references("$result[a][49][ID]", ctx) == page
    # embedded in a longer string: a non-scalar leaves the text as it is, a scalar is spliced in
    assert resolve_references("x$result[a][49][ID]", ctx) == "x$result[a][49][ID]"
    assert resolve_references("id-$result[a][0][ID]", ctx) == "id-1"
    assert resolve_references("$next[a]", ctx) == 50
    # an unknown command key resolves to the whole results map
    assert resolve_references("$result[zz][0][ID]", ctx) == ctx["result"]


def test_table_filters_by_hand():
    # IDs 1..5; DATE_MODIFY 2026-01-0{1..5} 10:00 +03:00; AMOUNT 10, "", 30, 40, 50
    t = Table("t", {"ID": "int", "DATE_MODIFY": "dt", "AMOUNT": "money", "STAGE": "str"},
              {"ID": [1, 2, 3, 4, 5], "DATE_MODIFY": [f"2026-01-0{i}T10:00:00+03:00" for i in range(1, 6)],
               "AMOUNT": [10, "", 30, 40, 50], "STAGE": ["NEW", "WON", "NEW", "LOSE", "WON"]})

    def ids(f, **kw):
        return [r["ID"] for r in t.query(f, **kw)[0]]

    assert ids({">ID": 3}) == ["4", "5"]
    # 2026-01-03 10:00 +03:00 == 07:00 UTC: both spellings select rows 3, 4, 5
    assert ids({">=DATE_MODIFY": "2026-01-03T10:00:00+03:00"}) == ["3", "4", "5"]
    assert ids({">=DATE_MODIFY": "2026-01-03 10:00:00"}) == ["3", "4", "5"]
    assert ids({">=DATE_MODIFY": "2026-01-03T07:00:00Z"}) == ["3", "4", "5"]
    assert ids({">DATE_MODIFY": "2026-01-03 10:00:00"}) == ["4", "5"]
    assert ids({"@STAGE": ["WON", "LOSE"]}) == ["2", "4", "5"]
    assert ids({"!STAGE": "NEW"}) == ["2", "4", "5"]
    assert ids({"=AMOUNT": ""}) == ["2"]
    assert ids({">AMOUNT": 25}) == ["3", "4", "5"]  # empty amount never compares
    assert ids({"><ID": [2, 4]}) == ["2", "3", "4"]
    assert ids({}, order={"AMOUNT": "DESC"}) == ["5", "4", "3", "1", "2"]
    assert ids({}, order={"STAGE": "ASC"}) == ["4", "1", "3", "2", "5"]
    assert ids({">ID": [{"ID": "9"}]}) == ["2", "3", "4", "5"]  # PHP intval(array) = 1


# ----------------------------------------------------------------- transport and auth
def test_get_form_and_json_bodies_agree(srv):
    g = HTTP.get(srv.webhook_url + "crm.deal.list.json",
                  params={"filter[>ID]": "10", "order[ID]": "ASC", "select[]": ["ID", "STAGE_ID"]}).json()
    f = HTTP.post(srv.webhook_url + "crm.deal.list",
                   data={"FILTER[>ID]": "10", "ORDER[ID]": "ASC", "SELECT[]": ["ID", "STAGE_ID"]}).json()
    j = post(srv, "crm.deal.list", {"Filter": {">ID": 10}, "order": {"ID": "ASC"}, "select": ["ID", "STAGE_ID"]}).json()
    assert g["result"] == f["result"] == j["result"]
    assert g["result"][0] == {"ID": "11", "STAGE_ID": srv.portal.table("deal").get(11)["STAGE_ID"]}
    assert g["total"] == len(srv.portal.table("deal")) - 10
    for k in ("start", "finish", "duration", "processing", "date_start", "date_finish"):
        assert k in g["time"]


def test_auth_scope_and_unknown_method(portal):
    with DemoServer(portal, scopes={"crm"}) as s:
        bad = HTTP.get(s.webhook_url.replace("demo-webhook-token", "wrong") + "crm.deal.list")
        assert bad.status_code == 401 and bad.json()["error"] == "NO_AUTH_FOUND"
        other_user = HTTP.get(s.webhook_url.replace("/rest/1/", "/rest/2/") + "crm.deal.list")
        assert other_user.status_code == 401
        r = post(s, "tasks.task.list")
        assert r.status_code == 401 and r.json()["error"] == "insufficient_scope"
        assert post(s, "scope").json()["result"] == ["crm"]
        r = post(s, "crm.nothing.list")
        assert r.status_code == 404 and r.json()["error"] == "ERROR_METHOD_NOT_FOUND"


# ----------------------------------------------------------------- list semantics
def test_offset_paging_total_next_and_start_minus_one(srv):
    n = len(srv.portal.table("deal"))
    p1 = post(srv, "crm.deal.list", {"order": {"ID": "ASC"}, "select": ["ID"]}).json()
    assert (p1["total"], p1["next"], len(p1["result"])) == (n, 50, 50)
    last_start = (n - 1) // 50 * 50
    pl = post(srv, "crm.deal.list", {"order": {"ID": "ASC"}, "select": ["ID"], "start": last_start}).json()
    assert "next" not in pl and len(pl["result"]) == n - last_start and pl["result"][-1]["ID"] == str(n)
    fast = post(srv, "crm.deal.list", {"order": {"ID": "ASC"}, "filter": {">ID": 100}, "select": ["ID"], "start": -1}).json()
    assert fast["total"] == 0 and "next" not in fast
    assert [r["ID"] for r in fast["result"]] == [str(i) for i in range(101, 151)]
    desc = post(srv, "crm.deal.list", {"order": {"ID": "DESC"}, "select": ["ID"]}).json()
    assert desc["result"][0]["ID"] == str(n)
    rows = srv.portal.rows("deal")
    newest = sorted(rows, key=lambda r: (r["DATE_CREATE"], -int(r["ID"])), reverse=True)[:50]
    by_created = post(srv, "crm.deal.list", {"order": {"DATE_CREATE": "DESC"}, "select": ["ID", "DATE_CREATE"]}).json()
    assert [r["ID"] for r in by_created["result"]] == [r["ID"] for r in newest]


def test_date_modify_window_matches_hand_count(srv):
    rows = srv.portal.rows("deal")
    since = "2026-11-01T00:00:00+03:00"
    expected = sorted(int(r["ID"]) for r in rows if r["DATE_MODIFY"] >= since)
    got = []
    start = 0
    while start is not None:
        page = post(srv, "crm.deal.list", {"filter": {">=DATE_MODIFY": "2026-11-01 00:00:00"}, "order": {"ID": "ASC"},
                                          "select": ["ID", "DATE_MODIFY"], "start": start}).json()
        got += [int(r["ID"]) for r in page["result"]]
        start = page.get("next")
    assert got == expected and len(expected) > 10


def test_wrapped_results_and_dictionaries(srv):
    sh = post(srv, "crm.stagehistory.list", {"entityTypeId": 2, "order": {"ID": "ASC"}, "filter": {"OWNER_ID": 1}}).json()
    hist = [h for h in srv.portal.rows("deal_stage_history") if h["OWNER_ID"] == 1]
    assert sh["result"]["items"] == hist and sh["total"] == len(hist)
    lh = post(srv, "crm.stagehistory.list", {"entityTypeId": 1, "select": ["ID", "STATUS_ID"]}).json()
    assert set(lh["result"]["items"][0]) == {"ID", "STATUS_ID"}
    bad = post(srv, "crm.stagehistory.list", {"entityTypeId": 7})
    assert bad.status_code == 400 and bad.json()["error"] == "ENTITY_TYPE_NOT_SUPPORTED"
    tasks = post(srv, "tasks.task.list", {"order": {"ID": "asc"}, "filter": {">ID": 3, "REAL_STATUS": 5},
                                          "select": ["ID", "STATUS"]}).json()
    assert all(t["status"] == "5" and int(t["id"]) > 3 for t in tasks["result"]["tasks"])
    assert set(tasks["result"]["tasks"][0]) == {"id", "status"}
    cats = post(srv, "crm.category.list", {"entityTypeId": 2}).json()["result"]["categories"]
    assert [c["id"] for c in cats] == [0, 1]
    users = post(srv, "user.get", {"FILTER": {"UF_DEPARTMENT": 4}}).json()
    assert [u["ID"] for u in users["result"]] == ["4", "13", "14", "15", "16", "17", "18"]
    st = post(srv, "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE_1"}}).json()["result"]
    assert [s["STATUS_ID"] for s in st][0] == "C1:NEW"
    vox = post(srv, "voximplant.statistic.get", {"FILTER": {">=CALL_DURATION": 600}, "SORT": "ID", "ORDER": "ASC"}).json()
    assert vox["total"] == sum(int(c["CALL_DURATION"]) >= 600 for c in srv.portal.rows("call"))
    deps = post(srv, "department.get", {"PARENT": 2}).json()["result"]
    assert [d["ID"] for d in deps] == ["3", "4"]


def test_bad_filter_field_is_refused(srv):
    r = post(srv, "crm.deal.list", {"filter": {">NO_SUCH": 1}})
    assert r.status_code == 400 and "NO_SUCH" in r.json()["error_description"]


# ----------------------------------------------------------------- batch
def test_batch_id_cursor_chain_equals_offset_pages(srv):
    cmd = {"p0": "crm.activity.list?order[ID]=ASC&filter[>ID]=0&select[]=ID&start=-1"}
    for k in range(1, 4):
        cmd[f"p{k}"] = f"crm.activity.list?order[ID]=ASC&filter[>ID]=$result[p{k - 1}][49][ID]&select[]=ID&start=-1"
    r = post(srv, "batch", {"halt": 0, "cmd": cmd}).json()["result"]
    ids = [int(x["ID"]) for k in ("p0", "p1", "p2", "p3") for x in r["result"][k]]
    assert ids == list(range(1, 201))
    assert r["result_error"] == [] and r["result_next"] == []
    assert r["result_total"] == {"p0": 0, "p1": 0, "p2": 0, "p3": 0}
    assert set(r["result_time"]["p1"]) >= {"start", "finish", "duration"}


def test_batch_form_body_and_wrapped_reference(srv):
    body = {"halt": "0",
            "cmd[a]": "crm.stagehistory.list?entityTypeId=2&order[ID]=ASC&filter[>ID]=0&start=-1",
            "cmd[b]": "crm.stagehistory.list?entityTypeId=2&order[ID]=ASC&filter[>ID]=$result[a][items][49][ID]&start=-1"}
    r = HTTP.post(srv.webhook_url + "batch", data=body).json()["result"]
    assert r["result"]["b"]["items"][0]["ID"] == 51


def test_batch_reference_past_a_short_page_restarts_the_cursor(srv):
    n = len(srv.portal.table("deal"))
    cmd = {"a": f"crm.deal.list?order[ID]=ASC&filter[>ID]={n - 10}&select[]=ID&start=-1",
           "b": "crm.deal.list?order[ID]=ASC&filter[>ID]=$result[a][49][ID]&select[]=ID&start=-1"}
    r = post(srv, "batch", {"cmd": cmd}).json()["result"]["result"]
    assert len(r["a"]) == 10
    # the reference resolves to page a itself; ">ID" = [rows] reads as ID > 1: rows 2..51 again
    assert [x["ID"] for x in r["b"]] == [str(i) for i in range(2, 52)]


def test_batch_errors_halt_and_length(srv):
    cmd = {"ok": "scope", "bad": "crm.deal.list?filter[>NOPE]=1", "after": "profile", "nested": "batch?cmd[x]=scope"}
    r = post(srv, "batch", {"halt": 0, "cmd": cmd}).json()["result"]
    assert set(r["result"]) == {"ok", "after"}
    assert r["result_error"]["bad"]["error"] == "INVALID_ARG_VALUE"
    assert r["result_error"]["nested"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"
    h = post(srv, "batch", {"halt": 1, "cmd": cmd}).json()["result"]
    assert set(h["result"]) == {"ok"} and set(h["result_error"]) == {"bad"}
    too_many = post(srv, "batch", {"cmd": {f"c{i}": "scope" for i in range(51)}})
    assert too_many.status_code == 400 and too_many.json()["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"


# ----------------------------------------------------------------- limits
def test_rate_limit_503(portal):
    with DemoServer(portal, rate_limit=RateLimit(max_burst=5, drain_per_sec=0.001)) as s:
        codes = [post(s, "scope").status_code for _ in range(7)]
        assert codes == [200] * 5 + [503, 503]
        r = post(s, "scope")
        assert r.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}


def test_cost_model_429_with_operating_reset_at(portal):
    # each deal page: 0.1 base + 50 rows × 0.001 = 0.15 s; budget 0.4 s -> calls 1..3 pass
    # (0.15, 0.30, 0.45 accounted), call 4 sees 0.45 > 0.4 and is refused
    cm = CostModel(base_seconds=0.1, per_row_seconds=0.001, count_seconds_per_row=0.0, time_scale=0.0,
                   budget_seconds=0.4)
    with DemoServer(portal, cost_model=cm) as s:
        q = {"order": {"ID": "ASC"}, "select": ["ID"], "start": -1}
        ok = [post(s, "crm.deal.list", q) for _ in range(3)]
        assert [r.status_code for r in ok] == [200, 200, 200]
        assert ok[2].json()["time"]["operating"] == pytest.approx(0.45)
        r = post(s, "crm.deal.list", q)
        assert r.status_code == 429 and r.json()["error"] == "OPERATION_TIME_LIMIT"
        reset = r.json()["time"]["operating_reset_at"]
        assert time.time() < reset <= time.time() + 600
        assert post(s, "crm.lead.list", q).status_code == 200  # other methods keep working
        # nested batch commands are accounted per nested method
        b = post(s, "batch", {"cmd": {"d": "crm.deal.list?start=-1", "l": "crm.lead.list?start=-1"}}).json()["result"]
        assert b["result_error"]["d"]["error"] == "OPERATION_TIME_LIMIT" and "l" in b["result"]


def test_cost_model_counts_offset_pages_only():
    cm = CostModel(base_seconds=0.01, per_row_seconds=0.001, count_seconds_per_row=1e-4)
    # 0.01 + 50 × 0.001 + 100000 × 1e-4 = 10.06 s with COUNT; 0.06 s without
    assert cm.cost(50, 100000) == pytest.approx(10.06)
    assert cm.cost(50, None) == pytest.approx(0.06)


# ----------------------------------------------------------------- faults
def test_fault_plan_kinds(portal):
    plan = FaultPlan([
        Fault("503", nth=2, method="scope"),
        Fault("500", nth=1, method="profile"),
        Fault("truncated", nth=1, method="crm.currency.list"),
        Fault("slow", nth=1, method="server.time", seconds=0.3),
        Fault("429", nth=1, method="crm.lead.list", seconds=30),
        Fault("expired", nth=1, method="user.get"),
        Fault("batch_error", nth=1, method="batch", command=1, code="ACCESS_DENIED"),
    ])
    with DemoServer(portal, faults=plan) as s:
        assert [post(s, "scope").status_code for _ in range(3)] == [200, 503, 200]
        r = post(s, "profile")
        assert r.status_code == 500 and r.text.startswith("<!DOCTYPE html>")
        r = post(s, "crm.currency.list")
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.text)
        t0 = time.perf_counter()
        assert post(s, "server.time").status_code == 200
        assert time.perf_counter() - t0 >= 0.3
        r = post(s, "crm.lead.list")
        assert r.status_code == 429 and r.json()["time"]["operating_reset_at"] >= int(time.time()) + 28
        r = post(s, "user.get")
        assert r.status_code == 401 and r.json()["error"] == "expired_token"
        b = post(s, "batch", {"cmd": {"a": "scope", "b": "scope", "c": "scope"}}).json()["result"]
        assert set(b["result"]) == {"a", "c"} and b["result_error"]["b"]["error"] == "ACCESS_DENIED"
        assert post(s, "profile").status_code == 200  # faults fire once by default
    assert [k for _, k, _ in plan.fired] == ["503", "500", "truncated", "slow", "429", "expired", "batch_error"]


def test_nested_fault_fails_one_batch_command(portal):
    plan = FaultPlan([Fault("429", method="crm.deal.list", nested=True, nth=2)])
    with DemoServer(portal, faults=plan) as s:
        cmd = {"a": "crm.deal.list?start=-1", "b": "crm.deal.list?start=-1", "c": "crm.lead.list?start=-1"}
        r = post(s, "batch", {"cmd": cmd}).json()["result"]
        assert set(r["result"]) == {"a", "c"}
        assert r["result_error"] == {"b": {"error": "OPERATION_TIME_LIMIT",
                                           "error_description": "Method is blocked due to operation time limit."}}
        assert post(s, "crm.deal.list").status_code == 200  # HTTP-level calls are not matched


def test_fault_connection_reset(portal):
    with DemoServer(portal, faults=FaultPlan([Fault("reset", method="crm.deal.list", nth=2)])) as s:
        assert post(s, "crm.deal.list").status_code == 200
        with pytest.raises(httpx.TransportError):
            post(s, "crm.deal.list")
        assert post(s, "crm.deal.list").status_code == 200


def test_rows_deleted_between_pages_shift_offset_paging():
    p = generate_portal(seed=3, scale=0.1, anchor=ANCHOR)
    first_ids = [int(x) for x in p.table("deal").column("ID")[:3]]
    plan = FaultPlan([Fault("delete", method="crm.deal.list", nth=1, count=3)])
    with DemoServer(p, faults=plan) as s:
        q = {"order": {"ID": "ASC"}, "select": ["ID"]}
        p1 = post(s, "crm.deal.list", q).json()
        p2 = post(s, "crm.deal.list", {**q, "start": 50}).json()
    # after page 1 (IDs 1..50) the 3 lowest IDs go; offset 50 now starts at ID 54: 51..53 are never seen
    assert first_ids == [1, 2, 3]
    assert [r["ID"] for r in p1["result"]][-1] == "50"
    assert p2["result"][0]["ID"] == "54" and p2["total"] == p1["total"] - 3


def test_rows_inserted_between_pages_appear_with_new_ids():
    p = generate_portal(seed=3, scale=0.1, anchor=ANCHOR)
    n = len(p.table("lead"))
    plan = FaultPlan([Fault("insert", method="crm.lead.list", nth=1, count=2)])
    with DemoServer(p, faults=plan) as s:
        a = post(s, "crm.lead.list", {"start": -1, "select": ["ID"]}).json()
        b = post(s, "crm.lead.list", {"filter": {">ID": n}, "select": ["ID", "DATE_MODIFY"], "start": 0}).json()
    assert len(a["result"]) == 50
    assert [r["ID"] for r in b["result"]] == [str(n + 1), str(n + 2)] and b["total"] == 2
    assert all(r["DATE_MODIFY"] > "2026-11-30T12:00:00+03:00" for r in b["result"])


def test_request_counts(portal):
    with DemoServer(portal) as s:
        post(s, "scope")
        post(s, "batch", {"cmd": {"a": "crm.deal.list", "b": "crm.deal.list"}})
        assert s.requests.total == 2 and s.requests["batch"] == 1 and s.requests.nested["crm.deal.list"] == 2


def test_unknown_fault_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        Fault("explode")
    assert np.iinfo(np.int64).min < 0  # sentinel sanity for NULL used by tables
