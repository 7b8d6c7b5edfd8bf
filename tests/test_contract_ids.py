"""Contract test: every table and column id that METRICS.md names is in ``metrics.json``.

Renders the json of all seven reports on the session's demo store (fixture ``demo_store``)
with ``as_of`` = the demo "now" and checks, per report:

* the top-level keys of METRICS.md "Outputs";
* every table id and column id of :data:`CONTRACT` (a maintained copy of METRICS.md's ids,
  including the Conventions key columns each table carries) — exact spelling;
* value types by the Conventions: entity ids integers, ``_pct`` columns numbers with at most
  1 decimal (or null), money / ``_amount`` columns at most 2 decimals, ratios
  (``tasks_per_executor``, ``calls_per_won``) at most 2 decimals, ``flags`` lists of
  strings, ``url`` columns absolute links into the portal (never a webhook path).

Update :data:`CONTRACT` when METRICS.md changes; extra tables/columns are allowed.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

PLAN = Path(__file__).resolve().parents[1] / "params" / "plan.csv"

#: METRICS.md table ids -> column ids (section text, word for word; keys from "Conventions").
CONTRACT: dict[str, dict[str, list[str]]] = {
    "funnel": {
        "stages": ["pipeline_id", "stage_id", "current_deals", "current_amount", "reached",
                   "conversion_from_prev_pct", "conversion_to_won_pct"],
        "managers": ["employee_id", "deals", "open_deals", "won_deals", "won_amount", "lost_deals", "win_rate_pct",
                     "avg_cycle_days", "median_cycle_days"],
        "manager_stages": ["employee_id", "pipeline_id", "stage_id", "current_deals", "current_amount"],
        "deals": ["id", "title", "employee_id", "pipeline_id", "stage_id", "amount", "created", "closed_at",
                  "duration_days", "url"],
        "time_in_stage": ["pipeline_id", "stage_id"],
    },
    "forgotten": {
        "deals": ["id", "title", "employee_id", "stage_id", "amount", "last_touch", "idle_days", "forgotten",
                  "no_next_step", "url"],
        "leads": ["id", "title", "employee_id", "status_id", "amount", "last_touch", "idle_days", "forgotten",
                  "no_next_step", "url"],
        "by_employee": ["employee_id", "forgotten_deals", "forgotten_deals_amount", "forgotten_leads",
                        "no_next_step_deals", "no_next_step_leads"],
    },
    "dynamics": {
        "won_by_period": ["period", "won_deals", "won_amount", "avg_deal", "change_prev_pct", "change_yoy_pct"],
        "won_by_period_employee": ["employee_id", "period", "won_deals", "won_amount", "avg_deal",
                                   "change_prev_pct", "change_yoy_pct"],
        "forecast_pipeline": ["month", "deals", "amount", "weighted_amount"],
        "run_rate": ["month", "won_amount_mtd", "elapsed_days", "days_in_month", "run_rate"],
        "forecast_trend": ["month"],
    },
    "plan": {
        "plan_fact": ["month", "employee_id", "department_id", "plan_amount", "fact_amount", "fact_deals",
                      "completion_pct", "gap", "projection", "needed_per_day"],
        "mtd_compare": ["month"],
        "required": ["month", "employee_id", "department_id", "avg_won_amount", "calls_per_won", "needed_won",
                     "needed_leads", "needed_calls"],
        "required_stages": ["month", "employee_id", "department_id", "pipeline_id", "stage_id", "needed_at_stage"],
    },
    "managers": {
        "managers": ["employee_id", "calls_out", "calls_in", "call_minutes", "short_calls", "meetings", "emails_out",
                     "emails_in", "tasks", "other", "touches", "weighted", "activity_index", "won_deals",
                     "won_amount", "created_deals", "conversion_pct", "flags"],
    },
    "marketing": {
        "sources": ["source_id", "leads", "junk", "junk_pct", "quality_leads", "converted", "in_work",
                    "conversion_to_deal_pct", "sales", "sales_amount", "conversion_to_sale_pct", "revenue_per_lead",
                    "share_pct"],
        "sources_total": ["leads", "junk", "junk_pct", "quality_leads", "converted", "in_work",
                          "conversion_to_deal_pct", "sales", "sales_amount", "conversion_to_sale_pct",
                          "revenue_per_lead", "share_pct"],
        "top5": ["source_id"],
        "funnel": [],
        "won_cycle_days": ["won_cycle_days"],
        "by_employee": ["employee_id", "status_id"],
        "what_if": ["source_id", "planned_leads", "revenue_per_lead", "projected_revenue"],
        "what_if_total": ["planned_leads", "revenue_per_lead", "projected_revenue"],
    },
    "tasks": {
        **{t: [key, "total", "finished_on_time", "finished_late", "overdue_open", "not_started", "started_on_time",
               "started_on_time_pct", "finished_on_time_pct", "execution_coefficient_pct", "tasks_per_executor"]
           for t, key in (("employees", "employee_id"), ("departments", "department_id"), ("groups", "group_id"))},
        "by_period": ["period", "started_on_time_pct", "finished_on_time_pct", "execution_coefficient_pct",
                      "tasks_per_executor"],
        "accumulation": ["month", "employee_id", "open", "overdue", "growing_backlog"],
    },
}

OUTPUT_KEYS = ["report", "portal", "params", "as_of", "generated_at", "warnings", "tables"]
ENTITY_IDS = {"id", "employee_id", "department_id", "pipeline_id", "group_id"}
MONEY = {"amount", "avg_deal", "run_rate", "gap", "projection", "needed_per_day", "revenue_per_lead",
         "projected_revenue", "avg_won_amount"}
RATIOS = {"tasks_per_executor", "calls_per_won"}
URL_PATHS = {"funnel": "/crm/deal/details/", "forgotten": ("/crm/deal/details/", "/crm/lead/details/"),
             "tasks": "/tasks/task/view/"}


def _decimals(x: float) -> int:
    s = repr(float(x))
    return 0 if "e" in s or s.endswith(".0") else len(s.split(".")[1])


@pytest.fixture(scope="module")
def documents(demo_store, demo_dataset, demo_as_of, tmp_path_factory):
    from b24reports.outputs import render

    out = tmp_path_factory.mktemp("contract_json")
    docs = {}
    for name in CONTRACT:
        params = {"as_of": demo_as_of, **({"plan": str(PLAN)} if name == "plan" else {})}
        files = render.render_report(name, demo_store, params, out, formats="json", dataset=demo_dataset,
                                     generated_at=dt.datetime(2026, 11, 30, 9, tzinfo=dt.timezone.utc))
        docs[name] = json.loads(files["json"].read_text(encoding="utf-8"))
    return docs


def test_every_metrics_md_id_is_in_metrics_json(documents):
    problems = []
    for report, tables in CONTRACT.items():
        doc = documents[report]
        if list(doc) != OUTPUT_KEYS:
            problems.append(f"{report}: top-level keys {list(doc)}")
        assert doc["report"] == report
        portal = doc["portal"]
        for tid, cols in tables.items():
            rows = doc["tables"].get(tid)
            if rows is None:
                problems.append(f"{report}.{tid}: table missing")
                continue
            if not rows:
                problems.append(f"{report}.{tid}: no rows on the demo store")
                continue
            for col in cols:
                if col not in rows[0]:
                    problems.append(f"{report}.{tid}.{col}: column missing")
                    continue
                vals = [r[col] for r in rows if r[col] is not None]
                bad = None
                if col in ENTITY_IDS:
                    bad = next((v for v in vals if type(v) is not int), None)
                elif col.endswith("_pct"):
                    bad = next((v for v in vals if not isinstance(v, int | float) or isinstance(v, bool)
                                or _decimals(v) > 1), None)
                elif col in MONEY or col.endswith("_amount") or col in RATIOS:
                    bad = next((v for v in vals if not isinstance(v, int | float) or _decimals(v) > 2), None)
                elif col == "flags":
                    bad = next((v for v in vals if not isinstance(v, list) or not all(isinstance(x, str) for x in v)),
                               None)
                elif col == "url":
                    paths = URL_PATHS[report]
                    bad = next((v for v in vals if not v.startswith(portal + "/") or "/rest/" in v
                                or not any(p in v for p in ((paths,) if isinstance(paths, str) else paths))), None)
                if bad is not None:
                    problems.append(f"{report}.{tid}.{col}: bad value {bad!r}")
    assert not problems, "\n".join(problems)
