"""Named report periods: the one registry behind the schedule (``period: last_month``), the
dashboards' period dropdown and their links (``?period=last_month``).

A preset turns the run date (``as_of``, a calendar date in portal time) into the report
parameters ``date_from``/``date_to`` (inclusive dates, METRICS.md "Conventions": a period
``date_from..date_to`` means ``date_from 00:00`` to ``date_to 23:59:59.999999``).

==================  =============================================================
preset              period for as_of = Monday 2026-11-30
==================  =============================================================
``last_week``       the full ISO week (Monday..Sunday) before as_of's week:
                    2026-11-23..2026-11-29
``month_to_date``   first day of as_of's month .. as_of: 2026-11-01..2026-11-30
``last_month``      the full calendar month before as_of's month: 2026-10-01..2026-10-31
``quarter_to_date`` first day of as_of's calendar quarter .. as_of: 2026-10-01..2026-11-30
``last_12_months``  the 12 full calendar months before as_of's month (the reports' default
                    period, METRICS.md "Parameters"): 2025-11-01..2026-10-31
==================  =============================================================

``this_month`` (the dashboards' name before this registry) is read as ``month_to_date``.
"""

from __future__ import annotations

import datetime as dt

from b24reports.core.errors import BadParameter

#: Every preset, in display order.
PRESETS: tuple[str, ...] = ("last_week", "month_to_date", "last_month", "quarter_to_date", "last_12_months")
#: Presets of the dashboards' period dropdown (plus "custom"), in display order.
DASHBOARD_PRESETS: tuple[str, ...] = ("month_to_date", "last_month", "quarter_to_date", "last_12_months", "custom")
#: Older names still accepted (links saved before this registry).
ALIASES: dict[str, str] = {"this_month": "month_to_date"}

PRESET_LABELS: dict[str, dict[str, str]] = {
    "ru": {"last_week": "Прошлая неделя", "month_to_date": "Этот месяц", "last_month": "Прошлый месяц",
           "quarter_to_date": "Квартал до сегодня", "last_12_months": "12 месяцев", "custom": "Свой период"},
    "en": {"last_week": "Last week", "month_to_date": "Month to date", "last_month": "Last month",
           "quarter_to_date": "Quarter to date", "last_12_months": "Last 12 months", "custom": "Custom"},
}


def add_months(d: dt.date, n: int) -> dt.date:
    """The first day of the month ``n`` months after ``d``'s month (``n`` may be negative)."""
    m = d.year * 12 + d.month - 1 + n
    return dt.date(m // 12, m % 12 + 1, 1)


def preset_period(name: str, as_of: dt.date | dt.datetime) -> tuple[dt.date, dt.date]:
    """The inclusive period ``(date_from, date_to)`` of preset ``name`` for run date ``as_of``.

    ``as_of``: a date, or a datetime whose calendar date is used (pass it in portal time).
    Returns two ``datetime.date`` with ``date_from <= date_to``.

    Raises:
        BadParameter("period", name, …): ``name`` is not one of :data:`PRESETS` (``custom`` has no
        fixed period).
        BadParameter("as_of", as_of, …): ``as_of`` is not a date.
    """
    if isinstance(as_of, dt.datetime):
        day = as_of.date()
    elif isinstance(as_of, dt.date):
        day = as_of
    else:
        raise BadParameter("as_of", as_of, "expected a date")
    name = ALIASES.get(name, name)
    first = day.replace(day=1)
    if name == "last_week":
        this_monday = day - dt.timedelta(days=day.weekday())
        return this_monday - dt.timedelta(days=7), this_monday - dt.timedelta(days=1)
    if name == "month_to_date":
        return first, day
    if name == "last_month":
        return add_months(day, -1), first - dt.timedelta(days=1)
    if name == "quarter_to_date":
        return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1), day
    if name == "last_12_months":
        return add_months(day, -12), first - dt.timedelta(days=1)
    raise BadParameter("period", name, f"unknown period preset; known: {', '.join(PRESETS)}")


def detect_preset(date_from: dt.date, date_to: dt.date, today: dt.date,
                  names: tuple[str, ...] = DASHBOARD_PRESETS) -> str:
    """The first preset of ``names`` whose period is exactly ``date_from..date_to`` for ``today``,
    else ``"custom"``."""
    for p in names:
        if p != "custom" and preset_period(p, today) == (date_from, date_to):
            return p
    return "custom"
