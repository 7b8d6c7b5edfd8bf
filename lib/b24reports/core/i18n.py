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
import re
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_decimal as _babel_decimal

from b24reports.core.errors import BadParameter

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
        "app_refused_title": "Отчёты недоступны",
        "app_not_installed": "Приложение ещё не установлено на этом сервере. Администратор портала устанавливает его в Битрикс24: Разработчикам → Другое → Локальное приложение.",
        "app_wrong_portal": "Этот сервер отчётов установлен для другого портала Битрикс24. Откройте отчёты из своего портала.",
        "app_bad_auth": "Битрикс24 не подтвердил вход: сессия истекла или данные входа неверны. Откройте приложение из меню портала ещё раз.",
        "app_not_admin": "Установить приложение может только администратор портала.",
        "app_installed": "Приложение установлено. Отчёты появились в левом меню портала.",
        "app_reports": "Отчёты по продажам",
        "app_signin_hint": "Откройте отчёты из Битрикс24 (левое меню портала): ссылка без входа ничего не показывает.",
        "app_checking": "Проверяю доступ в Битрикс24…",
        "visible_to": "Данные, доступные сотруднику",
        "app_other_viewer": "Эта ссылка выдана другому пользователю Битрикс24. Откройте отчёты из меню своего портала.",
        "app_viewer": "Вы вошли как {name}",
        "total": "Итого",
        "not_set": "не указан",
        "overdue": "просрочено",
        "table": "Таблица",
        "more_rows": "… и ещё {n} {noun} — полный список в Excel",
        "about_sheet": "Об отчёте",
        "value": "Значение",
        "parameter": "Параметр",
        "open": "открыть",
        "fc_chosen": "**Как выбран прогноз.** История портала — {months} (на графике — последние {shown}). Мы {origins} строили прогноз задним числом: "
                     "только по месяцам до некоторого месяца — и сравнивали с тем, что случилось потом. "
                     "Испытанные способы: {candidates}. {choice}",
        "fc_choice_one": "Лучше всех показал себя способ «{method}», он и даёт прогноз.",
        "fc_choice_mean": "Прогноз — среднее лучших из них: {methods}.",
        "fc_error": "**Обычно ошибается** на {lo}–{hi} от среднего месяца ({lo_money}–{hi_money}); "
                    "так ошибалась половина прогнозов на проверке, четверть — меньше, четверть — больше.",
        "fc_error_money": "**Обычно ошибается** на {lo_money}–{hi_money}; так ошибалась половина прогнозов на проверке, "
                          "четверть — меньше, четверть — больше.",
        "fc_vs": "**По сравнению с простыми правилами:** {naive}; {seasonal}.",
        "fc_better": "в {x} раза точнее, чем {rule}",
        "fc_same": "{rule} — не точнее и не хуже",
        "fc_worse": "{rule} на истории был точнее в {x} раза",
        "fc_is_rule": "{rule} — это и есть выбранный способ",
        "fc_no_rule": "{rule} — истории слишком мало, чтобы его проверить",
        "fc_band": "**Полоса 80 %** построена по ошибкам этой проверки: в неё должны попадать примерно 8 месяцев из 10{rough}. "
                   "Для каждого месяца вперёд она своя, по ошибкам прогнозов на столько же месяцев вперёд, "
                   "и не уже, чем для предыдущего месяца.",
        "fc_mape": "Средняя ошибка прогноза на проверке — {mape} от фактической суммы месяца.",
        "fc_no_mape": "Среднюю ошибку в процентах от факта не показываем: в истории есть пустые или очень маленькие месяцы, "
                      "для них проценты ничего не значат.",
        "fc_mase_note": "В таблице — ошибка каждого способа на проверке в долях от средней ошибки правила «как в прошлом "
                        "месяце» по всей истории (не только на проверке, поэтому и само это правило не получает ровно 1): меньше 1 — "
                        "точнее этого правила.",
        "fc_rule_naive": "«как в прошлом месяце»",
        "fc_rule_seasonal_naive": "«как год назад»",
        "fc_differ": "**Чем прогнозы отличаются.** Прогноз по истории продолжает прошлые продажи: в нём есть и сделки, "
                     "которых ещё нет. Взвешенная воронка считает только открытые сделки с ожидаемой датой закрытия в "
                     "месяце, каждую — с вероятностью выигрыша её стадии. Для дальних месяцев она занижена: сделок, "
                     "которые закроются тогда, ещё нет. Просроченные сделки (дата закрытия прошла) взвешены так же, по "
                     "вероятности стадии, без поправки на просрочку: для них взвешенная сумма скорее завышена. Она верна "
                     "настолько, насколько менеджеры следят за датами. Темп месяца — только текущий месяц.",
        "demo_link": "демо",
        "dismissed_mark": " (уволен)",
        "table_continued": "Продолжение таблицы: те же строки, остальные столбцы",
        "demo_portal": "демо-портал",
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
        "app_refused_title": "Reports unavailable",
        "app_not_installed": "The application is not installed on this server yet. A portal admin installs it in Bitrix24: Developer resources → Other → Local application.",
        "app_wrong_portal": "This report server is installed for another Bitrix24 portal. Open the reports from your own portal.",
        "app_bad_auth": "Bitrix24 did not confirm the sign-in: the session has expired or the sign-in data is wrong. Open the application from the portal's menu again.",
        "app_not_admin": "Only a portal admin can install the application.",
        "app_installed": "The application is installed. The reports are in the portal's left menu.",
        "app_reports": "Sales reports",
        "app_signin_hint": "Open the reports from Bitrix24 (the portal's left menu): a link without a sign-in shows nothing.",
        "app_checking": "Checking your access in Bitrix24…",
        "visible_to": "Records visible to",
        "app_other_viewer": "This link was issued to another Bitrix24 user. Open the reports from your own portal's menu.",
        "app_viewer": "Signed in as {name}",
        "total": "Total",
        "not_set": "not set",
        "overdue": "overdue",
        "table": "Table",
        "more_rows": "… and {n} more {noun} — full list in Excel",
        "about_sheet": "About",
        "value": "Value",
        "parameter": "Parameter",
        "open": "open",
        "fc_chosen": "**How the forecast was chosen.** The portal has {months} of history (the chart shows the last {shown}). We went back {origins}: made a "
                     "forecast from the months before a given month only and compared it with what happened next. "
                     "Methods tried: {candidates}. {choice}",
        "fc_choice_one": "The best one was \u201c{method}\u201d; it gives the forecast.",
        "fc_choice_mean": "The forecast is the mean of the best of them: {methods}.",
        "fc_error": "**Typical error**: {lo}–{hi} of an average month ({lo_money}–{hi_money}); half of the test "
                    "forecasts missed by that much, a quarter by less, a quarter by more.",
        "fc_error_money": "**Typical error**: {lo_money}–{hi_money}; half of the test forecasts missed by that much, "
                          "a quarter by less, a quarter by more.",
        "fc_vs": "**Against the simple rules:** {naive}; {seasonal}.",
        "fc_better": "{x} times as accurate as {rule}",
        "fc_same": "{rule} — about as accurate",
        "fc_worse": "{rule} was {x} times as accurate on the history",
        "fc_is_rule": "{rule} — that is the method chosen",
        "fc_no_rule": "{rule} — too little history to test it",
        "fc_band": "**The 80% band** comes from the errors of that test: about 8 months in 10 should fall inside it{rough}. "
                   "Each month ahead has its own, from the errors of forecasts made that many months ahead, and it is "
                   "never narrower than the month before.",
        "fc_mape": "Mean forecast error in the test: {mape} of the month's actual amount.",
        "fc_no_mape": "No mean percentage error: the history has empty or very small months, where percentages "
                      "mean nothing.",
        "fc_mase_note": "The table gives each method's test error as a share of the average error of \u201csame as last "
                        "month\u201d over the whole history (not the test alone, so the rule itself does not score exactly 1): "
                        "under 1 means more accurate than that rule.",
        "fc_rule_naive": "\u201csame as last month\u201d",
        "fc_rule_seasonal_naive": "\u201csame month last year\u201d",
        "fc_differ": "**How the forecasts differ.** The history forecast continues past sales, so it includes deals "
                     "that do not exist yet. The weighted pipeline counts only open deals expected to close in the month, "
                     "each times its stage's win probability. For later months it runs low: the deals that will close "
                     "then do not exist yet. Overdue deals (close date passed) are weighted the same way, by their stage, "
                     "with no discount for being late: for them the weighted amount is rather too high. It is only as good "
                     "as the managers' close dates. The run rate covers this month only.",
        "demo_link": "demo",
        "demo_portal": "demo portal",
        "dismissed_mark": " (dismissed)",
        "table_continued": "The table continued: the same rows, the other columns",
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


