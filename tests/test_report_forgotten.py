"""End-to-end: the forgotten report from the session's demo store (json + xlsx + html)."""

import datetime as dt
import json

import openpyxl
import pytest

from b24reports import reports

from b24reports.outputs import render
from b24reports.core.errors import BadParameter
from b24reports.views import forgotten as vf

GEN = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.timezone.utc)


def test_forgotten_renders(demo_store, demo_dataset, demo_as_of, tmp_path):
    out = render.render_report("forgotten", demo_store, {"as_of": demo_as_of}, tmp_path, ("json", "xlsx", "html"), GEN,
                               dataset=demo_dataset)
    text = out["json"].read_text(encoding="utf-8")
    assert "/rest/" not in text  # never the webhook path
    doc = json.loads(text)
    spec = reports.get("forgotten")
    assert doc["report"] == "forgotten" and list(doc["tables"]) == list(spec.tables)
    for tid, rows in doc["tables"].items():
        for row in rows[:50]:
            assert list(row) == spec.tables[tid].columns
    deals, leads, be = doc["tables"]["deals"], doc["tables"]["leads"], doc["tables"]["by_employee"]
    assert deals and leads and be
    # every listed row is forgotten or has no next step; forgotten rows are idle ≥ 14 days
    for r in deals + leads:
        assert r["forgotten"] or r["no_next_step"]
        assert (r["idle_days"] >= 14) == r["forgotten"]
        assert isinstance(r["id"], int) and r["url"].endswith(f"/{r['id']}/")
    # worst first: forgotten rows come first, by idle days descending
    f = [r["idle_days"] for r in deals if r["forgotten"]]
    assert f == sorted(f, reverse=True) and [r["forgotten"] for r in deals] == sorted((r["forgotten"] for r in deals), reverse=True)
    # by_employee adds up to the lists
    assert sum(r["forgotten_deals"] for r in be) == sum(r["forgotten"] for r in deals)
    assert sum(r["no_next_step_leads"] for r in be) == sum(r["no_next_step"] for r in leads)
    assert round(sum(r["forgotten_deals_amount"] for r in be), 2) == round(sum(r["amount"] for r in deals if r["forgotten"]), 2)
    wb = openpyxl.load_workbook(out["xlsx"], read_only=True)
    assert {"Сделки", "Лиды", "По менеджерам"} <= set(wb.sheetnames)
    html = out["html"].read_text(encoding="utf-8")
    n = sum(r["forgotten"] for r in deals)
    assert f"{n} {vf.plural(n, 'deal', 'ru')} на " in html  # the one-line summary at the top


def test_forgotten_params(demo_dataset, demo_as_of):
    spec = reports.get("forgotten")
    base = spec.run(demo_dataset, {"as_of": demo_as_of})
    strict = spec.run(demo_dataset, {"as_of": demo_as_of, "deal_idle_days": "60", "lead_idle_days": "60"})
    assert strict.notes["forgotten_deals"] <= base.notes["forgotten_deals"]
    assert (strict.tables["deals"].loc[strict.tables["deals"]["forgotten"], "idle_days"] >= 60).all()
    with pytest.raises(BadParameter, match="stage_idle_days"):
        spec.run(demo_dataset, {"as_of": demo_as_of, "stage_idle_days": '{"NEW": -1}'})
    assert base.metrics_json_text(GEN) == spec.run(demo_dataset, {"as_of": demo_as_of}).metrics_json_text(GEN)


def test_summary_text_plurals():
    class R:  # a result stand-in with the notes summary_text reads
        params = {"currency": "RUB"}
        notes = {"forgotten_deals": 12, "forgotten_deals_amount": 4_300_000.0, "deal_idle_days": 14, "forgotten_leads": 1,
                 "lead_idle_days": 7, "no_next_step_deals": 2, "no_next_step_leads": 5}

    assert vf.summary_text(R, "ru").replace("\xa0", " ").replace("\u202f", " ") == ("12 сделок на 4,3 млн ₽ без касаний 14+ дней; 1 лид без касаний 7+ дней; "
                                        "без следующего шага: 2 сделки и 5 лидов.")
    assert vf.summary_text(R, "en").startswith("12 deals worth ")
