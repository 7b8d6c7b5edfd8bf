"""Each column of the managers' result table names its base (issue 20): "Выиграно 72" next to
"Создано 131" and "Конверсия 50,4 %" read as 72/131 ≠ 50,4 %. Wins count by the date won, the
conversion is of the deals created in the period."""

from __future__ import annotations

import pandas as pd

from b24reports.core import columns
from b24reports.views.common import table_html


def test_managers_headers_name_their_base():
    # the demo reader still read 89 won / 131 created / 64,1 % as one base: each says its own
    assert columns.header("won_deals", "ru", "managers") == "Выиграно за период по дате выигрыша (создано когда угодно)"
    assert columns.header("created_deals", "ru", "managers") == "Создано за период (база конверсии)"
    assert columns.header("conversion_pct", "ru", "managers") == "Конверсия созданных за период: выиграно к дате данных, %"
    assert columns.header("won_deals", "en", "managers") == "Won in the period by date won (created any time)"
    assert columns.header("conversion_pct", "en") == "Of those created, won, %"
    # the funnel counts the deals created in the period: its won deals and amount say so (the demo
    # reader found «Сумма выигранных» 245 728 000 ₽ in the funnel beside 270 772 000 ₽ in managers)
    assert columns.header("won_deals", "ru", "funnel") == "Выиграно (из созданных за период)"
    assert columns.header("won_amount", "ru", "funnel") == "Сумма выигранных (из созданных за период)"
    assert columns.header("deals", "ru", "funnel") == "Сделки, созданные за период"
    assert columns.header("won_deals", "ru") == "Выиграно"  # other reports keep the catalog's header


def test_managers_result_table_shows_them():
    df = pd.DataFrame({"employee_id": [1], "won_deals": [72], "created_deals": [131], "conversion_pct": [50.4]})
    html = table_html(df, list(df.columns), "ru", report="managers")
    assert ("<th>Выиграно за период по дате выигрыша (создано когда угодно)</th>"
            "<th>Создано за период (база конверсии)</th>") in html
    assert "<th>Конверсия созданных за период: выиграно к дате данных, %</th>" in html
    assert "<th>Выиграно</th>" in table_html(df, list(df.columns), "ru")
