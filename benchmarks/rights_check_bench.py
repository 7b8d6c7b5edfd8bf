"""Benchmark: what the viewer's rights check adds to the first page of `serve --app` (issue 21).

    .venv/bin/python benchmarks/rights_check_bench.py [--scale 1] [--latency 0]

On the demo portal of ``--scale`` (40 = the 100k-deal portal), installed as the local
application: for an admin (all), the sales director (department with two sub-departments), a
department head and a manager (own), times ``appmode.open_app`` (``user.current``,
``user.admin``, the visibility probe batch, the portal's counts with the app's token for a
non-admin, then the ID-cursor export of deal/lead/task ids) and ``visibility.restrict`` over a
dataset with the tables' id/owner columns. ``--latency S`` adds S seconds to every portal reply
(a real portal answers in ~0.1-0.5 s; loopback in ~1 ms).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time

import pandas as pd

from b24reports.outputs import appmode
from b24reports.demo import DemoServer, generate_portal
from b24reports.ingest.dataset import Dataset
from b24reports.ingest.visibility import cached_visibility, restrict

VIEWERS = {"admin (all)": 1, "sales director (department + 2 sub)": 2, "head Moscow (department)": 3,
           "manager (own)": 6}


def frames(portal) -> Dataset:
    """A dataset with the columns restrict() reads, from the demo's tables."""
    def cols(entity, **m):
        t = portal.table(entity)
        return pd.DataFrame({k: t.column(v) for k, v in m.items()})

    return Dataset.from_frames(
        deals=cols("deal", id="ID", assigned_by_id="ASSIGNED_BY_ID"),
        leads=cols("lead", id="ID", assigned_by_id="ASSIGNED_BY_ID"),
        tasks=cols("task", id="ID", responsible_id="RESPONSIBLE_ID", created_by="CREATED_BY"),
        activities=cols("activity", id="ID", owner_type_id="OWNER_TYPE_ID", owner_id="OWNER_ID",
                        responsible_id="RESPONSIBLE_ID"),
        deal_stage_history=cols("deal_stage_history", id="ID", owner_id="OWNER_ID"),
        lead_status_history=cols("lead_status_history", id="ID", owner_id="OWNER_ID"),
        users=cols("user", id="ID"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--latency", type=float, default=0.0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    portal = generate_portal(seed=42, scale=args.scale, anchor=dt.date(2026, 11, 30))
    print(f"scale {args.scale}: {len(portal.table('deal')):,} deals, {len(portal.table('lead')):,} leads, "
          f"{len(portal.table('task')):,} tasks, {len(portal.table('activity')):,} activities "
          f"(generated in {time.perf_counter() - t0:.0f} s); reply latency +{args.latency} s")
    t0 = time.perf_counter()
    ds = frames(portal)
    print(f"dataset for restrict() built in {time.perf_counter() - t0:.1f} s")
    faults = None
    if args.latency > 0:
        from b24reports.demo import Fault, FaultPlan

        faults = FaultPlan([Fault("slow", seconds=args.latency, times=0)])
    with DemoServer(portal, faults=faults) as srv, tempfile.TemporaryDirectory() as tmp:
        os.environ.update(B24_CLIENT_ID=srv.app.client_id, B24_CLIENT_SECRET=srv.app.client_secret,
                          B24_OAUTH_URL=srv.oauth_url, **{appmode.KEY_ENV: "bench-key-0123456789"})
        cfg = appmode.AppConfig(store=os.path.join(tmp, "p.duckdb"))

        def fields(user_id):
            pair = srv.app.issue(user_id)
            return {"DOMAIN": f"{srv.host}:{srv.port}", "PROTOCOL": "0", "LANG": "ru", "AUTH_ID": pair["access_token"],
                    "REFRESH_ID": pair["refresh_token"], "member_id": srv.app.member_id}

        appmode.install(cfg, fields(1), public_url="https://reports.example.com")
        print("| viewer | ids visible (deals / leads / tasks) | requests | open_app s | restrict s | "
              "activities kept | cached open s |")
        print("|---|---|---|---|---|---|---|")
        for label, user in VIEWERS.items():
            before = srv.requests.total
            t0 = time.perf_counter()
            viewer, _ = appmode.open_app(cfg, fields(user))
            took = time.perf_counter() - t0
            n = srv.requests.total - before
            vis = cached_visibility(cfg, viewer)
            t0 = time.perf_counter()
            out = restrict(ds, vis)
            r_took = time.perf_counter() - t0
            t0 = time.perf_counter()
            appmode.open_app(cfg, fields(user))  # within visibility_ttl: user.current + user.admin only
            cached = time.perf_counter() - t0
            ids = "all" if vis.sees_all else f"{len(vis.deal_ids):,} / {len(vis.lead_ids):,} / {len(vis.task_ids):,}"
            print(f"| {label} | {ids} | {n} | {took:.2f} | {r_took:.2f} | {len(out.activities):,} | {cached:.2f} |")


if __name__ == "__main__":
    main()
