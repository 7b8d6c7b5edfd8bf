"""The report registry: a report is a registry entry (``ReportSpec``), found by name.

Flow (docs/architecture.md, docs/reports-howto.md)::

    spec = reports.get("funnel")                 # ReportSpec
    params = spec.parse_params({"date_from": "2026-01-01", "pipelines": "0,2"})  # syntax
    params = params.validate_against(dataset)    # defaults from the data + semantic checks
    result = spec.compute(dataset, params)       # ReportResult (or spec.run(dataset, raw))
    result.to_metrics_json(generated_at)         # dict exactly as METRICS.md "Outputs"

Entries are discovered from the modules of the ``b24reports.specs`` package (each defines
``SPEC = ReportSpec(...)`` or ``SPECS = [...]``), plus the modules named in the environment
variable ``B24REPORTS_EXTRA_SPECS`` (comma-separated, e.g. a test fixture or a plugin).

Common parameters (every report has them, :data:`COMMON_PARAMS`):

* ``date_from``, ``date_to`` (dates, inclusive, portal time). Default: the 12 full calendar
  months before as_of's month (as_of 2026-11-30 -> 2025-11-01..2026-10-31). Only
  ``date_from`` given -> ``date_to`` = as_of's date; only ``date_to`` given -> ``date_from``
  = first day of the 12-month window ending with ``date_to``'s month.
* ``as_of`` (ISO datetime; default now). Naive values are portal time; a date alone
  (``2026-11-30``) means the end of that day (23:59:59). Converted to the report timezone.
* ``lang`` (``ru`` | ``en``, default ``ru``), ``currency`` (ISO code, default the portal
  base currency), ``timezone`` (``+03:00`` or an IANA name, default the portal offset seen
  in the data), ``pipelines``, ``departments``, ``employees`` (comma-separated ids;
  empty = all).
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
import os
import pkgutil
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import columns as _columns
from .errors import B24ReportsError, BadParameter
from .i18n import LANGS

#: Where ``ReportSpec.notebook`` names are looked up (env ``B24REPORTS_NOTEBOOKS`` overrides).
NOTEBOOKS_DIR = Path(os.environ.get("B24REPORTS_NOTEBOOKS") or Path(__file__).resolve().parents[2] / "notebooks")

PARAM_KINDS = ("date", "datetime", "int", "float", "bool", "str", "choice", "id_list", "code_list", "path", "json")


class ReportDefinitionError(B24ReportsError):
    """A report's registry entry or its compute output breaks the contract (a bug, exit 1)."""


# --------------------------------------------------------------------------- parameters


#: What a value of each parameter kind looks like: the "expected …" of a ``BadParameter``
#: (never Python's own parser text such as "Invalid isoformat string").
EXPECTED: dict[str, str] = {
    "date": "a date YYYY-MM-DD, e.g. 2026-01-31",
    "datetime": "a date YYYY-MM-DD or a date and time YYYY-MM-DDTHH:MM[:SS][±HH:MM], e.g. 2026-11-30T12:00, or now",
    "int": "a whole number, e.g. 14",
    "float": "a number, e.g. 0.5",
    "bool": "true or false",
    "str": "text",
    "choice": "one of the listed values",
    "id_list": "comma-separated whole-number ids, e.g. 0,2",
    "code_list": "comma-separated codes, e.g. NEW,C1:NEW",
    "path": "the path of an existing file",
    "json": 'a JSON object or name=value pairs, e.g. {"NEW": 7} or NEW=7,PREPARATION=14',
}


class _Invalid(ValueError):
    """A parser's own explanation of a bad value (kept in the ``BadParameter`` message);
    any other ``ValueError`` of a parser is Python's text and is replaced by :data:`EXPECTED`."""


_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        if _DATE_RE.fullmatch(s):
            raise _Invalid(f"{s} is not a calendar date") from None
        raise