#: Nouns counted in UI text, by language: ru (one, few, many) — 1 замечание, 2 замечания,
#: 5 замечаний (also 21 замечание, 11 замечаний); en (one, other).
NOUNS: dict[str, dict[str, tuple[str, ...]]] = {
    "ru": {
        "row": ("строка", "строки", "строк"),
        "warning": ("замечание", "замечания", "замечаний"),
        "data_warning": ("замечание к данным", "замечания к данным", "замечаний к данным"),
        "deal": ("сделка", "сделки", "сделок"),
        "lead": ("лид", "лида", "лидов"),
        "day": ("день", "дня", "дней"),
        "call": ("звонок", "звонка", "звонков"),
        "request": ("запрос", "запроса", "запросов"),
        "entry": ("запись", "записи", "записей"),
        "attempt": ("попытка", "попытки", "попыток"),
        "report": ("отчёт", "отчёта", "отчётов"),
        "stage": ("стадию", "стадии", "стадий"),  # «продвинулась на 1 стадию / 2 стадии / 5 стадий»
        "month": ("месяц", "месяца", "месяцев"),
        "time": ("раз", "раза", "раз"),
        "task": ("задача", "задачи", "задач"),
        "win": ("выигрыш", "выигрыша", "выигрышей"),
        "open_deal_gen": ("открытой сделки", "открытых сделок", "открытых сделок"),  # «от 209 открытых сделок»
    },
    "en": {
        "row": ("row", "rows"),
        "warning": ("warning", "warnings"),
        "data_warning": ("data-quality warning", "data-quality warnings"),
        "deal": ("deal", "deals"),
        "lead": ("lead", "leads"),
        "day": ("day", "days"),
        "call": ("call", "calls"),
        "request": ("request", "requests"),
        "entry": ("entry", "entries"),
        "attempt": ("attempt", "attempts"),
        "report": ("report", "reports"),
        "stage": ("stage", "stages"),
        "month": ("month", "months"),
        "time": ("time", "times"),
        "task": ("task", "tasks"),
        "win": ("win", "wins"),
        "test": ("test", "tests"),
        "open_deal_gen": ("open deal", "open deals"),
    },
}
_PLURAL_INDEX = {"ru": {"one": 0, "few": 1, "many": 2, "other": 1}, "en": {"one": 0}}


