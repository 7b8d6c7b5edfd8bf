"""Report parameters: declared (``ParamSpec``), parsed (``ReportSpec.parse_params``),
resolved against the data (``Params.validate_against``) and turned into the run's scope
(:func:`resolve_scope`: the one :class:`~b24reports.metrics.scope.Scope` every metric reads).

Common parameters (every report has them, :data:`COMMON_PARAMS`):

* ``date_from``, ``date_to`` (dates, inclusive, portal time). Default: the 12 full calendar
  months before as_of's month (as_of 2026-11-30 -> 2025-11-01..2026-10-31). Only
  ``date_from`` given -> ``date_to`` = as_of's date; only ``date_to`` given -> ``date_from``
  = first day of the 12-month window ending with ``date_to``'s month.
* ``as_of`` (ISO datetime; default now, or on a demo store its portal's own now: ``Dataset.clock``). Naive values are report time (the portal's unless ``timezone`` is given); a date alone
  (``2026-11-30``) means the end of that day (23:59:59). Converted to the report timezone.
* ``lang`` (``ru`` | ``en``, default ``ru``), ``currency`` (ISO code, default the portal
  base currency), ``timezone`` (``+03:00`` or an IANA name, default the portal offset seen
  in the data), ``pipelines``, ``departments``, ``employees`` (comma-separated ids;
  empty = all).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from b24reports.core.errors import B24ReportsError, BadParameter
from b24reports.core.i18n import LANGS
from b24reports.metrics.scope import Scope

if TYPE_CHECKING:
    from b24reports.reports.spec import ReportSpec

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
    ParamSpec("as_of", "datetime", None, "the report's 'now', ISO datetime in portal time (default: now; a demo store: its portal's now)"),
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

        ``dataset`` is a ``b24reports.ingest.dataset.Dataset`` (uses ``timezone``, ``base_currency``,
        ``currencies``, ``pipelines``, ``departments``, ``users``). Returns resolved Params.
        Raises ``BadParameter`` for an unknown currency, pipeline, department or employee id,
        ``date_from`` after ``date_to``, or whatever the spec's ``check`` hook raises.
        """
        v = dict(self._values)
        tz = parse_timezone(v["timezone"]) if v.get("timezone") else getattr(dataset, "timezone", None) or dt.timezone.utc
        v["timezone"] = v.get("timezone") or _tz_name(tz)
        a = v.get("as_of")
        if a is None and getattr(dataset, "clock", None) is not None:  # a demo portal's own "now"
            a = dataset.clock.astimezone(tz)
        elif a is None or a == "now":
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
        v["date_from"], v["date_to"] = df, dto  # their order: checked once, by the Scope

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


def resolve_scope(dataset: Any, params: Params) -> Scope:
    """The run's :class:`~b24reports.metrics.scope.Scope` from resolved ``params``: the one place
    where the period, as_of, timezone, currency, pipelines and the set of people are decided (the
    CLI, the dashboards and the schedule all come through here, via ``ReportSpec.run``). ``visible``
    is the viewer's Bitrix24 visibility the dataset was cut to (``Dataset.visibility``, applied
    once where a viewer's dashboard opens its data, before any metric runs).

    ``params`` unresolved are validated against ``dataset`` first. Raises ``BadParameter`` for
    ``date_from`` after ``date_to`` (and whatever validation raises).
    """
    if not params.resolved:
        params = params.validate_against(dataset)
    return Scope.build(dataset, as_of=params["as_of"], date_from=params["date_from"], date_to=params["date_to"],
                       tz=params.tzinfo, currency=params["currency"], pipelines=params["pipelines"] or (),
                       employees=params["employees"] or (), departments=params["departments"] or (),
                       visible=getattr(dataset, "visibility", None))


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