def _parse_date(v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    return _iso_date(str(v).strip())


def _parse_datetime(v: Any) -> dt.datetime | str:
    if isinstance(v, dt.datetime):
        return v
    if isinstance(v, dt.date):
        return dt.datetime.combine(v, dt.time(23, 59, 59))
    s = str(v).strip()
    if s.lower() == "now":
        return "now"
    if _DATE_RE.fullmatch(s):
        return dt.datetime.combine(_iso_date(s), dt.time(23, 59, 59))
    if _DATE_RE.match(s):
        _iso_date(s[:10])  # "2026-02-30T10:00": name the impossible date
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def _parse_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "y", "on"):
        return True
    if s in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(v)


def _split(v: Any) -> list[Any]:
    if isinstance(v, str):
        return [p.strip() for p in v.split(",") if p.strip()]
    if isinstance(v, int | float):
        return [v]
    return list(v)


def _parse_id_list(v: Any) -> tuple[int, ...]:
    out: list[int] = []
    for p in _split(v):
        if isinstance(p, bool) or (isinstance(p, float) and not p.is_integer()):
            raise _Invalid(f"{p!r} is not a whole-number id")
        try:
            i = int(p)
        except (TypeError, ValueError):
            raise _Invalid(f"{p!r} is not a whole-number id") from None
        if i < 0:
            raise _Invalid(f"{p!r} is not a valid id (negative)")
        if i not in out:
            out.append(i)
    return tuple(out)


def _parse_code_list(v: Any) -> tuple[str, ...]:
    out: list[str] = []
    for p in _split(v):
        s = str(p)
        if s not in out:
            out.append(s)
    return tuple(out)


def _parse_json(v: Any) -> dict:
    if isinstance(v, Mapping):
        return dict(v)
    s = str(v).strip()
    if s.startswith("{"):
        try:
            obj = json.loads(s)
        except json.JSONDecodeError as e:
            raise _Invalid(f"not valid JSON at character {e.pos + 1}") from None
        if not isinstance(obj, dict):
            raise _Invalid("not a JSON object")
        return obj
    out: dict[str, Any] = {}
    for part in _split(s):  # name=value,name=value
        if "=" not in part:
            raise _Invalid(f"{part!r} is not name=value")
        k, val = (x.strip() for x in part.split("=", 1))
        try:
            out[k] = int(val)
        except ValueError:
            try:
                out[k] = float(val)
            except ValueError:
                out[k] = val
    return out


def _parse_path(v: Any) -> Path:
    p = Path(str(v)).expanduser()
    if not p.exists():
        raise _Invalid("the file does not exist")
    return p


def _parse_int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    s = str(v).strip()
    if re.fullmatch(r"[+-]?\d+\.0*", s):
        s = s.split(".")[0]  # "14.0" from a spreadsheet cell
    return int(s)


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "date": _parse_date,
    "datetime": _parse_datetime,
    "int": _parse_int,
    "float": lambda v: float(str(v).strip().replace(",", ".")) if not isinstance(v, float | int) else float(v),
    "bool": _parse_bool,
    "str": lambda v: str(v),
    "choice": lambda v: str(v).strip(),
    "id_list": _parse_id_list,
    "code_list": _parse_code_list,
    "path": _parse_path,
    "json": _parse_json,
}


