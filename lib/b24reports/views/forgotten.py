"""Views of the forgotten report (METRICS.md "forgotten"), from a computed ``ReportResult``.

:func:`summary_text` is the one-line to-do summary for the top of the page ("12 deals
worth 4.3 M ₽ untouched for 14+ days"); :func:`by_employee_chart` shows who owns the
forgotten money. Figures return ``None`` when there is nothing to draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from babel.numbers import format_compact_currency

from b24reports.core.i18n import count_text
from b24reports.core.i18n import plural as _plural
from b24reports.views.common import PALETTE

TEXT = {
    "ru": {
        "deals_idle": "{n} {deal} на {amount} без касаний {days}+ {day}",
        "leads_idle": "{n} {lead} без касаний {days}+ {day}",
        "no_next": "без следующего шага: {d} {deal} и {l} {lead}",
        "all_clear": "Забытых сделок и лидов нет — все в работе.",
        "amount": "Сумма забытых сделок", "forgotten_deals": "Забытые сделки", "forgotten_leads": "Забытые лиды",
        "no_next_deals": "Сделки без следующего шага",
        "chart": "Кто забыл о деньгах: сумма забытых сделок по менеджерам",
    },
    "en": {
        "deals_idle": "{n} {deal} worth {amount} untouched for {days}+ {day}",
        "leads_idle": "{n} {lead} untouched for {days}+ {day}",
        "no_next": "no next step: {d} {deal} and {l} {lead}",
        "all_clear": "No forgotten deals or leads — everything is in work.",
        "amount": "Forgotten deals amount", "forgotten_deals": "Forgotten deals", "forgotten_leads": "Forgotten leads",
        "no_next_deals": "Deals without next step",
        "chart": "Who forgot the money: forgotten deals amount by manager",
    },
}


def _t(lang: str, key: str) -> str:
    return TEXT.get(lang, TEXT["en"])[key]


def plural(n: int, word: str, lang: str = "ru") -> str:
    """``word`` ('deal' | 'lead' | 'day', a noun of ``i18n.NOUNS``) in the plural form for ``n`` (ru: одна сделка / две сделки /
    пять сделок; en: 1 deal / 2 deals), by the CLDR plural rules of Babel."""
    return _plural(n, word, lang if lang in ("ru", "en") else "en")


def compact_money(value: float, currency: str, lang: str = "ru") -> str:
    """Amount in compact form with 1 decimal: ru ``4,3 млн ₽``, en ``RUB 4.3M`` (a currency code
    is spaced from its number, as the tables write ``RUB 1,000``; babel writes ``RUB4.3M``);
    negative with a minus sign (``−RUB 2.1M``, ``−974 тыс. ₽``)."""
    import re

    s = format_compact_currency(float(value), currency, locale=lang, fraction_digits=1)
    s = re.sub(r"^([-−]?)([A-Z]{3})(?=\d)", "\\1\\2\u00a0", s)
    return "−" + s[1:] if s.startswith("-") else s


def summary_text(result: Any, lang: str = "ru") -> str:
    """One line for the top of the page from ``result.notes`` (metrics.forgotten.summary):
    forgotten deals with their amount and the deal threshold, forgotten leads, and entities
    without a next step; or the all-clear line."""
    n = result.notes
    cur = result.params["currency"]
    parts = []
    if n["forgotten_deals"]:
        parts.append(_t(lang, "deals_idle").format(n=n["forgotten_deals"], deal=plural(n["forgotten_deals"], "deal", lang),
                                                   amount=compact_money(n["forgotten_deals_amount"], cur, lang),
                                                   days=n["deal_idle_days"], day=plural(n["deal_idle_days"], "day", lang)))
    if n["forgotten_leads"]:
        parts.append(_t(lang, "leads_idle").format(n=n["forgotten_leads"], lead=plural(n["forgotten_leads"], "lead", lang),
                                                   days=n["lead_idle_days"], day=plural(n["lead_idle_days"], "day", lang)))
    if n["no_next_step_deals"] or n["no_next_step_leads"]:
        d, l = n["no_next_step_deals"], n["no_next_step_leads"]
        parts.append(_t(lang, "no_next").format(d=d, deal=plural(d, "deal", lang), l=l, lead=plural(l, "lead", lang)))
    if not parts:
        return _t(lang, "all_clear")
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def kpis(result: Any, lang: str = "ru") -> list[tuple[str, Any, str]]:
    """Headline numbers for ``ReportView.kpis``: forgotten deals amount, forgotten deals,
    forgotten leads, deals without a next step."""
    n = result.notes
    return [(_t(lang, "amount"), n["forgotten_deals_amount"], "money"), (_t(lang, "forgotten_deals"), n["forgotten_deals"], "int"),
            (_t(lang, "forgotten_leads"), n["forgotten_leads"], "int"), (_t(lang, "no_next_deals"), n["no_next_step_deals"], "int")]


def by_employee_chart(result: Any, lang: str = "ru", names: Mapping[Any, str] | None = None) -> go.Figure | None:
    """Horizontal bars of ``forgotten_deals_amount`` per manager (table ``by_employee``,
    biggest on top), labelled with the number of forgotten deals. ``None`` when nobody has
    a forgotten deal."""
    b = result.tables["by_employee"]
    b = b[b["forgotten_deals"] > 0]
    if b.empty:
        return None
    b = b.sort_values(["forgotten_deals_amount", "employee_id"], ascending=[True, False])
    cur = result.params["currency"]
    y = [(names or {}).get(int(i), f"#{int(i)}") for i in b["employee_id"]]
    fig = go.Figure(go.Bar(
        x=b["forgotten_deals_amount"], y=y, orientation="h", marker_color=PALETTE[3],
        text=[f"{compact_money(a, cur, lang)} · {d} {plural(d, 'deal', lang)}" for a, d in
              zip(b["forgotten_deals_amount"], b["forgotten_deals"])],
        textposition="auto", hovertemplate="%{y}: %{text}<extra></extra>"))
    fig.update_layout(xaxis={"title": _t(lang, "amount")}, showlegend=False, height=max(260, 22 * len(b) + 100))
    return fig


#: Columns the page shows (Excel and metrics.json keep every column).
DEALS_PAGE = ["title", "employee_id", "stage_id", "amount", "idle_days", "no_next_step", "url"]
LEADS_PAGE = ["title", "employee_id", "status_id", "amount", "idle_days", "no_next_step", "url"]


def list_parts(result: Any, table: str) -> dict[str, Any]:
    """The forgotten list ``table`` (``deals`` | ``leads``) split in two: ``forgotten`` (rows with
    ``forgotten``, the headline's count) and ``no_next_only`` (rows not forgotten, only without a
    next step); ``no_next`` counts every row without a next step (the headline card) and
    ``no_next_forgotten`` those of them that are forgotten too. Frames keep the list's order."""
    df = result.tables[table]
    f = df["forgotten"].astype(bool)
    forgotten, rest = df[f], df[~f]
    return {"forgotten": forgotten, "no_next_only": rest, "no_next": int(df["no_next_step"].astype(bool).sum()),
            "no_next_forgotten": int(forgotten["no_next_step"].astype(bool).sum())}


