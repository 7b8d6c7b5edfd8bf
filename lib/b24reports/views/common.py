"""Shared look of every report: plotly defaults, localized HTML tables, KPI cards, no-data.

* Figures are a fixed :data:`FIG_WIDTH` px wide (fits A4 portrait at 12 mm margins, ~700 px;
  rendering-notes.md) and
  use the ``b24reports`` plotly template (:func:`style_figure`; ``PALETTE`` colors;
  ``OUTCOME_COLORS`` for won/lost/open).
* :func:`table_html` turns a report table into a localized, formatted HTML table. All CRM
  text is HTML-escaped (a deal titled ``<script>…`` shows as text); ``url`` columns become
  links only for ``http(s)://`` targets.
"""

from __future__ import annotations

import html
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from b24reports.core import columns as _columns
from b24reports.core.i18n import format_int, format_month, format_number, format_value, plural, t
from b24reports.core.texts import OWNER_COLUMNS, team_row_label, translate_warning, value_label
from b24reports.views.links import is_dead_link

FIG_WIDTH = 660
FIG_HEIGHT = 380
PALETTE = ["#2E6FD8", "#F29F05", "#2BA84A", "#D64545", "#7B61FF", "#12A4B6", "#8C8C8C", "#C2185B", "#6D4C41", "#9E9D24"]
OUTCOME_COLORS = {"won": "#2BA84A", "lost": "#D64545", "open": "#2E6FD8"}
FONT = "Inter, 'Segoe UI', Roboto, Arial, sans-serif"

#: CSS for tables/cards (the nbconvert template and ``nb`` include it once per page).
CSS = """
.b24-table{border-collapse:collapse;font-size:11px;margin:6px 0 14px 0;break-inside:auto;max-width:100%;table-layout:auto}
.b24-table.b24-wide{font-size:9.5px;width:100%}
.b24-table.b24-part{margin-bottom:6px}
.b24-table td{overflow-wrap:break-word}
.b24-table th,.jp-RenderedHTMLCommon .b24-table th{background:#f2f4f7;text-align:left;padding:4px 6px;border-bottom:1px solid #ccd;vertical-align:bottom;white-space:normal;overflow-wrap:normal;hyphens:auto}
.b24-table.b24-wide th,.b24-table.b24-wide td,.jp-RenderedHTMLCommon .b24-table.b24-wide th,.jp-RenderedHTMLCommon .b24-table.b24-wide td{padding:3px 4px}
.b24-table td,.jp-RenderedHTMLCommon .b24-table td{padding:3px 6px;border-bottom:1px solid #eee;vertical-align:top;text-align:left}
.b24-table td.num,.jp-RenderedHTMLCommon .b24-table td.num{text-align:right;white-space:nowrap}
.b24-table td.nw,.jp-RenderedHTMLCommon .b24-table td.nw{white-space:nowrap}
.b24-table tr{break-inside:avoid}
.b24-caption{font-weight:600;margin:10px 0 2px 0;break-after:avoid;page-break-after:avoid}
.b24-no-data{color:#777;font-style:italic}
.b24-more{color:#777;font-size:11px;break-before:avoid;page-break-before:avoid}
.b24-cont{color:#777;font-size:11px;break-after:avoid;page-break-after:avoid}
.b24-kpis{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0 14px 0;break-inside:avoid}
.b24-kpi{border:1px solid #dde;border-radius:6px;padding:8px 12px;min-width:130px}
.b24-kpi .v{font-size:20px;font-weight:600}
.b24-kpi .l{font-size:11px;color:#667}
.b24-warnings{color:#8a5300;font-size:12px}
.b24-print-only{display:none}
@media print{.b24-table.b24-print-only{display:table}div.b24-print-only{display:block}.b24-screen-only{display:none !important}}
.b24-footer{color:#667;font-size:11px;margin-top:24px;border-top:1px solid #eee;padding-top:6px}
"""
_NUMERIC = {"int", "money", "pct", "ratio", "days", "number", "id"}
#: kinds / column ids shown on one line (a month ``2026-11`` or a date must not break at its hyphen)
_NOWRAP = {"date", "datetime"}
_NOWRAP_COLUMNS = {"month", "period"}
#: at most this many columns in one HTML table (A4 portrait, ~700 px); a wider table is shown
#: as several tables that repeat its key columns (Excel and metrics.json keep one table)
PAGE_MAX_COLUMNS = 10
#: from this many columns a table uses the compact (smaller font, full width) style
WIDE_COLUMNS = 7
#: kinds that identify a row (repeated in every part of a split table)
_KEY_KINDS = {"id", "code", "text", "date", "datetime"}


