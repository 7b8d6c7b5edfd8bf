"""Funnel charts say what they draw (issue 20): a bar of the won amount is labelled with the won
amount, not the win rate; stage names on the time-in-stage chart are whole (horizontal bars)."""

from __future__ import annotations

import pandas as pd

from b24reports.views import funnel as v

MANAGERS = pd.DataFrame({
    "employee_id": [1, 2], "won_amount": [4_300_000.0, 250_000.0], "won_deals": [12, 1],
    "win_rate_pct": [20.0, 100.0],
})
LABELS = {"employee_id": {1: "Иванова Анна", 2: "Петров Пётр"}, "pipeline_id": {0: "Продажи", 1: "Партнёры"},
          "stage_id": {"NEW": "Новая", "PREPARATION": "Подготовка документов", "C1:NEW": "Новая",
                       "C1:PREPAYMENT_INVOICE": "Счёт на предоплату и согласование договора"}}


def test_manager_bars_are_labelled_with_their_length():
    fig = v.managers_chart(MANAGERS, LABELS, "ru", "RUB")
    bar = fig.data[0]
    assert list(bar.y) == ["Петров Пётр", "Иванова Анна"]  # largest on top
    assert list(bar.text) == ["250\u00a0тыс.\u00a0₽ · 1 сделка", "4,3\u00a0млн\u00a0₽ · 12 сделок"]
    assert all("%" not in t for t in bar.text)
    assert list(bar.customdata) == ["100,0\u00a0% доля выигранных", "20,0\u00a0% доля выигранных"]  # in the hover
    assert fig.layout.xaxis.title.text == "Сумма выигранных, ₽"


def test_manager_bars_in_english():
    fig = v.managers_chart(MANAGERS, LABELS, "en", "USD")
    assert list(fig.data[0].text) == ["$250K · 1 deal", "$4.3M · 12 deals"]


def test_time_in_stage_bars_are_horizontal_with_whole_stage_names():
    tis = pd.DataFrame({
        "pipeline_id": [0, 0, 1, 1], "stage_id": ["NEW", "PREPARATION", "C1:NEW", "C1:PREPAYMENT_INVOICE"],
        "avg_days_in_stage": [2.5, 7.3, 1.0, 12.0], "visits": [10, 4, 3, 2],
    })
    fig = v.time_in_stage_chart(tis, LABELS, "ru")
    assert [tr.orientation for tr in fig.data] == ["h", "h"]
    # the stage name two pipelines share gets its pipeline's name; long names are not cut
    assert list(fig.data[0].y) == ["Продажи: Новая", "Подготовка документов"]
    assert list(fig.data[1].y) == ["Партнёры: Новая", "Счёт на предоплату и согласование договора"]
    assert list(fig.data[0].text) == ["2,5", "7,3"]
    assert fig.layout.yaxis.automargin is True and fig.layout.yaxis.autorange == "reversed"
