"""sync() against an in-process fake Bitrix24 (httpx.MockTransport): full, incremental, deletions,
crash-and-resume, versions, sync_runs. Integration with the demo server is in test_sync_demo.py."""

from __future__ import annotations

import bisect
import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

import httpx
import pytest
from b24reports.core.errors import B24TransportError
from b24reports.core.i18n import count_text
from b24reports.ingest.auth import Webhook
from b24reports.ingest.client import B24Client
from b24reports.ingest.store import open_store
from b24reports.ingest.sync import sync

MSK = timezone(timedelta(hours=3))
URL = "https://acme.bitrix24.ru/rest/1/topsecretcode/"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=MSK)


def iso(dt):
    return dt.isoformat()


def parse_php(query: str) -> dict:
    out: dict = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        m = re.match(r"^([^\[]+)((?:\[[^\]]*\])*)$", k)
        parts = [m.group(1)] + re.findall(r"\[([^\]]*)\]", m.group(2))
        cur = out
        for i, p in enumerate(parts):
            last = i == len(parts) - 1
            if p == "":
                cur.append(v)
                break
            if last:
                cur[p] = v
            else:
                cur = cur.setdefault(p, [] if parts[i + 1] == "" else {})
    return out


class FakePortal:
    """Enough of Bitrix24 for sync: list methods with >ID / >= filters, ID order, start=-1, batch."""

    def __init__(self, n_deals=120, n_leads=60):
        self.now = T0
        self.deals = {i: self._deal(i) for i in range(1, n_deals + 1)}
        self.leads = {i: {"ID": str(i), "TITLE": f"L{i}", "STATUS_ID": "NEW", "OPPORTUNITY": "10.00",
                          "DATE_CREATE": iso(T0 - timedelta(days=5)), "DATE_MODIFY": iso(T0 - timedelta(days=5))}
                      for i in range(1, n_leads + 1)}
        self.history = {i: {"ID": i, "TYPE_ID": 1, "OWNER_ID": i, "CREATED_TIME": iso(T0 - timedelta(days=10)),
                            "CATEGORY_ID": 0, "STAGE_ID": "NEW", "STAGE_SEMANTIC_ID": "P"} for i in range(1, n_deals + 1)}
        self.requests = 0
        self.fail_after: int | None = None
        self.scopes = ["crm", "user", "department"]

    def _deal(self, i, stage="NEW", modify=None):
        return {"ID": str(i), "TITLE": f"D{i}", "CATEGORY_ID": "0", "STAGE_ID": stage, "STAGE_SEMANTIC_ID": "P",
                "OPPORTUNITY": f"{i * 100}.00", "CURRENCY_ID": "RUB", "ASSIGNED_BY_ID": "1",
                "DATE_CREATE": iso(T0 - timedelta(days=30)), "DATE_MODIFY": iso(modify or T0 - timedelta(days=30 - i % 20)),
                "CLOSEDATE": "2025-03-31T00:00:00+03:00", "CLOSED": "N"}

    # -------------------------------------------------------------- list engine
    @staticmethod
    def _match(row, flt):
        for k, v in (flt or {}).items():
            m = re.match(r"^(>=|<=|>|<|=|!)?(.+)$", k)
            op, f = m[1] or "=", m[2]
            rv = row.get(f)
            if f.endswith("ID") and op in (">", "<", ">=", "<="):
                if v in ("", None):
                    continue  # unresolved reference: Bitrix ignores the empty filter
                a, b = int(rv), int(v)
            elif op in (">", "<", ">=", "<="):
                a, b = datetime.fromisoformat(rv), datetime.fromisoformat(v)
            else:
                a, b = str(rv), str(v)
            if not {"=": a == b, "!": a != b, ">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[op]:
                return False
        return True

    def _list(self, rows, p, fkey="filter"):
        flt = dict(p.get(fkey) or {})
        start = int(p.get("start", 0))
        gt = flt.pop(">ID", "")
        keys = sorted(rows)
        if gt not in ("", None):
            keys = keys[bisect.bisect_right(keys, int(gt)):]
        if start == -1:
            out = []
            for k in keys:
                if self._match(rows[k], flt):
                    out.append(rows[k])
                    if len(out) == 50:
                        break
            return out, {}
        rows = [rows[k] for k in keys if self._match(rows[k], flt)]
        page = rows[start:start + 50]
        return page, ({"next": start + 50} if start + 50 < len(rows) else {}) | {"total": len(rows)}

    def run(self, method, p):
        t = {"date_start": iso(self.now), "operating": 0.1, "operating_reset_at": 0}
        if method == "scope":
            return {"result": self.scopes, "time": t}
        if method == "crm.deal.list":
            page, x = self._list(self.deals, p)
            return {"result": page, **x, "time": t}
        if method == "crm.lead.list":
            page, x = self._list(self.leads, p)
            return {"result": page, **x, "time": t}
        if method == "crm.stagehistory.list":
            if str(p.get("entityTypeId")) == "2":
                page, x = self._list(self.history, p)
            else:
                page, x = [], {}
            return {"result": {"items": page}, **x, "time": t}
        if method in ("crm.activity.list",):
            return {"result": [], "time": t}
        if method == "crm.currency.list":
            return {"result": [{"CURRENCY": "RUB", "AMOUNT_CNT": "1", "AMOUNT": "1.0000", "BASE": "Y", "SORT": "100"}]}
        if method == "crm.category.list":
            return {"result": {"categories": [{"id": 0, "name": "Общая", "sort": 100, "isDefault": "Y"}]}}
        if method == "crm.status.list":
            ent = p.get("filter", {}).get("ENTITY_ID")
            rows = {"DEAL_STAGE": [{"ID": "1", "ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "NEW", "NAME": "Новая",
                                    "SORT": "10", "EXTRA": {"SEMANTICS": "process"}},
                                   {"ID": "2", "ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "WON", "NAME": "Успех",
                                    "SORT": "20", "SEMANTICS": "S"}]}.get(ent, [])
            return {"result": rows, "total": len(rows)}
        if method == "user.get":
            active = p.get("FILTER", {}).get("ACTIVE")
            rows = [{"ID": "1", "ACTIVE": True, "NAME": "Anna", "UF_DEPARTMENT": [1]}] if active in (True, "1") else \
                [{"ID": "2", "ACTIVE": False, "NAME": "Boris", "UF_DEPARTMENT": [1]}]
            return {"result": rows, "total": 1}
        if method == "department.get":
            return {"result": [{"ID": "1", "NAME": "Продажи", "SORT": 100}], "total": 1}
        return None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.fail_after is not None and self.requests > self.fail_after:
            raise httpx.ConnectError("portal went away")
        method = request.url.path.rsplit("/", 1)[-1]
        body = json.loads(request.content or b"{}")
        if method == "batch":
            results = {}
            for k, cmd in body["cmd"].items():
                m, q = cmd.split("?", 1)

                def resolve(mm):
                    cur = results
                    for part in re.findall(r"\[([^\]]*)\]", mm.group(0)):
                        try:
                            cur = cur[int(part)] if isinstance(cur, list) else cur[part]
                        except (KeyError, IndexError, ValueError):
                            return ""
                    return str(cur)

                env = self.run(m, parse_php(re.sub(r"\$result(\[[^\]]*\])+", resolve, q)))
                results[k] = env["result"]
            return httpx.Response(200, json={"result": {"result": results, "result_error": []},
                                             "time": {"date_start": iso(self.now)}})
        env = self.run(method, body)
        if env is None:
            return httpx.Response(404, json={"error": "ERROR_METHOD_NOT_FOUND", "error_description": "no"})
        return httpx.Response(200, json=env)


def client_for(portal: FakePortal) -> B24Client:
    return B24Client(Webhook(URL), transport=httpx.MockTransport(portal), sleep=lambda s: None, max_retries=1)


def store_deals(path):
    with open_store(path, read_only=True) as s:
        return {r[0]: (r[1], r[2]) for r in s.con.execute("SELECT id, stage_id, date_modify FROM deals").fetchall()}


def portal_deals(portal):
    return {int(k): (v["STAGE_ID"], datetime.fromisoformat(v["DATE_MODIFY"])) for k, v in portal.deals.items()}


def test_full_then_incremental_update_insert_delete(tmp_path):
    portal = FakePortal()
    db = tmp_path / "p.duckdb"
    rep = sync(client_for(portal), db, progress=False)
    assert rep.status == "ok" and rep.mode == "full"
    assert store_deals(db) == portal_deals(portal)
    assert rep.rows["deals"] == 120 and rep.rows["leads"] == 60 and rep.rows["deal_stage_history"] == 120
    with open_store(db, read_only=True) as s:
        assert s.portal_info() == {"portal": "https://acme.bitrix24.ru", "telephony": "no",
                                   "base_currency": "RUB", "timezone": "+03:00"}
        assert s.count("users") == 2 and s.count("statuses") == 2 and s.count("deal_versions") == 120
        assert "topsecretcode" not in json.dumps(s.portal_info())
    assert any("telephony" in w for w in rep.warnings) and any("task" in w for w in rep.warnings)

    # an hour later: deal 5 moves to WON, deal 121 is added, deal 7 is deleted
    portal.now = T0 + timedelta(hours=1)
    portal.deals[5] = portal._deal(5, "WON", modify=portal.now - timedelta(minutes=1))
    portal.deals[121] = portal._deal(121, modify=portal.now - timedelta(minutes=2))
    del portal.deals[7]
    rep2 = sync(client_for(portal), db, progress=False, id_pass=False)
    assert rep2.mode == "incremental"
    # incremental window: watermark T0 - 10 min overlap -> only deals 5 and 121 (2 rows)
    assert rep2.rows["deals"] == 2
    got = store_deals(db)
    assert got[5][0] == "WON" and 121 in got and 7 in got  # deletion not seen without the ID pass
    rep3 = sync(client_for(portal), db, progress=False, id_pass=True)
    assert rep3.deleted["deals"] == 1 and store_deals(db) == portal_deals(portal)
    with open_store(db, read_only=True) as s:
        # deal 7 is gone from deals; its one version is kept and ends at the portal time the ID pass ran
        v7 = s.con.execute("SELECT valid_to FROM deal_versions WHERE id = 7").fetchall()
        assert len(v7) == 1 and v7[0][0] == portal.now
        assert s.con.execute("SELECT count(*) FROM deal_versions WHERE valid_to IS NULL").fetchall()[0][0] == 120
        v = s.con.execute("SELECT stage_id, valid_to FROM deal_versions WHERE id = 5 ORDER BY valid_from").fetchall()
        assert [x[0] for x in v] == ["NEW", "WON"] and v[0][1] is not None and v[1][1] is None
        runs = s.runs()
        assert list(runs["status"]) == ["ok", "ok", "ok"] and list(runs["mode"]) == ["full", "incremental", "incremental"]
        assert json.loads(runs.iloc[0]["rows"])["deals"] == 120


def test_crash_mid_sync_then_rerun_is_exact(tmp_path):
    portal = FakePortal(n_deals=3000)
    db = tmp_path / "p.duckdb"
    # requests: scope, currency, category, 4 status lists, 2 user.get, department.get = 10,
    # then deals: a 1-page probe (11: ids 1-50), a 50-page batch (12: ids 51-2550); rows are
    # committed every 2,500 (ids 1-2500); the 13th request (ids 2551-3000) fails, so ids
    # 2501-2550 were fetched but not committed
    portal.fail_after = 12
    with pytest.raises(B24TransportError):
        sync(client_for(portal), db, progress=False)
    with open_store(db, read_only=True) as s:
        assert s.count("deals") == 2500  # committed with its cursor: last_id 2500
        assert s.get_state("deals")["last_id"] == 2500
        assert s.runs().iloc[0]["status"] == "failed"
        assert "topsecretcode" not in s.runs().iloc[0]["error"]
    portal.fail_after = None
    rep = sync(client_for(portal), db, progress=False)
    assert rep.status == "ok"
    assert store_deals(db) == portal_deals(portal)
    with open_store(db, read_only=True) as s:
        st = s.get_state("deals")
        assert st["last_id"] is None and st["watermark"] is not None
        assert s.count("deal_stage_history") == 3000


def test_full_sync_deletes_and_is_idempotent(tmp_path):
    portal = FakePortal()
    db = tmp_path / "p.duckdb"
    sync(client_for(portal), db, progress=False)
    del portal.deals[1]
    del portal.history[1]
    lines: list[str] = []
    rep = sync(client_for(portal), db, full=True, progress=False, log=lines.append)
    assert rep.mode == "full" and rep.deleted["deals"] == 1 and rep.deleted["deal_stage_history"] == 1
    assert store_deals(db) == portal_deals(portal)
    # said once per table, in its line (a second line "deleted 1 row …" told the same deletion again)
    told = [x for x in lines if "delete" in x and not x.startswith("sync ")]
    assert sorted(told) == sorted(f"{t}: {count_text(rep.rows[t], 'row', 'en')} written, 1 row deleted (no longer on the portal)"
                                  for t in ("deals", "deal_stage_history"))


def test_sync_logs_one_line_per_table_with_plurals(tmp_path):
    from b24reports.demo.generator import generate_portal
    from b24reports.demo.server import DemoServer
    from b24reports.ingest.client import B24Client
    from b24reports.ingest.sync import sync

    lines: list[str] = []
    with DemoServer(generate_portal(seed=7, scale=0.05)) as srv:
        client = B24Client(srv.webhook_url, rate=1000, burst=1000, backoff_base=0.01, backoff_max=0.05)
        rep = sync(client, tmp_path / "x.duckdb", progress=True, log=lines.append)
    for table in ("deals", "users", "pipelines"):
        n = rep.rows[table]
        assert f"{table}: {count_text(n, 'row', 'en')} written" in lines
    assert lines[-1].startswith(f"sync full ok: {count_text(rep.requests, 'request', 'en')}, ")
    assert not any(" 1 rows" in x or " 1 requests" in x for x in lines)
