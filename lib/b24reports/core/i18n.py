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
from collections.abc import Mapping
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
        "fc_chosen": "**Как выбран прогноз.** История портала — {months}. Мы {origins} строили прогноз задним числом: "
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
        "fc_band": "**Полоса 80 %** построена по ошибкам этой проверки: примерно 8 месяцев из 10 попадают в неё. "
                   "Для каждого месяца вперёд она своя, по ошибкам прогнозов на столько же месяцев вперёд, "
                   "и не уже, чем для предыдущего месяца.",
        "fc_mape": "Средняя ошибка прогноза на проверке — {mape} от фактической суммы месяца.",
        "fc_no_mape": "Среднюю ошибку в процентах от факта не показываем: в истории есть пустые или очень маленькие месяцы, "
                      "для них проценты ничего не значат.",
        "fc_mase_note": "В таблице — ошибка каждого способа на проверке в долях от средней ошибки правила «как в прошлом "
                        "месяце» по всей истории: меньше 1 — точнее этого правила.",
        "fc_rule_naive": "«как в прошлом месяце»",
        "fc_rule_seasonal_naive": "«как год назад»",
        "fc_differ": "**Чем прогнозы отличаются.** Прогноз по истории продолжает прошлые продажи: в нём есть и сделки, "
                     "которых ещё нет. Взвешенная воронка считает только открытые сделки с ожидаемой датой закрытия в "
                     "месяце, каждую — с вероятностью выигрыша её стадии: обычно это нижняя граница, особенно для дальних "
                     "месяцев, и она верна настолько, насколько менеджеры следят за датами. Темп месяца — только текущий "
                     "месяц.",
        "demo_link": "демо",
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
        "fc_chosen": "**How the forecast was chosen.** The portal has {months} of history. We went back {origins}: made a "
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
        "fc_band": "**The 80% band** comes from the errors of that test: about 8 months in 10 fall inside it. "
                   "Each month ahead has its own, from the errors of forecasts made that many months ahead, and it is "
                   "never narrower than the month before.",
        "fc_mape": "Mean forecast error in the test: {mape} of the month's actual amount.",
        "fc_no_mape": "No mean percentage error: the history has empty or very small months, where percentages "
                      "mean nothing.",
        "fc_mase_note": "The table gives each method's test error as a share of the average error of \u201csame as last "
                        "month\u201d over the whole history: under 1 means more accurate than that rule.",
        "fc_rule_naive": "\u201csame as last month\u201d",
        "fc_rule_seasonal_naive": "\u201csame month last year\u201d",
        "fc_differ": "**How the forecasts differ.** The history forecast continues past sales, so it includes deals "
                     "that do not exist yet. The weighted pipeline counts only open deals expected to close in the month, "
                     "each times its stage's win probability — usually a floor, the more so for later months, and only as "
                     "good as the managers' close dates. The run rate covers this month only.",
        "demo_link": "demo",
        "demo_portal": "demo portal",
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


# --------------------------------------------------------------------------- display labels

