"""The scope of one report run: what its numbers cover. Every metric reads it; none decides it.

A :class:`Scope` is resolved once from a report's parameters
(:func:`b24reports.reports.params.resolve_scope`, the one resolver behind the CLI, the dashboards
and the schedule) and handed to the report's metrics: ``report_tables(dataset, scope, **options)``
in every ``b24reports.metrics.<report>`` module.

Fields (METRICS.md "Conventions"):

* ``date_from``, ``date_to``: the period, inclusive days in the report timezone (``period`` gives
  the half-open window ``[start, end)``);
* ``as_of``: the report's "now", a tz-aware ``pd.Timestamp`` in ``tz``;
* ``tz``: the report timezone; ``currency``: the report currency (ISO code, ``None`` = the
  portal's base currency);
* ``pipelines``: deal pipeline ids (CATEGORY_ID), empty = all;
* ``people``: the employee ids the report is restricted to (ASSIGNED_BY_ID / RESPONSIBLE_ID),
  ``None`` = everyone. Resolved once from the ``employees`` and ``departments`` parameters
  (departments with their sub-departments; both given -> the intersection), METRICS.md "Who".
* ``visible``: what the viewer may open in Bitrix24 (issue 21), ``None`` = everything; applied to
  the dataset before any metric runs (``ReportSpec.run``), never by a metric itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from b24reports.core.errors import BadParameter
from b24reports.metrics.common import Period, employee_filter, to_timestamp


def check_period(date_from: dt.date, date_to: dt.date) -> None:
    """The one check of a period's order: ``BadParameter('date_from', …)`` when ``date_from`` is
    after ``date_to``. Called by every :class:`Scope`, and early by ``ReportSpec.parse_params`` when
    both dates are given (bad input is refused before a store is loaded)."""
    if date_from > date_to:
        raise BadParameter("date_from", date_from.isoformat(), f"is after date_to={date_to.isoformat()}")


@dataclass(frozen=True)
class Scope:
    """What one report run covers (see the module docstring). Immutable and hashable."""

    date_from: dt.date
    date_to: dt.date
    as_of: pd.Timestamp
    tz: dt.tzinfo
    currency: str | None = None
    pipelines: tuple[int, ...] = ()
    people: frozenset[int] | None = None
    visible: Any = None

    def __post_init__(self):
        check_period(self.date_from, self.date_to)

    @classmethod
    def build(cls, ds: Any, *, as_of: Any, date_from: dt.date | None = None, date_to: dt.date | None = None,
              tz: dt.tzinfo | None = None, currency: str | None = None, pipelines: Iterable[int] | None = (),
              employees: Iterable[int] | None = (), departments: Iterable[int] | None = (), visible: Any = None) -> Scope:
        """A scope from already parsed values; ``people`` resolved from ``employees`` and
        ``departments`` against ``ds.users``/``ds.departments``.

        ``as_of``: date, datetime, ISO text or Timestamp (naive = ``tz``). ``pipelines``,
        ``employees``, ``departments``: ids; empty or ``None`` = all. ``tz``: default the
        portal's (``ds.timezone``). ``date_from``/``date_to`` default to ``as_of``'s day (for the
        reports that read no period). Raises ``BadParameter`` when ``date_from > date_to``.
        """
        tz = tz or ds.timezone
        ts = to_timestamp(as_of, tz)
        people = employee_filter(ds, list(employees or ()), list(departments or ()))
        return cls(date_from=date_from or ts.date(), date_to=date_to or ts.date(), as_of=ts, tz=tz,
                   currency=currency, pipelines=tuple(int(p) for p in pipelines or ()),
                   people=None if people is None else frozenset(int(p) for p in people), visible=visible)

    @property
    def period(self) -> Period:
        """The period as a half-open window in ``tz`` (``start``, ``end``, ``contains``)."""
        return Period(self.date_from, self.date_to, self.tz)

    @property
    def people_list(self) -> list[int] | None:
        """``people`` sorted, or ``None`` for everyone (for ``Series.isin``)."""
        return None if self.people is None else sorted(self.people)

    def of_people(self, frame: pd.DataFrame, column: str = "employee_id") -> pd.DataFrame:
        """Rows of ``frame`` whose ``column`` is one of ``people`` (all rows when everyone)."""
        return frame if self.people is None else frame[frame[column].isin(self.people_list)]

    def of_pipelines(self, frame: pd.DataFrame, column: str = "pipeline_id") -> pd.DataFrame:
        """Rows of ``frame`` whose ``column`` is one of ``pipelines`` (all rows when empty)."""
        return frame if not self.pipelines else frame[frame[column].isin(list(self.pipelines))]

    def replace(self, **changes: Any) -> Scope:
        """A copy with ``changes`` (field values) applied."""
        from dataclasses import replace

        return replace(self, **changes)
