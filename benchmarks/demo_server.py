"""Export speed of the demo server over loopback HTTP, and what the cost model charges.

    .venv/bin/python benchmarks/demo_server.py [--scale 4] [--entity deal]

Exports one entity three ways and prints wall time, HTTP requests and the modeled
``operating`` seconds (CostModel defaults: 0.05 s a call + 2 ms a row + 2e-5 s a counted row,
time_scale 0 so nothing sleeps):
1. offset pages (start=0,50,...) one request each: pays a COUNT per page;
2. ID cursor, start=-1, one request a page;
3. ID cursor chained in batches of 50 commands with ``$result[k][49][ID]`` references.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import httpx

from b24reports.demo import CostModel, DemoServer, generate_portal

METHOD = {"deal": "crm.deal.list", "lead": "crm.lead.list", "activity": "crm.activity.list"}


def offset(c: httpx.Client, url: str, method: str) -> int:
    rows, start = 0, 0
    while start is not None:
        j = c.post(url + method, json={"order": {"ID": "ASC"}, "select": ["ID", "DATE_MODIFY"] if method != "crm.activity.list" else ["ID"], "start": start}).json()
        rows += len(j["result"])
        start = j.get("next")
    return rows


def cursor(c: httpx.Client, url: str, method: str) -> int:
    rows, last = 0, 0
    while True:
        j = c.post(url + method, json={"order": {"ID": "ASC"}, "filter": {">ID": last}, "select": ["ID"], "start": -1}).json()
        rows += len(j["result"])
        if len(j["result"]) < 50:
            return rows
        last = int(j["result"][-1]["ID"])


def batched(c: httpx.Client, url: str, method: str) -> int:
    rows, last = 0, 0
    while True:
        cmd = {"c0": f"{method}?order[ID]=ASC&filter[>ID]={last}&select[]=ID&start=-1"}
        for k in range(1, 50):
            cmd[f"c{k}"] = f"{method}?order[ID]=ASC&filter[>ID]=$result[c{k - 1}][49][ID]&select[]=ID&start=-1"
        res = c.post(url + "batch", json={"halt": 1, "cmd": cmd}).json()["result"]["result"]
        for k in range(50):
            page = res.get(f"c{k}", [])
            rows += len(page)
            if len(page) < 50:
                return rows  # later commands re-read from the start (reference past a short page)
            last = int(page[-1]["ID"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=4.0)
    ap.add_argument("--entity", choices=sorted(METHOD), default="deal")
    args = ap.parse_args()
    portal = generate_portal(scale=args.scale, anchor=dt.date(2026, 11, 30))
    method = METHOD[args.entity]
    print(f"scale={args.scale}: {len(portal.table(args.entity)):,d} {args.entity} rows")
    for label, fn in (("offset pages", offset), ("cursor start=-1", cursor), ("cursor in batches", batched)):
        cm = CostModel(time_scale=0.0)
        with DemoServer(portal, cost_model=cm) as srv, httpx.Client(timeout=60) as c:
            t0 = time.perf_counter()
            rows = fn(c, srv.webhook_url, method)
            took = time.perf_counter() - t0
            operating, _ = cm.status(method)
            print(f"  {label:18s} rows {rows:>9,d}  {took:6.1f} s  HTTP requests {srv.requests.total:>6,d}  "
                  f"modeled operating {operating:8.1f} s (budget 480 s / 10 min)")


if __name__ == "__main__":
    main()