#: Report parameter labels (``--param`` name -> {lang: label}) for the Excel "About" sheet.
PARAM_LABELS: dict[str, dict[str, str]] = {
    "activity_weights": {"ru": "Веса активности", "en": "Activity weights"},
    "as_of": {"ru": "Момент отчёта", "en": "Report moment"},
    "compare_to": {"ru": "Сравнить с", "en": "Compare with"},
    "currency": {"ru": "Валюта", "en": "Currency"},
    "date_from": {"ru": "Период с", "en": "Period from"},
    "date_to": {"ru": "Период по", "en": "Period to"},
    "deal_idle_days": {"ru": "Сделка забыта через, дн.", "en": "Deal idle days"},
    "departments": {"ru": "Отделы (ID)", "en": "Department IDs"},
    "employees": {"ru": "Сотрудники (ID)", "en": "Employee IDs"},
    "granularity": {"ru": "Шаг периода", "en": "Granularity"},
    "horizon": {"ru": "Горизонт закрытия", "en": "Close horizon"},
    "lang": {"ru": "Язык", "en": "Language"},
    "lead_idle_days": {"ru": "Лид забыт через, дн.", "en": "Lead idle days"},
    "lookback_months": {"ru": "История, мес.", "en": "Lookback, months"},
    "pipelines": {"ru": "Воронки (ID)", "en": "Pipeline IDs"},
    "plan": {"ru": "Файл плана", "en": "Plan file"},
    "planned_leads": {"ru": "Плановые лиды", "en": "Planned leads"},
    "short_call_seconds": {"ru": "Короткий звонок, сек.", "en": "Short call, seconds"},
    "sources": {"ru": "Источники", "en": "Sources"},
    "stage_idle_days": {"ru": "Порог по стадиям, дн.", "en": "Stage idle days"},
    "step": {"ru": "Шаг водопада", "en": "Waterfall step"},
    "timezone": {"ru": "Часовой пояс", "en": "Timezone"},
    "title_chars": {"ru": "Длина названия задачи", "en": "Task title length"},
    "utm_campaign": {"ru": "Кампания (utm_campaign)", "en": "UTM campaign"},
    "utm_group": {"ru": "Разбивка UTM", "en": "UTM breakdown"},
    "utm_medium": {"ru": "Канал (utm_medium)", "en": "UTM medium"},
    "utm_source": {"ru": "Источник (utm_source)", "en": "UTM source"},
    "viewer": {"ru": "Сотрудник-зритель (ID)", "en": "Viewer (user ID)"},
}


#: Shown in a table or Excel cell instead of an empty one, where a null key has a meaning:
#: a lead without a source or UTM tag ("не указан", as the HTML tables show it), a task outside
#: any project (group 0 in Bitrix24, or null) "Без проекта".
NULL_KEY_LABELS: dict[str, dict[str, str]] = {
    "source_id": {"ru": "Не указан", "en": "Not set"},
    "utm_source": {"ru": "Не указан", "en": "Not set"},
    "utm_medium": {"ru": "Не указан", "en": "Not set"},
    "utm_campaign": {"ru": "Не указан", "en": "Not set"},
    "group_id": {"ru": "Без проекта", "en": "No project"},
}


def null_key_label(column_id: str, lang: str = DEFAULT_LANG) -> str | None:
    """The text of a null ``column_id`` cell (:data:`NULL_KEY_LABELS`), or None (leave it empty)."""
    m = NULL_KEY_LABELS.get(column_id)
    return None if m is None else m[check_lang(lang)]