def list_note(result: Any, table: str, lang: str = "ru") -> str:
    """One sentence over a forgotten list (``deals`` or ``leads``) that ties its two tables to the
    headline cards: the forgotten ones are the first table; of every one without a next step (the
    card's count), those also forgotten stand in the first table, the rest make the second. The
    second reader of issue 20 saw «забытые» and «без следующего шага» mixed in one list under
    cards of 30 and 71. Source: the table's ``forgotten`` and ``no_next_step`` columns."""
    p = list_parts(result, table)
    f, nn, nf, rest = len(p["forgotten"]), p["no_next"], p["no_next_forgotten"], len(p["no_next_only"])
    noun = "deal" if table == "deals" else "lead"
    if lang == "ru":
        return (f"Забытых — {f}, это первый список. Без следующего шага — {count_text(nn, noun, 'ru')}: "
                f"забытые из них ({nf}) стоят в первом списке, ещё {rest} в работе — второй список.")
    return (f"Forgotten: {f}, the first list. Without a next step: {count_text(nn, noun, 'en')}; {nf} of them are "
            f"forgotten too and stand in the first list, the other {rest} are in work: the second list.")


#: captions of the two lists (``{n}``: the list's length)
LIST_TITLES = {
    ("deals", "forgotten"): {"ru": "Забытые сделки — {n}", "en": "Forgotten deals: {n}"},
    ("deals", "no_next_only"): {"ru": "Сделки в работе без следующего шага — {n}", "en": "Deals in work without a next step: {n}"},
    ("leads", "forgotten"): {"ru": "Забытые лиды — {n}", "en": "Forgotten leads: {n}"},
    ("leads", "no_next_only"): {"ru": "Лиды в работе без следующего шага — {n}", "en": "Leads in work without a next step: {n}"},
}


def lists_html(view: Any, table: str, columns: list[str], *, max_rows: int | None = 100) -> str:
    """The forgotten list ``table`` of a ``nb.ReportView`` as two page tables (:func:`list_parts`),
    each captioned with its kind and length («Забытые сделки — 30», «Сделки в работе без
    следующего шага — 59»), ``max_rows`` each (Excel keeps the one full list)."""
    from b24reports.views.common import table_html as _table_html

    lang = view.lang if view.lang in ("ru", "en") else "en"
    parts = list_parts(view.result, table)
    return "".join(
        _table_html(parts[k], columns, view.lang, view.currency, max_rows=max_rows,
                    title=LIST_TITLES[(table, k)][lang].format(n=len(parts[k])), labels=view.labels,
                    keys=getattr(view, "live", ()))
        for k in ("forgotten", "no_next_only"))
