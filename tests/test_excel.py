"""The Excel file of a report run (outputs.excel): sheet names, names beside ids, the team row."""

from __future__ import annotations

import datetime as dt
import types

import pandas as pd
from b24reports import reports
from b24reports.core.texts import TEAM_LABEL
from b24reports.outputs import excel, render


def test_sheet_names_cut_after_a_whole_word_without_dangling_words():
    from b24reports.outputs.render import excel_sheet_names

    # "Накопление открытых и просроченных" is 34 chars: the words within 31 end with "и" -> dropped
    assert excel_sheet_names(["Накопление открытых и просроченных"]) == ["Накопление открытых"]
    # 41 chars; "Weighted pipeline by expected" (29) is the longest whole-word prefix, no dangling word
    assert excel_sheet_names(["Weighted pipeline by expected close month"]) == ["Weighted pipeline by expected"]
    assert excel_sheet_names(["Что если: итого", "What if: by source"]) == ["Что если — итого", "What if — by source"]
    # two titles that cut to the same name stay unique, the suffix within 31 chars, still whole words
    names = excel_sheet_names(["Накопление открытых и просроченных", "Накопление открытых и просроченных задач"])
    assert names == ["Накопление открытых", "Накопление открытых (2)"] and all(len(n) <= 31 for n in names)


def test_every_report_sheet_name_is_whole_words():
    from b24reports import reports
    from b24reports.outputs.excel import _DANGLING
    from b24reports.outputs.render import xlsx_sheet_names

    reports.discover()
    for spec in reports.all_reports():
        for lang in ("ru", "en"):
            names = list(xlsx_sheet_names(spec, lang).values())
            assert len({n.lower() for n in names}) == len(names)
            for n, ts in zip(names, spec.tables.values()):
                title = (ts.title.get(lang) or ts.sheet_name).replace(": ", " — ")
                assert len(n) <= 31 and n.split()[-1].lower() not in _DANGLING
                assert (title + " ").startswith(n + " ") or n == title, (n, title)  # a whole-word prefix


def test_excel_names_are_the_html_labels(tmp_path):
    import openpyxl
    import pandas as pd
    from b24reports import reports
    from b24reports.ingest.dataset import Dataset
    from b24reports.outputs import nb, render
    from b24reports.views.common import table_html

    ds = Dataset.from_frames(
        users=pd.DataFrame({"id": [3, 4], "name": ["Анна", None], "last_name": ["Иванова", None]}),
        departments=pd.DataFrame({"id": [1], "name": ["Продажи"]}))
    spec = reports.ReportSpec(
        name="xl_order", title={"ru": "Т", "en": "T"}, description={"ru": "", "en": ""}, notebook="none.ipynb",
        params=[], compute=lambda ds, p: None,
        tables={"t": reports.TableSpec(["employee_id", "responsible_id", "amount"], {"ru": "Люди", "en": "People"}, "t")})
    params = spec.parse_params({"lang": "ru", "as_of": "2026-11-30T12:00:00+03:00"})
    df = pd.DataFrame({"employee_id": [3, 4], "responsible_id": [4, 3], "amount": [1.0, 2.0]})
    res = reports.ReportResult(report="xl_order", portal="", params=params, as_of=dt.datetime(2026, 11, 30, 12),
                               tables={"t": df}, warnings=[])
    job = render.RenderJob(spec, res, tmp_path, tmp_path, dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc), dataset=ds)
    render.write_xlsx(job, tmp_path / "x.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "x.xlsx")["Люди"]
    # users: 3 = Анна Иванова -> "Иванова Анна" (surname first, as the HTML tables); 4 has no name -> "#4"
    assert [c.value for c in ws[1]][:2] == ["Сотрудник (ID)", "Сотрудник"]
    assert [ws.cell(row=r, column=2).value for r in (2, 3)] == ["Иванова Анна", "#4"]
    labels = nb.ReportView(res, ds).labels
    assert labels["employee_id"] == {3: "Иванова Анна", 4: "#4"}
    assert ">Иванова Анна<" in table_html(df, ["employee_id"], "ru", labels=labels)
    assert render.excel_name_maps(job)["responsible_id"] == labels["employee_id"]


def _mtd() -> pd.DataFrame:
    return pd.DataFrame({"employee_id": pd.array([None, 3], dtype="Int64"), "month": ["2026-11", "2026-11"],
                         "mtd_amount": [100.0, 40.0], "prev_mtd_amount": [80.0, 50.0], "mtd_deals": [3, 1],
                         "prev_mtd_deals": [2, 2], "change_pct": [25.0, -20.0]})


def test_excel_names_the_team_row_like_html(tmp_path, monkeypatch):
    spec = reports.get("plan")
    tables = {tid: pd.DataFrame({c: [] for c in ts.columns}) for tid, ts in spec.tables.items()}
    tables["mtd_compare"] = _mtd()
    result = types.SimpleNamespace(spec=spec, report="plan", tables=tables, params={"lang": "ru"}, portal="p",
                                   as_of=dt.datetime(2026, 11, 30), warnings=[])
    result.params = types.SimpleNamespace(to_json=lambda: {"lang": "ru"})
    job = render.RenderJob(spec, result, tmp_path / "s.duckdb", tmp_path, dt.datetime(2026, 11, 30))
    monkeypatch.setattr(type(job), "lang", property(lambda self: "ru"))
    monkeypatch.setattr(excel, "excel_name_maps", lambda job: {"employee_id": {3: "Козлов Дмитрий"}})
    render.write_xlsx(job, tmp_path / "r.xlsx")
    import openpyxl

    ws = openpyxl.load_workbook(tmp_path / "r.xlsx")[render.xlsx_sheet_names(spec, "ru")["mtd_compare"]]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:2] == ("Сотрудник (ID)", "Сотрудник")
    assert rows[1][:2] == (None, TEAM_LABEL["ru"]) and rows[2][:2] == (3, "Козлов Дмитрий")


