"""Sales plan input: read ``params/plan.csv`` (or an .xlsx with the same columns), check every
row, and write the Excel template users fill in.

Source: METRICS.md "plan" (plan input, bad rows). Columns (header row, any order, case- and
space-insensitive): ``month`` (``YYYY-MM``), ``employee_id`` *or* ``department_id`` (exactly
one per row), ``amount`` (plan in the report currency, ≥ 0), optional ``deals`` (planned won
deals, integer ≥ 0).

Rules:

* **Line numbers** are the file's physical lines (CSV) or sheet rows (xlsx); the header is
  line 1 when it is the first line. CSV lines starting with ``#`` and blank lines are
  comments and skipped (they still count for line numbers).
* A **bad row** (bad month, text in a number, negative amount, neither or both of
  employee_id/department_id, unknown employee or department, a duplicate of an earlier
  month × employee/department) is reported as ``(line, error)`` and left out; the other rows
  still count. A row of a dismissed (inactive) employee counts and gets a note.
* CSV: delimiter ``,``, ``;`` or tab (sniffed from the header line), UTF-8 (BOM allowed) or,
  when not valid UTF-8, Windows-1251 (Russian Excel's "CSV"); numbers may use
  spaces/non-breaking spaces as thousands separators and a decimal comma. Rows whose cells are
  all empty (Excel writes ``;;;``) are skipped like blank lines.
* The header is the first row (of the first 10 non-blank ones) that has ``month`` and
  ``amount``: title rows above it (a merged "План продаж" cell) are skipped.
* A missing, empty or unreadable plan file, or one without the required columns, raises
  :class:`b24reports.core.errors.PlanFileError` naming the file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from b24reports.core.errors import PlanFileError

#: Columns of a plan file, in template order.
PLAN_COLUMNS = ("month", "employee_id", "department_id", "amount", "deals")
_REQUIRED = ("month", "amount")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass
class Plan:
    """A parsed plan file.

    ``rows``: DataFrame with columns ``line`` (int), ``month`` (``YYYY-MM``), ``employee_id``
    (Int64, <NA> on department rows), ``department_id`` (Int64), ``amount`` (float, report
    currency), ``deals`` (Int64, <NA> when not given). ``errors``: DataFrame ``line``,
    ``error`` (bad rows, left out of ``rows``). ``notes``: plain-text remarks (e.g. a row for a
    dismissed employee). ``source``: the file's name (never its full content).
    """

    rows: pd.DataFrame
    errors: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    source: str = ""

    def warnings(self) -> list[str]:
        """One warning per bad row (``plan.csv line 4: …``), then the notes."""
        return [f"{self.source} line {int(l)}: {e}" for l, e in zip(self.errors["line"], self.errors["error"])] + list(self.notes)


def _norm_header(h: object) -> str:
    return re.sub(r"\s+", "_", str(h if h is not None else "").strip().lower().lstrip("\ufeff"))


def _is_blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _number(v: object) -> float:
    """A cell → float; text like ``1 500 000,50`` accepted; else ``ValueError``."""
    if isinstance(v, bool):
        raise ValueError(v)
    if isinstance(v, int | float):
        f = float(v)
    else:
        s = str(v).strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if s.count(",") == 1 and "." not in s:
            s = s.replace(",", ".")
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", s):
            raise ValueError(v)
        f = float(s)
    if not math.isfinite(f):
        raise ValueError(v)
    return f


def _integer(v: object) -> int:
    f = _number(v)
    if not f.is_integer():
        raise ValueError(v)
    return int(f)


def _month(v: object) -> str:
    if hasattr(v, "strftime") and not isinstance(v, str):  # an Excel date cell
        return v.strftime("%Y-%m")
    s = str(v).strip()
    m = _MONTH_RE.fullmatch(s)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(v)
    return s


#: How to save a plan file so that it loads (the end of every "wrong format" error).
HOW_TO_SAVE = ("in Excel use File → Save As and choose «CSV (разделители — точка с запятой)» / "
               "«CSV UTF-8 (разделитель — запятая)» or «Книга Excel (*.xlsx)»")

#: Leading bytes of file formats that are not a plan CSV: (signature, what the file is).
_FOREIGN_FORMATS = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel 97–2003 workbook (.xls)"),
    (b"PK\x03\x04", "a zipped document (.xlsx, .ods or Numbers) with a .csv-like name"),
    (b"\xff\xfe", "Unicode text (UTF-16)"),
    (b"\xfe\xff", "Unicode text (UTF-16)"),
    (b"%PDF", "a PDF"),
)


def _check_csv_format(path: Path, data: bytes) -> None:
    """Raise :class:`PlanFileError` saying how to save the file when ``data`` is not CSV text
    (UTF-8 with or without BOM, or Windows-1251): an .xls/.ods/zip, UTF-16 text, a PDF, or
    binary (NUL bytes)."""
    what = next((w for sig, w in _FOREIGN_FORMATS if data.startswith(sig)), None)
    if what is None and b"\x00" in data[:4096]:
        what = "not text (it has NUL bytes; UTF-16 or a binary file)"
    if what is not None:
        raise PlanFileError(f"plan file {path.name!r} is {what}, not a CSV or .xlsx plan: {HOW_TO_SAVE}")


def _read_csv_lines(path: Path) -> list[tuple[int, list[str]]]:
    data = path.read_bytes()
    _check_csv_format(path, data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1251")  # Russian Excel saves "CSV" in Windows-1251
        except UnicodeDecodeError as exc:
            raise PlanFileError(f"plan file {path.name!r} is neither UTF-8 nor Windows-1251 text: {HOW_TO_SAVE}") from exc
    lines = text.splitlines()
    content = [l for l in lines if l.strip() and not l.lstrip().startswith("#")]
    if not content:
        return []
    # the delimiter: the one of , ; tab found most on the header line (or, with title lines
    # above it, on the first content line that has any)
    header_line = next((l for l in content if "month" in l.lower() and "amount" in l.lower()), content[0])
    delim = max([",", ";", "\t"], key=lambda d: header_line.count(d))
    out = []
    for no, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = next(csv.reader(io.StringIO(line), delimiter=delim))
        if all(_is_blank(c) for c in cells):
            continue
        out.append((no, cells))
    return out


def _read_xlsx_lines(path: Path) -> list[tuple[int, list[object]]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # not a zip, corrupt, ... (openpyxl's own text would not help the user)
        raise PlanFileError(f"plan file {path.name!r} is not a readable .xlsx workbook: open it in Excel and save it "
                            "again as .xlsx (or as CSV UTF-8)") from exc
    try:
        ws = wb["plan"] if "plan" in wb.sheetnames else wb.worksheets[0]
        out = []
        for no, row in enumerate(ws.iter_rows(values_only=True), start=1):
            vals = list(row)
            if all(_is_blank(v) for v in vals):
                continue
            if isinstance(vals[0], str) and vals[0].lstrip().startswith("#"):
                continue
            out.append((no, vals))
        return out
    finally:
        wb.close()


#: The plan file used when none is given (relative: the working directory, else the project).
DEFAULT_PLAN = "params/plan.csv"


def plan_path(given: str | Path | None) -> Path:
    """The plan file to read: ``given``, else :data:`DEFAULT_PLAN`. A relative path that does not
    exist in the working directory is looked up in the project directory (the parent of
    ``notebooks/``), so the default works wherever the notebook runs (Voila starts kernels in
    ``notebooks/``, the CLI in the project)."""
    path = Path(given or DEFAULT_PLAN)
    if not path.is_absolute() and not path.exists():
        from b24reports.core.paths import NOTEBOOKS_DIR

        alt = Path(NOTEBOOKS_DIR).parent / path
        if alt.exists():
            return alt
    return path


def read_plan(path: str | Path, users: pd.DataFrame | None = None, departments: pd.DataFrame | None = None) -> Plan:
    """Read and check a plan file (.csv, or .xlsx/.xlsm with the same columns).

    ``users`` / ``departments``: the store tables (``id``, ``active``; ``id``) used to reject
    unknown employees/departments and note dismissed employees; ``None`` skips that check.
    Returns a :class:`Plan`. Raises :class:`PlanFileError` when the file is missing, empty,
    unreadable, or lacks the ``month``/``amount`` columns or both id columns.
    """
    path = Path(path)
    if not path.exists():
        raise PlanFileError(f"plan file {str(path)!r} does not exist: give --plan PATH (or --param plan=PATH); "
                            "b24reports ships a commented example params/plan.csv and a template params/plan_template.xlsx")
    if path.is_dir():
        raise PlanFileError(f"plan file {str(path)!r} is a directory")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        lines = _read_xlsx_lines(path)
    else:
        lines = _read_csv_lines(path)
    if not lines:
        raise PlanFileError(f"plan file {path.name!r} is empty: it needs a header ({', '.join(PLAN_COLUMNS)}) and rows")
    # the header: the first of the first 10 rows that has month and amount (title rows above it are skipped)
    at = next((i for i, (_, vals) in enumerate(lines[:10]) if set(_REQUIRED) <= {_norm_header(h) for h in vals}), 0)
    lines = lines[at:]
    header_no, header = lines[0]
    cols = [_norm_header(h) for h in header]
    missing = [c for c in _REQUIRED if c not in cols]
    if missing or ("employee_id" not in cols and "department_id" not in cols):
        need = missing + ([] if ("employee_id" in cols or "department_id" in cols) else ["employee_id or department_id"])
        raise PlanFileError(f"plan file {path.name!r} line {header_no}: header lacks {', '.join(need)} "
                            f"(columns: {', '.join(PLAN_COLUMNS)}; {HOW_TO_SAVE})")
    pos = {c: cols.index(c) for c in PLAN_COLUMNS if c in cols}
    if len(lines) == 1:
        raise PlanFileError(f"plan file {path.name!r} has a header but no plan rows")

    known_users = active = known_deps = None
    if users is not None:
        known_users = {int(i) for i in users["id"].dropna()}
        active = {int(i): bool(a) if not pd.isna(a) else True for i, a in zip(users["id"], users["active"]) if not pd.isna(i)}
    if departments is not None:
        known_deps = {int(i) for i in departments["id"].dropna()}

    rows, errors, notes, seen = [], [], [], {}
    for no, vals in lines[1:]:
        def cell(c):
            i = pos.get(c)
            return vals[i] if i is not None and i < len(vals) else None

        try:
            month_v = cell("month")
            if _is_blank(month_v):
                raise _Bad("month is empty (expected YYYY-MM)")
            try:
                month = _month(month_v)
            except ValueError:
                raise _Bad(f"month {month_v!r} is not YYYY-MM") from None
            emp_v, dep_v = cell("employee_id"), cell("department_id")
            if _is_blank(emp_v) == _is_blank(dep_v):
                raise _Bad("give exactly one of employee_id and department_id")
            emp = dep = None
            if not _is_blank(emp_v):
                try:
                    emp = _integer(emp_v)
                except ValueError:
                    raise _Bad(f"employee_id {emp_v!r} is not a number") from None
                if known_users is not None and emp not in known_users:
                    raise _Bad(f"unknown employee_id {emp}")
            else:
                try:
                    dep = _integer(dep_v)
                except ValueError:
                    raise _Bad(f"department_id {dep_v!r} is not a number") from None
                if known_deps is not None and dep not in known_deps:
                    raise _Bad(f"unknown department_id {dep}")
            amt_v = cell("amount")
            if _is_blank(amt_v):
                raise _Bad("amount is empty")
            try:
                amount = _number(amt_v)
            except ValueError:
                raise _Bad(f"amount {amt_v!r} is not a number") from None
            if amount < 0:
                raise _Bad(f"amount {amt_v!r} is negative")
            deals_v, deals = cell("deals"), None
            if not _is_blank(deals_v):
                try:
                    deals = _integer(deals_v)
                except ValueError:
                    raise _Bad(f"deals {deals_v!r} is not a whole number") from None
                if deals < 0:
                    raise _Bad(f"deals {deals_v!r} is negative")
            key = (month, "employee" if emp is not None else "department", emp if emp is not None else dep)
            if key in seen:
                raise _Bad(f"duplicate of line {seen[key]} ({month}, {key[1]}_id {key[2]})")
            seen[key] = no
        except _Bad as bad:
            errors.append({"line": no, "error": str(bad)})
            continue
        if emp is not None and active is not None and not active.get(emp, True):
            notes.append(f"{path.name} line {no}: employee {emp} is dismissed (inactive); the row still counts")
        rows.append({"line": no, "month": month, "employee_id": emp, "department_id": dep, "amount": amount, "deals": deals})

    frame = pd.DataFrame(rows, columns=["line", "month", "employee_id", "department_id", "amount", "deals"])
    for c in ("employee_id", "department_id", "deals"):
        frame[c] = frame[c].astype("Int64")
    frame["line"] = frame["line"].astype(int)
    frame["amount"] = frame["amount"].astype("float64")
    return Plan(rows=frame, errors=pd.DataFrame(errors, columns=["line", "error"]), notes=notes, source=path.name)


class _Bad(Exception):
    """A bad plan row (internal)."""


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
            from b24reports.metrics.common import user_names

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


def demo_plan(ds, as_of, path: str | Path, uplift: float = 1.1, lookback_months: int = 6, round_to: int = 10_000) -> Path:
    """Write a plausible plan CSV for a portal (the demo uses it: ``b24reports demo``).

    For as_of's month and the next one: one row per employee with won deals in the last
    ``lookback_months`` (dismissed employees only in as_of's month), ``amount`` = ``uplift`` ×
    their average monthly won amount (rounded to ``round_to``), ``deals`` = ceil(uplift × average
    monthly won deals); plus one row for the department most of them belong to (the sum of
    its members' rows). ``ds`` is a :class:`b24reports.ingest.dataset.Dataset`, ``as_of`` a timestamp.
    Returns the path.
    """
    from b24reports.metrics.common import deal_facts, in_lookback, to_timestamp, user_department

    as_of = to_timestamp(as_of, ds.timezone)
    facts, _ = deal_facts(ds, as_of)
    won = facts[(facts["outcome"] == "won") & in_lookback(facts["won_at"], as_of, lookback_months)]
    by = won.groupby("employee_id").agg(amount=("amount", "sum"), deals=("id", "size"))
    active = {int(i): (bool(a) if not pd.isna(a) else True) for i, a in zip(ds.users["id"], ds.users["active"])}
    dep_of = user_department(ds.users)
    m0 = as_of.strftime("%Y-%m")
    m1 = (as_of.normalize().replace(day=1) + pd.DateOffset(months=1)).strftime("%Y-%m")
    lines = ["month,employee_id,department_id,amount,deals",
             f"# demo plan written by b24reports for as_of {as_of.isoformat()}: {uplift:.0%} of each manager's "
             f"average month over the last {lookback_months} months"]
    deps: dict[int, list[int]] = {}
    for month in (m0, m1):
        for eid, r in by.sort_index().iterrows():
            eid = int(eid)
            if month == m1 and not active.get(eid, True):
                continue
            amount = round(uplift * r["amount"] / lookback_months / round_to) * round_to
            deals = math.ceil(uplift * r["deals"] / lookback_months)
            lines.append(f"{month},{eid},,{amount:.0f},{deals}")
            if month == m0 and dep_of.get(eid) is not None:
                deps.setdefault(int(dep_of[eid]), []).append(eid)
    if deps:
        dep, members = max(deps.items(), key=lambda kv: (len(kv[1]), -kv[0]))
        total = sum(round(uplift * by.loc[e, "amount"] / lookback_months / round_to) * round_to for e in members)
        lines.append(f"{m0},,{dep},{total:.0f},")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
