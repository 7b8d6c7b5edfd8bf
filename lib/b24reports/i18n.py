"""Report language (ru default, en) and number/money/date formatting via Babel.

Formatting rules (used by HTML tables, KPI cards and chart labels; ``metrics.json`` and Excel
keep raw numbers):

* money: no decimals, the locale's currency pattern: ru ``1 250 000 ₽`` (Babel's
  non-breaking spaces), en ``$1,250,000`` / ``RUB1,250,000``;
* pct (values 0..100): 1 decimal, ru ``12,5 %``, en ``12.5%``;
* ratio / number: 2 decimals; days: 1 decimal; int: grouped thousands;
* date ``30.11.2026`` (ru) / ``Nov 30, 2026`` (en); datetime adds ``HH:MM``;
* null (None, NaN, NaT, pandas NA) of any kind -> ``"—"`` (METRICS.md: zero denominators).

UI strings (headings, notes) live in :data:`STRINGS`; :func:`t` looks them up.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_decimal as _babel_decimal

from .errors import BadParameter

LANGS: tuple[str, ...] = ("ru", "en")
DEFAULT_LANG = "ru"
NULL = "—"

#: UI strings per language. Report engineers add their keys here (both languages).
STRINGS: dict[str, dict[str, str]] = {
    "ru": {
        "no_data": "Нет данных за период",
        "period": "Период",
        "as_of": "Данные на",
        "generated_at": "Сформирован",
        "portal": "Портал",
        "currency": "Валюта",
        "warnings": "Замечания к данным",
        "params": "Параметры",
        "report": "Отчёт",
        "yes": "да",
        "no": "нет",
        "total": "Итого",
        "not_set": "не указан",
        "overdue": "просрочено",
        "table": "Таблица",
        "more_rows": "… и ещё {n} строк (полностью — в Excel)",
        "about_sheet": "Об отчёте",
        "value": "Значение",
        "parameter": "Параметр",
        "open": "открыть",
    },
    "en": {
        "no_data": "No data for the period",
        "period": "Period",
        "as_of": "Data as of",
        "generated_at": "Generated",
        "portal": "Portal",
        "currency": "Currency",
        "warnings": "Data-quality warnings",
        "params": "Parameters",
        "report": "Report",
        "yes": "yes",
        "no": "no",
        "total": "Total",
        "not_set": "not set",
        "overdue": "overdue",
        "table": "Table",
        "more_rows": "… and {n} more rows (all of them in Excel)",
        "about_sheet": "About",
        "value": "Value",
        "parameter": "Parameter",
        "open": "open",
    },
}


def check_lang(lang: str) -> str:
    """Return ``lang`` if it is a supported language, else raise ``BadParameter('lang', …)``."""
    if lang not in LANGS:
        raise BadParameter("lang", lang, f"unknown language; use one of {', '.join(LANGS)}")
    return lang


def t(key: str, lang: str = DEFAULT_LANG, **fmt: Any) -> str:
    """UI string ``key`` in ``lang`` (falls back to English, then to the key itself),
    ``str.format``-ed with ``fmt``."""
    s = STRINGS.get(lang, {}).get(key) or STRINGS["en"].get(key) or key
    return s.format(**fmt) if fmt else s


def add_strings(lang: str, strings: dict[str, str]) -> None:
    """Add UI strings for ``lang`` (used by report spec modules for their own headings)."""
    STRINGS.setdefault(lang, {}).update(strings)


def is_null(value: Any) -> bool:
    """True for None, NaN, NaT and pandas NA (False for lists and other containers)."""
    if value is None:
        return True
    if isinstance(value, list | tuple | dict | set | str) or getattr(value, "ndim", 0):
        return False
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


@lru_cache(maxsize=None)
def _locale(lang: str) -> Locale:
    return Locale.parse(check_lang(lang))


@lru_cache(maxsize=None)
def _pattern(lang: str, which: str, digits: int):
    loc = _locale(lang)
    src = loc.currency_formats["standard"] if which == "money" else loc.percent_formats[None]
    p = copy.copy(src)
    p.frac_prec = (digits, digits)
    return p


def format_money(value: Any, currency: str, lang: str = DEFAULT_LANG, digits: int = 0) -> str:
    """Amount in ``currency`` (ISO code such as ``RUB``) with ``digits`` decimals in the
    locale's currency pattern: ru ``1 250 000 ₽``, en ``$1,250,000``, ``RUB 88,255,000``. Null -> ``—``."""
    if is_null(value):
        return NULL
    p = _pattern(lang, "money", digits)
    out = p.apply(float(value), _locale(lang), currency=currency, currency_digits=False)
    # a code without a symbol in the locale (en ``RUB``) gets a no-break space next to the digits
    # (CLDR currency spacing): ``RUB 88,255,000``, not ``RUB88,255,000``
    i = out.find(currency)
    if i >= 0:
        j = i + len(currency)
        if out[j:j + 1].isdigit():
            out = out[:j] + "\u00a0" + out[j:]
        elif i > 0 and out[i - 1].isdigit():
            out = out[:i] + "\u00a0" + out[i:]
    return out


