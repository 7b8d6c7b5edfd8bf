"""Plan files in the shapes users make in Excel (issue 6): merged title rows above the header,
decimal commas, text in numbers, rows of empty cells, BOM, semicolon/tab CSV, Windows-1251,
duplicates, unknown employees. Every bad row is reported with its line and left out; the
good rows still count; a file that is unusable as a whole raises ``PlanFileError`` naming it
(exit 2 from the CLI, nothing written). Cases already in test_metrics_plan.py are not repeated.
"""

from __future__ import annotations

import datetime as dt

import openpyxl
import pandas as pd
import pytest

import hardening_summary as hs
from b24reports import cli
from b24reports.core.errors import PlanFileError
from b24reports.ingest.plan_file import read_plan

USERS = pd.DataFrame({"id": pd.array([1, 2, 3], dtype="Int64"), "active": [True, True, False]})
DEPS = pd.DataFrame({"id": pd.array([10, 11], dtype="Int64")})


def _csv(tmp_path, text: str, name="plan.csv", encoding="utf-8") -> object:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    hs.bad_input()
    return p


def _xlsx(tmp_path, rows, merge: str | None = None, name="plan.xlsx"):
    p = tmp_path / name
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "plan"
    for r in rows:
        ws.append(r)
    if merge:
        ws.merge_cells(merge)
    wb.save(p)
    hs.bad_input()
    return p


def test_xlsx_merged_title_row_above_the_header(tmp_path):
    # what a user makes: a merged title A1:E1, an empty row, then the header on row 3
    p = _xlsx(tmp_path, [["План продаж на 2026 год"], [], ["Month", "Employee ID", "Department ID", "Amount", "Deals"],
                         ["2026-03", 1, None, 150000, 3], ["2026-03", None, 10, 500000.5, None]], merge="A1:E1")
    plan = read_plan(p, USERS, DEPS)
    # header found on sheet row 3; rows 4 and 5 are plan rows, no error
    assert plan.errors.empty
    assert plan.rows["line"].tolist() == [4, 5]
    assert plan.rows["amount"].tolist() == [150000.0, 500000.5]
    assert plan.rows["employee_id"].tolist()[0] == 1 and plan.rows["department_id"].tolist()[1] == 10


def test_csv_title_line_above_the_header(tmp_path):
    p = _csv(tmp_path, "План продаж;;;\nmonth;employee_id;amount;deals\n2026-03;2;1 000;1\n")
    plan = read_plan(p, USERS, DEPS)
    assert plan.errors.empty and plan.rows["line"].tolist() == [3] and plan.rows["amount"].tolist() == [1000.0]


def test_header_nowhere_is_a_file_error_naming_it(tmp_path):
    p = _csv(tmp_path, "Итого;;;\nпродажи;1;2\n", name="sales plan.csv")
    with pytest.raises(PlanFileError, match="sales plan.csv") as ei:
        read_plan(p)
    assert "month" in str(ei.value) and "amount" in str(ei.value)


def test_rows_of_empty_cells_are_skipped_not_errors(tmp_path):
    # Excel "Save as CSV" writes rows it once touched as ;;;; -- blank, not bad
    p = _csv(tmp_path, "month;employee_id;amount\n2026-03;1;100\n;;\n ; ; \n2026-04;1;200\n;;\n")
    plan = read_plan(p, USERS)
    assert plan.errors.empty
    assert plan.rows["line"].tolist() == [2, 5] and plan.rows["amount"].tolist() == [100.0, 200.0]


def test_comma_csv_with_quoted_decimal_comma_and_bom(tmp_path):
    p = _csv(tmp_path, '\ufeffmonth,employee_id,amount,deals\n2026-03,1,"1 250 000,75",4\n2026-03,2,"0,5",\n')
    plan = read_plan(p, USERS)
    assert plan.errors.empty and plan.rows["amount"].tolist() == [1250000.75, 0.5]
    assert plan.rows["deals"].tolist()[0] == 4 and pd.isna(plan.rows["deals"].tolist()[1])


def test_tab_separated_with_nbsp_thousands(tmp_path):
    p = _csv(tmp_path, "month\temployee_id\tamount\n2026-03\t1\t2\u00a0500\u00a0000\n")
    assert read_plan(p, USERS).rows["amount"].tolist() == [2500000.0]


