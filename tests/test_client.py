"""B24Client against httpx.MockTransport: encoding, retries, auth errors, batch, fast export."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

import httpx
import pytest

from b24reports.ingest.auth import Webhook
from b24reports.ingest.client import B24Client, BatchRef, LeakyBucket, php_query
from b24reports.core.errors import (
    B24ApiError,
    B24AuthError,
    B24BatchError,
    B24CursorError,
    B24RateLimitError,
    B24TransportError,
    BadParameter,
)

SECRET = "s3cr3tw3bh00kc0de"
URL = f"https://acme.bitrix24.ru/rest/7/{SECRET}/"


class FakeTime:
    """Fake clock + sleep: sleeping advances both clocks, nothing really waits."""

    def __init__(self, wall: float = 1_700_000_000.0):
        self.mono, self.wall0, self.slept = 0.0, wall, []

    def clock(self) -> float:
        return self.mono

    def wall(self) -> float:
        return self.wall0 + self.mono

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.mono += s


def make_client(handler, ft: FakeTime | None = None, **kw) -> tuple[B24Client, FakeTime]:
    ft = ft or FakeTime()
    c = B24Client(Webhook(URL), transport=httpx.MockTransport(handler), sleep=ft.sleep, clock=ft.clock,
                  wall=ft.wall, **kw)
    return c, ft


def method_of(request: httpx.Request) -> str:
    return request.url.path.rsplit("/", 1)[-1]


def ok(result, **extra) -> httpx.Response:
    return httpx.Response(200, json={"result": result, **extra})


# ------------------------------------------------------------------ a tiny Bitrix24 list engine
def parse_php(query: str) -> dict:
    """Inverse of http_build_query for the shapes we send (a[b]=v, a[]=v, a[b][]=v)."""
    out: dict = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        m = re.match(r"^([^\[]+)((?:\[[^\]]*\])*)$", k)
        parts = [m.group(1)] + re.findall(r"\[([^\]]*)\]", m.group(2))
        cur = out
        for i, p in enumerate(parts):
            last = i == len(parts) - 1
            nxt_list = not last and parts[i + 1] == ""
            if p == "":
                cur.append(v)
                break
            if last:
                cur[p] = v
            else:
                cur = cur.setdefault(p, [] if nxt_list else {})
    return out


class FakePortal:
    """crm.deal.list / tasks.task.list honouring >ID, order ID ASC, start=-1; batch with $result refs.
    An unresolved reference becomes "" (then the >ID filter is dropped: rows from the start)."""

    def __init__(self, n_deals: int, *, ignore_cursor=False, batch=True, n_tasks=0):
        self.deals = [{"ID": str(i), "TITLE": f"Deal {i}"} for i in range(1, n_deals + 1)]
        self.tasks = [{"id": str(i), "title": f"T{i}"} for i in range(1, n_tasks + 1)]
        self.ignore_cursor, self.batch_ok = ignore_cursor, batch
        self.seen = []

    def run(self, method: str, params: dict):
        flt = params.get("filter", {})
        rows = self.deals if method == "crm.deal.list" else self.tasks
        key = "ID" if method == "crm.deal.list" else "id"
        gt = flt.get(">ID")
        if gt not in (None, "") and not self.ignore_cursor:
            rows = [r for r in rows if int(r[key]) > int(gt)]
        page = rows[:50]
        return {"tasks": page} if method == "tasks.task.list" else page

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method = method_of(request)
        body = json.loads(request.content or b"{}")
        self.seen.append((method, body))
        if method == "batch":
            if not self.batch_ok:
                return httpx.Response(404, json={"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"})
            results = {}
            for k, cmd in body["cmd"].items():
                m, q = cmd.split("?", 1)

                def resolve(mm):
                    path = re.findall(r"\[([^\]]*)\]", mm.group(0))
                    cur = results
                    for p in path:
                        try:
                            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
                        except (KeyError, IndexError, ValueError):
                            return ""
                    return str(cur)

                q = re.sub(r"\$result(\[[^\]]*\])+", resolve, q)
                results[k] = self.run(m, parse_php(q))
            return ok({"result": results, "result_error": [], "result_total": [], "result_next": [],
                       "result_time": []})
        return ok(self.run(method, body), total=0)


# ------------------------------------------------------------------ encoding
def test_php_query_encodes_prefixed_keys_and_arrays_once():
    q = php_query({"filter": {">ID": 5, "@STAGE_ID": ["NEW", "C1:NEW"]}, "select": ["ID", "TITLE"],
                   "order": {"ID": "ASC"}, "start": -1})
    assert q == ("filter%5B%3EID%5D=5&filter%5B%40STAGE_ID%5D%5B%5D=NEW&filter%5B%40STAGE_ID%5D%5B%5D=C1%3ANEW"
                 "&select%5B%5D=ID&select%5B%5D=TITLE&order%5BID%5D=ASC&start=-1")
    # decoding once gives back the PHP keys
    assert parse_qsl(q)[:3] == [("filter[>ID]", "5"), ("filter[@STAGE_ID][]", "NEW"), ("filter[@STAGE_ID][]", "C1:NEW")]


def test_php_query_values_with_specials_none_bool_and_refs():
    q = php_query({"filter": {"%TITLE": "A&B C#1", "!=X": None, "Y": True}, "cursor": BatchRef.last_id("p0", "id", "tasks")})
    assert q == "filter%5B%25TITLE%5D=A%26B%20C%231&filter%5B%21%3DX%5D=&filter%5BY%5D=1&cursor=$result[p0][tasks][49][id]"
    with pytest.raises(BadParameter):
        php_query(["ID"])


# ------------------------------------------------------------------ retries
def test_retries_503_then_500_html_then_truncated_json_then_ok():
    replies = [
        httpx.Response(503, json={"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}),
        httpx.Response(500, text="<html><body>502 Bad Gateway</body></html>"),
        httpx.Response(200, content=b'{"result": [{"ID": "1"'),
        ok([{"ID": "1"}], total=1),
    ]

    def handler(request):
        return replies.pop(0)

    c, ft = make_client(handler, backoff_base=1.0)
    env = c.call("crm.deal.list", {"select": ["ID"]})
    assert env["result"] == [{"ID": "1"}]
    assert c.requests == 4 and c.requests_by_method["crm.deal.list"] == 4
    # 3 backoff sleeps (the 503 also fills the bucket, but 4 requests never reach burst 50);
    # jittered backoff n: uniform(b/2, b) with b = 1, 2, 4
    assert len(ft.slept) == 3
    assert 0.5 <= ft.slept[0] <= 1 and 1 <= ft.slept[1] <= 2 and 2 <= ft.slept[2] <= 4
    assert sum(c.retries.values()) == 3


def test_gives_up_with_transport_error_and_no_secret():
    def handler(request):
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    c, _ = make_client(handler, max_retries=2)
    with pytest.raises(B24TransportError) as ei:
        c.call("crm.deal.list")
    assert SECRET not in str(ei.value) and "***" in str(ei.value)
    assert "3 attempts" in str(ei.value)
    assert c.requests == 3


def test_rate_limit_gives_up_as_rate_limit_error():
    c, _ = make_client(lambda r: httpx.Response(503, json={"error": "QUERY_LIMIT_EXCEEDED"}), max_retries=1)
    with pytest.raises(B24RateLimitError):
        c.call("crm.deal.list")
    assert c.requests == 2


def test_429_waits_until_operating_reset_at():
    ft = FakeTime()
    reset_at = ft.wall() + 100  # the method's oldest bucket expires 100 s from now
    replies = [
        ok([], time={"operating": 479.0, "operating_reset_at": reset_at}),
        httpx.Response(429, json={"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked"}),
        ok([{"ID": "2"}]),
    ]
    c, _ = make_client(lambda r: replies.pop(0), ft=ft)
    c.call("crm.activity.list")
    assert c.operating["crm.activity.list"].operating == 479.0
    env = c.call("crm.activity.list")
    assert env["result"] == [{"ID": "2"}]
    # waited until reset_at (+1 s margin): 100 + 1 = 101 s, not a short backoff
    assert ft.slept == [pytest.approx(101.0)]
    assert c.operating["crm.activity.list"].limited == 1


def test_429_without_reset_falls_back_to_backoff():
    replies = [httpx.Response(429, json={"error": "OPERATION_TIME_LIMIT"}), ok([])]
    c, ft = make_client(lambda r: replies.pop(0), backoff_base=2.0)
    c.call("crm.deal.list")
    assert len(ft.slept) == 1 and 1.0 <= ft.slept[0] <= 2.0


# ------------------------------------------------------------------ auth / method errors
@pytest.mark.parametrize("status,code,expect", [
    (401, "NO_AUTH_FOUND", "wrong or was deleted"),
    (401, "expired_token", "expired"),
    (403, "INVALID_CREDENTIALS", "blocked"),
    (403, "insufficient_scope", "scope 'telephony'"),
])
def test_auth_errors_not_retried_and_no_secret(status, code, expect):
    c, ft = make_client(lambda r: httpx.Response(status, json={"error": code, "error_description": f"bad {URL}"}))
    with pytest.raises(B24AuthError) as ei:
        c.call("voximplant.statistic.get")
    msg = str(ei.value)
    assert expect in msg and SECRET not in msg and code in msg
    assert c.requests == 1 and ft.slept == []
    assert ei.value.exit_code == 2


def test_method_error_400_empty_code_not_retried():
    c, _ = make_client(lambda r: httpx.Response(400, json={"error": "", "error_description": "Parameter 'filter' must be array."}))
    with pytest.raises(B24ApiError) as ei:
        c.call("crm.deal.list")
    assert type(ei.value) is B24ApiError and "must be array" in str(ei.value) and ei.value.status == 400
    assert c.requests == 1


def test_batch_result_error_raises():
    def handler(request):
        return ok({"result": {"a": [{"ID": "1"}]},
                   "result_error": {"b": {"error": "", "error_description": "Access denied."}},
                   "result_total": [], "result_next": [], "result_time": []})

    c, _ = make_client(handler)
    with pytest.raises(B24BatchError) as ei:
        c.batch({"a": ("crm.deal.list", {}), "b": ("crm.lead.list", {})})
    assert "'b'" in str(ei.value) and ei.value.method == "crm.lead.list"


def test_batch_wire_format_json_body_with_encoded_cmds():
    portal = FakePortal(3)
    c, _ = make_client(portal)
    br = c.batch({"x": ("crm.deal.list", {"filter": {">ID": 1}, "select": ["ID"]})}, halt=True)
    method, body = portal.seen[0]
    assert method == "batch" and body["halt"] == 1
    assert body["cmd"] == {"x": "crm.deal.list?filter%5B%3EID%5D=1&select%5B%5D=ID"}
    assert [r["ID"] for r in br.result["x"]] == ["2", "3"]
    assert br.result_error == {}  # PHP [] normalised


# ------------------------------------------------------------------ export
def test_export_chains_50_pages_in_one_request():
    portal = FakePortal(120)
    c, _ = make_client(portal)
    pages = list(c.export("crm.deal.list", select=["ID", "TITLE"], first_chain=50))
    # 120 rows = pages of 50, 50, 20; page 3 is short -> stop; pages 4..50 of that batch
    # reference $result[p2][49][ID] which does not exist and are ignored.
    assert [len(p) for p in pages] == [50, 50, 20]
    assert [int(r["ID"]) for p in pages for r in p] == list(range(1, 121))
    assert c.requests == 1 and portal.seen[0][0] == "batch"
    cmd0, cmd1 = portal.seen[0][1]["cmd"]["p0"], portal.seen[0][1]["cmd"]["p1"]
    assert "filter%5B%3EID%5D=0" in cmd0 and "start=-1" in cmd0 and "order%5BID%5D=ASC" in cmd0
    assert "filter%5B%3EID%5D=$result[p0][49][ID]" in cmd1


def test_export_2600_rows_takes_two_requests():
    portal = FakePortal(2600)
    c, _ = make_client(portal)
    ids = [int(r["ID"]) for p in c.export("crm.deal.list", select=["ID"], first_chain=50) for r in p]
    # floor ceil(2600 / 2500) = 2 requests
    assert ids == list(range(1, 2601)) and c.requests == 2


def test_export_exact_multiple_of_50_stops_on_empty_page():
    portal = FakePortal(100)
    c, _ = make_client(portal)
    assert sum(len(p) for p in c.export("crm.deal.list", select=["ID"], first_chain=50)) == 100
    assert c.requests == 1


def test_export_probes_with_one_page_first():
    portal = FakePortal(30)
    c, _ = make_client(portal)
    assert sum(len(p) for p in c.export("crm.deal.list", select=["ID"])) == 30
    # a small result: one request carrying ONE page command (no wasted trailing pages)
    assert c.requests == 1 and list(portal.seen[0][1]["cmd"]) == ["p0"]
    portal = FakePortal(120)
    c, _ = make_client(portal)
    assert [int(r["ID"]) for p in c.export("crm.deal.list", select=["ID"]) for r in p] == list(range(1, 121))
    # probe page (50 rows) full -> next batch chains 50 commands: pages 51-100, 101-120 (short: stop)
    assert c.requests == 2 and len(portal.seen[0][1]["cmd"]) == 1 and len(portal.seen[1][1]["cmd"]) == 50


def test_export_wrapped_tasks_camelcase():
    portal = FakePortal(0, n_tasks=75)
    c, _ = make_client(portal)
    pages = list(c.export("tasks.task.list", select=["ID", "TITLE"], row_id_field="id", result_key="tasks",
                          first_chain=50))
    assert [int(r["id"]) for p in pages for r in p] == list(range(1, 76))
    assert "$result[p0][tasks][49][id]" in portal.seen[0][1]["cmd"]["p1"]


def test_export_cursor_must_grow():
    portal = FakePortal(120, ignore_cursor=True)
    c, _ = make_client(portal)
    with pytest.raises(B24CursorError):
        list(c.export("crm.deal.list", select=["ID"]))


def test_export_without_batch_falls_back_to_one_request_per_page():
    portal = FakePortal(120, batch=False)
    c, _ = make_client(portal)
    ids = [int(r["ID"]) for p in c.export("crm.deal.list", select=["ID"]) for r in p]
    assert ids == list(range(1, 121))
    # 1 refused batch + 3 pages
    assert c.requests_by_method == {"batch": 1, "crm.deal.list": 3}
    assert portal.seen[1][1]["filter"] == {">ID": 0} and portal.seen[2][1]["filter"] == {">ID": 50}


def test_export_page_error_raises_batch_error():
    def handler(request):
        return ok({"result": {"p0": [{"ID": str(i)} for i in range(1, 51)]},
                   "result_error": {"p1": {"error": "INVALID_ARG_VALUE", "error_description": "bad"}}})

    c, _ = make_client(handler)
    with pytest.raises(B24BatchError):
        list(c.export("crm.deal.list", select=["ID"], first_chain=50))


def test_list_all_offset_paging():
    rows = [{"ID": str(i)} for i in range(1, 121)]

    def handler(request):
        start = json.loads(request.content)["start"]
        page = rows[start:start + 50]
        extra = {"next": start + 50} if start + 50 < len(rows) else {}
        return ok(page, total=len(rows), **extra)

    c, _ = make_client(handler)
    got = c.list_all("department.get", {})
    # 3 pages, read twice: offset pages can shift, so a list longer than one page is taken only
    # when two consecutive reads agree (and match total)
    assert [int(r["ID"]) for r in got] == list(range(1, 121)) and c.requests == 6


def test_list_all_one_page_is_read_once():
    c, _ = make_client(lambda request: ok([{"ID": "1"}, {"ID": "2"}], total=2))
    assert [r["ID"] for r in c.list_all("department.get", {})] == ["1", "2"] and c.requests == 1


def test_list_all_rereads_until_two_reads_agree_when_a_row_is_removed_meanwhile():
    """Row 30 is removed while page 1 of the first read is served: offset 50 of the shifted list
    skips row 51 (it moved to offset 49). The second read no longer has 30 and sees 51; a third
    agrees with it and is returned: nothing skipped."""
    rows = [{"ID": str(i)} for i in range(1, 121)]
    served = {"n": 0}

    def handler(request):
        start = json.loads(request.content)["start"]
        served["n"] += 1
        if served["n"] == 2:
            rows.pop(29)  # ID 30 goes after the first page was served
        page = rows[start:start + 50]
        extra = {"next": start + 50} if start + 50 < len(rows) else {}
        return ok(page, total=len(rows), **extra)

    c, _ = make_client(handler)
    got = [int(r["ID"]) for r in c.list_all("department.get", {})]
    assert got == [i for i in range(1, 121) if i != 30]
    assert c.requests == 9  # first read (skipped 51, total mismatch), then two agreeing reads


def test_list_by_id_cannot_skip_a_row_when_another_leaves_the_list():
    """user.get by the ``>ID`` cursor: a user deactivated (gone from the ACTIVE list) after the
    first page shifts nothing; every other user is read once."""
    users = [{"ID": str(i)} for i in range(1, 121)]
    asked = []

    def handler(request):
        body = json.loads(request.content)
        after = int(body["FILTER"][">ID"])
        asked.append(after)
        if len(asked) == 2:
            users.pop(9)  # ID 10 leaves the list
        rest = [u for u in users if int(u["ID"]) > after]
        return ok(rest[:50], total=len(rest), **({"next": 50} if len(rest) > 50 else {}))

    c, _ = make_client(handler)
    got = [int(r["ID"]) for r in c.list_by_id("user.get", {"sort": "ID", "order": "ASC", "FILTER": {"ACTIVE": True}})]
    assert got == list(range(1, 121)), "ID 10 was read before it left; nothing after it was skipped"
    assert asked == [0, 50, 100]


# ------------------------------------------------------------------ rate limiting
def test_leaky_bucket_burst_then_rate():
    ft = FakeTime()
    b = LeakyBucket(2.0, 50, clock=ft.clock, sleep=ft.sleep)
    for _ in range(52):
        b.acquire()
    # 50 fit the bucket at once; 51st waits (50+1-50)/2 = 0.5 s, 52nd another 0.5 s
    assert ft.slept == [0.5, 0.5]


def test_repr_and_stats_have_no_secret():
    c, _ = make_client(lambda r: ok([]))
    c.call("crm.deal.list")
    assert SECRET not in repr(c) and SECRET not in json.dumps(c.stats())


def test_export_nested_429_keeps_good_pages_and_waits_for_reset():
    ft = FakeTime()
    reset_at = ft.wall() + 50
    calls = []

    def handler(request):
        body = json.loads(request.content)
        calls.append(body["cmd"]["p0"])
        if len(calls) == 1:  # p0 full page, p1 over the method's time budget (halt stops the rest)
            return ok({"result": {"p0": [{"ID": str(i)} for i in range(1, 51)]},
                       "result_error": {"p1": {"error": "OPERATION_TIME_LIMIT", "error_description": "blocked"}},
                       "result_time": {"p0": {"operating": 480.2, "operating_reset_at": reset_at}}})
        return ok({"result": {"p0": [{"ID": str(i)} for i in range(51, 71)]}, "result_error": []})

    c, _ = make_client(handler, ft=ft)
    ids = [int(r["ID"]) for p in c.export("crm.activity.list", select=["ID"], first_chain=50) for r in p]
    assert ids == list(range(1, 71))
    # waited for the reset (50 s + 1 s margin), then resumed after id 50
    assert ft.slept == [pytest.approx(51.0)] and "filter%5B%3EID%5D=50" in calls[1]
    assert c.operating["crm.activity.list"].limited == 1


def test_proactive_pause_when_budget_used_up():
    ft = FakeTime()
    reset_at = ft.wall() + 30
    replies = [ok([], time={"operating": 481.0, "operating_reset_at": reset_at}), ok([]), ok([])]
    c, _ = make_client(lambda r: replies.pop(0), ft=ft)
    c.call("crm.deal.list")
    c.call("crm.lead.list")        # another method: no wait
    assert ft.slept == []
    c.call("crm.deal.list")        # over budget: waits 30 s + 1 s margin before calling, no 429 needed
    assert ft.slept == [pytest.approx(31.0)] and c.requests == 3