def format_pct(value: Any, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    """Percentage given as 0..100 (METRICS.md): ru ``12,5 %``, en ``12.5%``. Null -> ``—``."""
    if is_null(value):
        return NULL
    return _pattern(lang, "pct", digits).apply(float(value) / 100.0, _locale(lang))


def format_number(value: Any, lang: str = DEFAULT_LANG, digits: int = 2) -> str:
    """Number with exactly ``digits`` decimals and locale grouping. Null -> ``—``."""
    if is_null(value):
        return NULL
    fmt = "#,##0" + ("." + "0" * digits if digits else "")
    return _babel_decimal(float(value), format=fmt, locale=_locale(lang))


def format_int(value: Any, lang: str = DEFAULT_LANG) -> str:
    """Integer with locale grouping (ru ``1 250``, en ``1,250``). Null -> ``—``."""
    if is_null(value):
        return NULL
    return _babel_decimal(int(round(float(value))), format="#,##0", locale=_locale(lang))


def format_date(value: Any, lang: str = DEFAULT_LANG) -> str:
    """Calendar date: ru ``30.11.2026``, en ``Nov 30, 2026``. Accepts date/datetime/
    Timestamp/ISO string. Null -> ``—``."""
    if is_null(value):
        return NULL
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        value = value.date()
    return _babel_date(value, format="medium" if lang == "en" else "dd.MM.yyyy", locale=_locale(lang))


def format_datetime(value: Any, lang: str = DEFAULT_LANG) -> str:
    """Date and time in the value's own (portal) timezone: ru ``30.11.2026 14:05``,
    en ``Nov 30, 2026, 2:05 PM``. Null -> ``—``."""
    if is_null(value):
        return NULL
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return format_date(value, lang)
    naive = value.replace(tzinfo=None)  # show wall-clock time of the value's own offset
    fmt = "dd.MM.yyyy HH:mm" if lang == "ru" else "MMM d, yyyy, h:mm a"
    return _babel_datetime(naive, format=fmt, locale=_locale(lang))


def format_value(value: Any, kind: str, lang: str = DEFAULT_LANG, currency: str = "RUB") -> str:
    """Format ``value`` by column ``kind`` (see ``b24reports.columns.KINDS``) as plain text
    (not HTML-escaped). Null -> ``—`` for every kind except ``list``/``text`` (empty)."""
    if kind == "list":
        if value is None or (not hasattr(value, "__iter__") and is_null(value)):
            return ""
        if isinstance(value, str):
            return value
        return ", ".join(str(v) for v in value)
    if is_null(value):
        return "" if kind in ("text", "url") else NULL
    if kind == "money":
        return format_money(value, currency, lang)
    if kind == "pct":
        return format_pct(value, lang)
    if kind in ("ratio", "number"):
        return format_number(value, lang, 2)
    if kind == "days":
        return format_number(value, lang, 1)
    if kind == "int":
        return format_int(value, lang)
    if kind == "id":
        try:
            return str(int(value))
        except (TypeError, ValueError):
            return str(value)
    if kind == "date":
        return format_date(value, lang)
    if kind == "datetime":
        return format_datetime(value, lang)
    if kind == "bool":
        return t("yes" if bool(value) else "no", lang)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)