def plural(n: Any, noun: str, lang: str = DEFAULT_LANG) -> str:
    """The form of ``noun`` (a key of :data:`NOUNS`: ``row``, ``warning``, ``deal``, …) that
    goes with the number ``n`` in ``lang``, by Babel's CLDR plural rules: ru ``1 замечание``,
    ``2 замечания``, ``5 замечаний``, ``21 замечание``, ``11 замечаний``; en ``1 warning``,
    ``2 warnings``; a fraction takes ru "other" (``1,5 дня``), en plural. Raises ``KeyError`` for an
    unknown noun (a bug), ``BadParameter`` for an unknown language."""
    forms = NOUNS[check_lang(lang)][noun]
    x = abs(float(n))
    cat = _locale(lang).plural_form(int(x) if x.is_integer() else x)
    return forms[_PLURAL_INDEX[lang].get(cat, len(forms) - 1)]


def count_text(n: Any, noun: str, lang: str = DEFAULT_LANG) -> str:
    """``n`` (locale-grouped integer) and the matching form of ``noun`` (:func:`plural`):
    ``1 замечание к данным``, ``1 234 строки``, ``1 data-quality warning``, ``5 rows``."""
    return f"{format_int(n, lang)} {plural(n, noun, lang)}"


def add_strings(lang: str, strings: dict[str, str]) -> None:
    """Add UI strings for ``lang`` (used by report spec modules for their own headings)."""
    STRINGS.setdefault(lang, {}).update(strings)


def is_null(value: Any) -> bool:
    """True for None, NaN, NaT and pandas NA (False for lists and other containers)."""
    kind = type(value)  # the plain types of a column's ``tolist()`` first: per cell of a 100k-row export
    if kind is float:
        return value != value
    if kind is str or kind is int or kind is bool:
        return False
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


