"""Excel names what an empty cell would hide (issue 20): a lead without a source or UTM tag reads
"Не указан", tasks outside any project "Без проекта"; of ``top5``'s day/month columns Excel keeps
the one in use."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from b24reports import reports
from b24reports.outputs.render import RenderJob, write_xlsx


def _sheet(tmp_path, demo_dataset, demo_as_of, report: str, title: str, lang: str = "ru", **raw):
    spec = reports.get(report)
    res = spec.run(demo_dataset, {"as_of": demo_as_of, "lang": lang, **raw})
    job = RenderJob(spec=spec, result=res, store=tmp_path / "x.duckdb", tmp=tmp_path,
                    generated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dataset=demo_dataset)
    path = tmp_path / f"{report}-{lang}.xlsx"
    write_xlsx(job, path)
    ws = openpyxl.load_workbook(path)[spec.tables[title].title[lang][:31]]
    rows = list(ws.iter_rows(values_only=True))
    return res, rows[0], rows[1:]


@pytest.mark.parametrize("lang,text", [("ru", "Не указан"), ("en", "Not set")])
def test_lead_without_source_or_utm_reads_not_set(tmp_path, demo_dataset, demo_as_of, lang, text):
    res, head, rows = _sheet(tmp_path, demo_dataset, demo_as_of, "marketing", "sources", lang)
    assert res.tables["sources"]["source_id"].isna().sum() == 1  # the demo has leads without a source
    null_rows = [r for r in rows if r[0] is None]  # column 0: the source id, column 1: its name
    assert len(null_rows) == 1 and null_rows[0][1] == text
    res, head, rows = _sheet(tmp_path, demo_dataset, demo_as_of, "marketing", "utm", lang)
    n_null = int(res.tables["utm"]["utm_source"].isna().sum())
    assert n_null >= 1 and sum(r[0] == text for r in rows) == n_null and all(r[0] is not None for r in rows)


def test_tasks_outside_projects_read_no_project(tmp_path, demo_dataset, demo_as_of):
    res, head, rows = _sheet(tmp_path, demo_dataset, demo_as_of, "tasks", "groups")
    zero = [r for r in rows if r[0] == 0]
    assert len(zero) == 1 and zero[0][1] == "Без проекта"
    assert all(r[1] for r in rows)  # every project row has a name


def test_top5_excel_keeps_only_the_column_in_use(tmp_path, demo_dataset, demo_as_of):
    res, head, rows = _sheet(tmp_path, demo_dataset, demo_as_of, "marketing", "top5")
    assert res.tables["top5"]["day"].isna().all()  # a 12-month period: leads per month
    assert "День" not in head and "Месяц" in head
    assert all(r[head.index("Месяц")] for r in rows)
    # a short period counts per day: then the month column is the one left out
    res, head, rows = _sheet(tmp_path, demo_dataset, demo_as_of, "marketing", "top5",
                             date_from="2026-11-01", date_to="2026-11-30")
    assert "День" in head and "Месяц" not in head
