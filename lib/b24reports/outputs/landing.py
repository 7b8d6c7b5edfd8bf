"""The dashboards' landing page: every registered report with its title, link and one line of
description, in the server's language (``b24reports serve``; app mode adds the viewer's session to
the links)."""

from __future__ import annotations

import html
from pathlib import Path

from b24reports import reports
from b24reports.core.errors import BadParameter

_LANDING = {
    "ru": ("Отчёты по продажам", "Выберите отчёт: откроется живой дашборд с фильтрами."),
    "en": ("Sales reports", "Pick a report: it opens as a live dashboard with filters."),
}


def landing_html(lang: str = "ru", base_url: str = "/", query: str | None = None) -> str:
    """HTML fragment of the landing page: a heading and one ``<li>`` per registered report
    (``reports.all_reports()``, by name) with its title, link ``{base_url}voila/render/
    <notebook>`` and one-line description, in ``lang`` (``ru``/``en``; else
    ``BadParameter('lang', …)``). ``query``: the links' URL query (default ``lang=en`` in
    English, none in Russian; app mode adds the viewer's session). Everything is escaped."""
    if lang not in _LANDING:
        raise BadParameter("lang", lang, "expected ru or en")
    title, sub = _LANDING[lang]
    items = []
    for spec in reports.all_reports():
        name = spec.title.get(lang) or spec.name
        desc = (spec.description or {}).get(lang, "") if isinstance(spec.description, dict) else str(spec.description or "")
        first = desc.strip().split("\n")[0]
        if ". " in first:
            first = first.split(". ")[0] + "."
        q = query if query is not None else ("lang=en" if lang == "en" else "")
        href = f"{base_url}voila/render/{Path(spec.notebook).name}" + (f"?{q}" if q else "")
        items.append(f'<li class="b24r-report" data-report="{html.escape(spec.name)}"><a href="{html.escape(href)}">'
                     f"{html.escape(name)}</a><p>{html.escape(first)}</p></li>")
    return (f'<div class="b24r-landing"><h1>{html.escape(title)}</h1><p>{html.escape(sub)}</p>'
            f'<ul>{"".join(items)}</ul></div>')
