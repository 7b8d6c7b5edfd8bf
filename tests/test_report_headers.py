"""Each column of the managers' result table names its base (issue 20): "Выиграно 72" next to
"Создано 131" and "Конверсия 50,4 %" read as 72/131 ≠ 50,4 %. Wins count by the date won, the
conversion is of the deals created in the period."""

from __future__ import annotations

import pandas as pd

from b24reports.core import columns
from b24reports.views.common import table_html


def test_managers_headers_name_their_base():
    assert columns.header("won_deals", "ru", "managers") == "Выиграно за период (по дате выигрыша)"
    assert columns.header("created_deals", "ru", "managers") == "Создано за период"
    assert columns.header("conversion_pct", "ru", "managers") == "Из созданных за период выиграно, %"
    assert columns.header("won_deals", "en", "managers") == "Won in the period (by date won)"
    assert columns.header("conversion_pct", "en") == "Of those created, won, %"
    # other reports keep the catalog's header (funnel: won of the deals created)
    assert columns.header("won_deals", "ru", "funnel") == columns.header("won_deals", "ru") == "Выиграно"


def test_managers_result_table_shows_them():
    df = pd.DataFrame({"employee_id": [1], "won_deals": [72], "created_deals": [131], "conversion_pct": [50.4]})
    html = table_html(df, list(df.columns), "ru", report="managers")
    assert "<th>Выиграно за период (по дате выигрыша)</th><th>Создано за период</th>" in html
    assert "<th>Из созданных за период выиграно, %</th>" in html
    assert "<th>Выиграно</th>" in table_html(df, list(df.columns), "ru")