#: What each parameter does, in Russian, for ``b24reports list`` (English: ``ParamSpec.help``).
#: Key: parameter name, or ``report.name`` where two reports use a name differently.
PARAM_HELP_RU: dict[str, str] = {
    "date_from": "начало периода, ГГГГ-ММ-ДД, включительно (по умолчанию: 12 полных месяцев до месяца as_of)",
    "date_to": "конец периода, ГГГГ-ММ-ДД, включительно (по умолчанию: конец месяца перед as_of)",
    "as_of": "«сейчас» отчёта, дата и время в часовом поясе портала (по умолчанию: сейчас)",
    "lang": "язык отчёта",
    "currency": "валюта отчёта, код ISO (по умолчанию: базовая валюта портала)",
    "timezone": "часовой пояс отчёта, +ЧЧ:ММ или имя IANA (по умолчанию: пояс портала)",
    "pipelines": "id воронок сделок (CATEGORY_ID) через запятую; пусто — все",
    "departments": "id отделов (с подотделами); пусто — все",
    "employees": "id сотрудников; пусто — все",
    "dynamics.granularity": "шаг периода для выигранных сделок (day — для детализации месяца)",
    "dynamics.lookback_months": "за сколько месяцев брать закрытые сделки для вероятностей стадий и скорости",
    "deal_idle_days": "сделка без движения столько дней — забыта",
    "lead_idle_days": "лид без движения столько дней — забыт",
    "stage_idle_days": "свои пороги по стадиям, JSON {\"STAGE_ID\": дни} или STAGE=дни,...",
    "stages": "стадии сделок (STAGE_ID, например NEW или C1:NEW): только сделки, которые сейчас в этих стадиях; пусто — все",
    "short_call_seconds": "звонок короче стольких секунд — короткий",
    "activity_weights": "веса индекса активности: JSON или call=1,meeting=5,email=1,other=1",
    "sources": "источники лидов (SOURCE_ID) через запятую; '-' — не указан; пусто — все",
    "utm_source": "значения UTM_SOURCE; пусто — все",
    "utm_medium": "значения UTM_MEDIUM; пусто — все",
    "utm_campaign": "значения UTM_CAMPAIGN; пусто — все",
    "utm_group": "по каким UTM-меткам разбить таблицу UTM",
    "planned_leads": "число лидов для расчёта «Что если» (по умолчанию: лиды периода)",
    "plan": "файл плана (.csv или .xlsx: month, employee_id|department_id, amount, deals)",
    "plan.lookback_months": "за сколько месяцев брать конверсии для обратной воронки",
    "tasks.granularity": "шаг периода по крайнему сроку задач (day — для детализации месяца)",
    "title_chars": "названия задач обрезаются до стольких символов + «…» (0 — скрыты)",
    "viewer": "id сотрудника: только его строки и задачи рядом со средними по команде",
    "compare_to": "с каким моментом сравнить as_of: week (на 7 дней раньше), month (на месяц раньше) или дата ГГГГ-ММ-ДД",
    "horizon": "открытые сделки с ожидаемым закрытием до конца месяца (month), квартала (quarter), года (year) as_of, или all — все",
    "step": "только сделки этого шага водопада в таблице сделок (new, won, pushed_out, …); ставится щелчком по столбику",
}

#: Fixed words of ``b24reports list``.
LIST_WORDS: dict[str, dict[str, str]] = {
    "ru": {"common": "Общие параметры (всех отчётов):", "tables": "таблицы", "default": "по умолчанию",
           "none": "отчёты не зарегистрированы"},
    "en": {"common": "Common parameters (every report):", "tables": "tables", "default": "default",
           "none": "no reports are registered"},
}


def param_help(name: str, english: str, lang: str = DEFAULT_LANG, report: str | None = None) -> str:
    """What parameter ``name`` does in ``lang``: Russian from :data:`PARAM_HELP_RU` (by
    ``report.name`` first), else ``english`` (the ``ParamSpec.help``)."""
    if lang == "ru":
        return PARAM_HELP_RU.get(f"{report}.{name}") or PARAM_HELP_RU.get(name) or english
    return english


def param_label(name: str, lang: str = DEFAULT_LANG) -> str:
    """Localized label of report parameter ``name`` (the name itself when unknown)."""
    return PARAM_LABELS.get(name, {}).get(lang) or name