@dataclass(frozen=True)
class ParamSpec:
    """A declared report parameter.

    ``name`` (the CLI ``--param`` / notebook name), ``kind`` (one of :data:`PARAM_KINDS`),
    ``default`` (already of the parsed type, or ``None`` = "resolved later"/"not set"),
    ``help`` (one line, English), ``choices`` (allowed values for ``choice``; for
    ``code_list``, allowed items), ``min``/``max`` bounds for int/float.
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None

    def __post_init__(self):
        if self.kind not in PARAM_KINDS:
            raise ReportDefinitionError(f"parameter {self.name}: unknown kind {self.kind!r}")
        if self.kind == "choice" and not self.choices:
            raise ReportDefinitionError(f"parameter {self.name}: kind 'choice' needs choices")

    def parse(self, value: Any) -> Any:
        """Parse a raw value (CLI string or Python value) into the parameter's type.

        ``None`` or ``""`` -> the default. Raises ``BadParameter(name, value, reason)``; the
        reason says what is wrong in the project's words and what is expected
        (:data:`EXPECTED`), never Python's parser text ("invalid literal for int()").
        """
        if value is None or (isinstance(value, str) and value.strip() == "" and self.kind not in ("id_list", "code_list", "str")):
            return self.default
        try:
            out = _PARSERS[self.kind](value)
        except BadParameter:
            raise
        except _Invalid as e:
            raise BadParameter(self.name, value, f"{e}; expected {EXPECTED[self.kind]}") from None
        except (ValueError, TypeError, OverflowError):
            raise BadParameter(self.name, value, f"expected {EXPECTED[self.kind]}") from None
        if self.choices is not None:
            items = out if self.kind == "code_list" else (out,)
            bad = [x for x in items if x not in self.choices]
            if bad:
                raise BadParameter(self.name, value, f"{bad[0]!r} is not one of {', '.join(self.choices)}")
        if self.kind in ("int", "float"):
            if self.min is not None and out < self.min:
                raise BadParameter(self.name, value, f"must be ≥ {self.min}")
            if self.max is not None and out > self.max:
                raise BadParameter(self.name, value, f"must be ≤ {self.max}")
        return out


#: Parameters every report has (see the module docstring for defaults).
COMMON_PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("date_from", "date", None, "period start, YYYY-MM-DD, inclusive (default: 12 full months before as_of's month)"),
    ParamSpec("date_to", "date", None, "period end, YYYY-MM-DD, inclusive (default: end of the month before as_of)"),
    ParamSpec("as_of", "datetime", None, "the report's 'now', ISO datetime in portal time (default: now)"),
    ParamSpec("lang", "choice", "ru", "report language", choices=LANGS),
    ParamSpec("currency", "str", None, "report currency, ISO code (default: the portal base currency)"),
    ParamSpec("timezone", "str", None, "report timezone, +HH:MM or IANA name (default: the portal offset)"),
    ParamSpec("pipelines", "id_list", (), "deal pipeline ids (CATEGORY_ID), comma-separated; empty = all"),
    ParamSpec("departments", "id_list", (), "department ids (with sub-departments); empty = all"),
    ParamSpec("employees", "id_list", (), "employee (user) ids; empty = all"),
)
COMMON_NAMES = tuple(p.name for p in COMMON_PARAMS)


def parse_timezone(value: str) -> dt.tzinfo:
    """``+03:00`` / ``-05:30`` / ``UTC`` / IANA name -> tzinfo; else ``BadParameter('timezone', …)``."""
    s = str(value).strip()
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", s)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        off = dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        if off > dt.timedelta(hours=14):
            raise BadParameter("timezone", value, "offset beyond ±14:00")
        return dt.timezone(sign * off)
    if s.upper() in ("UTC", "Z"):
        return dt.timezone.utc
    try:
        return ZoneInfo(s)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadParameter("timezone", value, "not a UTC offset (+03:00) or IANA timezone name") from None


def _tz_name(tz: dt.tzinfo) -> str:
    if isinstance(tz, ZoneInfo):
        return tz.key
    off = tz.utcoffset(None) or dt.timedelta(0)
    sign = "-" if off < dt.timedelta(0) else "+"
    mins = abs(int(off.total_seconds())) // 60
    return f"{sign}{mins // 60:02d}:{mins % 60:02d}"


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return dt.date(y, m + 1, 1)


class Params(Mapping[str, Any]):
    """Parsed parameters of one report run: a read-only mapping with attribute access.

    Built by :meth:`ReportSpec.parse_params` (syntax checked; data-dependent values may be
    ``None``) and completed by :meth:`validate_against` (``resolved`` is then True: every
    value set — ``as_of`` an aware datetime in ``timezone``, ``date_from``/``date_to``
    dates, ``currency`` a code). ``tzinfo`` is the report timezone once resolved.
    """

    def __init__(self, spec: ReportSpec, values: dict[str, Any], given: frozenset[str], resolved: bool = False):
        self._spec, self._values, self.given, self.resolved = spec, dict(values), given, resolved

    def __getitem__(self, k: str) -> Any:
        return self._values[k]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, k: str) -> Any:
        if k.startswith("_"):
            raise AttributeError(k)
        try:
            return self._values[k]
        except KeyError:
            raise AttributeError(f"report {self._spec.name!r} has no parameter {k!r}") from None

    def __repr__(self) -> str:
        return f"Params({self._spec.name!r}, {self._values!r})"

    @property
    def report(self) -> str:
        """Name of the report these parameters belong to."""
        return self._spec.name

    @property
    def tzinfo(self) -> dt.tzinfo:
        """The report timezone (needs resolved params)."""
        return parse_timezone(self._values["timezone"])

    def replace(self, **changes: Any) -> Params:
        """A copy with ``changes`` applied (values already parsed)."""
        return Params(self._spec, {**self._values, **changes}, self.given | frozenset(changes), self.resolved)

    def validate_against(self, dataset: Any) -> Params:
        """Fill the data-dependent defaults and check values against the data.

        ``dataset`` is a ``b24reports.data.Dataset`` (uses ``timezone``, ``base_currency``,
        ``currencies``, ``pipelines``, ``departments``, ``users``). Returns resolved Params.
        Raises ``BadParameter`` for an unknown currency, pipeline, department or employee id,
        ``date_from`` after ``date_to``, or whatever the spec's ``check`` hook raises.
        """
        v = dict(self._values)
        tz = parse_timezone(v["timezone"]) if v.get("timezone") else getattr(dataset, "timezone", None) or dt.timezone.utc
        v["timezone"] = v.get("timezone") or _tz_name(tz)
        a = v.get("as_of")
        if a is None or a == "now":
            a = dt.datetime.now(tz).replace(microsecond=0)
        elif a.tzinfo is None:
            a = a.replace(tzinfo=tz)
        else:
            a = a.astimezone(tz)
        v["as_of"] = a
        df, dto = v.get("date_from"), v.get("date_to")
        if df is None and dto is None:
            dto = _add_months(a.date(), 0) - dt.timedelta(days=1)
            df = _add_months(dto, -11)
        elif dto is None:
            dto = a.date()
        elif df is None:
            df = _add_months(dto, -11)
        if df > dto:
            raise BadParameter("date_from", df.isoformat(), f"is after date_to={dto.isoformat()}")
        v["date_from"], v["date_to"] = df, dto

        cur_frame = getattr(dataset, "currencies", None)
        known_cur = set(cur_frame["currency"].dropna().astype(str)) if cur_frame is not None and len(cur_frame) else set()
        base = getattr(dataset, "base_currency", None)
        cur = v.get("currency") or base
        if cur is None:
            raise BadParameter("currency", None, "the store has no base currency; give --param currency=CODE")
        cur = str(cur).upper()
        if known_cur and cur not in known_cur:
            raise BadParameter("currency", cur, f"not a currency of the portal ({', '.join(sorted(known_cur))})")
        v["currency"] = cur

        for name, table in (("pipelines", "pipelines"), ("departments", "departments"), ("employees", "users")):
            ids = v.get(name) or ()
            frame = getattr(dataset, table, None)
            if ids and frame is not None:
                known = set(int(x) for x in frame["id"].dropna())
                if name == "pipelines":
                    known.add(0)  # the default pipeline exists even when crm.category.list omits it
                unknown = [i for i in ids if i not in known]
                if unknown:
                    raise BadParameter(name, ",".join(map(str, ids)), f"unknown id {unknown[0]} (not in the store's {table})")
        out = Params(self._spec, v, self.given, resolved=True)
        if self._spec.check is not None:
            self._spec.check(dataset, out)
        return out

    def to_json(self) -> dict[str, Any]:
        """JSON-able values in declaration order (common first): dates ``YYYY-MM-DD``,
        datetimes ISO-8601 with offset, id/code lists as lists, paths as strings."""
        return {p.name: _jsonable(self._values.get(p.name)) for p in self._spec.all_params}

    def to_raw(self) -> dict[str, Any]:
        """Values to hand to a notebook (papermill) so it parses to the same Params:
        strings for dates/datetimes/paths/lists, dicts as JSON; ``None`` values left out."""
        out: dict[str, Any] = {}
        for p in self._spec.all_params:
            val = self._values.get(p.name)
            if val is None:
                continue
            if p.kind in ("id_list", "code_list"):
                out[p.name] = ",".join(str(x) for x in val)
            elif p.kind == "json":
                out[p.name] = json.dumps(val, sort_keys=True, ensure_ascii=False)
            elif isinstance(val, dt.date | dt.datetime | Path):
                out[p.name] = val.isoformat() if not isinstance(val, Path) else str(val)
            else:
                out[p.name] = val
        return out


def _jsonable(val: Any) -> Any:
    if isinstance(val, dt.datetime | dt.date):
        return val.isoformat()
    if isinstance(val, Path):
        return str(val)
    if isinstance(val, tuple | list):
        return [_jsonable(x) for x in val]
    if isinstance(val, dict):
        return {str(k): _jsonable(val[k]) for k in sorted(val)}
    return val


# --------------------------------------------------------------------------- spec & result


@dataclass(frozen=True)
class TableSpec:
    """One output table: ``columns`` (canonical ids, METRICS.md, in export order),
    ``title`` ({lang: str}), ``sheet_name`` (Excel sheet; ≤ 31 chars, no ``[]:*?/\\``)."""

    columns: list[str]
    title: dict[str, str]
    sheet_name: str

    def __post_init__(self):
        if len(self.sheet_name) > 31 or re.search(r"[\[\]:*?/\\]", self.sheet_name) or not self.sheet_name:
            raise ReportDefinitionError(f"sheet name {self.sheet_name!r}: 1..31 chars, none of []:*?/\\")
        if len(set(self.columns)) != len(self.columns):
            raise ReportDefinitionError(f"table {self.sheet_name!r}: duplicate column ids")


@dataclass(frozen=True)
class ReportSpec:
    """A report's registry entry.

    ``name`` (CLI name, ``OUT/<name>/``), ``title``/``description`` ({lang: str}),
    ``notebook`` (file name in :data:`NOTEBOOKS_DIR`, or an absolute path), ``params``
    (report-specific :class:`ParamSpec`; the :data:`COMMON_PARAMS` are implied),
    ``compute(dataset, params) -> ReportResult`` (or ``dict[table_id, DataFrame]``, wrapped
    by :func:`make_result`), ``tables`` ({table_id: :class:`TableSpec`}, in output order),
    ``check(dataset, params)``: optional extra semantic validation raising ``BadParameter``.
    """

    name: str
    title: dict[str, str]
    description: dict[str, str]
    notebook: str
    params: list[ParamSpec]
    compute: Callable[[Any, Params], Any]
    tables: dict[str, TableSpec]
    check: Callable[[Any, Params], None] | None = None
    #: whether the report reads the period (``date_from``/``date_to``); ``False`` for a report
    #: anchored on as_of and its own inputs (plan: the plan file's months, as_of's month): its
    #: header names no period and its dashboard has no period control
    period: bool = True

    def __post_init__(self):
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ReportDefinitionError(f"report name {self.name!r}: lowercase identifier expected")
        names = [p.name for p in self.all_params]
        if len(set(names)) != len(names):
            raise ReportDefinitionError(f"report {self.name}: duplicate parameter names {names}")
        sheets = [t.sheet_name.lower() for t in self.tables.values()]
        if len(set(sheets)) != len(sheets):
            raise ReportDefinitionError(f"report {self.name}: duplicate sheet names")
        for lang in LANGS:
            if lang not in self.title:
                raise ReportDefinitionError(f"report {self.name}: title needs {lang!r}")

    @property
    def all_params(self) -> tuple[ParamSpec, ...]:
        """Common parameters followed by the report's own."""
        return COMMON_PARAMS + tuple(self.params)

    def param(self, name: str) -> ParamSpec:
        """The declared :class:`ParamSpec` called ``name`` (``KeyError`` if none)."""
        for p in self.all_params:
            if p.name == name:
                return p
        raise KeyError(name)

    @property
    def notebook_path(self) -> Path:
        """Absolute path of the report's notebook."""
        p = Path(self.notebook)
        return p if p.is_absolute() else NOTEBOOKS_DIR / p

    def parse_params(self, raw: Mapping[str, Any] | None = None) -> Params:
        """Parse and check raw values (CLI strings or Python values) of declared parameters.

        Unknown names, unparsable values, an unknown ``lang``, ``date_from`` after
        ``date_to`` raise ``BadParameter(name, value, reason)``. Data-dependent defaults stay
        ``None`` until :meth:`Params.validate_against`.
        """
        raw = dict(raw or {})
        known = {p.name: p for p in self.all_params}
        for k in raw:
            if k not in known:
                raise BadParameter(k, raw[k], f"unknown parameter of report {self.name!r}; known: {', '.join(known)}")
        values = {name: p.parse(raw.get(name)) for name, p in known.items()}
        if values.get("timezone"):
            parse_timezone(values["timezone"])
        if values.get("currency"):
            if not re.fullmatch(r"[A-Za-z]{3}", str(values["currency"]).strip()):
                raise BadParameter("currency", values["currency"], "expected a 3-letter currency code")
            values["currency"] = str(values["currency"]).strip().upper()
        df, dto = values.get("date_from"), values.get("date_to")
        if df is not None and dto is not None and df > dto:
            raise BadParameter("date_from", raw.get("date_from"), f"is after date_to={dto.isoformat()}")
        given = frozenset(k for k, v in raw.items() if v is not None)
        return Params(self, values, given)

    def run(self, dataset: Any, raw: Mapping[str, Any] | Params | None = None) -> ReportResult:
        """Parse (unless given Params), validate against ``dataset``, compute, and check
        that the result has every table of ``tables`` with every declared column."""
        params = raw if isinstance(raw, Params) else self.parse_params(raw)
        if not params.resolved:
            params = params.validate_against(dataset)
        out = self.compute(dataset, params)
        result = out if isinstance(out, ReportResult) else make_result(dataset, params, out)
        self.check_result(result)
        return result

    def check_result(self, result: ReportResult) -> None:
        """Raise :class:`ReportDefinitionError` when ``result.tables`` misses a declared
        table or column, or has an undeclared table."""
        for tid, ts in self.tables.items():
            if tid not in result.tables:
                raise ReportDefinitionError(f"report {self.name}: compute returned no table {tid!r}")
            missing = [c for c in ts.columns if c not in result.tables[tid].columns]
            if missing:
                raise ReportDefinitionError(f"report {self.name}: table {tid!r} lacks columns {missing}")
        extra = [t for t in result.tables if t not in self.tables]
        if extra:
            raise ReportDefinitionError(f"report {self.name}: tables {extra} are not declared in the spec")