def _register_template() -> None:
    """Register :data:`TEMPLATE` with plotly, once per process, on first use (building it
    costs ~0.7 s of plotly imports and validation: render's own process, which writes only
    Excel and JSON, never pays it)."""
    if TEMPLATE in pio.templates:
        return
    tpl = go.layout.Template(pio.templates["plotly_white"])
    tpl.layout.colorway = PALETTE
    tpl.layout.font = {"family": FONT, "size": 12}
    tpl.layout.width = FIG_WIDTH
    tpl.layout.height = FIG_HEIGHT
    tpl.layout.margin = {"l": 60, "r": 20, "t": 50, "b": 50}
    tpl.layout.legend = {"orientation": "h", "y": -0.2}
    # axis ticks: whole numbers with thousands separators, never SI suffixes (5M, 20k); in the
    # template, so every axis of every figure (a second y axis too) gets it without an update
    for axis in (tpl.layout.xaxis, tpl.layout.yaxis):
        axis.exponentformat = "none"
        axis.separatethousands = True
        # a gap between tick labels and the axis line: the "0" of x and the "0" of y met at
        # the origin, and a right axis's "0" touched the last month (layout check, issue 20)
        axis.ticklabelstandoff = 4
    pio.templates[TEMPLATE] = tpl


#: name of the report look's plotly template (registered by :func:`use_report_template` or
#: the first :func:`style_figure`)
TEMPLATE = "b24reports"


def use_report_template() -> None:
    """Make :data:`TEMPLATE` plotly's default template in this process (report kernels:
    ``nb.setup_plotly``). Figures built afterwards get it at construction through plotly's fast
    path, and :func:`style_figure` then skips assigning it (on a 2-core machine ~25 ms of
    validation per figure, the largest part of a dashboard's redraw in the kernel)."""
    _register_template()
    pio.templates.default = TEMPLATE


#: trace attributes that carry CRM text plotly would otherwise read as markup (``<b>``, ``<br>``)
_TEXT_ATTRS = ("x", "y", "text", "hovertext", "labels", "customdata", "name")


def _escape_plotly(v: Any) -> Any:
    """``v`` with ``&``, ``<``, ``>`` of every string escaped (plotly shows ``&lt;b&gt;`` as the
    literal ``<b>``); numbers, dates and ``None`` unchanged; lists/tuples/arrays element-wise."""
    if isinstance(v, str):
        return html.escape(v, quote=False)
    if isinstance(v, list | tuple) or (hasattr(v, "dtype") and getattr(v.dtype, "kind", "") in "OU" and hasattr(v, "tolist")):
        items = v.tolist() if hasattr(v, "tolist") else list(v)
        if any(isinstance(x, str | list | tuple) for x in items):
            return [_escape_plotly(x) for x in items]
    return v


def escape_figure_text(fig: go.Figure) -> go.Figure:
    """Escape the CRM text inside ``fig``'s traces (axis categories, bar/point text, hover text,
    custom data, legend names, sankey node labels) so plotly shows a deal titled ``<b>x</b>``
    as that text, not bold. Idempotent (a figure is escaped once); returns ``fig``."""
    if getattr(fig, "_b24_escaped", False):
        return fig
    for tr in fig.data:
        for a in _TEXT_ATTRS:
            cur = tr[a] if a in tr else None  # read once: plotly may hand out a new array per read
            if cur is not None:
                new = _escape_plotly(cur)
                if new is not cur:
                    tr[a] = new
        if "node" in tr and tr.node is not None and tr.node.label is not None:
            tr.node.label = _escape_plotly(tr.node.label)
    fig._b24_escaped = True
    return fig