#: Display text of enum values in tables: column id -> raw value -> {lang: text}. One
#: mapping for every report (HTML tables and Excel); ``metrics.json`` keeps the raw value.
VALUE_LABELS: dict[str, dict[Any, dict[str, str]]] = {
    "month": {"overdue": {"ru": "просрочено", "en": "overdue"}},
    # «Нет следующего шага: нет» read as a double negative (the demo reader): the cell says it
    "no_next_step": {True: {"ru": "не запланирован", "en": "none planned"},
                     False: {"ru": "запланирован", "en": "planned"}},
    "basis": {
        "own": {"ru": "свои сделки", "en": "own deals"},
        "team": {"ru": "по команде", "en": "team"},
        "stage": {"ru": "по стадии", "en": "stage"},
        "pipeline": {"ru": "по воронке", "en": "pipeline"},
        "none": {"ru": "нет данных", "en": "no data"},
    },
    "method": {  # forecast candidates (b24reports.metrics.forecast.CANDIDATES), table forecast_backtest
        "naive": {"ru": "как в прошлом месяце", "en": "same as last month"},
        "mean3": {"ru": "среднее за 3 месяца", "en": "mean of the last 3 months"},
        "seasonal_naive": {"ru": "как год назад", "en": "same month last year"},
        "seasonal_level": {"ru": "как год назад, с поправкой на нынешний уровень",
                           "en": "same month last year, moved to the current level"},
        "ets_trend": {"ru": "сглаживание с трендом", "en": "smoothing with trend"},
        "ets_seasonal": {"ru": "сглаживание с трендом и сезонностью", "en": "smoothing with trend and seasonality"},
        "combination": {"ru": "прогноз: среднее лучших", "en": "forecast: mean of the best"},
    },
    "state": {
        "finished_on_time": {"ru": "завершена в срок", "en": "finished on time"},
        "finished_late": {"ru": "завершена с опозданием", "en": "finished late"},
        "overdue_open": {"ru": "просрочена, открыта", "en": "overdue, open"},
        "open": {"ru": "открыта", "en": "open"},
        "no_deadline": {"ru": "без срока", "en": "no deadline"},
        "not_started": {"ru": "не начата", "en": "not started"},
    },
    "status": {  # tasks.task.list STATUS
        2: {"ru": "ждёт выполнения", "en": "pending"},
        3: {"ru": "выполняется", "en": "in progress"},
        4: {"ru": "ждёт контроля", "en": "awaiting control"},
        5: {"ru": "завершена", "en": "completed"},
        6: {"ru": "отложена", "en": "deferred"},
        7: {"ru": "отклонена", "en": "declined"},
    },
    "flags": {  # list items (managers, tasks, funnel fixture flags)
        "busy_no_result": {"ru": "Занят без результата", "en": "Busy, no result"},
        "efficient": {"ru": "Эффективен", "en": "Efficient"},
        "suspicious_calls": {"ru": "Подозрительно короткие звонки", "en": "Suspiciously short calls"},
        "record_streak": {"ru": "3 месяца лучший: риск выгорания", "en": "Top 3 months running: burnout watch"},
        "growing_backlog": {"ru": "Растёт просрочка", "en": "Growing backlog"},
    },
    "stage": {  # marketing funnel steps
        "leads": {"ru": "Лиды", "en": "Leads"},
        "quality_leads": {"ru": "Лиды без некачественных", "en": "Leads not junk"},
        "converted": {"ru": "Сконвертированы в сделку", "en": "Converted to a deal"},
        "sales": {"ru": "Продажи", "en": "Sales"},
    },
}


def value_label(column_id: str, value: Any, lang: str = DEFAULT_LANG) -> str | None:
    """Display text of an enum ``value`` of column ``column_id`` in ``lang`` (see
    :data:`VALUE_LABELS`), or None when the value is not an enum code (show it as usual).
    A list value (``flags``) gives its items' labels joined by ``", "`` (unknown items as is).
    A plan file error (column ``error`` of table ``plan_errors``) shows in ``lang``
    (:func:`translate_plan_error`)."""
    if column_id == "error" and isinstance(value, str):
        shown = translate_plan_error(value, lang)
        return shown if shown != value else None
    m = VALUE_LABELS.get(column_id)
    if not m or isinstance(value, dict):
        return None
    if isinstance(value, list | tuple) or (hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1):
        items = [str(x) for x in (value.tolist() if hasattr(value, "tolist") else value)]
        if not any(x in m for x in items):
            return None
        return ", ".join((m[x].get(lang) or m[x].get("en")) if x in m else x for x in items)
    if is_null(value):
        return None
    try:
        hit = m.get(value)
        if hit is None and isinstance(value, float) and value.is_integer():
            hit = m.get(int(value))
        if hit is None and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            hit = m.get(int(value))
    except TypeError:
        return None
    return (hit.get(lang) or hit.get("en")) if hit else None


