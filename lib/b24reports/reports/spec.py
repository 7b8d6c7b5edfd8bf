"""A report's registry entry: ``ReportSpec`` (name, titles, notebook, parameters, tables, and
the ``compute`` hook) and ``TableSpec`` (one output table's columns and sheet name).

Flow (docs/architecture.md, docs/reports-howto.md)::

    spec = reports.get("funnel")                 # ReportSpec
    params = spec.parse_params({"date_from": "2026-01-01", "pipelines": "0,2"})  # syntax
    params = params.validate_against(dataset)    # defaults from the data + semantic checks
    result = spec.compute(dataset, params)       # ReportResult (or spec.run(dataset, raw))
    result.to_metrics_json(generated_at)         # dict exactly as METRICS.md "Outputs"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from b24reports.core.errors import BadParameter
from b24reports.core.i18n import LANGS
from b24reports.core.paths import NOTEBOOKS_DIR
from b24reports.metrics.scope import Scope, check_period
from b24reports.reports.params import (
    COMMON_PARAMS,
    Params,
    ParamSpec,
    ReportDefinitionError,
    parse_timezone,
    resolve_scope,
)
from b24reports.reports.result import ReportResult, make_result

# --------------------------------------------------------------------------- spec & result


@dataclass(frozen=True)
class TableSpec:
    """One output table: ``columns`` (canonical ids, METRICS.md, in export order),
    ``title`` ({lang: str}), ``sheet_name`` (Excel sheet; ≤ 31 chars, no ``[]:*?/\\``),
    ``team_row``: the table holds a whole-team row (its owner columns ``employee_id`` and
    ``department_id`` all null), shown as «Вся команда» in HTML, Excel and charts
    (``core.texts.team_row_label``); elsewhere a null employee is just unknown (``—``)."""

    columns: list[str]
    title: dict[str, str]
    sheet_name: str
    team_row: bool = False
    #: how people see the table, on the page and in Excel: ``display(result) -> DataFrame`` (e.g. a
    #: value that means nothing yet shown blank); ``None``: as computed. metrics.json keeps the values.
    display: Callable[[Any], Any] | None = None
    #: the columns people see when ``display`` shows other ones (e.g. a month's figures in place of
    #: the period's): ``display_columns(result) -> [column ids]``; ``None``: ``columns``.
    display_columns: Callable[[Any], list[str]] | None = None

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
    ``compute(dataset, scope, params) -> (tables, warnings, notes)``: ``{table_id: DataFrame}``
    with canonical column ids, the report's own warnings (list of str) and notes for the
    notebook's prose (dict); it hands the :class:`~b24reports.metrics.scope.Scope` and the
    report's own parameters to ``metrics.<report>.report_tables``. ``tables`` ({table_id: :class:`TableSpec`}, in output order),
    ``check(dataset, params)``: optional extra semantic validation raising ``BadParameter``.
    """

    name: str
    title: dict[str, str]
    description: dict[str, str]
    notebook: str
    params: list[ParamSpec]
    compute: Callable[[Any, Scope, Params], tuple[dict[str, Any], list[str], dict[str, Any]]]
    tables: dict[str, TableSpec]
    check: Callable[[Any, Params], None] | None = None
    #: headline numbers of the e-mail summary (``outputs.delivery``): ``(table id, column id, how)``;
    #: ``how``: ``sum`` over the rows, ``first`` (a one-row table), ``count_true`` (rows where the bool
    #: column is true). Empty: every number of each one-row table and the row count of the others.
    headlines: tuple[tuple[str, str, str], ...] = ()
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
        if values.get("date_from") is not None and values.get("date_to") is not None:
            check_period(values["date_from"], values["date_to"])
        given = frozenset(k for k, v in raw.items() if v is not None)
        return Params(self, values, given)

    def run(self, dataset: Any, raw: Mapping[str, Any] | Params | None = None) -> ReportResult:
        """The one way a report is computed: parse (unless given Params), validate against
        ``dataset``, resolve the :class:`~b24reports.metrics.scope.Scope` once
        (:func:`~b24reports.reports.params.resolve_scope`), compute the tables, build the result
        (:func:`make_result`), and check it has every table of ``tables`` with every declared column.

        Raises ``BadParameter`` for bad input and :class:`ReportDefinitionError` for a spec that
        breaks its own contract.
        """
        params = raw if isinstance(raw, Params) else self.parse_params(raw)
        if not params.resolved:
            params = params.validate_against(dataset)
        scope = resolve_scope(dataset, params)
        tables, warnings, notes = self.compute(dataset, scope, params)
        result = make_result(dataset, params, tables, warnings, notes)
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