def test_a_labelled_bool_is_its_label_not_true(tmp_path, demo_dataset, demo_as_of):
    """The forgotten lists' «Следующий шаг» says «нет открытых дел» in Excel as on the page (it
    was TRUE, the opposite of what the header reads)."""
    import openpyxl

    from b24reports import reports
    from b24reports.outputs.excel import write_result_xlsx

    res = reports.get("forgotten").run(demo_dataset, {"as_of": demo_as_of})
    write_result_xlsx(res, tmp_path / "f.xlsx", dataset=demo_dataset)
    ws = openpyxl.load_workbook(tmp_path / "f.xlsx").worksheets[0]
    head = [c.value for c in ws[1]]
    col = head.index("Следующий шаг (открытое дело, срок может быть уже прошёл)")
    shown = [r[col].value for r in ws.iter_rows(min_row=2)]
    want = ["нет открытых дел" if x else "есть открытое дело" for x in res.tables["deals"]["no_next_step"]]
    assert shown == want and "нет открытых дел" in shown


def test_excel_shows_what_the_page_shows(tmp_path, demo_dataset, demo_as_of):
    """Headers of a table that words its columns its own way (managers' month rows: «за месяц») and
    a table's display (plan: a month not started shows blanks, not 0 %) are the page's in Excel too."""
    import openpyxl

    from b24reports import reports
    from b24reports.demo.plan import demo_plan
    from b24reports.outputs.excel import write_result_xlsx

    res = reports.get("managers").run(demo_dataset, {"as_of": demo_as_of})
    write_result_xlsx(res, tmp_path / "m.xlsx", dataset=demo_dataset)
    wb = openpyxl.load_workbook(tmp_path / "m.xlsx")
    month_sheet = wb[[n for n in wb.sheetnames if n.startswith("Динамика")][0]]
    heads = [c.value for c in month_sheet[1]]
    assert any("за месяц" in h for h in heads) and not any("за период" in h for h in heads)

    plan = demo_plan(demo_dataset, demo_as_of, tmp_path / "plan.csv")
    res = reports.get("plan").run(demo_dataset, {"as_of": demo_as_of, "plan": str(plan)})
    write_result_xlsx(res, tmp_path / "p.xlsx", dataset=demo_dataset)
    ws = openpyxl.load_workbook(tmp_path / "p.xlsx").worksheets[0]
    heads = [c.value for c in ws[1]]
    month, done = heads.index("Месяц"), heads.index("Выполнение, %")
    rows = [(r[month].value, r[done].value) for r in ws.iter_rows(min_row=2)]
    nxt = max(m for m, _ in rows)  # the demo plan's second month has not started on as_of
    assert nxt > demo_as_of[:7]
    assert all(v is None for m, v in rows if m == nxt) and any(v is not None for m, v in rows if m != nxt)


def test_about_sheet_and_yes_no_are_written_in_the_files_language(demo_store, demo_dataset, demo_as_of, tmp_path):
    # an eighth fresh reader: «Шаг периода: month», «Сравнить с: week», a row «stages», an empty
    # «Веса активности» and True/False in Russian files
    import openpyxl

    from b24reports.outputs import render

    files = render.render_report("forgotten", demo_store, {"as_of": demo_as_of}, tmp_path, formats="xlsx",
                                 dataset=demo_dataset)
    wb = openpyxl.load_workbook(files["xlsx"])
    about = dict(wb["Об отчёте"].iter_rows(min_row=2, max_col=2, values_only=True))
    assert about["Момент отчёта"] == "30.11.2026 12:00" and about["Сотрудники (ID)"] == "все"
    assert about["Порог по стадиям, дн."] == "нет"
    deals = wb.worksheets[0]
    head = [c.value for c in deals[1]]
    col = head.index("Забыта")
    values = {r[col] for r in deals.iter_rows(min_row=2, values_only=True)}
    assert values <= {"да", "нет"} and "да" in values
    from b24reports.core.texts import param_value_text

    assert param_value_text("granularity", "month", "ru") == "месяц"
    assert param_value_text("compare_to", "week", "ru") == "неделя назад"
    assert param_value_text("utm_group", ["utm_source", "utm_medium"], "en") == "source, medium"
    assert param_value_text("activity_weights", None, "ru").startswith("по умолчанию (звонок 1, встреча 5")
