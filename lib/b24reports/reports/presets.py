"""Named report periods for scheduled runs: ``last_week``, ``last_month``,
``month_to_date``, ``quarter_to_date``.

A preset turns the run date (``as_of``, a calendar date in portal time) into the report
parameters ``date_from``/``date_to`` (inclusive dates, METRICS.md "Conventions": a period
``date_from..date_to`` means ``date_from 00:00`` to ``date_to 23:59:59.999999``).

=================  =============================================================
preset             period for as_of = Monday 2026-11-30
=================  =============================================================
``last_week``      the full ISO week (Monday..Sunday) before as_of's week:
                   2026-11-23..2026-11-29
``last_month``     the full calendar month before as_of's month: 2026-10-01..2026-10-31
``month_to_date``  first day of as_of's month .. as_of: 2026-11-01..2026-11-30
``quarter_to_date`` first day of as_of's calendar quarter .. as_of: 2026-10-01..2026-11-30
=================  =============================================================
"""

from __future__ import annotations

import datetime as dt

from b24reports.core.errors import BadParameter

PRESETS: tuple[str, ...] = ("last_week", "last_month", "month_to_date", "quarter_to_date")


def preset_period(name: str, as_of: dt.date | dt.datetime) -> tuple[dt.date, dt.date]:
    """The inclusive period ``(date_from, date_to)`` of preset ``name`` for run date ``as_of``.

    ``as_of``: a date, or a datetime whose calendar date is used (pass it in portal time).
    Returns two ``datetime.date`` with ``date_from <= date_to``.

    Raises:
        BadParameter("period", name, …): ``name`` is not one of :data:`PRESETS`.
        BadParameter("as_of", as_of, …): ``as_of`` is not a date.
    """
    if isinstance(as_of, dt.datetime):
        day = as_of.date()
    elif isinstance(as_of, dt.date):
        day = as_of
    else:
        raise BadParameter("as_of", as_of, "expected a date")
    if name == "last_week":
        this_monday = day - dt.timedelta(days=day.weekday())
        return this_monday - dt.timedelta(days=7), this_monday - dt.timedelta(days=1)
    if name == "last_month":
        first_this = day.replace(day=1)
        last_prev = first_this - dt.timedelta(days=1)
        return last_prev.replace(day=1), last_prev
    if name == "month_to_date":
        return day.replace(day=1), day
    if name == "quarter_to_date":
        q_month = 3 * ((day.month - 1) // 3) + 1
        return dt.date(day.year, q_month, 1), day
    raise BadParameter("period", name, f"unknown period preset; known: {', '.join(PRESETS)}")
