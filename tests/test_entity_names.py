"""Readable names for key columns (b24reports.metrics.labels), Excel sheet names and the
display labels of i18n (enum values, parameter labels, warnings)."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd

from b24reports.core import texts

from b24reports.outputs import render

from b24reports import reports
from b24reports.ingest.dataset import Dataset
from b24reports.metrics.labels import lookup_name, name_maps, with_name_columns


def _ds() -> Dataset:
    return Dataset.from_frames(
        users=pd.DataFrame({"id": [3, 4], "name": ["Анна", None], "last_name": ["Иванова", None]}),
        departments=pd.DataFrame({"id": [1], "name": ["Продажи"]}),
        workgroups=pd.DataFrame({"id": [2], "name": ["Тендеры"]}),
        pipelines=pd.DataFrame({"id": [0, 2], "name": ["Общая", "Опт"]}),
        statuses=pd.DataFrame({
            "entity_id": ["DEAL_STAGE", "DEAL_STAGE_2", "STATUS", "SOURCE", "DEAL_TYPE"],
            "status_id": ["NEW", "C2:NEW", "NEW", "WEB", "SALE"],
            "name": ["Новая", "Новая заявка", "Необработан", "=HYPERLINK(\"http://x\",\"y\")", "Продажа"],
            "category_id": [0, 2, None, None, None]}),
    )


def test_name_maps_per_key_column():
    maps = name_maps(_ds())
    assert maps["employee_id"] == {3: "Иванова Анна", 4: "#4"}      # surname first; no name -> "#id" (common.user_names rule)
    assert maps["department_id"] == {1: "Продажи"} and maps["group_id"] == {2: "Тендеры"}
    assert maps["pipeline_id"] == {0: "Общая", 2: "Опт"}
    # deal stages of every pipeline in one map; lead statuses (STATUS) apart; DEAL_TYPE nowhere
    assert maps["stage_id"] == {"NEW": "Новая", "C2:NEW": "Новая заявка"}
    assert maps["status_id"] == {"NEW": "Необработан"}
    assert maps["source_id"] == {"WEB": '=HYPERLINK("http://x","y")'}
    assert lookup_name(maps, "employee_id", 3.0) == "Иванова Анна"
    assert lookup_name(maps, "employee_id", "3") == "Иванова Анна"
    assert lookup_name(maps, "employee_id", 99) is None and lookup_name(maps, "employee_id", None) is None
    assert lookup_name(maps, "amount", 3) is None


def test_with_name_columns_inserts_after_each_key_once():
    maps = name_maps(_ds())
    cols = ["id", "employee_id", "pipeline_id", "stage_id", "amount", "responsible_id"]
    assert with_name_columns(cols, maps) == [
        ("id", None), ("employee_id", None), ("employee_name", "employee_id"), ("pipeline_id", None),
        ("pipeline_name", "pipeline_id"), ("stage_id", None), ("stage_name", "stage_id"), ("amount", None),
        ("responsible_id", None)]  # employee_name already added: no duplicate column id
    assert with_name_columns(["employee_id"], {}) == [("employee_id", None)]  # no dataset: ids only


def test_excel_sheet_names_safe_unique_31():
    names = render.excel_sheet_names(["План/факт: [x]", "Итоги", "итоги", "Об отчёте", "", "Ж" * 40, "Ж" * 40],
                                     reserved=["Об отчёте"])
    assert names == ["План факт — x", "Итоги", "итоги (2)", "Об отчёте (2)", "Sheet5", "Ж" * 30 + "…", "Ж" * 26 + "… (2)"]
    assert all(len(n) <= 31 for n in names)
    # "Взвешенная воронка по месяцу закрытия" (37 chars): cut after the last whole word within 31
    assert render.excel_sheet_names(["Взвешенная воронка по месяцу закрытия"]) == ["Взвешенная воронка по месяцу"]


def test_xlsx_names_are_text_and_labels_localized(tmp_path):
    reports.discover()  # the report specs define the "basis" column header
    spec = reports.ReportSpec(
        name="xl_names", title={"ru": "Т", "en": "T"}, description={"ru": "", "en": ""}, notebook="none.ipynb",
        params=[], compute=lambda ds, p: None,
        tables={"t": reports.TableSpec(["source_id", "month", "basis", "amount"], {"ru": "Источники", "en": "Sources"}, "t")})
    ds = _ds()
    params = spec.parse_params({"lang": "ru", "as_of": "2026-11-30T12:00:00+03:00"})
    res = reports.ReportResult(report="xl_names", portal=ds.portal, params=params,
                               as_of=dt.datetime(2026, 11, 30, 12, tzinfo=dt.timezone(dt.timedelta(hours=3))),
                               tables={"t": pd.DataFrame({"source_id": ["WEB"], "month": ["overdue"], "basis": ["own"],
                                                          "amount": [5.0]})},
                               warnings=["deals with empty OPPORTUNITY counted as 0: 501"])
    job = render.RenderJob(spec, res, tmp_path, tmp_path, dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc), dataset=ds)
    path = tmp_path / "x.xlsx"
    render.write_xlsx(job, path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Источники", "Об отчёте"]
    ws = wb["Источники"]
    assert [c.value for c in ws[1]] == ["Источник (код)", "Источник", "Месяц", "Основа расчёта", "Сумма"]
    assert [c.value for c in ws[2]] == ["WEB", '=HYPERLINK("http://x","y")', "просрочено", "свои сделки", 5]
    assert ws.cell(row=2, column=2).data_type == "s"  # a CRM name is text, never a formula
    about = {r[0].value: r[1].value for r in wb["Об отчёте"].iter_rows(min_row=2)}
    assert about["Язык"] == "ru"
    assert about["Замечания к данным"] == "сумма не указана, посчитана как 0: 1 сделка (№ 501)"


def test_translate_warning_and_value_label():
    w = "demo_plan.csv line 11: employee 12 is dismissed (inactive); the row still counts"
    assert texts.translate_warning(w, "ru") == "demo_plan.csv, строка 11: сотрудник 12 уволен (неактивен); строка всё равно учтена"
    assert texts.translate_warning(w, "en") == w
    assert texts.translate_warning("something new", "ru") == "something new"
    assert texts.value_label("month", "overdue", "ru") == "просрочено"
    assert texts.value_label("month", "2026-11", "ru") is None
    assert texts.value_label("basis", "team", "en") == "team"
    assert texts.value_label("status", 5.0, "ru") == "завершена"
    # flags: each known item labelled, unknown kept; a list without known items is not touched
    assert texts.value_label("flags", ["won", "growing_backlog"], "ru") == "won, Растёт просрочка"
    assert texts.value_label("flags", ["won"], "ru") is None and texts.value_label("flags", [], "ru") is None
    assert texts.param_label("date_from", "ru") == "Период с" and texts.param_label("nope", "ru") == "nope"


def test_html_table_and_warnings_localized():
    from b24reports.views.common import table_html, warnings_html

    html = table_html(pd.DataFrame({"month": ["overdue", "2026-11"], "basis": ["team", "own"]}), ["month", "basis"], "ru")
    assert ">просрочено<" in html and ">ноя 2026<" in html and ">по команде<" in html and ">свои сделки<" in html
    assert ">overdue<" in table_html(pd.DataFrame({"month": ["overdue"]}), ["month"], "en")
    w = warnings_html(["leads with empty OPPORTUNITY counted as 0: 7, 9", "<b>new</b>"], "ru")
    assert "<li>сумма не указана, посчитана как 0: 2 лида (№ 7, № 9)</li>" in w
    assert "&lt;b&gt;new&lt;/b&gt;" in w  # unknown text unchanged, still escaped
    assert i18n_ru("deal 8: empty OPPORTUNITY (counted as 0)") == "сделка № 8: сумма не указана, посчитана как 0"


def i18n_ru(text: str) -> str:
    return texts.translate_warning(text, "ru")