def test_windows_1251_csv_from_russian_excel(tmp_path):
    # Russian Excel's "CSV (разделители — точка с запятой)" is Windows-1251, not UTF-8
    p = _csv(tmp_path, "# план отдела продаж\nmonth;employee_id;amount\n2026-03;1;100,5\n", encoding="cp1251")
    plan = read_plan(p, USERS)
    assert plan.errors.empty and plan.rows["amount"].tolist() == [100.5] and plan.rows["line"].tolist() == [3]


def test_text_in_numbers_and_other_bad_cells_are_line_numbered(tmp_path):
    p = _csv(tmp_path, "\n".join([
        "month;employee_id;department_id;amount;deals",
        "2026-03;1;;100 тыс;",        # 2: text in amount
        "2026-03;один;;100;",         # 3: text in employee_id
        "2026-03;2;;100;2,5",         # 4: deals not whole
        "март 2026;2;;100;",          # 5: month not YYYY-MM
        "2026-03;1;10;100;",          # 6: both ids
        "2026-03;;;100;",             # 7: neither id
        "2026-03;2;;-5;",             # 8: negative
        "2026-03;99;;100;",           # 9: unknown employee
        "2026-03;;77;100;",           # 10: unknown department
        "2026-03;2;;=1+1;",           # 11: a formula pasted as text
        "2026-03;2;;1e400;",          # 12: infinite
        "2026-04;2;;300;",            # 13: good
        "2026-04;2;;300;",            # 14: duplicate of 13
    ]) + "\n")
    plan = read_plan(p, USERS, DEPS)
    errs = dict(zip(plan.errors["line"], plan.errors["error"]))
    assert sorted(errs) == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14]
    assert "'100 тыс'" in errs[2] and "'один'" in errs[3] and "'2,5'" in errs[4] and "'март 2026'" in errs[5]
    assert "exactly one" in errs[6] and "exactly one" in errs[7] and "negative" in errs[8]
    assert "99" in errs[9] and "77" in errs[10] and "'=1+1'" in errs[11] and "duplicate of line 13" in errs[14]
    assert plan.rows["line"].tolist() == [13] and plan.rows["amount"].tolist() == [300.0]


def test_xlsx_text_cells_and_excel_floats(tmp_path):
    # Excel stores ids as floats (1.0), amounts typed as text with a decimal comma, a date cell as month
    p = _xlsx(tmp_path, [["month", "employee_id", "amount"], [dt.datetime(2026, 3, 1), 1.0, "12 345,6"],
                         ["2026-03", 2.5, 10], ["2026-04", 2, "n/a"], [None, None, None], ["2026-04", 3, 0]])
    plan = read_plan(p, USERS)
    assert plan.rows["line"].tolist() == [2, 6] and plan.rows["amount"].tolist() == [12345.6, 0.0]
    assert plan.errors["line"].tolist() == [3, 4]  # 2.5 is not an employee id; "n/a" is not a number
    assert any("line 6" in n and "dismissed" in n for n in plan.notes)


@pytest.mark.parametrize("content, needle", [
    (b"\x00\x01PK\x03garbage", "not a readable .xlsx"),
    (b"", "not a readable .xlsx"),
])
def test_unreadable_xlsx_is_a_file_error(tmp_path, content, needle):
    p = tmp_path / "plan.xlsx"
    p.write_bytes(content)
    hs.bad_input()
    with pytest.raises(PlanFileError, match=needle):
        read_plan(p)


def test_cli_unusable_plan_exit_2_nothing_written(demo_store, demo_as_of, tmp_path, capsys):
    bad = _csv(tmp_path, "who;what\n1;2\n", name="my plan.csv")
    out = tmp_path / "out"
    code = cli.run(["render", "plan", "--store", str(demo_store), "--plan", str(bad), "--as-of", demo_as_of,
                    "--formats", "json", "--out", str(out), "--no-progress"])
    o, err = capsys.readouterr()
    assert code == 2 and "my plan.csv" in err and "month" in err and "Traceback" not in err
    assert o == "" and not [p for p in out.rglob("*") if p.is_file()]
