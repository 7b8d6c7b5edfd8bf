"""A plausible sales plan for the demo portal (``b24reports demo`` writes ``demo_plan.csv`` next to
the demo store), made from the portal's own won deals."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from b24reports.metrics.common import in_lookback, to_timestamp, user_department
from b24reports.metrics.facts import deal_facts


def demo_plan(ds, as_of, path: str | Path, uplift: float = 1.1, lookback_months: int = 6, round_to: int = 10_000) -> Path:
    """Write a plausible plan CSV for a portal (the demo uses it: ``b24reports demo``).

    For as_of's month and the next one: one row per employee with won deals in the last
    ``lookback_months`` (dismissed employees only in as_of's month), ``amount`` = ``uplift`` ×
    their average monthly won amount (rounded to ``round_to``), ``deals`` = ceil(uplift × average
    monthly won deals); plus one row for the department most of them belong to (the sum of
    its members' rows). ``ds`` is a :class:`b24reports.ingest.dataset.Dataset`, ``as_of`` a timestamp.
    Returns the path.
    """
    as_of = to_timestamp(as_of, ds.timezone)
    facts, _ = deal_facts(ds, as_of)
    won = facts[(facts["outcome"] == "won") & in_lookback(facts["won_at"], as_of, lookback_months)]
    by = won.groupby("employee_id").agg(amount=("amount", "sum"), deals=("id", "size"))
    active = {int(i): (bool(a) if not pd.isna(a) else True) for i, a in zip(ds.users["id"], ds.users["active"])}
    dep_of = user_department(ds.users)
    m0 = as_of.strftime("%Y-%m")
    m1 = (as_of.normalize().replace(day=1) + pd.DateOffset(months=1)).strftime("%Y-%m")
    lines = ["month,employee_id,department_id,amount,deals",
             f"# demo plan written by b24reports for as_of {as_of.isoformat()}: {uplift:.0%} of each manager's "
             f"average month over the last {lookback_months} months"]
    deps: dict[int, list[int]] = {}
    for month in (m0, m1):
        for eid, r in by.sort_index().iterrows():
            eid = int(eid)
            if month == m1 and not active.get(eid, True):
                continue
            amount = round(uplift * r["amount"] / lookback_months / round_to) * round_to
            deals = math.ceil(uplift * r["deals"] / lookback_months)
            lines.append(f"{month},{eid},,{amount:.0f},{deals}")
            if month == m0 and dep_of.get(eid) is not None:
                deps.setdefault(int(dep_of[eid]), []).append(eid)
    if deps:
        dep, members = max(deps.items(), key=lambda kv: (len(kv[1]), -kv[0]))
        total = sum(round(uplift * by.loc[e, "amount"] / lookback_months / round_to) * round_to for e in members)
        lines.append(f"{m0},,{dep},{total:.0f},")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
