"""The one registry of named periods (b24reports.reports.presets): the schedule, the dashboards'
dropdown and their links all read it."""

from __future__ import annotations

import datetime as dt

import pytest

from b24reports.core.errors import BadParameter
from b24reports.reports.presets import DASHBOARD_PRESETS, PRESETS, detect_preset, preset_period

D = dt.date


@pytest.mark.parametrize(("name", "as_of", "expected"), [
    # Monday 2026-11-30: the previous ISO week is Mon 23 .. Sun 29 November
    ("last_week", D(2026, 11, 30), (D(2026, 11, 23), D(2026, 11, 29))),
    # Sunday 2026-11-29 is still in the week of Mon 23, so last week = 16..22
    ("last_week", D(2026, 11, 29), (D(2026, 11, 16), D(2026, 11, 22))),
    # across a year boundary: Thu 2026-01-01 is in the week Mon 2025-12-29 .. -> 22..28 Dec
    ("last_week", D(2026, 1, 1), (D(2025, 12, 22), D(2025, 12, 28))),
    ("last_month", D(2026, 11, 30), (D(2026, 10, 1), D(2026, 10, 31))),
    ("last_month", D(2026, 1, 15), (D(2025, 12, 1), D(2025, 12, 31))),
    ("last_month", D(2024, 3, 1), (D(2024, 2, 1), D(2024, 2, 29))),  # leap February
    ("last_month", D(2024, 3, 10), (D(2024, 2, 1), D(2024, 2, 29))),
    ("month_to_date", D(2026, 11, 30), (D(2026, 11, 1), D(2026, 11, 30))),
    ("month_to_date", D(2026, 11, 1), (D(2026, 11, 1), D(2026, 11, 1))),
    ("this_month", D(2026, 11, 30), (D(2026, 11, 1), D(2026, 11, 30))),  # the dashboards' old name
    ("quarter_to_date", D(2026, 11, 30), (D(2026, 10, 1), D(2026, 11, 30))),  # Q4 starts 1 Oct
    ("quarter_to_date", D(2026, 3, 31), (D(2026, 1, 1), D(2026, 3, 31))),
    ("quarter_to_date", D(2026, 4, 1), (D(2026, 4, 1), D(2026, 4, 1))),
    # 12 full months before as_of's month: Nov 2025 .. Oct 2026 (the reports' default period)
    ("last_12_months", D(2026, 11, 30), (D(2025, 11, 1), D(2026, 10, 31))),
    ("last_12_months", D(2026, 1, 5), (D(2025, 1, 1), D(2025, 12, 31))),
])
def test_preset_period(name, as_of, expected):
    assert preset_period(name, as_of) == expected


def test_preset_period_takes_the_date_of_a_datetime_and_rejects_unknown():
    assert preset_period("month_to_date", dt.datetime(2026, 2, 20, 23, 59)) == (D(2026, 2, 1), D(2026, 2, 20))
    with pytest.raises(BadParameter, match="last_year"):
        preset_period("last_year", D(2026, 1, 1))
    with pytest.raises(BadParameter, match="period"):
        preset_period("custom", D(2026, 11, 30))  # no fixed period
    with pytest.raises(BadParameter, match="as_of"):
        preset_period("last_week", "2026-01-01")


def test_detect_preset_prefers_the_dropdown_order():
    today = D(2026, 11, 30)
    assert detect_preset(D(2026, 10, 1), D(2026, 10, 31), today) == "last_month"
    assert detect_preset(D(2025, 11, 1), D(2026, 10, 31), today) == "last_12_months"
    assert detect_preset(D(2026, 10, 2), D(2026, 10, 31), today) == "custom"
    # on 2026-10-15 month to date and quarter to date are the same days: the dropdown's first wins
    assert detect_preset(D(2026, 10, 1), D(2026, 10, 15), D(2026, 10, 15)) == "month_to_date"
    # last week is a schedule preset, not in the dropdown: custom there
    assert detect_preset(D(2026, 11, 23), D(2026, 11, 29), today) == "custom"
    assert detect_preset(D(2026, 11, 23), D(2026, 11, 29), today, names=PRESETS) == "last_week"
    assert set(DASHBOARD_PRESETS) - {"custom"} <= set(PRESETS)
