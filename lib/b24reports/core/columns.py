"""Column catalog: canonical column id -> kind and localized header (ru, en).

Every table a report produces (``ReportResult.tables``) uses the canonical column ids of
METRICS.md; this catalog tells the HTML tables (``views.common.table_html``), the Excel
exporter and ``metrics.json`` how to show and round each column:

=========  ==========================================  ==========================  =========
kind       meaning                                      metrics.json                shown as
=========  ==========================================  ==========================  =========
int        a count                                      int                         1 250
money      amount in the report currency                float, 2 decimals           1 250 ₽
pct        percentage 0..100 (id ends in ``_pct``)      float, 1 decimal            12,5 %
ratio      non-percentage ratio                         float, 2 decimals           1,25
days       a duration in days                           float, 1 decimal            12,5
number     any other float                              float, 2 decimals           12,35
date       calendar date                                ``YYYY-MM-DD``              30.11.2026
datetime   instant in portal time                       ISO-8601 with offset        30.11.2026 14:05
text       CRM text (escaped in HTML, never a formula)  str                         as is
url        link into the portal                         str                         link
id         Bitrix24 entity id                           int                         123
code       stage/status/source code, period labels      str                         as is
bool       yes/no                                       bool                        да / нет
list       list of flag ids (``flags``)                 JSON list                   a, b
=========  ==========================================  ==========================  =========

Report engineers add their own columns with :func:`define` (in their ``specs/<name>.py``)
or by adding a line to :data:`CATALOG` below; an id missing from the catalog falls back to
a kind guessed from its suffix (:func:`kind_of`) and to the id itself as header.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = frozenset(
    {"int", "money", "pct", "ratio", "days", "number", "date", "datetime", "text", "url", "id",
     "code", "bool", "list"}
)


@dataclass(frozen=True)
class Column:
    """One catalog entry: ``id`` (canonical column id), ``kind`` (see :data:`KINDS`),
    localized headers ``ru`` and ``en``."""

    id: str
    kind: str
    ru: str
    en: str

    def header(self, lang: str) -> str:
        """Localized header; ``lang`` is ``"ru"`` or ``"en"`` (anything else -> en)."""
        return self.ru if lang == "ru" else self.en


# id: (kind, ru, en). Seeded with every column id of METRICS.md (all sections).
_SEED: dict[str, tuple[str, str, str]] = {
    # keys and entity rows (Conventions, "Keys")
    "id": ("id", "ID", "ID"),
    "pipeline_id": ("id", "Воронка", "Pipeline"),
    "stage_id": ("code", "Стадия", "Stage"),
    "status_id": ("code", "Статус", "Status"),
    "employee_id": ("id", "Сотрудник (ID)", "Employee ID"),
    "department_id": ("id", "Отдел (ID)", "Department ID"),
    "group_id": ("id", "Проект (ID)", "Project ID"),
    "source_id": ("code", "Источник", "Source"),
    "period": ("code", "Период", "Period"),
    "month": ("code", "Месяц", "Month"),
    "day": ("date", "День", "Day"),
    "flags": ("list", "Флаги", "Flags"),
    "url": ("url", "Ссылка", "Link"),
    "title": ("text", "Название", "Title"),
    "name": ("text", "Имя", "Name"),
    # display names that views may join in
    "pipeline_name": ("text", "Воронка", "Pipeline"),
    "stage_name": ("text", "Стадия", "Stage"),
    "status_name": ("text", "Статус", "Status"),
    "employee_name": ("text", "Сотрудник", "Employee"),
    "department_name": ("text", "Отдел", "Department"),
    "group_name": ("text", "Проект", "Project"),
    "source_name": ("text", "Источник", "Source"),
    # funnel
    "deals": ("int", "Сделки", "Deals"),
    "current_deals": ("int", "Сделок сейчас", "Deals now"),
    "current_amount": ("money", "Сумма сейчас", "Amount now"),
    "reached": ("int", "Дошли до стадии", "Reached"),
    "conversion_from_prev_pct": ("pct", "Конверсия из предыдущей, %", "Conversion from previous, %"),
    "conversion_to_won_pct": ("pct", "Конверсия в выигрыш, %", "Conversion to won, %"),
    "open_deals": ("int", "В работе", "Open deals"),
    "won_deals": ("int", "Выиграно", "Won deals"),
    "won_amount": ("money", "Сумма выигранных", "Won amount"),
    "lost_deals": ("int", "Проиграно", "Lost deals"),
    "win_rate_pct": ("pct", "Доля выигранных среди закрытых, %", "Win rate (won of closed), %"),
    "avg_cycle_days": ("days", "Средний цикл, дн.", "Average cycle, days"),
    "median_cycle_days": ("days", "Медианный цикл, дн.", "Median cycle, days"),
    "amount": ("money", "Сумма", "Amount"),
    "created": ("datetime", "Создана", "Created"),
    "closed_at": ("datetime", "Закрыта", "Closed"),
    "won_at": ("datetime", "Выиграна", "Won"),
    "duration_days": ("days", "Длительность, дн.", "Duration, days"),
    "visits": ("int", "Заходы в стадию", "Stage visits"),
    "avg_days_in_stage": ("days", "Среднее время в стадии, дн.", "Average days in stage"),
    "mean_days": ("days", "Среднее, дн.", "Mean, days"),
    # forgotten
    "last_touch": ("datetime", "Последнее касание", "Last touch"),
    "idle_days": ("int", "Дней без касаний", "Idle days"),
    "forgotten": ("bool", "Забыта", "Forgotten"),
    "no_next_step": ("bool", "Следующий шаг (открытое дело, срок может быть уже прошёл)",
                     "Next step (an open to-do, possibly past due)"),  # values: «нет открытых дел» / «есть открытое дело»
    "forgotten_deals": ("int", "Забытые сделки", "Forgotten deals"),
    "forgotten_deals_amount": ("money", "Сумма забытых сделок", "Forgotten deals amount"),
    "forgotten_leads": ("int", "Забытые лиды", "Forgotten leads"),
    "no_next_step_deals": ("int", "Сделки без следующего шага", "Deals without next step"),
    "no_next_step_leads": ("int", "Лиды без следующего шага", "Leads without next step"),
    # dynamics
    "avg_deal": ("money", "Средний чек", "Average deal"),
    "change_prev_pct": ("pct", "К предыдущему, %", "Vs previous, %"),
    "change_yoy_pct": ("pct", "К прошлому году, %", "Year over year, %"),
    "weighted_amount": ("money", "Взвешенная сумма", "Weighted amount"),
    "probability_pct": ("pct", "Вероятность, %", "Probability, %"),
    "won_amount_mtd": ("money", "Выиграно с начала месяца", "Won month to date"),
    "elapsed_days": ("days", "Прошло дней", "Elapsed days"),
    "days_in_month": ("int", "Дней в месяце", "Days in month"),
    "run_rate": ("money", "Прогноз на месяц (темп)", "Run rate"),
    "forecast": ("money", "Прогноз", "Forecast"),
    "lower_80": ("money", "Нижняя граница 80 %", "Lower 80%"),
    "upper_80": ("money", "Верхняя граница 80 %", "Upper 80%"),
    "mape_pct": ("pct", "Средняя ошибка прогноза, %", "Mean forecast error, %"),
    # plan
    "plan_amount": ("money", "План", "Plan"),
    "plan_deals": ("int", "План, сделок", "Plan, deals"),
    "fact_amount": ("money", "Факт", "Actual"),
    "fact_deals": ("int", "Факт, сделок", "Actual deals"),
    "completion_pct": ("pct", "Выполнение, %", "Completion, %"),
    "gap": ("money", "Осталось до плана", "Gap to plan"),
    "projection": ("money", "Прогноз на конец месяца", "Month-end projection"),
    "needed_per_day": ("money", "Нужно в день", "Needed per day"),
    "remaining_days": ("int", "Осталось дней", "Remaining days"),  # whole calendar days (metrics.plan)
    "mtd_amount": ("money", "С начала месяца", "Month to date"),
    "prev_mtd_amount": ("money", "Прошлый месяц к той же дате", "Previous month to same day"),
    "mtd_deals": ("int", "Сделок с начала месяца", "Deals month to date"),
    "prev_mtd_deals": ("int", "Сделок в прошлом месяце к той же дате", "Previous month deals to same day"),
    "change_pct": ("pct", "Изменение, %", "Change, %"),
    "avg_won_amount": ("money", "Средняя выигранная сделка", "Average won deal"),
    "calls_per_won": ("ratio", "Звонков на выигранную сделку", "Calls per won deal"),
    "needed_won": ("int", "Нужно выиграть сделок", "Won deals needed"),
    "needed_at_stage": ("int", "Нужно на стадии", "Needed at stage"),
    "needed_leads": ("int", "Нужно лидов, если все сделки из лидов", "Leads needed if every deal came from a lead"),
    "needed_calls": ("int", "Нужно звонков", "Calls needed"),
    "line": ("int", "Строка", "Line"),
    "error": ("text", "Ошибка", "Error"),
    # managers
    "calls_out": ("int", "Исходящие звонки", "Outgoing calls"),
    "calls_in": ("int", "Входящие звонки", "Incoming calls"),
    "call_minutes": ("number", "Минуты разговоров", "Call minutes"),
    "short_calls": ("int", "Короткие звонки", "Short calls"),
    "short_calls_pct": ("pct", "Короткие звонки, % от всех звонков", "Short calls, % of all calls"),
    "meetings": ("int", "Встречи", "Meetings"),
    "emails_out": ("int", "Исходящие письма", "Emails sent"),
    "emails_in": ("int", "Входящие письма", "Emails received"),
    "tasks": ("int", "Задачи", "Tasks"),
    "other": ("int", "Прочее", "Other"),
    "touches": ("int", "Касания", "Touches"),
    "weighted": ("number", "Взвешенная активность", "Weighted activity"),
    "activity_index": ("number", "Индекс активности", "Activity index"),  # 100 = the team mean; no unexplained «ИАС»
    "created_deals": ("int", "Создано за период", "Created in the period"),
    "conversion_pct": ("pct", "Из созданных за период выиграно, %", "Of those created, won, %"),
    # marketing
    "leads": ("int", "Лиды", "Leads"),
    "junk": ("int", "Некачественные", "Junk"),
    "junk_pct": ("pct", "Доля некачественных, %", "Junk, %"),
    "quality_leads": ("int", "Лиды без некачественных", "Leads not junk"),
    "converted": ("int", "Сконвертированы", "Converted"),
    # not the portal's status «В работе»: every lead still open (neither converted nor junk)
    "in_work": ("int", "Открытые (ещё не закрыты)", "Open (not closed yet)"),
    "conversion_to_deal_pct": ("pct", "Конверсия в сделку, %", "Conversion to deal, %"),
    "sales": ("int", "Продажи", "Sales"),
    "sales_amount": ("money", "Сумма продаж", "Sales amount"),
    "conversion_to_sale_pct": ("pct", "Конверсия в продажу, %", "Conversion to sale, %"),
    "revenue_per_lead": ("money", "Выручка на лид", "Revenue per lead"),
    "share_pct": ("pct", "Доля от всех лидов, %", "Share of all leads, %"),
    "won_cycle_days": ("days", "Цикл лид → продажа, дн.", "Lead to sale, days"),
    "planned_leads": ("int", "Плановые лиды", "Planned leads"),
    "projected_revenue": ("money", "Прогноз выручки", "Projected revenue"),
    "count": ("int", "Количество", "Count"),
    "stage": ("code", "Этап", "Step"),
    "value": ("number", "Значение", "Value"),
    "utm_source": ("text", "Источник (utm_source)", "UTM source"),
    "utm_medium": ("text", "Канал (utm_medium)", "UTM medium"),
    "utm_campaign": ("text", "Кампания (utm_campaign)", "UTM campaign"),
    # tasks
    "total": ("int", "Всего", "Total"),
    "finished_on_time": ("int", "Завершены в срок", "Finished on time"),
    "finished_late": ("int", "Завершены с опозданием", "Finished late"),
    "overdue_open": ("int", "Просрочены и открыты", "Overdue, open"),
    "not_started": ("int", "Не начаты", "Not started"),
    "started_on_time": ("int", "Начаты вовремя", "Started on time"),
    "started_on_time_pct": ("pct", "Начаты вовремя, %", "Started on time, %"),
    "finished_on_time_pct": ("pct", "Завершены в срок, %", "Finished on time, %"),
    "execution_coefficient_pct": ("pct", "Коэффициент исполнения, %", "Execution coefficient, %"),
    "tasks_per_executor": ("ratio", "Задач на исполнителя", "Tasks per executor"),
    "no_deadline": ("int", "Без срока", "No deadline"),
    "open": ("int", "Открыто", "Open"),
    "overdue": ("int", "Просрочено", "Overdue"),
    "growing_backlog": ("bool", "Растёт просрочка", "Growing backlog"),
    "deadline": ("datetime", "Крайний срок", "Deadline"),
    "closed_date": ("datetime", "Закрыта", "Closed"),
    "responsible_id": ("id", "Ответственный (ID)", "Responsible ID"),
}

#: The catalog: column id -> :class:`Column`.
CATALOG: dict[str, Column] = {cid: Column(cid, k, ru, en) for cid, (k, ru, en) in _SEED.items()}


def define(id: str, kind: str, ru: str, en: str, *, replace: bool = False) -> Column:
    """Add column ``id`` of ``kind`` with headers ``ru``/``en`` to the catalog and return it.

    Idempotent for an identical definition. Raises ``ValueError`` for an unknown kind, a
    ``*_pct`` id whose kind is not ``pct``, or a conflicting redefinition without
    ``replace=True`` (two reports must not give one id two meanings).
    """
    if kind not in KINDS:
        raise ValueError(f"column {id!r}: unknown kind {kind!r} (one of {sorted(KINDS)})")
    if id.endswith("_pct") and kind != "pct":
        raise ValueError(f"column {id!r}: ids ending in _pct must have kind 'pct' (METRICS.md)")
    col = Column(id, kind, ru, en)
    old = CATALOG.get(id)
    if old is not None and old != col and not replace:
        raise ValueError(f"column {id!r} is already defined as {old}; pick another id")
    CATALOG[id] = col
    return col


def kind_of(column_id: str) -> str:
    """Kind of ``column_id``: from the catalog, else guessed from the id's suffix
    (``_pct`` pct, ``_amount``/``amount`` money, ``_days`` days, ``_id``/``id`` id,
    ``url`` url, ``_at`` datetime, else text)."""
    col = CATALOG.get(column_id)
    if col is not None:
        return col.kind
    c = column_id
    if c.endswith("_pct"):
        return "pct"
    if c == "amount" or c.endswith("_amount"):
        return "money"
    if c.endswith("_days"):
        return "days"
    if c == "id" or c.endswith("_id"):
        return "id"
    if c == "url" or c.endswith("_url"):
        return "url"
    if c.endswith("_at"):
        return "datetime"
    return "text"


#: Headers a report words its own way, where the catalog's header would leave the base of a
#: number open: ``{report: {column id: (ru, en)}}``. Managers count wins by the date won while
#: their conversion is of the deals created, so each header names its base.
REPORT_HEADERS: dict[str, dict[str, tuple[str, str]]] = {
    # funnel: «дошли» counts a deal that skipped a stage too, «заходы» only recorded entries
    # (the two read as a contradiction: 713 reached, 657 visits); «в работе» is of the cohort
    "funnel": {
        "reached": ("Дошли до стадии или дальше", "Reached the stage or beyond"),
        "visits": ("Заходы в стадию по истории переходов", "Stage entries in the stage history"),
        "open_deals": ("В работе (из созданных за период)", "Open (of those created in the period)"),
        # the funnel counts the period's cohort: its won deals are of those created in the period,
        # the managers and dynamics reports count every deal won in the period (406 vs 371)
        "deals": ("Сделки, созданные за период", "Deals created in the period"),
        "won_deals": ("Выиграно (из созданных за период)", "Won (of those created in the period)"),
        "won_amount": ("Сумма выигранных (из созданных за период)", "Won amount (of those created in the period)"),
        "lost_deals": ("Проиграно (из созданных за период)", "Lost (of those created in the period)"),
    },
    # dynamics: velocity counts every deal open now, whenever created (funnel's «в работе»
    # counts the period's cohort only); its average won deal is over the lookback window
    "dynamics": {
        "open_deals": ("Открыто сейчас (все, любой даты создания)", "Open now (all, created any time)"),
        "avg_won_amount": ("Средняя выигранная сделка (окно «История, мес.»)", "Average won deal (lookback window)"),
        "win_rate_pct": ("Доля выигранных среди закрытых (окно «История, мес.»), %", "Win rate of closed (lookback window), %"),
        "avg_cycle_days": ("Средний цикл (окно «История, мес.»), дн.", "Average cycle (lookback window), days"),
        "avg_deal": ("Средняя выигранная сделка", "Average won deal"),
    },
    # plan: the basis (own deals or the team's) covers the deal size and calls only; the
    # deals per won and the lead conversion are always the whole team's
    "plan": {
        "basis": ("Основа чека и звонков", "Basis of deal size and calls"),
        "won_in_window": ("Выиграно за окно (по основе)", "Won in the window (by the basis)"),
        "avg_won_amount": ("Средняя выигранная сделка (по основе)", "Average won deal (by the basis)"),
        "calls_per_won": ("Звонков на выигранную сделку (по основе)", "Calls per won deal (by the basis)"),
        "deals_per_won": ("Сделок на одну выигранную (вся команда)", "Deals per won deal (whole team)"),
        "lead_conversion_pct": ("Конверсия лид → сделка (вся команда), %", "Lead to deal conversion (whole team), %"),
    },
    # managers: wins are counted by the date won (whenever created), the conversion is of the
    # deals created in the period — 89 won beside 131 created and 64,1 % read as a wrong sum
    "managers": {
        "won_deals": ("Выиграно за период по дате выигрыша (создано когда угодно)",
                      "Won in the period by date won (created any time)"),
        "won_amount": ("Сумма выигранных за период", "Amount won in the period"),
        "created_deals": ("Создано за период (база конверсии)", "Created in the period (the conversion's base)"),
        "conversion_pct": ("Конверсия созданных за период: выиграно к дате данных, %",
                           "Created in the period and won by the data date, %"),
        # CRM activities of the type «Задача», not the Bitrix24 tasks of the tasks report (a fresh
        # reader set Васильев's 107 here against his 64 tasks there)
        "tasks": ("Дела «Задача» в CRM", "CRM activities of type task"),
    },
    # marketing: a sale is a deal won in the period from a lead of the period, a part of all the
    # period's wins (a reader took 43 M «Сумма продаж» for the company's 271 M)
    "marketing": {
        "sales": ("Продажи из лидов периода", "Sales from the period's leads"),
        "sales_amount": ("Сумма продаж из лидов периода", "Sales amount from the period's leads"),
    },
    # a lead is «создан» (a deal «создана»)
    "marketing.leads": {"created": ("Создан", "Created")},
    "forgotten.leads": {"created": ("Создан", "Created")},
    # tasks: «просрочены и открыты» counts tasks due in the period, the backlog counts every
    # open overdue task at a month end (any deadline): 31 and 43 side by side read as a contradiction
    "tasks": {
        "overdue_open": ("Просрочены и открыты (срок в периоде)", "Overdue, open (due in the period)"),
        "no_deadline": ("Без срока (не входят во «Всего»)", "No deadline (not in the total)"),
    },
    "tasks.accumulation": {
        "open": ("Открыто на конец месяца (любой срок)", "Open at month end (any deadline)"),
        "overdue": ("Просрочено на конец месяца (любой срок)", "Overdue at month end (any deadline)"),
    },
    # pipeline: the manager table counts every change of the manager's deals, beyond the
    # horizon too (22 new against the waterfall's 7)
    "pipeline.by_employee": {
        "new_deals": ("Новые (и вне горизонта)", "New (beyond the horizon too)"),
        "advanced_deals": ("Продвинулись (и вне горизонта)", "Advanced (beyond the horizon too)"),
        "won_deals": ("Выиграны (и вне горизонта)", "Won (beyond the horizon too)"),
        "lost_deals": ("Проиграны (и вне горизонта)", "Lost (beyond the horizon too)"),
    },
    "managers.by_month": {
        "won_deals": ("Выиграно за месяц (по дате выигрыша)", "Won in the month (by date won)"),
        "won_amount": ("Сумма выигранных за месяц", "Amount won in the month"),
    },
}


#: Digits a page shows for a column whose stored value has more (``metrics.json`` and Excel keep
#: theirs): an index around 100 or minutes read as whole numbers («137», not «137,00»), a mean
#: count with one decimal («68,1», not «68,06»).
DISPLAY_DIGITS: dict[str, int] = {"activity_index": 0, "weighted": 0, "call_minutes": 0, "tasks_per_executor": 1,
                                  "calls_per_won": 1, "deals_per_won": 1}


def header(column_id: str, lang: str, report: str | None = None, table: str | None = None) -> str:
    """Localized header of ``column_id`` (the id itself when not in the catalog); ``report``
    (a report name) picks that report's own wording (:data:`REPORT_HEADERS`) where it has one,
    and ``table`` (a table id of that report) the table's own (key ``"report.table"``), e.g.
    «за месяц» on the month rows of a table whose report says «за период» elsewhere."""
    own = REPORT_HEADERS.get(f"{report}.{table}", {}).get(column_id) if report and table else None
    own = own or REPORT_HEADERS.get(report or "", {}).get(column_id)
    if own is not None:
        return own[0] if lang == "ru" else own[1]
    col = CATALOG.get(column_id)
    return col.header(lang) if col is not None else column_id
