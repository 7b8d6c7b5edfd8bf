"""Excel written a column at a time (issue 19): ``render.excel_cells`` converts a whole column
at once and must give, cell for cell, what the per-cell ``_excel_value`` gave; the files written
both ways hold the same values, number formats, links and header styles on every demo report."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import openpyxl
import pandas as pd
import pytest

from b24reports.outputs import excel
from b24reports import reports
from b24reports.core import columns
from b24reports.outputs.render import RenderJob, excel_cells, write_xlsx
from b24reports.outputs.excel import _excel_value


def test_numbers_dates_and_text_worked_by_hand():
    ids = pd.Series([5, None, 7], dtype="Int64")
    assert excel_cells(ids, "id") == [5, None, 7]
    assert excel_cells(pd.Series([3.0, 4.5]), "int") == [3, 4.5]
    money = pd.Series([1250000.004, np.nan, np.inf, -0.001])
    assert excel_cells(money, "money") == [1250000.0, None, None, -0.0]
    assert excel_cells(pd.Series([12.345, 0.05]), "pct") == [12.3, 0.1]  # round() as json_value, 0.05 -> 0.1
    when = pd.Series(pd.to_datetime(["2026-11-30 09:15", None]).tz_localize("UTC").tz_convert("Europe/Moscow"))
    cells = excel_cells(when, "datetime")
    assert cells == [dt.datetime(2026, 11, 30, 12, 15), None] and type(cells[0]) is dt.datetime
    assert excel_cells(when, "date") == [dt.date(2026, 11, 30), None]
    assert excel_cells(pd.Series(["=HYPERLINK(1)", None, np.nan], dtype=object), "text") == ["=HYPERLINK(1)", None, None]
    assert excel_cells(pd.Series([True, None], dtype="boolean"), "bool") == [True, None]
    # a column of mixed objects takes the per-cell path: a code held as a number, a list
    assert excel_cells(pd.Series([["a", "b"], None], dtype=object), "list") == ["a, b", ""]


@pytest.fixture(scope="module")
def demo_results(demo_dataset, demo_as_of):
    return [(spec, spec.run(demo_dataset, {"as_of": demo_as_of})) for spec in reports.all_reports()]


def test_every_demo_column_converts_as_cell_by_cell(demo_results):
    checked = 0
    for spec, res in demo_results:
        for tid, ts in spec.tables.items():
            df = res.tables[tid]
            for c in ts.columns:
                kind = columns.kind_of(c)
                want = [_excel_value(v, kind) for v in df[c].tolist()]
                got = excel_cells(df[c], kind)
                assert len(got) == len(want), (spec.name, tid, c)
                for g, w in zip(got, want):
                    same = (g == w and type(g) is type(w)) or (isinstance(g, float) and math.isnan(g) and math.isnan(w))
                    assert same, (spec.name, tid, c, kind, g, w)
                checked += len(want)
    assert checked > 40_000  # the demo's eight reports: ~50k cells


def _cells(path):
    wb = openpyxl.load_workbook(path)
    return {sn: ([[(c.value, c.number_format, c.hyperlink.target if c.hyperlink else None, bool(c.font.b))
                   for c in row] for row in wb[sn].iter_rows()], wb[sn].freeze_panes, wb[sn].auto_filter.ref)
            for sn in wb.sheetnames}


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_file_equals_the_cell_by_cell_writer_on_the_demo(demo_results, demo_dataset, demo_as_of, tmp_path,
                                                          monkeypatch, lang):
    """Old (per-cell ``_excel_value``) and new (column-wise) files of every demo report."""
    jobs = []
    for spec, res in demo_results:
        if lang != "ru":
            res = spec.run(demo_dataset, {"as_of": demo_as_of, "lang": lang})
        jobs.append(RenderJob(spec=spec, result=res, store=tmp_path / "x.duckdb", tmp=tmp_path,
                              generated_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC), dataset=demo_dataset))
    for job in jobs:
        write_xlsx(job, tmp_path / f"{job.spec.name}.new.xlsx")
    monkeypatch.setattr(excel, "excel_cells", lambda values, kind: [_excel_value(v, kind) for v in list(values)])
    for job in jobs:
        write_xlsx(job, tmp_path / f"{job.spec.name}.old.xlsx")
    for job in jobs:
        old, new = _cells(tmp_path / f"{job.spec.name}.old.xlsx"), _cells(tmp_path / f"{job.spec.name}.new.xlsx")
        assert list(old) == list(new), job.spec.name
        for sheet in old:
            assert new[sheet] == old[sheet], (job.spec.name, sheet)
    n_numbers = sum(1 for job in jobs for rows, _, _ in _cells(tmp_path / f"{job.spec.name}.new.xlsx").values()
                    for row in rows for v, fmt, _, _ in row if isinstance(v, float | int) and fmt != "General")
    assert n_numbers > 5_000  # the comparison covered formatted numbers, not only text
