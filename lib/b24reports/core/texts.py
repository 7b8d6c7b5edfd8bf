"""Display labels and translated messages, ru and en: parameter names and help, value labels of
code columns, the whole-team row, and the translation of warnings, plan-file errors and parameter
errors (which stay English in metrics.json). Formats and plurals are :mod:`b24reports.core.i18n`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from b24reports.core.i18n import DEFAULT_LANG, check_lang, count_text, format_int, is_null, plural, t


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
    "stages": {"ru": "Стадии (коды)", "en": "Stage codes"},
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
    "as_of": "«сейчас» отчёта, дата и время в часовом поясе портала (по умолчанию: сейчас; у демо-базы — «сейчас» её портала)",
    "lang": "язык отчёта",
    "currency": "валюта отчёта, код ISO (по умолчанию: базовая валюта портала)",
    "timezone": "часовой пояс отчёта, +ЧЧ:ММ или имя IANA (по умолчанию: пояс портала)",
    "pipelines": "id воронок сделок (CATEGORY_ID) через запятую; пусто — все",
    "departments": "id отделов (с подотделами); пусто — все",
    "employees": "id сотрудников; пусто — все",
    "dynamics.granularity": "шаг периода для выигранных сделок (day — для детализации месяца)",
    "dynamics.lookback_months": "за сколько месяцев брать закрытые сделки для вероятностей стадий и скорости",
    "deal_idle_days": "сделка без касаний столько дней — забыта",
    "lead_idle_days": "лид без касаний столько дней — забыт",
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


#: Words for the coded values of report parameters on the Excel "About" sheet (a fresh reader
#: found «Шаг периода: month», «Сравнить с: week» in a Russian file).
PARAM_VALUES: dict[str, dict[str, dict[str, str]]] = {
    "granularity": {"day": {"ru": "день", "en": "day"}, "month": {"ru": "месяц", "en": "month"},
                    "quarter": {"ru": "квартал", "en": "quarter"}, "year": {"ru": "год", "en": "year"}},
    "compare_to": {"week": {"ru": "неделя назад", "en": "a week before"},
                   "month": {"ru": "месяц назад", "en": "a month before"}},
    "horizon": {"month": {"ru": "конец месяца", "en": "month end"}, "quarter": {"ru": "конец квартала", "en": "quarter end"},
                "year": {"ru": "конец года", "en": "year end"}, "all": {"ru": "все открытые сделки", "en": "every open deal"}},
    "utm_group": {"utm_source": {"ru": "источник", "en": "source"}, "utm_medium": {"ru": "канал", "en": "medium"},
                  "utm_campaign": {"ru": "кампания", "en": "campaign"}},
}
#: What an empty parameter means, by parameter (a filter left empty is every one).
PARAM_EMPTY: dict[str, dict[str, str]] = {
    "activity_weights": {"ru": "по умолчанию (звонок 1, встреча 5, письмо 1, прочее 1)",
                         "en": "default (call 1, meeting 5, e-mail 1, other 1)"},
    "planned_leads": {"ru": "лиды периода", "en": "the period's leads"},
    "stage_idle_days": {"ru": "нет", "en": "none"},
    "step": {"ru": "все шаги", "en": "every step"},
    "viewer": {"ru": "нет (все записи)", "en": "none (every record)"},
    "plan": {"ru": "нет", "en": "none"},
}


def param_value_text(name: str, value: Any, lang: str = DEFAULT_LANG) -> str:
    """How the Excel "About" sheet writes the value of report parameter ``name`` (as
    ``Params.to_json`` gives it): coded values in words (:data:`PARAM_VALUES`), a list joined by
    ", ", an empty value as what it means (:data:`PARAM_EMPTY`; an empty filter: «все» / "all"),
    a moment (``as_of``) as ``07.12.2026 12:00``; anything else as it is."""
    from b24reports.core.i18n import format_datetime

    if value is None or value == "" or (isinstance(value, list | tuple) and not value):
        return (PARAM_EMPTY.get(name) or {"ru": "все", "en": "all"})[lang if lang in ("ru", "en") else "en"]
    words = PARAM_VALUES.get(name, {})
    if isinstance(value, list | tuple):
        return ", ".join(words.get(str(v), {}).get(lang) or str(v) for v in value)
    if name == "as_of":
        return format_datetime(value, lang)
    return words.get(str(value), {}).get(lang) or str(value)


#: Display text of enum values in tables: column id -> raw value -> {lang: text}. One
#: mapping for every report (HTML tables and Excel); ``metrics.json`` keeps the raw value.
VALUE_LABELS: dict[str, dict[Any, dict[str, str]]] = {
    "month": {"overdue": {"ru": "просрочено", "en": "overdue"}},
    # «Нет следующего шага: нет» read as a double negative (the demo reader): the cell says it
    # and «запланирован» read as a future step even when the open to-do was already overdue (the
    # third reader): what is known is whether an open to-do exists
    "no_next_step": {True: {"ru": "нет открытых дел", "en": "no open to-do"},
                     False: {"ru": "есть открытое дело", "en": "an open to-do"}},
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


#: owner columns of a plan-style row, in the order a label is put into
OWNER_COLUMNS = ("employee_id", "department_id")
TEAM_LABEL = {"ru": "Вся команда", "en": "Whole team"}


def team_row_label(team_row: bool, column_id: str, row: Mapping[str, Any], lang: str = DEFAULT_LANG) -> str | None:
    """The label of the whole-team row's owner cell, shared by the HTML tables
    (``views.common.table_html``), Excel (``render.write_xlsx``) and the plan charts
    (``views.plan.row_label``): ``"Вся команда"`` / ``"Whole team"`` when the table holds a
    whole-team row (``team_row``: its ``TableSpec.team_row``, the plan report's tables), ``column_id`` is ``employee_id`` (the column that names a row's
    owner) and every owner column present in ``row`` (``{column id: value}``) is null; else
    ``None`` (show the cell as usual). ``BadParameter`` for an unknown ``lang``."""
    check_lang(lang)
    if not team_row or column_id != "employee_id":
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
                # the warning itself says «уволен»: the name without the marker the tables add
                plain = names[int(emp)]
                for mark in (t("dismissed_mark", "ru"), t("dismissed_mark", "en")):
                    plain = plain.removesuffix(mark)
                args["emp"] = f"{plain} (ID {emp})"
            if "ids" in args:  # a list of entity ids: say how many, and that they are numbers, not a count
                args.update(_ids_args(args["ids"], args.get("entity", ""), lang))
            return tpl[lang].format(**args)
    m = re.fullmatch(_PLAN_LINE, text.strip(), re.S)  # a plan file's bad row: "plan.csv line 4: …"
    if m and lang == "ru":
        err = translate_plan_error(m["err"], lang)
        if err != m["err"]:
            return f"{m['src']}, строка {m['line']}: {err}"
    return text
