"""The Excel file of a report run: one sheet per table (names beside ids, localized headers and
values), an "about" sheet with the parameters; cells converted a column at a time (xlsxwriter).
Used by the ``xlsx`` exporter of :mod:`b24reports.outputs.render` and by the dashboards' download.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from b24reports.core import columns as _columns
from b24reports import reports
from b24reports.reports import result as _result
from b24reports.core.i18n import format_datetime, t


@dataclass(frozen=True)
class XlsxJob:
    """What the Excel file of one report run is made from: the ``result`` (a
    :class:`~b24reports.reports.ReportResult`), the run's ``generated_at`` and the ``dataset`` the
    names come from (``None``: ids only). A render's ``RenderJob`` has the same attributes."""

    result: Any
    generated_at: dt.datetime
    dataset: Any = None

    @property
    def lang(self) -> str:
        return self.result.lang

    def ensure_result(self) -> Any:
        """The result (``RenderJob.ensure_result``'s counterpart: here always given)."""
        return self.result


def write_result_xlsx(result: Any, path: Path, *, dataset: Any = None, generated_at: dt.datetime | None = None) -> None:
    """Write the Excel file of ``result`` to ``path`` (:func:`write_xlsx`); the dashboards' download."""
    when = generated_at or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    write_xlsx(XlsxJob(result, when, dataset), path)

log = logging.getLogger(__name__)

_XLSX_NUM = {"money": "#,##0", "pct": "0.0", "ratio": "0.00", "number": "#,##0.00", "days": "0.0", "int": "#,##0", "id": "0"}


def _excel_value(v: Any, kind: str) -> Any:
    from b24reports.core.i18n import is_null

    if kind == "list":
        return ", ".join(str(x) for x in reports.json_value(v, "list"))
    if is_null(v):
        return None
    if kind in ("date", "datetime"):
        if isinstance(v, str):
            return v
        if hasattr(v, "to_pydatetime"):
            v = v.to_pydatetime()
        if isinstance(v, dt.datetime):
            v = v.replace(tzinfo=None)  # wall-clock time in portal tz (Excel has no offsets)
            return v if kind == "datetime" else v.date()
        return v
    return reports.json_value(v, kind)


def excel_cells(values: Any, kind: str) -> list[Any]:
    """One column's cell values for Excel, converted column-wise: equal, cell for cell, to
    ``[_excel_value(v, kind) for v in values]`` (None = empty cell).

    ``values``: a pandas Series (a table column, or a list made one). Numeric kinds
    (:data:`_XLSX_NUM`) of a numeric dtype go through one float array (ids/ints as int,
    money/ratio/number to 2 decimals, pct/days to 1, NaN/±inf -> None); datetimes of a
    datetime64 dtype lose their offset at once (wall-clock time in the portal's zone: Excel
    has no offsets), dates become ``datetime.date``; text of a string dtype keeps its strings
    with nulls -> None; bools -> bool/None. Any other column (mixed objects, lists, codes held
    as numbers) falls back to :func:`_excel_value` per cell."""
    import pandas as pd
    from pandas.api import types as pdt

    s = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    numbers = _result.number_column(s, kind)  # json_value's rounding, as metrics.json has it
    if numbers is not None:
        return numbers
    if kind in ("date", "datetime") and pdt.is_datetime64_any_dtype(s.dtype):
        naive = s.dt.tz_localize(None) if getattr(s.dtype, "tz", None) is not None else s
        if kind == "date":
            naive = naive.dt.date
        cells = naive.astype(object).where(naive.notna(), None)
        return [x.to_pydatetime() if isinstance(x, pd.Timestamp) else x for x in cells.tolist()] if kind == "datetime" \
            else cells.tolist()
    if kind in ("text", "url", "code") and pdt.infer_dtype(s, skipna=True) in ("string", "empty"):
        return s.astype(object).where(s.notna(), None).tolist()
    if kind == "bool" and pdt.is_bool_dtype(s.dtype):
        return s.astype(object).where(s.notna(), None).tolist()
    return [_excel_value(v, kind) for v in s.tolist()]


_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
#: Excel's limit on a sheet name, characters
SHEET_MAX = 31
#: words a cut sheet name must not end with (a dangling "и"/"by" reads as a cut mid-phrase)
_DANGLING = frozenset("и или а но по в во на с со к ко о об от до из за для без при у "
                      "and or but by of the for per to in on at a an with from vs".split())


