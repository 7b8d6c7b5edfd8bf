"""The Excel plan template users fill in (``scripts/make_plan_template.py``): the columns
:func:`b24reports.ingest.plan_file.read_plan` reads, with input validation, help in ru and en,
and the portal's employees and departments with their ids.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from b24reports.ingest.plan_file import PLAN_COLUMNS
from b24reports.metrics.common import user_names


def write_plan_template(path: str | Path, users: pd.DataFrame | None = None, departments: pd.DataFrame | None = None,
                        months: list[str] | None = None) -> Path:
    """Write the Excel plan template users fill in (xlsxwriter).

    Sheet ``plan``: the header of :data:`PLAN_COLUMNS`, input validation (month as text
    ``YYYY-MM``, whole-number ids, amount ≥ 0, deals whole ≥ 0), example rows for ``months``
    (default none) × active ``users`` when given. Sheet ``help``: what each column means (ru
    and en). Sheets ``employees``/``departments`` list ids and names when the tables are
    given. Returns the path.
    """
    import xlsxwriter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path))
    wb.set_properties({"title": "b24reports plan", "created": dt.datetime(2026, 1, 1)})  # repeatable bytes
    try:
        head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        text = wb.add_format({"num_format": "@"})
        money = wb.add_format({"num_format": "#,##0.00"})
        whole = wb.add_format({"num_format": "0"})
        ws = wb.add_worksheet("plan")
        for i, c in enumerate(PLAN_COLUMNS):
            ws.write_string(0, i, c, head)
        ws.set_column(0, 0, 12, text)
        ws.set_column(1, 2, 15, whole)
        ws.set_column(3, 3, 16, money)
        ws.set_column(4, 4, 10, whole)
        last = 1000
        ws.data_validation(1, 0, last, 0, {"validate": "length", "criteria": "==", "value": 7,
                                           "input_title": "month", "input_message": "YYYY-MM, e.g. 2026-12",
                                           "error_message": "Month as YYYY-MM / Месяц в формате ГГГГ-ММ"})
        for col, name in ((1, "employee_id"), (2, "department_id")):
            ws.data_validation(1, col, last, col, {"validate": "integer", "criteria": ">", "value": 0,
                                                   "input_title": name,
                                                   "input_message": "Bitrix24 id; fill employee_id OR department_id"})
        ws.data_validation(1, 3, last, 3, {"validate": "decimal", "criteria": ">=", "value": 0,
                                           "input_title": "amount", "input_message": "plan, report currency, ≥ 0"})
        ws.data_validation(1, 4, last, 4, {"validate": "integer", "criteria": ">=", "value": 0,
                                           "input_title": "deals", "input_message": "optional: won deals planned"})
        ws.freeze_panes(1, 0)
        r = 1
        if users is not None and months:
            act = users[users["active"].fillna(True).astype(bool)].sort_values("id")
            for m in months:
                for uid in act["id"]:
                    ws.write_string(r, 0, m, text)
                    ws.write_number(r, 1, int(uid), whole)
                    ws.write_number(r, 3, 0, money)
                    r += 1

        hp = wb.add_worksheet("help")
        hp.set_column(0, 0, 16)
        hp.set_column(1, 2, 70)
        hp.write_row(0, 0, ["column", "ru", "en"], head)
        helps = [
            ("month", "Месяц плана в формате ГГГГ-ММ (текст), например 2026-12",
             "Plan month as YYYY-MM (text), e.g. 2026-12"),
            ("employee_id", "ID сотрудника Bitrix24 (ASSIGNED_BY_ID); заполните его ИЛИ department_id",
             "Bitrix24 user id (ASSIGNED_BY_ID); fill it OR department_id"),
            ("department_id", "ID отдела (вместе с подотделами); заполните его ИЛИ employee_id",
             "Department id (sub-departments included); fill it OR employee_id"),
            ("amount", "План продаж в валюте отчёта, ≥ 0", "Sales plan in the report currency, ≥ 0"),
            ("deals", "Необязательно: план по числу выигранных сделок", "Optional: planned number of won deals"),
            ("", "Ошибочная строка попадёт в предупреждения отчёта с номером строки; остальные строки учитываются.",
             "A bad row is listed in the report's warnings with its row number; the other rows still count."),
        ]
        for i, row in enumerate(helps, start=1):
            hp.write_row(i, 0, row)
        if users is not None:
            us = wb.add_worksheet("employees")
            us.write_row(0, 0, ["employee_id", "name", "active"], head)
            names = user_names(users)  # surname first, as in the reports
            for i, (uid, a) in enumerate(zip(users["id"], users["active"]), start=1):
                us.write_row(i, 0, [int(uid), names[int(uid)], "yes" if (pd.isna(a) or bool(a)) else "no"])
            us.set_column(1, 1, 30)
        if departments is not None:
            dp = wb.add_worksheet("departments")
            dp.write_row(0, 0, ["department_id", "name"], head)
            for i, (did, n) in enumerate(zip(departments["id"], departments["name"]), start=1):
                dp.write_row(i, 0, [int(did), str(n) if isinstance(n, str) else ""])
            dp.set_column(1, 1, 40)
    finally:
        wb.close()
    return path