@dataclass
class ReportResult:
    """Everything one report run computed.

    ``report`` (name), ``params`` (resolved :class:`Params`), ``as_of`` (aware datetime),
    ``portal`` (``scheme://host``, never the webhook path), ``tables`` ({table_id:
    DataFrame with canonical column ids; extra columns are allowed for the views and are
    not exported}), ``warnings`` (data-quality and method notes, plain text), ``notes``
    (free-form values for the notebook's prose, not exported).
    """

    report: str
    params: Params
    as_of: dt.datetime
    portal: str
    tables: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> ReportSpec:
        """The registry entry of this result."""
        return self.params._spec

    @property
    def lang(self) -> str:
        return self.params["lang"]

    def table_records(self, table_id: str) -> list[dict[str, Any]]:
        """Rows of one table as JSON-able dicts in declared column order, values rounded as
        METRICS.md says (see :func:`json_value`)."""
        ts = self.spec.tables[table_id]
        df = self.tables[table_id]
        cols = [(c, _columns.kind_of(c)) for c in ts.columns]
        data = {c: df[c].tolist() for c, _ in cols}
        return [{c: json_value(data[c][i], k) for c, k in cols} for i in range(len(df))]

    def to_metrics_json(self, generated_at: dt.datetime | str | None = None) -> dict[str, Any]:
        """The ``metrics.json`` document of METRICS.md "Outputs": keys ``report``,
        ``portal``, ``params``, ``as_of``, ``generated_at``, ``warnings``, ``tables`` (in that
        order; tables and columns in declared order, rows in frame order). Same data, params
        and as_of -> same document except ``generated_at`` (default: now, UTC)."""
        if generated_at is None:
            generated_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        return {
            "report": self.report,
            "portal": self.portal,
            "params": self.params.to_json(),
            "as_of": self.as_of.isoformat(),
            "generated_at": generated_at if isinstance(generated_at, str) else generated_at.isoformat(),
            "warnings": list(self.warnings),
            "tables": {tid: self.table_records(tid) for tid in self.spec.tables},
        }

    def metrics_json_text(self, generated_at: dt.datetime | str | None = None) -> str:
        """``to_metrics_json`` serialized: UTF-8 text, 2-space indent, trailing newline."""
        return json.dumps(self.to_metrics_json(generated_at), ensure_ascii=False, indent=2, allow_nan=False) + "\n"