#: plotly ``layout.separators`` (decimal mark, then thousands separator) by report language,
#: matching the tables (``1 250 000 ₽``, ``69,2 %``)
SEPARATORS = {"ru": ", ", "en": ".,"}


#: px of a chart's top margin the title takes; each row of a legend above the plot adds LEGEND_ROW
TITLE_BAND = 44
LEGEND_ROW = 24


def _top_legend_rows(fig: go.Figure) -> int:
    """How many rows a legend placed above the plot (``legend.y`` ≥ 1) takes, 0 when the legend
    is not above the plot or not shown. As plotly.js lays out a horizontal legend: one row when
    every entry (~7 px a character plus the symbol) fits the plot's width, else columns as wide
    as the widest entry; the plot's width is taken small (:data:`FIG_WIDTH` − 220 px of axis
    labels), so the estimate errs to more room, never to a legend on the title."""
    leg = fig.layout.legend
    if leg is None or leg.y is None or leg.y < 1 or fig.layout.showlegend is False:
        return 0
    names = [tr.name for tr in fig.data if tr.name and tr.showlegend is not False]
    if len(names) < 2 and fig.layout.showlegend is not True:
        return 0
    widths = [7 * len(n) + 45 for n in names]
    room = FIG_WIDTH - 220
    if leg.orientation != "h":
        return len(names)
    if sum(widths) <= room:
        return 1
    return -(-len(names) // max(1, room // max(widths)))


def style_figure(fig: go.Figure, title: str | None = None, height: int | None = None,
                 lang: str | None = None) -> go.Figure:
    """Apply the report look to ``fig`` in place (template ``b24reports``, fixed width
    :data:`FIG_WIDTH` px, ``height`` px, else a height the figure already set (e.g. a bar
    chart sized to its number of rows), else :data:`FIG_HEIGHT`; optional ``title``) and
    return it. CRM text in the traces is escaped (:func:`escape_figure_text`).

    Numbers read like the tables: with ``lang`` (``ru``/``en``) plotly's ``separators`` give
    ``69,2`` and ``1 250 000`` (ru) or ``69.2`` and ``1,250,000`` (en); axis ticks are whole
    numbers with thousands separators, never SI suffixes (``5M``, ``20k``)."""
    escape_figure_text(fig)
    look: dict[str, Any] = {"width": FIG_WIDTH, "height": height or fig.layout.height or FIG_HEIGHT}
    if pio.templates.default != TEMPLATE:  # else the figure got it when it was built (use_report_template)
        _register_template()
        look["template"] = TEMPLATE
    if lang is not None:
        look["separators"] = SEPARATORS.get(lang, SEPARATORS["en"])
    if title is not None:
        look["title"] = {"text": html.escape(title), "x": 0, "xanchor": "left"}
        rows = _top_legend_rows(fig)
        if rows:  # a legend above the plot: the title goes to the very top, the legend below it
            look["title"].update({"y": 1, "yref": "container", "yanchor": "top", "pad": {"t": 10}})
            look["margin"] = {"t": TITLE_BAND + LEGEND_ROW * rows}
    fig.update_layout(look)  # one update: each is a validation pass (ms per figure on a dashboard's redraw)
    return fig


def portal_label(portal: str | None, lang: str = "ru") -> str | None:
    """How a report header names its portal: the portal address, or for the demo's temporary
    server on a loopback host (``http://127.0.0.1:PORT``, gone once ``b24reports demo`` ends)
    «демо-портал» / "demo portal" — a dead local address means nothing to a reader.
    ``metrics.json`` keeps the address. ``None`` stays ``None``."""
    if not portal:
        return portal
    return t("demo_portal", lang) if is_dead_link(portal) else portal


def _cell(value: Any, kind: str, lang: str, currency: str) -> str:
    if kind == "url":
        if value is None or not isinstance(value, str) or not value:
            return ""
        target = html.escape(value, quote=True)
        if is_dead_link(value):  # the demo's portal server is gone once `demo` ends: no dead link
            return f'<span class="b24-demo-link">{html.escape(t("demo_link", lang))}</span>'
        if value.lower().startswith(("http://", "https://")):
            return f'<a href="{target}" target="_blank" rel="noopener">{html.escape(t("open", lang))}</a>'
        return target
    return html.escape(format_value(value, kind, lang, currency))


def table_html(df: Any, spec: Any, lang: str = "ru", currency: str = "RUB", *, max_rows: int | None = None,
               title: str | None = None, labels: Mapping[str, Mapping[Any, str]] | None = None,
               keys: Collection[str] = (), table_id: str | None = None, report: str | None = None) -> str:
    """Localized HTML ``<table>`` of ``df`` (a DataFrame with canonical column ids).

    ``spec``: a ``reports.TableSpec`` (its ``columns`` and ``title``) or a list of column
    ids. Headers from ``b24reports.core.columns`` in ``lang``; values formatted by column kind
    (money in ``currency``, ``_pct`` as ``12,5 %``, null ratios ``—``). ``labels`` maps a
    column's raw values to display text (e.g. ``{"employee_id": {5: "Иванова"}}``).
    ``max_rows`` cuts long tables with a note (Excel keeps all rows). Every value and header
    is HTML-escaped. An empty frame gives the :func:`no_data` message. A table of more than
    :data:`PAGE_MAX_COLUMNS` columns is shown as several tables (one caption) that each
    repeat the key columns (:func:`_column_parts`) so it fits an A4 page; from
    :data:`WIDE_COLUMNS` columns a table uses the compact style (class ``b24-wide``).
    ``keys`` (live dashboards only): key columns (e.g. ``employee_id``, ``source_id``) whose
    labelled cells carry their raw value as ``data-b24r-key``/``data-b24r-value``, so a click on
    a manager or a source in a table can refilter the report; snapshots pass none.
    A ``TableSpec`` with ``team_row`` names the owner of its whole-team row "Вся команда"
    (``texts.team_row_label``, as Excel does). ``table_id`` and ``report``: the table's id and the
    report's name, for headers a report words its own way (``columns.REPORT_HEADERS``).
    """
    cols: Sequence[str] = list(getattr(spec, "columns", spec))
    team_row = bool(getattr(spec, "team_row", False))  # TableSpec.team_row
    if title is None and hasattr(spec, "title"):
        title = spec.title.get(lang) or next(iter(spec.title.values()), None)
    cap = f'<div class="b24-caption">{html.escape(title)}</div>' if title else ""
    if df is None or len(df) == 0:
        return cap + no_data(lang)
    labels = labels or {}
    def _head(c: str) -> str:  # a labelled id column shows names: use the *_name header
        if c in labels and c.endswith("_id") and c[:-3] + "_name" in _columns.CATALOG:
            return _columns.header(c[:-3] + "_name", lang, report, table_id)
        return _columns.header(c, lang, report, table_id)

    n = len(df) if max_rows is None else min(len(df), max_rows)
    data = {c: df[c].iloc[:n].tolist() if c in df.columns else [None] * n for c in cols}  # shown rows only
    split = _column_parts(cols)
    # a long list stops in the PDF after PRINT_ROWS rows with a note (the page and Excel keep all)
    long_list = "url" in cols or len(df) > PRINT_LONG
    print_cut = PRINT_ROWS if (long_list and not keys and n > PRINT_ROWS + PRINT_SLACK) else None
    # a wide table is split into column parts for A4 only: a screen shows it whole (a live
    # dashboard, which is not printed, only whole: its cells are click targets)
    parts = [list(cols)] if keys else ([*split, list(cols)] if len(split) > 1 else split)
    # a "number" column holding only whole numbers (e.g. weighted activity 1974) shows no ",00"
    whole = {c for c in cols if _columns.kind_of(c) == "number" and c not in labels and _all_whole(data[c])}
    tables = []
    for part in parts:
        head = "".join(f"<th>{html.escape(_head(c))}</th>" for c in part)
        rows = []
        for i in range(n):
            tds = []
            for c in part:
                k = _columns.kind_of(c)
                v = data[c][i]
                if c in labels and _columns_null(v) and team_row:  # the whole-team row (plan): "Вся команда"
                    team = team_row_label(True, c, {o: data[o][i] for o in OWNER_COLUMNS if o in data}, lang)
                    if team is not None:
                        tds.append(f"<td>{html.escape(team)}</td>")
                        continue
                if c in labels and not _columns_null(v):
                    text = html.escape(str(labels[c].get(v, v)))
                    attrs = (f' data-b24r-key="{html.escape(c)}" data-b24r-value="{html.escape(str(v))}"'
                             if c in keys else "")
                    tds.append(f"<td{attrs}>{text}</td>")
                    continue
                cls = ' class="num"' if k in _NUMERIC else ' class="nw"' if (k in _NOWRAP or c in _NOWRAP_COLUMNS) else ""
                shown = value_label(c, v, lang)  # enum codes (month "overdue", basis "own") in lang
                if shown is None and c == "month" and isinstance(v, str):  # «дек 2025» as the charts, not «2025-12»
                    shown = format_month(v, lang)
                text = (html.escape(shown) if shown is not None
                        else html.escape(format_number(v, lang, 0)) if c in whole and not _columns_null(v)
                        else html.escape(format_number(v, lang, _columns.DISPLAY_DIGITS[c]))
                        if c in _columns.DISPLAY_DIGITS and not _columns_null(v)
                        else _cell(v, k, lang, currency))
                tds.append(f"<td{cls}>{text}</td>")
            cut = print_cut is not None and i >= print_cut  # past the PDF's rows: screen only
            rows.append(("<tr class=\"b24-screen-only\">" if cut else "<tr>") + "".join(tds) + "</tr>")
        klass = "b24-table"
        if max(len(p) for p in parts) >= WIDE_COLUMNS:  # every part of one table in one type size
            klass += " b24-wide"
        if len(parts) > 1:
            klass += " b24-screen-only" if part is parts[-1] else " b24-part b24-print-only"
        if len(parts) > 1 and part is not parts[0] and part is not parts[-1]:
            # a print part after the first repeats the key columns: say it goes on, not over (a tenth
            # reader read the managers' second part, starting again at Соколов 2025-12, as a duplicate)
            tables.append(f'<div class="b24-cont b24-print-only">{html.escape(t("table_continued", lang))}</div>')
        tables.append(f'<table class="{klass}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    more = ""
    if n < len(df):
        k = len(df) - n
        more = f'<div class="b24-more b24-screen-only">{_more_text(k, lang)}</div>'
    if print_cut is not None or n < len(df):
        k = len(df) - (print_cut if print_cut is not None else n)
        more += f'<div class="b24-more b24-print-only">{_more_text(k, lang)}</div>'
    return f'{cap}{"".join(tables)}{more}'


#: rows of a long list (a table with links, or longer than PRINT_LONG rows) a PDF shows; the
#: rest is "и ещё N строк — полный список в Excel" (cut only when that hides over PRINT_SLACK rows)
PRINT_ROWS = 25
PRINT_LONG = 40
PRINT_SLACK = 5


def _more_text(k: int, lang: str) -> str:
    """"… и ещё 75 строк — полный список в Excel" (escaped)."""
    return html.escape(t("more_rows", lang, n=format_int(k, lang), noun=plural(k, "row", lang)))


def _column_parts(cols: Sequence[str], max_columns: int | None = None) -> list[list[str]]:
    """``cols`` cut into page-wide parts of at most ``max_columns`` (default
    :data:`PAGE_MAX_COLUMNS`) columns each; every part repeats the leading key columns (the
    run of id/name/code/date columns, plus a leading ``line`` number) and the other columns are
    shared out evenly in their order. A table that fits gives ``[cols]``."""
    max_columns = max_columns or PAGE_MAX_COLUMNS
    cols = list(cols)
    if len(cols) <= max_columns:
        return [cols]
    keys: list[str] = []
    for i, c in enumerate(cols):
        if (i == 0 and c == "line") or _columns.kind_of(c) in _KEY_KINDS:
            keys.append(c)
        else:
            break
    if len(keys) > max_columns // 2:
        keys = keys[: max_columns // 2]
    rest = cols[len(keys):]
    per = max_columns - len(keys)
    n_parts = -(-len(rest) // per)
    size = -(-len(rest) // n_parts)
    return [keys + rest[j:j + size] for j in range(0, len(rest), size)]


def _all_whole(values: Sequence[Any]) -> bool:
    """True when every non-null value is a whole number (``1974.0``); False for text."""
    try:
        return all(_columns_null(v) or float(v).is_integer() for v in values)
    except (TypeError, ValueError):
        return False


def _columns_null(v: Any) -> bool:
    from b24reports.core.i18n import is_null

    return is_null(v)


#: The page that defines every number of every report (one ``## <report>`` section each).
METRICS_DOC = "docs/metrics.md"


def metrics_doc_url(report: str) -> str | None:
    """``file://`` URL of :data:`METRICS_DOC`'s section of ``report`` when the project's docs are
    on this machine (a source checkout: ``docs/`` next to ``notebooks/``), else None."""
    from pathlib import Path

    from b24reports.core.paths import NOTEBOOKS_DIR

    doc = Path(NOTEBOOKS_DIR).resolve().parent / METRICS_DOC
    return f"{doc.as_uri()}#{report}" if doc.is_file() else None


#: paragraphs that say which language follows (docs/metrics.md marks a section's halves so)
_LANG_MARKS = {"### Русский": "ru", "**По-русски.**": "ru", "### English": "en", "**In English.**": "en",
               "**English.**": "en", "**Русский.**": "ru"}


def _paragraph_lang(par: str) -> str | None:
    """``ru`` or ``en`` by which letters a paragraph mostly holds (an English line may quote a
    Russian stage name), ``None`` for one without letters (a formula alone)."""
    import re

    cyr, lat = len(re.findall(r"[А-Яа-яЁё]", par)), len(re.findall(r"[A-Za-z]", par))
    if cyr == lat == 0:
        return None
    return "ru" if cyr > lat else "en"


def metrics_section(name: str, lang: str = "ru") -> str | None:
    """The ``## name`` section of :data:`METRICS_DOC` (``PROJECT_DIR/docs/metrics.md``) in
    ``lang`` only, as markdown: paragraphs after a language mark («### Русский», «**In
    English.**») go to that language, the others by the letters they mostly hold (a paragraph
    without letters goes with the language before it); the marks themselves are left out.
    ``None`` when the file or the section is missing (an install without the docs)."""
    import re

    from b24reports.core.paths import PROJECT_DIR

    doc = PROJECT_DIR / METRICS_DOC
    if not doc.is_file():
        return None
    parts = re.split(r"^## (.+)$", doc.read_text(encoding="utf-8"), flags=re.M)
    sections = {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}
    if name not in sections:
        return None
    out, mode, fence = [], None, False
    for par in re.split(r"\n\s*\n", sections[name].strip()):
        if fence or par.lstrip().startswith("```"):  # a code block stays with the language before it
            fence = (par.count("```") % 2 == 1) != fence
            if mode in (None, lang):
                out.append(par)
            continue
        mark = _LANG_MARKS.get(par.strip())
        first = par.strip().split("\n", 1)[0]
        if mark is None and first.strip() in _LANG_MARKS:  # a mark heading its paragraph
            mark, par = _LANG_MARKS[first.strip()], par.strip().split("\n", 1)[1] if "\n" in par.strip() else ""
        if mark is not None:
            mode = mark
            if not par.strip() or par.strip() in _LANG_MARKS:
                continue
        else:
            mode = _paragraph_lang(par) or mode
        if mode in (None, lang):
            out.append(par)
    return "\n\n".join(out) if out else None


def metrics_appendix(report: str, lang: str = "ru") -> list[str] | None:
    """The definitions at the foot of a report page, as markdown blocks shown one after another
    (``lang``): the heading with the first paragraph of this report's section of
    :data:`METRICS_DOC` (kept together on a page), the rest of the section, and the common rules
    under a bold line (:func:`metrics_section`). So an e-mailed HTML or PDF carries them (a link
    to the repository's file was dead there: second reader of issue 20). ``None`` without the
    docs (then :func:`footer_html`)."""
    import re

    body = metrics_section(report, lang)
    if body is None:
        return None
    common = metrics_section("Общие правила / Common rules", lang)
    head = {"ru": "Как считается каждое число этого отчёта", "en": "How every number of this report is computed"}[lang]
    rules = {"ru": "Общие правила всех отчётов", "en": "Rules common to every report"}[lang]
    first, *rest = re.split(r"\n\s*\n", body, maxsplit=1)
    blocks = [f"## {head}\n\n{first}"] + [r for r in rest if r.strip()]
    if common:
        blocks.append(f"**{rules}**\n\n{common}")
    return blocks


def footer_html(report: str, lang: str = "ru") -> str:
    """The foot of a report page: where its numbers are defined (:data:`METRICS_DOC`, section
    ``report``), linked to the local docs when they are there."""
    where = f"{METRICS_DOC}#{report}"
    url = metrics_doc_url(report)
    link = (f'<a href="{html.escape(url, quote=True)}">{html.escape(where)}</a>' if url else html.escape(where))
    text = {"ru": "Как считается каждое число этого отчёта:", "en": "How every number of this report is computed:"}[lang]
    return f'<p class="b24-footer">{html.escape(text)} {link}</p>'


def pace_basis(elapsed_days: float, days_in_month: int, lang: str = "ru") -> str:
    """How many days of the month a run rate stands on, for a card's label: «первые 6,5 дня из 31» /
    "first 6.5 days of 31" (``elapsed_days`` fractional, METRICS.md "dynamics" ``run_rate``, shown
    to one decimal)."""
    from b24reports.core.i18n import days_text

    e = days_text(round(float(elapsed_days), 1), lang)
    return f"первые {e} из {int(days_in_month)}" if lang == "ru" else f"first {e} of {int(days_in_month)}"


def no_data(lang: str = "ru") -> str:
    """HTML paragraph "Нет данных за период" / "No data for the period"."""
    return f'<p class="b24-no-data">{html.escape(t("no_data", lang))}</p>'


def kpi_cards(items: Iterable[tuple[str, Any, str]], lang: str = "ru", currency: str = "RUB") -> str:
    """HTML row of headline numbers. ``items``: ``(label, value, kind)`` with ``kind`` a
    column kind (``money``, ``pct``, ``int``, …); labels and values are escaped."""
    cards = []
    for label, value, kind in items:
        whole = kind == "number" and not _columns_null(value) and _all_whole([value])
        v = html.escape(format_number(value, lang, 0) if whole else format_value(value, kind, lang, currency))
        cards.append(f'<div class="b24-kpi"><div class="v">{v}</div><div class="l">{html.escape(str(label))}</div></div>')
    return f'<div class="b24-kpis">{"".join(cards)}</div>'


def warnings_html(warnings: Sequence[str], lang: str = "ru", limit: int = 20,
                  names: Mapping[int, str] | None = None) -> str:
    """HTML list of data-quality warnings (escaped; at most ``limit`` shown), '' if none."""
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(translate_warning(w, lang, names))}</li>" for w in warnings[:limit])
    k = len(warnings) - limit
    more = (f"<li>{html.escape(t('more_rows', lang, n=format_int(k, lang), noun=plural(k, 'warning', lang)))}</li>"
            if k > 0 else "")
    return f'<div class="b24-warnings"><b>{html.escape(t("warnings", lang))}</b><ul>{items}{more}</ul></div>'


def grouped_by_total(df: Any, key: str, value: str, then: str) -> Any:
    """Rows of ``df`` grouped by ``key`` (e.g. ``employee_id``), the group with the largest
    total ``value`` (e.g. ``won_amount``) first, ties by ``key``; inside a group rows by
    ``then`` (e.g. ``month``), then their original order. Tables a reader scans by who sold
    most, not by employee ID. Same rows, same columns."""
    if len(df) == 0:
        return df
    total = df.groupby(key)[value].transform("sum")
    order = df.assign(_total=-total.astype(float), _row=range(len(df))).sort_values(
        ["_total", key, then, "_row"], kind="stable")
    return df.loc[order.index]