#: Tables (ids; the plan report, METRICS.md "plan") that hold a whole-team row: the row whose
#: owner columns (``employee_id``, and ``department_id`` where the table has it) are all null —
#: ``mtd_compare``'s first row, a plan row for the whole team. Elsewhere a null employee is
#: just unknown and keeps showing ``—``.
TEAM_ROW_TABLES = frozenset({"plan_fact", "mtd_compare", "required", "required_stages"})
#: owner columns of a plan-style row, in the order a label is put into
OWNER_COLUMNS = ("employee_id", "department_id")
TEAM_LABEL = {"ru": "Вся команда", "en": "Whole team"}


def team_row_label(table_id: str | None, column_id: str, row: Mapping[str, Any], lang: str = DEFAULT_LANG) -> str | None:
    """The label of the whole-team row's owner cell, shared by the HTML tables
    (``views.common.table_html``), Excel (``render.write_xlsx``) and the plan charts
    (``views.plan.row_label``): ``"Вся команда"`` / ``"Whole team"`` when ``table_id`` is one of
    :data:`TEAM_ROW_TABLES`, ``column_id`` is ``employee_id`` (the column that names a row's
    owner) and every owner column present in ``row`` (``{column id: value}``) is null; else
    ``None`` (show the cell as usual). ``BadParameter`` for an unknown ``lang``."""
    check_lang(lang)
    if table_id not in TEAM_ROW_TABLES or column_id != "employee_id":
        return None
    owners = [row[c] for c in OWNER_COLUMNS if c in row]
    if not owners or not all(is_null(v) for v in owners):
        return None
    return TEAM_LABEL[lang]


#: Known data-quality warning texts (as produced in lib/, English, kept so in metrics.json):
#: (regex on the whole text, {lang: template with the regex's named groups}).
WARNING_PATTERNS: list[tuple[str, dict[str, str]]] = [
    (r"(?P<entity>deals|leads) with empty OPPORTUNITY counted as 0: (?P<ids>.*)",
     {"ru": "сумма не указана, посчитана как 0: {ids_count} ({ids_numbered})",
      "en": "amount not set, counted as 0: {ids_count} ({ids_numbered})"}),
    (r"(?P<entity>deal|lead) (?P<id>\d+): empty OPPORTUNITY \(?counted as 0\)?",
     {"ru": "{entity_ru} № {id}: сумма не указана, посчитана как 0",
      "en": "{entity} #{id}: amount not set, counted as 0"}),
    (r"(?P<src>.+) line (?P<line>\d+): employee (?P<emp>\S+) is dismissed \(inactive\); the row still counts",
     {"ru": "{src}, строка {line}: сотрудник {emp} уволен (неактивен); строка всё равно учтена",
      "en": "{src} line {line}: employee {emp} is dismissed (inactive); the row still counts"}),
    (r"deals in a stage missing from crm\.status\.list \(shown as its own row\): (?P<ids>.*)",
     {"ru": "сделки в стадии, которой нет в crm.status.list (показаны отдельной строкой): {ids}"}),
    (r"pipeline (?P<pid>\d+): no deal closed in the last (?P<n>\d+) months, its open deals are weighted with probability 0",
     {"ru": "воронка {pid}: за последние {n} мес. нет закрытых сделок, её открытые сделки взвешены с вероятностью 0"}),
    (r"forecast_trend: (?P<n>\d+) full months of history, the model needs at least (?P<m>\d+)",
     {"ru": "прогноз модели: полных месяцев истории {n}, модели нужно не меньше {m}"}),
    (r"call durations are taken from the activities' START_TIME/END_TIME \(telephony statistics were not synced\)",
     {"ru": "длительность звонков взята из START_TIME/END_TIME дел (статистика телефонии не загружена)"}),
    (r"the portal has no leads: the source/UTM view is built from deals created in the period",
     {"ru": "на портале нет лидов: источники и UTM построены по сделкам, созданным за период"}),
    (r"no tasks in the store \(the webhook may lack the 'task' scope\)",
     {"ru": "в хранилище нет задач (у вебхука может не быть права task)"}),
    (r"deals whose state at the compare moment no sync saw \(first known version used\): (?P<ids>.*)",
     {"ru": "сделки, состояние которых в момент сравнения не видела ни одна синхронизация "
            "(взята первая известная версия): {ids}"}),
]