_DIGITS = {"money": 2, "ratio": 2, "number": 2, "pct": 1, "days": 1}


def json_value(v: Any, kind: str) -> Any:
    """One cell -> JSON value by column kind: NaN/NaT/NA -> ``None``; ``id``/``int`` ->
    int; money/ratio/number 2 decimals, pct/days 1 decimal; date ``YYYY-MM-DD``; datetime
    ISO-8601 (offset kept); ``list`` -> list; numpy scalars -> Python."""
    if kind == "list":
        if v is None or (not hasattr(v, "__iter__") and _isnull(v)):
            return []
        if isinstance(v, str):
            return [v]
        return [_py(x) for x in v]
    if _isnull(v):
        return None
    if kind in ("id", "int"):
        f = float(v)
        return int(f) if f.is_integer() else round(f, 2)
    if kind in _DIGITS:
        f = float(v)
        if not math.isfinite(f):
            return None
        return round(f, _DIGITS[kind]) + 0.0
    if kind == "date":
        if isinstance(v, str):
            return v
        return (v.date() if isinstance(v, dt.datetime) else v).isoformat()
    if kind == "datetime":
        if isinstance(v, str):
            return v
        if hasattr(v, "to_pydatetime"):
            v = v.to_pydatetime()
        return v.isoformat()
    if kind == "bool":
        return bool(v)
    return _py(v)


