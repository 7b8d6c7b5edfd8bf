"""Figures of the dynamics report (views.dynamics): month axes, count ticks."""

from __future__ import annotations

import types

import pandas as pd
import pytest
from b24reports.views import dynamics as vd


def test_month_axis_shows_month_names_keeps_keys_for_the_drill_down():
    from types import SimpleNamespace

    import pandas as pd
    from b24reports.outputs.dashboard import click_target
    from b24reports.views import dynamics, tasks

    res = SimpleNamespace(tables={"won_by_period": pd.DataFrame({"period": ["2025-11", "2025-12", "2026-01"],
                                                                 "won_amount": [10.0, 0.0, 5.0], "won_deals": [1, 0, 1]})})
    fig = dynamics.won_chart(res, "ru")
    assert list(fig.data[0].x) == ["2025-11", "2025-12", "2026-01"]  # the values a click hands out
    assert list(fig.layout.xaxis.ticktext) == ["ноя 2025", "дек 2025", "янв 2026"]
    assert list(fig.layout.xaxis.tickvals) == ["2025-11", "2025-12", "2026-01"]
    assert click_target([fig.data[0].x[0], 10.0], {}, set()) == ("month", "2025-11-01")
    # pipeline by expected close month: "overdue" keeps its translated label, months their names
    res = SimpleNamespace(tables={"forecast_pipeline": pd.DataFrame({"month": ["overdue", "2026-12"], "amount": [1.0, 2.0],
                                                                     "weighted_amount": [0.5, 1.0], "deals": [1, 2]})})
    fig = dynamics.pipeline_chart(res, "en")
    assert list(fig.layout.xaxis.ticktext) == ["overdue", "Dec 2026"] and list(fig.data[0].x) == ["overdue", "2026-12"]
    # tasks by period in English
    res = SimpleNamespace(tables={"by_period": pd.DataFrame({"period": ["2026-02"], "total": [3], "started_on_time_pct": [50.0],
                                                             "finished_on_time_pct": [40.0], "execution_coefficient_pct": [20.0]})})
    fig = tasks.coefficient_by_period(res, "en")
    assert list(fig.layout.xaxis.ticktext) == ["Feb 2026"]
    # day keys keep their own ticks (the dashboard's drill into a month)
    assert dynamics.period_axis(["2026-02-01", "2026-02-02"], "ru")["ticktext"] == ["2026-02-01", "2026-02-02"]


def test_long_month_axis_labels_every_other_month():
    from b24reports.views.dynamics import period_axis

    keys = [f"{y}-{m:02d}" for y in (2025, 2026) for m in range(1, 13)][:21]  # 21 months: 2025-01 … 2026-09
    ax = period_axis(keys, "en")
    # ceil(21 / 12) = 2: every 2nd month labelled, from the first; every month stays a category
    assert ax["tickvals"] == keys[::2] and ax["ticktext"][:3] == ["Jan 2025", "Mar 2025", "May 2025"]
    assert ax["categoryarray"] == keys and len(ax["tickvals"]) == 11


@pytest.mark.parametrize(("top", "step", "end"), [
    (20, 5, 20),    # 20/5 = 4 -> step 5: 0, 5, 10, 15, 20 (was 0, 7, 13, 20)
    (7, 2, 8),      # 7/5 = 1.4 -> 2: 0, 2, 4, 6, 8
    (5, 1, 5),      # 5/5 = 1 -> 1
    (11, 5, 15),    # 2.2 -> 5: 0, 5, 10, 15
    (137, 50, 150), # 27.4 -> 50: 0, 50, 100, 150
    (0, 1, 1),
])
def test_count_axis_ticks_are_whole_and_round(top, step, end):
    ax = vd.count_axis(top)
    assert vd.count_dtick(top) == step and ax["dtick"] == step and ax["tick0"] == 0
    assert ax["range"][0] == 0 and ax["range"][1] == pytest.approx(end * 1.04)


def test_won_chart_right_axis_uses_count_ticks():
    w = pd.DataFrame({"period": ["2026-09", "2026-10", "2026-11"], "won_amount": [1e6, 2e6, 5e5],
                      "won_deals": [13, 20, 7]})
    fig = vd.won_chart(types.SimpleNamespace(tables={"won_by_period": w}), "ru")
    assert fig.layout.yaxis2.dtick == 5 and fig.layout.yaxis2.tick0 == 0  # max 20 -> 0, 5, …, 20
    assert fig.layout.yaxis.dtick is None  # the money axis keeps plotly's own ticks