#: Bad-row errors of a plan file (``plan.read_plan``; English in metrics.json): (regex on the
#: error text, {lang: template}). Shown in the report language in the plan report's table and
#: warnings, like every other warning.
PLAN_ERROR_PATTERNS: list[tuple[str, dict[str, str]]] = [
    (r"month is empty \(expected YYYY-MM\)", {"ru": "месяц не указан (нужен формат ГГГГ-ММ)"}),
    (r"month (?P<v>.+) is not YYYY-MM", {"ru": "месяц {v} не в формате ГГГГ-ММ"}),
    (r"give exactly one of employee_id and department_id", {"ru": "укажите ровно одно из employee_id и department_id"}),
    (r"(?P<col>employee_id|department_id|amount) (?P<v>.+) is not a number", {"ru": "{col} {v} — не число"}),
    (r"unknown (?P<col>employee_id|department_id) (?P<v>\S+)", {"ru": "{col} {v} нет в портале"}),
    (r"amount is empty", {"ru": "сумма (amount) не указана"}),
    (r"(?P<col>amount|deals) (?P<v>.+) is negative", {"ru": "{col} {v} меньше нуля"}),
    (r"deals (?P<v>.+) is not a whole number", {"ru": "deals {v} — не целое число"}),
    (r"duplicate of line (?P<dup>\d+) \((?P<month>[^,]+), (?P<col>employee_id|department_id) (?P<id>\S+)\)",
     {"ru": "повтор строки {dup} ({month}, {col} {id})"}),
]
_PLAN_LINE = r"(?P<src>.+) line (?P<line>\d+): (?P<err>.+)"


def translate_plan_error(text: str, lang: str = DEFAULT_LANG) -> str:
    """A plan file's bad-row error (``amount 'abc' is not a number``) in ``lang`` by
    :data:`PLAN_ERROR_PATTERNS`; English and unknown texts are returned unchanged."""
    return _by_patterns(PLAN_ERROR_PATTERNS, text, lang)


def _by_patterns(patterns: list[tuple[str, dict[str, str]]], text: str, lang: str) -> str:
    """``text`` through the first of ``patterns`` (regex, {lang: template}) it fully matches and
    that has a template in ``lang``; else ``text`` unchanged."""
    for p, tpl in patterns:
        m = re.fullmatch(p, text.strip(), re.S)
        if m and lang in tpl:
            return tpl[lang].format(**m.groupdict())
    return text


#: Reasons of ``errors.BadParameter`` raised while reading a report's parameters
#: (``reports.ParamSpec.parse``, ``Params.validate_against``): (regex of the English reason,
#: {lang: template}). The dashboard's error box shows them in the page language.
PARAMETER_ERROR_PATTERNS: list[tuple[str, dict[str, str]]] = [
    (r"unknown id (?P<id>\S+) \(not in the store's users\)", {"ru": "сотрудника с id {id} нет в данных портала"}),
    (r"unknown id (?P<id>\S+) \(not in the store's pipelines\)", {"ru": "воронки с id {id} нет в данных портала"}),
    (r"unknown id (?P<id>\S+) \(not in the store's departments\)", {"ru": "отдела с id {id} нет в данных портала"}),
    (r"is after date_to=(?P<d>\S+)", {"ru": "дата начала позже даты конца ({d})"}),
    (r"(?:.*; )?expected a date YYYY-MM-DD, e\.g\. (?P<e>\S+)", {"ru": "нужна дата в формате ГГГГ-ММ-ДД, например {e}"}),
    (r"(?:.*; )?expected comma-separated whole-number ids, e\.g\. (?P<e>\S+)",
     {"ru": "нужны целые числа через запятую, например {e}"}),
    (r"(?:.*; )?expected a whole number, e\.g\. (?P<e>\S+)", {"ru": "нужно целое число, например {e}"}),
    (r"(?P<v>.+) is not one of (?P<choices>.+)", {"ru": "{v} — не одно из значений: {choices}"}),
    (r"not a deal stage of the portal.*", {"ru": "такой стадии сделок нет в портале"}),
    (r"unknown parameter of report .*", {"ru": "неизвестный параметр этого отчёта"}),
    (r"not a currency of the portal \((?P<known>.+)\)", {"ru": "такой валюты нет в портале (есть: {known})"}),
    (r"expected week, month or a date YYYY-MM-DD", {"ru": "нужно week, month или дата в формате ГГГГ-ММ-ДД"}),
    (r"must be before as_of \((?P<t>\S+)\)", {"ru": "момент сравнения должен быть раньше «Данные на» ({t})"}),
    (r"expected one of (?P<choices>.+)", {"ru": "нужно одно из значений: {choices}"}),
]


