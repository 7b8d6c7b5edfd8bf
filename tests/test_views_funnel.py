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


def test_losses_text_names_where_deals_were_lost_not_just_the_lowest_step():
    # a ninth fresh reader: «самое узкое место — стадия с наименьшим процентом: там теряется больше всего
    # сделок» sent a head of sales to the last step (72,2 %), where 43 of 108 were still open
    import pandas as pd

    from b24reports.views.funnel import losses_text

    stages = pd.DataFrame({"pipeline_id": [0] * 4, "stage_id": ["NEW", "OFFER", "INVOICE", "WON"],
                           "current_deals": [10, 5, 30, 40], "reached": [100, 60, 50, 40],
                           "conversion_from_prev_pct": [100.0, 60.0, 83.3, 80.0]})
    labels = {"stage_id": {"NEW": "Новая", "OFFER": "КП", "INVOICE": "Счёт", "WON": "Успех"}}
    # lost after NEW = 100 − 60 − 10 = 30; after OFFER = 60 − 50 − 5 = 5; after INVOICE = 50 − 40 − 30 = 0 (→ 0)
    # lowest step: into OFFER (60 %), the same stage as the losses: no second sentence
    assert losses_text(stages, 0, labels, "ru") == "Больше всего сделок проиграно после стадии «Новая»: около 30 из " \
                                                   "100 дошедших (30\u00a0%)."
    # now the lowest step is the last (50 %), made by 30 deals still open at «Счёт»: said so
    stages.loc[3, ["reached", "conversion_from_prev_pct"]] = [25, 50.0]
    stages.loc[2, "current_deals"] = 25
    ru = losses_text(stages, 0, labels, "ru")
    assert ru.endswith("Процент ниже всего при переходе в «Успех» (50,0\u00a0%), но из 25 не перешедших туда 25 ещё "
                       "открыты на стадии «Счёт»: процент считает и сделки, которые ещё в работе.")
    assert losses_text(stages, 0, labels, "en").startswith("Most deals were lost after the stage \u201cНовая\u201d: about 30")
    # every deal that did not move on is still open (100 − 60 − 40, 60 − 50 − 10, 50 − 25 − 25): nothing lost
    assert losses_text(stages.assign(current_deals=[40, 10, 25, 25]), 0, labels, "ru") is None