def _cut_words(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` chars after a whole word, without a dangling
    conjunction/preposition at its end (:data:`_DANGLING`) nor trailing punctuation; ``""``
    when that keeps less than half of ``limit``."""
    words = text[:limit + 1].split(" ")[:-1] if len(text) > limit else text.split(" ")
    while words and (words[-1].lower() in _DANGLING or not words[-1].strip(" ,.;-—")):
        words.pop()
    cut = " ".join(words).rstrip(" ,.;-—")
    return cut if len(cut) >= limit // 2 else ""


def excel_sheet_names(titles: Iterable[str], reserved: Iterable[str] = ()) -> list[str]:
    """Excel-safe, unique sheet names for ``titles`` (in order): ``": "`` becomes ``" — "``
    (``Что если — итого``), other ``[]:*?/\\`` become spaces,
    leading/trailing apostrophes and blanks are dropped, at most :data:`SHEET_MAX` (31) chars:
    a longer title is cut after a whole word, never ending in a dangling "и"/"по"/"by"
    (``Накопление открытых и просроченных`` -> ``Накопление открытых``); a title without such
    a cut (one long word) is cut to 30 chars + ``…``. A name already used (case-insensitive,
    including ``reserved``) gets `` (2)``, `` (3)``… within 31 chars, cut the same way; an
    empty title becomes ``Sheet<n>``."""
    used = {r.lower() for r in reserved}
    out = []
    for i, title in enumerate(titles, start=1):
        base = " ".join(_SHEET_BAD.sub(" ", str(title).replace(": ", " — ")).split()).strip("'").strip() or f"Sheet{i}"
        if len(base) > SHEET_MAX:
            base = _cut_words(base, SHEET_MAX) or base[:SHEET_MAX - 1].rstrip() + "…"
        name, n = base, 1
        while name.lower() in used:
            n += 1
            suffix = f" ({n})"
            room = SHEET_MAX - len(suffix)
            stem = base if len(base) <= room else (_cut_words(base, room) or base[:room - 1].rstrip() + "…")
            name = stem + suffix
        used.add(name.lower())
        out.append(name)
    return out


def xlsx_sheet_names(spec: reports.ReportSpec, lang: str) -> dict[str, str]:
    """``{table id: Excel sheet name}`` of ``spec``'s tables in ``lang``: the localized
    ``TableSpec.title`` (else its ``sheet_name``) made Excel-safe and unique next to the
    "about" sheet (:func:`excel_sheet_names`)."""
    titles = [ts.title.get(lang) or ts.sheet_name for ts in spec.tables.values()]
    return dict(zip(spec.tables, excel_sheet_names(titles, reserved=[t("about_sheet", lang)])))


def _key_header(col: str, lang: str) -> str:
    """Header of a key column followed by its name column: ``Воронка (ID)`` / ``Стадия (код)``."""
    h = _columns.header(col, lang)
    if "ID" in h or "код" in h or "code" in h:
        return h
    if _columns.kind_of(col) == "code":
        return f"{h} (код)" if lang == "ru" else f"{h} code"
    return f"{h} (ID)" if lang == "ru" else f"{h} ID"


def excel_name_maps(job: XlsxJob) -> dict[str, dict[Any, str]]:
    """``{key column id: {raw value: name}}`` for Excel's name columns: the very labels the
    HTML/PDF tables show (:func:`b24reports.metrics.labels.name_maps`, one definition: employees "Surname Name",
    pipelines, stages, lead statuses, sources, departments, projects from the store), with
    ``responsible_id`` named like ``employee_id``. ``{}`` without a dataset (ids only)."""
    if job.dataset is None:
        return {}
    from b24reports.metrics.labels import name_maps

    maps = dict(name_maps(job.dataset, job.lang))
    if "employee_id" in maps:
        maps.setdefault("responsible_id", maps["employee_id"])
    return maps


#: Pairs of columns of which a table fills one per run (marketing ``top5``: leads per ``day`` for
#: a short period, else per ``month``); Excel leaves out the one that is empty throughout.
ALTERNATIVE_COLUMNS = (("day", "month"),)


def _excel_columns(columns: Sequence[str], df: Any) -> list[str]:
    """``columns`` of a table as Excel shows them: without the unused one of a pair of
    :data:`ALTERNATIVE_COLUMNS` (all null while its partner has values); ``metrics.json`` keeps both."""
    cols = list(columns)
    for pair in ALTERNATIVE_COLUMNS:
        if all(c in cols and c in df.columns for c in pair) and len(df):
            empty = [c for c in pair if df[c].isna().all()]
            if len(empty) == 1:
                cols.remove(empty[0])
    return cols


def _null_key(value: Any, column_id: str) -> bool:
    """A key value that means "none": null, or project 0 (Bitrix24 ``GROUP_ID`` 0: no project)."""
    from b24reports.core.i18n import is_null

    if is_null(value):
        return True
    return column_id == "group_id" and str(value) in ("0", "0.0")


def _write_column(ws: Any, j: int, cells: list[Any], kind: str, fmt: Any, is_dead_link: Callable[[str], bool],
                  dead_label: str = "") -> None:
    """Write ``cells`` (:func:`excel_cells`) into column ``j`` of worksheet ``ws`` from row 1:
    None -> no cell; numbers of a numeric ``kind`` with its number format ``fmt``; bools;
    dates with the date format; live http(s) links of a ``url`` column as links, dead ones
    (the demo's loopback server) as ``dead_label`` («демо», as the page shows them); anything
    else as a string (never a formula). xlsxwriter takes one call per cell."""
    if kind in _XLSX_NUM and all(type(v) in (int, float) or v is None for v in cells):
        write = ws.write_number
        for r, v in enumerate(cells, start=1):
            if v is not None:
                write(r, j, v, fmt)
        return
    for r, v in enumerate(cells, start=1):
        if v is None:
            continue
        if kind == "bool":
            ws.write_boolean(r, j, bool(v))
        elif kind in _XLSX_NUM and isinstance(v, int | float):
            ws.write_number(r, j, v, fmt)
        elif kind in ("date", "datetime") and isinstance(v, dt.date):
            ws.write_datetime(r, j, v if isinstance(v, dt.datetime) else dt.datetime.combine(v, dt.time()), fmt)
        elif kind == "url" and isinstance(v, str):
            dead = is_dead_link(v)
            if dead and dead_label:
                ws.write_string(r, j, dead_label)
            elif not dead and v.lower().startswith(("http://", "https://")) and len(v) < 2000:
                ws.write_url(r, j, v, string=v)
            else:
                ws.write_string(r, j, v)
        else:
            ws.write_string(r, j, str(v))


def write_xlsx(job: XlsxJob, path: Path) -> None:
    """One sheet per declared table, named by its localized ``TableSpec.title`` (Excel-safe,
    unique: :func:`excel_sheet_names`) with localized headers, number formats by column
    kind, frozen header row and autofilter. Each key column (employee, department, project,
    pipeline, stage, lead status, source id) is followed by a readable name column, named as
    in the HTML tables (:func:`excel_name_maps`, from ``job.dataset``); the plan's whole-team
    row names its owner "Вся команда" like the HTML (``texts.team_row_label``); enum codes show their localized
    label (``texts.value_label``). Then an "about" sheet (localized parameter labels with raw
    values, as_of, portal, warnings in ``lang``). Text cells are written as strings, never as
    formulas (CRM text like ``=HYPERLINK(...)`` stays text, names included)."""
    import xlsxwriter

    from b24reports.metrics.labels import lookup_name, with_name_columns
    from b24reports.views.common import portal_label
    from b24reports.views.links import is_dead_link
    from b24reports.core.texts import OWNER_COLUMNS, null_key_label, param_label, param_value_text, team_row_label, VALUE_LABELS, translate_warning, value_label

    res, lang = job.ensure_result(), job.lang
    maps = excel_name_maps(job)
    dead_label = t("demo_link", lang)
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False, "remove_timezone": True,
                                         "in_memory": True})  # no temp file per sheet part
    try:
        hdr = wb.add_format({"bold": True, "bg_color": "#F2F4F7", "bottom": 1, "text_wrap": True, "valign": "top"})
        fmts = {k: wb.add_format({"num_format": f}) for k, f in _XLSX_NUM.items()}
        fmts["date"] = wb.add_format({"num_format": "dd.mm.yyyy" if lang == "ru" else "yyyy-mm-dd"})
        fmts["datetime"] = wb.add_format({"num_format": "dd.mm.yyyy hh:mm" if lang == "ru" else "yyyy-mm-dd hh:mm"})
        about = t("about_sheet", lang)
        sheet_names = xlsx_sheet_names(res.spec, lang)
        for tid, ts in res.spec.tables.items():
            ws = wb.add_worksheet(sheet_names[tid])
            df = ts.display(res) if ts.display is not None else res.tables[tid]  # as the page shows it
            shown = ts.display_columns(res) if ts.display_columns is not None else ts.columns
            layout = with_name_columns(_excel_columns(shown, df), maps)
            named = {key for _, key in layout if key}
            kinds = [_columns.kind_of(c) if key is None else "text" for c, key in layout]
            for j, (c, key) in enumerate(layout):
                ws.write_string(0, j, _key_header(c, lang) if c in named else _columns.header(c, lang, res.report, tid), hdr)
                ws.set_column(j, j, 28 if kinds[j] in ("text", "url") else 14)
            raw = {c: df[c].tolist() for c in shown}
            data = [[lookup_name(maps, key, x) for x in raw[key]] if key else raw[c] for c, key in layout]
            owners = [o for o in OWNER_COLUMNS if o in raw]
            for j, (c, key) in enumerate(layout):  # the whole-team row's name cell: "Вся команда", as in HTML
                if key in owners and ts.team_row:
                    data[j] = [name if name is not None else
                               team_row_label(True, key, {o: raw[o][i] for o in owners}, lang)
                               for i, name in enumerate(data[j])]
            for j, (c, key) in enumerate(layout):  # a null source, UTM tag or project: "Не указан", "Без проекта"
                col = key or c  # a name column (of key column ``key``) or a text column (UTM tags)
                empty = null_key_label(col, lang)
                if empty is not None and (key is not None or _columns.kind_of(c) == "text"):
                    data[j] = [empty if _null_key(raw[col][i], col) else x for i, x in enumerate(data[j])]
            for j, ((c, key), k) in enumerate(zip(layout, kinds)):
                # converted a column at a time (excel_cells); enum codes (and plan errors) by label
                labelled = key is None and (c in VALUE_LABELS or c == "error")
                if labelled:
                    cells = [lab if (lab := value_label(c, v, lang)) is not None else _excel_value(v, k) for v in data[j]]
                else:
                    cells = excel_cells(df[c] if key is None and data[j] is raw[c] else data[j], k)
                # a labelled bool («Следующий шаг: нет открытых дел») is its label, as in HTML, not TRUE;
                # any other bool is «да» / «нет», as the page writes it (a reader found True/False)
                if k == "bool" and not labelled:
                    cells = [None if v is None else t("yes" if v else "no", lang) for v in cells]
                kind = "text" if k == "bool" else k
                _write_column(ws, j, cells, kind, fmts.get(kind), is_dead_link, dead_label)
            ws.freeze_panes(1, 0)
            ws.autofilter(0, 0, max(len(df), 1), max(len(layout) - 1, 0))
        ws = wb.add_worksheet(about[:31])
        ws.set_column(0, 0, 24)
        ws.set_column(1, 1, 60)
        ws.write_string(0, 0, t("parameter", lang), hdr)
        ws.write_string(0, 1, t("value", lang), hdr)
        rows = [(t("report", lang), res.spec.title.get(lang, res.report)), (t("portal", lang), portal_label(res.portal, lang) or ""),
                # in the report's time zone, as the page writes them (not ISO, not UTC beside +03:00)
                (t("as_of", lang), format_datetime(res.as_of, lang)),
                (t("generated_at", lang), format_datetime(
                    job.generated_at.astimezone(res.as_of.tzinfo) if res.as_of.tzinfo is not None
                    and job.generated_at.tzinfo is not None else job.generated_at, lang))]
        unread = set() if res.spec.period else {"date_from", "date_to"}  # plan reads no period (ReportSpec.period)
        rows += [(param_label(k, lang), param_value_text(k, v, lang))
                 for k, v in res.params.to_json().items() if k not in unread]
        rows += [(t("warnings", lang), translate_warning(w, lang, maps.get("employee_id"))) for w in res.warnings]
        for i, (k, v) in enumerate(rows, start=1):
            ws.write_string(i, 0, str(k))
            ws.write_string(i, 1, str(v))
    finally:
        wb.close()