#: the minus sign of every number a page shows: U+2212, as plotly draws it on chart axes and labels
#: (tables said «-7 577 000 ₽» beside a chart's «−7,6 млн ₽»)
MINUS = "\u2212"


def _minus(text: str) -> str:
    """``text`` with the hyphen-minus of a negative number as :data:`MINUS`."""
    return text.replace("-", MINUS, 1) if "-" in text else text


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
    return _minus(out)


def quoted(text: Any, lang: str = DEFAULT_LANG) -> str:
    """``text`` in the page language's quotation marks: ru «Продажи», en \u201cSales\u201d."""
    return f"«{text}»" if lang == "ru" else f"\u201c{text}\u201d"


def format_pct(value: Any, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    """Percentage given as 0..100 (METRICS.md): ru ``12,5 %``, en ``12.5%``. Null -> ``—``."""
    if is_null(value):
        return NULL
    return _minus(_pattern(lang, "pct", digits).apply(float(value) / 100.0, _locale(lang)))


def currency_symbol(currency: str, lang: str = DEFAULT_LANG) -> str:
    """The sign a reader sees beside amounts (as in :func:`format_money`): ru ``₽`` for RUB,
    ``$`` for USD; en ``RUB`` (no symbol in the en locale), ``$``. Used in axis titles so a chart
    says ``Выручка на лид, ₽`` like its table, not the ISO code."""
    from babel.numbers import get_currency_symbol

    return get_currency_symbol(currency, locale=_locale(lang))


def days_text(value: Any, lang: str = DEFAULT_LANG) -> str:
    """A number of days in running text with its noun: ru ``33,9 дня``, ``1 день``, ``5 дней``;
    en ``33.9 days``, ``1 day``. One decimal unless whole. Null -> ``—``."""
    if is_null(value):
        return NULL
    x = float(value)
    shown = format_int(x, lang) if x.is_integer() else format_number(x, lang, 1)
    return f"{shown} {plural(x if not x.is_integer() else int(x), 'day', lang)}"


def format_number(value: Any, lang: str = DEFAULT_LANG, digits: int = 2) -> str:
    """Number with exactly ``digits`` decimals and locale grouping. Null -> ``—``."""
    if is_null(value):
        return NULL
    fmt = "#,##0" + ("." + "0" * digits if digits else "")
    return _minus(_babel_decimal(float(value), format=fmt, locale=_locale(lang)))


def format_int(value: Any, lang: str = DEFAULT_LANG) -> str:
    """Integer with locale grouping (ru ``1 250``, en ``1,250``). Null -> ``—``."""
    if is_null(value):
        return NULL
    return _minus(_babel_decimal(int(round(float(value))), format="#,##0", locale=_locale(lang)))


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


#: short month names for chart axes (ru: three letters without a dot, as users write them)
_RU_MONTHS = ("янв", "фев", "мар", "апр", "май", "июн", "июл", "авг", "сен", "окт", "ноя", "дек")
_MONTH_KEY = re.compile(r"(\d{4})-(\d{2})(-01)?")


def format_month(value: Any, lang: str = DEFAULT_LANG) -> str:
    """A month as users read it on a chart axis: ru ``ноя 2025``, en ``Nov 2025`` (Babel
    ``MMM yyyy``). ``value``: a ``YYYY-MM`` / ``YYYY-MM-01`` key, a date or a Timestamp; any
    other text (``overdue``, a quarter ``2025-Q4``) is returned unchanged. Null -> ``—``."""
    if is_null(value):
        return NULL
    if isinstance(value, str):
        m = _MONTH_KEY.fullmatch(value.strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            return value
        value = dt.date(int(m.group(1)), int(m.group(2)), 1)
    if isinstance(value, dt.datetime) or hasattr(value, "to_pydatetime"):
        value = value.date() if isinstance(value, dt.datetime) else value.to_pydatetime().date()
    if lang == "ru":
        return f"{_RU_MONTHS[value.month - 1]} {value.year}"
    return _babel_date(value, format="MMM yyyy", locale=_locale(lang))


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
    """Format ``value`` by column ``kind`` (see ``b24reports.core.columns.KINDS``) as plain text
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