def translate_parameter_error(reason: str, lang: str = DEFAULT_LANG) -> str:
    """The reason of a ``BadParameter`` (``unknown id 9999 (not in the store's users)``) in
    ``lang`` by :data:`PARAMETER_ERROR_PATTERNS`; English and unknown reasons are returned
    unchanged."""
    return _by_patterns(PARAMETER_ERROR_PATTERNS, str(reason), lang)


_WARNING_EXTRA = {"ru": {"entity_ru": {"deals": "сделки", "leads": "лиды", "deal": "сделка", "lead": "лид"}}}


def _ids_args(ids: str, entity: str, lang: str) -> dict[str, str]:
    """``ids_count`` (``1 сделка``, ``3 leads``; ``more than 50 …`` when the list was cut with
    ``…``) and ``ids_numbered`` (``№ 501, № 502`` / ``#501, #502``) of a warning's id list."""
    found = re.findall(r"\d+", ids)
    noun = "lead" if entity.startswith("lead") else "deal"
    mark = "№ " if lang == "ru" else "#"
    numbered = ", ".join(mark + i for i in found) + (" …" if "…" in ids else "")
    if "…" in ids:
        more = {"ru": "больше", "en": "more than"}[lang]
        count = f"{more} {format_int(len(found), lang)} {plural(len(found), noun, lang)}"
    else:
        count = count_text(len(found), noun, lang)
    return {"ids_count": count, "ids_numbered": numbered}


@lru_cache(maxsize=None)
def _warning_regexes():
    return [(re.compile(p, re.S), tpl) for p, tpl in WARNING_PATTERNS]


def translate_warning(text: str, lang: str = DEFAULT_LANG, names: Mapping[int, str] | None = None) -> str:
    """A data-quality warning of :data:`WARNING_PATTERNS` in ``lang`` (its variable parts —
    ids, line numbers, file names — kept as they are); unknown texts and English are
    returned unchanged. ``names`` (``{user id: name}``): an employee id in the warning reads
    as the person's name, «Петров Пётр (ID 12)» (a reader does not know people by id).
    ``metrics.json`` keeps the original English text."""
    if not isinstance(text, str):
        return text
    for rx, tpl in _warning_regexes():
        m = rx.fullmatch(text.strip())
        if m and lang in tpl:
            args = dict(m.groupdict())
            for k, table in _WARNING_EXTRA.get(lang, {}).items():
                src = k[:-3]
                if src in args:
                    args[k] = table.get(args[src], args[src])
            emp = args.get("emp")
            if emp is not None and names and emp.isdigit() and int(emp) in names:
                args["emp"] = f"{names[int(emp)]} (ID {emp})"
            if "ids" in args:  # a list of entity ids: say how many, and that they are numbers, not a count
                args.update(_ids_args(args["ids"], args.get("entity", ""), lang))
            return tpl[lang].format(**args)
    m = re.fullmatch(_PLAN_LINE, text.strip(), re.S)  # a plan file's bad row: "plan.csv line 4: …"
    if m and lang == "ru":
        err = translate_plan_error(m["err"], lang)
        if err != m["err"]:
            return f"{m['src']}, строка {m['line']}: {err}"
    return text
