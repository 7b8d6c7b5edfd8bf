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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from .. import columns as _columns
from ..i18n import format_value, t

FIG_WIDTH = 660
FIG_HEIGHT = 380
PALETTE = ["#2E6FD8", "#F29F05", "#2BA84A", "#D64545", "#7B61FF", "#12A4B6", "#8C8C8C", "#C2185B", "#6D4C41", "#9E9D24"]
OUTCOME_COLORS = {"won": "#2BA84A", "lost": "#D64545", "open": "#2E6FD8"}
FONT = "Inter, 'Segoe UI', Roboto, Arial, sans-serif"

#: CSS for tables/cards (the nbconvert template and ``nb`` include it once per page).
CSS = """
.b24-table{border-collapse:collapse;font-size:11px;margin:6px 0 14px 0;break-inside:auto;max-width:100%}
.b24-table td{overflow-wrap:break-word}
.b24-table th,.jp-RenderedHTMLCommon .b24-table th{background:#f2f4f7;text-align:left;padding:4px 6px;border-bottom:1px solid #ccd;vertical-align:bottom}
.b24-table td,.jp-RenderedHTMLCommon .b24-table td{padding:3px 6px;border-bottom:1px solid #eee;vertical-align:top;text-align:left}
.b24-table td.num,.jp-RenderedHTMLCommon .b24-table td.num{text-align:right;white-space:nowrap}
.b24-table tr{break-inside:avoid}
.b24-caption{font-weight:600;margin:10px 0 2px 0}
.b24-no-data{color:#777;font-style:italic}
.b24-more{color:#777;font-size:11px}
.b24-kpis{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0 14px 0;break-inside:avoid}
.b24-kpi{border:1px solid #dde;border-radius:6px;padding:8px 12px;min-width:130px}
.b24-kpi .v{font-size:20px;font-weight:600}
.b24-kpi .l{font-size:11px;color:#667}
.b24-warnings{color:#8a5300;font-size:12px}
"""

_NUMERIC = {"int", "money", "pct", "ratio", "days", "number", "id"}


def _register_template() -> None:
    tpl = go.layout.Template(pio.templates["plotly_white"])
    tpl.layout.colorway = PALETTE
    tpl.layout.font = {"family": FONT, "size": 12}
    tpl.layout.width = FIG_WIDTH
    tpl.layout.height = FIG_HEIGHT
    tpl.layout.margin = {"l": 60, "r": 20, "t": 50, "b": 50}
    tpl.layout.legend = {"orientation": "h", "y": -0.2}
    pio.templates["b24reports"] = tpl


_register_template()


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
            if a in tr and tr[a] is not None:
                new = _escape_plotly(tr[a])
                if new is not tr[a]:
                    tr[a] = new
        if "node" in tr and tr.node is not None and tr.node.label is not None:
            tr.node.label = _escape_plotly(tr.node.label)
    fig._b24_escaped = True
    return fig


def style_figure(fig: go.Figure, title: str | None = None, height: int | None = None) -> go.Figure:
    """Apply the report look to ``fig`` in place (template ``b24reports``, fixed width
    :data:`FIG_WIDTH` px, ``height`` px, else a height the figure already set (e.g. a bar
    chart sized to its number of rows), else :data:`FIG_HEIGHT`; optional ``title``) and
    return it. CRM text in the traces is escaped (:func:`escape_figure_text`)."""
    escape_figure_text(fig)
    fig.update_layout(template="b24reports", width=FIG_WIDTH, height=height or fig.layout.height or FIG_HEIGHT)
    if title is not None:
        fig.update_layout(title={"text": html.escape(title), "x": 0, "xanchor": "left"})
    return fig


def _cell(value: Any, kind: str, lang: str, currency: str) -> str:
    if kind == "url":
        if value is None or not isinstance(value, str) or not value:
            return ""
        target = html.escape(value, quote=True)
        if value.lower().startswith(("http://", "https://")):
            return f'<a href="{target}" target="_blank" rel="noopener">{html.escape(t("open", lang))}</a>'
        return target
    return html.escape(format_value(value, kind, lang, currency))


