"""Sales plan input: read ``params/plan.csv`` (or an .xlsx with the same columns), check every
row (the Excel template users fill in is written by :mod:`b24reports.outputs.plan_template`).

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
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from b24reports.core.errors import PlanFileError
from b24reports.core.paths import PROJECT_DIR

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
        alt = PROJECT_DIR / path
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
