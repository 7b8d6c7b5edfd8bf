"""Plan files as Russian Excel saves them load (`;`, decimal commas, Windows-1251 or UTF-8 with a
BOM, CRLF); any other format is refused with an error that says how to save the file (issue 20)."""

from __future__ import annotations

import pandas as pd
import pytest
from b24reports.core.errors import PlanFileError
from b24reports.ingest.plan_file import read_plan

USERS = pd.DataFrame({"id": pd.array([1, 2], dtype="Int64"), "active": [True, True]})
DEPS = pd.DataFrame({"id": pd.array([10], dtype="Int64")})
TEXT = "month;employee_id;department_id;amount;deals\r\n2026-12;1;;1 250 000,50;3\r\n2026-12;;10;2500000;\r\n"


@pytest.mark.parametrize("encoding,prefix", [("cp1251", "# План продаж на декабрь\r\n"), ("utf-8-sig", "")])
def test_russian_excel_csv_loads(tmp_path, encoding, prefix):
    p = tmp_path / "plan.csv"
    p.write_bytes((prefix + TEXT).encode(encoding))
    plan = read_plan(p, USERS, DEPS)
    assert plan.errors.empty
    assert plan.rows["amount"].tolist() == [1250000.5, 2500000.0]
    assert plan.rows["employee_id"].tolist()[0] == 1 and plan.rows["department_id"].tolist()[1] == 10
    assert plan.rows["deals"].tolist()[0] == 3


@pytest.mark.parametrize("name,data,what", [
    ("plan.csv", ("\ufeff" + TEXT).encode("utf-16-le"), "UTF-16"),
    ("plan.txt", TEXT.replace(";", "\t").encode("utf-16-be"), "NUL bytes"),
    ("plan.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), ".xls"),
    ("plan.ods", b"PK\x03\x04" + bytes(200), "zipped document"),
    ("plan.pdf", b"%PDF-1.7\n" + bytes(10), "PDF"),
])
def test_other_formats_say_how_to_save_the_file(tmp_path, name, data, what):
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(PlanFileError) as ei:
        read_plan(p, USERS, DEPS)
    msg = str(ei.value)
    assert name in msg and what in msg
    assert "Save As" in msg and "CSV UTF-8" in msg and "точка с запятой" in msg and ".xlsx" in msg


def test_a_header_without_plan_columns_says_how_to_save(tmp_path):
    p = tmp_path / "plan.csv"
    p.write_bytes("Месяц;Сотрудник;Сумма\r\n2026-12;1;100\r\n".encode("cp1251"))
    with pytest.raises(PlanFileError, match="header lacks month, amount.*Save As"):
        read_plan(p, USERS, DEPS)


def test_plan_errors_in_report_language():
    from b24reports.core.texts import (
        translate_plan_error,
        translate_warning,
        value_label,
    )

    assert translate_warning("plan.csv line 4: amount 'abc' is not a number", "ru") == "plan.csv, строка 4: amount 'abc' — не число"
    assert translate_warning("plan.csv line 7: duplicate of line 3 (2026-11, employee_id 5)", "ru") == \
        "plan.csv, строка 7: повтор строки 3 (2026-11, employee_id 5)"
    assert translate_warning("plan.csv line 4: amount 'abc' is not a number", "en") == "plan.csv line 4: amount 'abc' is not a number"
    assert translate_plan_error("month '2026-13' is not YYYY-MM", "ru") == "месяц '2026-13' не в формате ГГГГ-ММ"
    assert value_label("error", "unknown department_id 9", "ru") == "department_id 9 нет в портале"
    assert value_label("error", "unknown department_id 9", "en") is None  # English shown as is


def test_plan_file_errors_in_tables_match_the_reader(tmp_path):
    """Every bad-row error read_plan writes has a Russian text (none stays English)."""
    from b24reports.core.texts import translate_plan_error
    from b24reports.ingest.plan_file import read_plan

    f = tmp_path / "plan.csv"
    f.write_text("month,employee_id,department_id,amount,deals\n"
                 ",1,,5,\n2026-13,1,,5,\n2026-11,,,5,\n2026-11,x,,5,\n2026-11,,y,5,\n2026-11,1,,,\n"
                 "2026-11,1,,abc,\n2026-11,1,,-5,\n2026-11,1,,5,1.5\n2026-11,1,,5,-1\n2026-11,1,,5,\n2026-11,1,,6,\n",
                 encoding="utf-8")
    plan = read_plan(f)
    errs = plan.errors["error"].tolist()
    assert len(errs) == 11  # every line but the first good 2026-11 employee 1 row (line 12)
    assert [e for e in errs if translate_plan_error(e, "ru") == e] == []