def table_html(df: Any, spec: Any, lang: str = "ru", currency: str = "RUB", *, max_rows: int | None = None,
               title: str | None = None, labels: Mapping[str, Mapping[Any, str]] | None = None) -> str:
    """Localized HTML ``<table>`` of ``df`` (a DataFrame with canonical column ids).

    ``spec``: a ``reports.TableSpec`` (its ``columns`` and ``title``) or a list of column
    ids. Headers from ``b24reports.columns`` in ``lang``; values formatted by column kind
    (money in ``currency``, ``_pct`` as ``12,5 %``, null ratios ``—``). ``labels`` maps a
    column's raw values to display text (e.g. ``{"employee_id": {5: "Иванова"}}``).
    ``max_rows`` cuts long tables with a note (Excel keeps all rows). Every value and header
    is HTML-escaped. An empty frame gives the :func:`no_data` message.
    """
    cols: Sequence[str] = list(getattr(spec, "columns", spec))
    if title is None and hasattr(spec, "title"):
        title = spec.title.get(lang) or next(iter(spec.title.values()), None)
    cap = f'<div class="b24-caption">{html.escape(title)}</div>' if title else ""
    if df is None or len(df) == 0:
        return cap + no_data(lang)
    labels = labels or {}
    kinds = [(c, _columns.kind_of(c)) for c in cols]
    def _head(c: str) -> str:  # a labelled id column shows names: use the *_name header
        if c in labels and c.endswith("_id") and c[:-3] + "_name" in _columns.CATALOG:
            return _columns.header(c[:-3] + "_name", lang)
        return _columns.header(c, lang)

    head = "".join(f"<th>{html.escape(_head(c))}</th>" for c in cols)
    n = len(df) if max_rows is None else min(len(df), max_rows)
    data = {c: df[c].tolist()[:n] if c in df.columns else [None] * n for c in cols}
    rows = []
    for i in range(n):
        tds = []
        for c, k in kinds:
            v = data[c][i]
            if c in labels and not _columns_null(v):
                text = html.escape(str(labels[c].get(v, v)))
                tds.append(f"<td>{text}</td>")
                continue
            cls = ' class="num"' if k in _NUMERIC else ""
            tds.append(f"<td{cls}>{_cell(v, k, lang, currency)}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    more = ""
    if n < len(df):
        more = f'<div class="b24-more">{html.escape(t("more_rows", lang, n=len(df) - n))}</div>'
    return f'{cap}<table class="b24-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{more}'


def _columns_null(v: Any) -> bool:
    from ..i18n import is_null

    return is_null(v)


def no_data(lang: str = "ru") -> str:
    """HTML paragraph "Нет данных за период" / "No data for the period"."""
    return f'<p class="b24-no-data">{html.escape(t("no_data", lang))}</p>'


def kpi_cards(items: Iterable[tuple[str, Any, str]], lang: str = "ru", currency: str = "RUB") -> str:
    """HTML row of headline numbers. ``items``: ``(label, value, kind)`` with ``kind`` a
    column kind (``money``, ``pct``, ``int``, …); labels and values are escaped."""
    cards = []
    for label, value, kind in items:
        v = html.escape(format_value(value, kind, lang, currency))
        cards.append(f'<div class="b24-kpi"><div class="v">{v}</div><div class="l">{html.escape(str(label))}</div></div>')
    return f'<div class="b24-kpis">{"".join(cards)}</div>'


def warnings_html(warnings: Sequence[str], lang: str = "ru", limit: int = 20) -> str:
    """HTML list of data-quality warnings (escaped; at most ``limit`` shown), '' if none."""
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings[:limit])
    more = f"<li>{html.escape(t('more_rows', lang, n=len(warnings) - limit))}</li>" if len(warnings) > limit else ""
    return f'<div class="b24-warnings"><b>{html.escape(t("warnings", lang))}</b><ul>{items}{more}</ul></div>'