def _isnull(v: Any) -> bool:
    from .i18n import is_null

    return is_null(v)


def _py(v: Any) -> Any:
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    return v


def result_cache_key(params: Params, store: str | os.PathLike) -> str:
    """Key of one computed result: sha256 of report, resolved params (``to_json``), the
    store's absolute path, size and mtime. ``render`` hands the in-process result to the
    notebook's kernel under this key (``nb.open_report``), so html and json show the same
    numbers and the report is computed once."""
    import hashlib

    p = Path(store).resolve()
    st = p.stat()
    doc = {"report": params.report, "params": params.to_json(), "store": str(p), "size": st.st_size,
           "mtime_ns": st.st_mtime_ns}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def make_result(dataset: Any, params: Params, tables: dict[str, Any], warnings: list[str] | tuple = (),
                notes: dict[str, Any] | None = None, *, dataset_warnings: bool = True) -> ReportResult:
    """Build the :class:`ReportResult` of ``params.report`` from computed ``tables``.

    ``warnings``: the report's own; with ``dataset_warnings`` the data-quality warnings of
    ``dataset.warnings`` come first (METRICS.md: they appear in every report using the data).
    Duplicates are dropped, order kept.
    """
    ws: list[str] = []
    for w in (list(getattr(dataset, "warnings", []) or []) if dataset_warnings else []) + list(warnings):
        if w not in ws:
            ws.append(str(w))
    return ReportResult(report=params.report, params=params, as_of=params["as_of"],
                        portal=str(getattr(dataset, "portal", "") or ""), tables=dict(tables),
                        warnings=ws, notes=dict(notes or {}))


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, ReportSpec] = {}
_DISCOVERED = False
_REPLACED: set[str] = set()  # names registered with replace=True


