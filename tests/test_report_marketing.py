"""marketing end to end on the session's demo store: registry run, metrics.json, xlsx."""

import datetime as dt
import json

import openpyxl
import pytest

from b24reports import reports

from b24reports.outputs import render
from b24reports.core.errors import BadParameter

GEN = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)
PARAMS = {"date_from": "2026-06-01", "date_to": "2026-10-31"}


def test_render_json_and_xlsx(demo_store, demo_dataset, demo_as_of, tmp_path):
    params = {**PARAMS, "as_of": demo_as_of, "planned_leads": "100"}
    out = render.render_report("marketing", demo_store, params, tmp_path, ("json", "xlsx"), dataset=demo_dataset,
                               generated_at=GEN)
    doc = json.loads(out["json"].read_text(encoding="utf-8"))
    spec = reports.get("marketing")
    assert list(doc["tables"]) == list(spec.tables)
    src, tot = doc["tables"]["sources"], doc["tables"]["sources_total"][0]
    assert src and list(src[0]) == spec.tables["sources"].columns
    # the sources add up to the total; leads = junk + converted + in work
    for k in ("leads", "junk", "converted", "in_work", "sales"):
        assert sum(r[k] for r in src) == tot[k]
    assert sum(r["sales_amount"] for r in src) == pytest.approx(tot["sales_amount"], abs=0.05)
    assert tot["leads"] == tot["junk"] + tot["converted"] + tot["in_work"]
    # funnel steps come from the total row
    assert [r["count"] for r in doc["tables"]["funnel"]] == [tot["leads"], tot["quality_leads"], tot["converted"], tot["sales"]]
    # what-if: 100 planned leads split by share; the parts add up to the total projection
    wi, wt = doc["tables"]["what_if"], doc["tables"]["what_if_total"][0]
    assert wt["planned_leads"] == 100
    assert sum(r["projected_revenue"] for r in wi) == pytest.approx(wt["projected_revenue"], abs=0.1)
    # the lead list has one row per cohort lead, with lead links
    assert len(doc["tables"]["leads"]) == tot["leads"]
    assert doc["tables"]["leads"][0]["url"].endswith(f"/crm/lead/details/{doc['tables']['leads'][0]['id']}/")
    # 153 days > 62: top-5 by month (5 months × up to 5 sources)
    top = doc["tables"]["top5"]
    assert all(r["day"] is None and r["month"] for r in top) and len(top) == 5 * min(5, len(src))
    wb = openpyxl.load_workbook(out["xlsx"], read_only=True)
    assert wb.sheetnames[: len(spec.tables)] == list(render.xlsx_sheet_names(spec, "ru").values())


def test_filters_and_bad_params(demo_dataset, demo_as_of):
    spec = reports.get("marketing")
    full = spec.run(demo_dataset, {**PARAMS, "as_of": demo_as_of})
    top_source = full.tables["sources"]["source_id"].iloc[0]
    one = spec.run(demo_dataset, {**PARAMS, "as_of": demo_as_of, "sources": top_source})
    assert one.tables["sources"]["source_id"].tolist() == [top_source]
    assert one.tables["sources"]["share_pct"].tolist() == [100.0]
    assert one.tables["sources_total"]["leads"].iloc[0] == full.tables["sources"]["leads"].iloc[0]
    with pytest.raises(BadParameter, match="utm_group"):
        spec.parse_params({"utm_group": "utm_term"})
    with pytest.raises(BadParameter, match="planned_leads"):
        spec.parse_params({"planned_leads": "-3"})