def register(spec: ReportSpec, *, replace: bool = False) -> ReportSpec:
    """Add ``spec`` to the registry (spec modules usually just define ``SPEC``).
    A second, different spec with the same name raises :class:`ReportDefinitionError`."""
    old = _REGISTRY.get(spec.name)
    if old is not None and old is not spec and not replace:
        raise ReportDefinitionError(f"two reports named {spec.name!r}")
    _REGISTRY[spec.name] = spec
    if replace:
        _REPLACED.add(spec.name)
    return spec


def unregister(name: str) -> None:
    """Remove a report from the registry (tests)."""
    _REGISTRY.pop(name, None)
    _REPLACED.discard(name)


def _register_module(mod: Any) -> None:
    for spec in [getattr(mod, "SPEC", None), *getattr(mod, "SPECS", ())]:
        # a spec replaced on purpose (register(..., replace=True)) stays: discovery runs again
        # later and must not collide with its own module's original
        if isinstance(spec, ReportSpec) and spec.name not in _REPLACED:
            register(spec)


def discover() -> None:
    """Import every module of ``b24reports.specs`` and of ``B24REPORTS_EXTRA_SPECS`` and
    register their ``SPEC``/``SPECS``. Idempotent."""
    global _DISCOVERED
    from . import specs as _specs

    for info in sorted(pkgutil.iter_modules(_specs.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            _register_module(importlib.import_module(f"{_specs.__name__}.{info.name}"))
    for name in filter(None, (s.strip() for s in os.environ.get("B24REPORTS_EXTRA_SPECS", "").split(","))):
        _register_module(importlib.import_module(name))
    _DISCOVERED = True


def get(name: str) -> ReportSpec:
    """The registered report ``name``; unknown -> ``BadParameter('report', name, …)``."""
    if not _DISCOVERED:
        discover()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise BadParameter("report", name, f"unknown report; known: {', '.join(sorted(_REGISTRY)) or '(none)'}") from None


def all_reports() -> list[ReportSpec]:
    """Every registered report, sorted by name."""
    if not _DISCOVERED:
        discover()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def split_params(raw: Mapping[str, Any], specs: list[ReportSpec] | None = None) -> dict[str, dict[str, Any]]:
    """``render all``: hand each raw parameter to the reports that declare it.

    Returns {report name: {param: value}}. A parameter that no report of ``specs`` declares
    raises ``BadParameter(name, value, …)`` (METRICS.md "Parameters").
    """
    specs = all_reports() if specs is None else specs
    out: dict[str, dict[str, Any]] = {s.name: {} for s in specs}
    for k, v in raw.items():
        takers = [s for s in specs if any(p.name == k for p in s.all_params)]
        if not takers:
            who = f"report {specs[0].name!r}" if len(specs) == 1 else "any report"
            raise BadParameter(k, v, f"not a parameter of {who} (see `b24reports list`)")
        for s in takers:
            out[s.name][k] = v
    return out
