"""Formatting (Babel) and UI strings of b24reports.core.i18n; HTML helpers of views.common."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from b24reports.core import i18n
from b24reports.core.errors import BadParameter
from b24reports.core.i18n import count_text
from b24reports.reports import TableSpec
from b24reports.views import common as vc

NB = "\xa0"  # Babel's non-breaking space (ru grouping and before ₽ / %)


def test_money_ru_and_en():
    assert i18n.format_money(1250000, "RUB", "ru") == f"1{NB}250{NB}000{NB}₽"
    assert i18n.format_money(1250000, "USD", "en") == "$1,250,000"
    assert i18n.format_money(1249999.6, "RUB", "ru") == f"1{NB}250{NB}000{NB}₽"  # rounded, no decimals
    assert i18n.format_money(12.346, "USD", "en", digits=2) == "$12.35"


def test_pct_ratio_days_int():
    assert i18n.format_pct(12.5, "ru") == f"12,5{NB}%"
    assert i18n.format_pct(12.5, "en") == "12.5%"
    assert i18n.format_pct(100, "en") == "100.0%"
    assert i18n.format_number(1.005, "en") in ("1.00", "1.01")  # binary float; 2 decimals either way
    assert i18n.format_number(1234.5, "ru", 2) == f"1{NB}234,50"
    assert i18n.format_int(1250, "ru") == f"1{NB}250"
    assert i18n.format_int(1250, "en") == "1,250"


@pytest.mark.parametrize("null", [None, float("nan"), np.nan, pd.NA, pd.NaT])
@pytest.mark.parametrize("kind", ["money", "pct", "ratio", "days", "int", "date", "datetime", "number"])
def test_null_is_a_dash(null, kind):
    assert i18n.format_value(null, kind, "ru") == "—"


def test_dates_and_datetimes():
    assert i18n.format_date(dt.date(2026, 11, 30), "ru") == "30.11.2026"
    assert i18n.format_date(pd.Timestamp("2026-11-30"), "en") == "Nov 30, 2026"
    ts = pd.Timestamp("2026-11-30 14:05", tz="+03:00")
    assert i18n.format_datetime(ts, "ru") == "30.11.2026 14:05"  # wall clock of the portal offset
    assert i18n.format_datetime(ts, "en").replace("\u202f", " ") == "Nov 30, 2026, 2:05 PM"


def test_value_kinds():
    assert i18n.format_value(True, "bool", "ru") == "да"
    assert i18n.format_value(False, "bool", "en") == "no"
    assert i18n.format_value(["busy_no_result", "efficient"], "list", "ru") == "busy_no_result, efficient"
    assert i18n.format_value([], "list", "ru") == ""
    assert i18n.format_value(np.int64(42), "id", "ru") == "42"


def test_strings_and_language_check():
    assert i18n.t("no_data", "ru") == "Нет данных за период"
    assert i18n.t("no_data", "en") == "No data for the period"
    assert i18n.t("more_rows", "en", n=5, noun=i18n.plural(5, "row", "en")).startswith("… and 5 more rows")
    assert set(i18n.STRINGS["ru"]) == set(i18n.STRINGS["en"])  # every UI string in both languages
    with pytest.raises(BadParameter) as e:
        i18n.check_lang("de")
    assert e.value.name == "lang"


def test_table_html_escapes_crm_text_and_formats():
    df = pd.DataFrame({
        "id": [1, 2],
        "title": ["<script>alert(1)</script>", 'a "quoted" & <b>bold</b>'],
        "amount": [1250000.0, None],
        "win_rate_pct": [12.5, None],
        "url": ["https://x.bitrix24.ru/crm/deal/details/1/", 'javascript:alert("x")'],
    })
    spec = TableSpec(list(df.columns), {"ru": "Сделки <b>", "en": "Deals"}, "deals")
    h = vc.table_html(df, spec, "ru", "RUB")
    assert "<script>" not in h and "&lt;script&gt;alert(1)&lt;/script&gt;" in h
    assert "<b>bold</b>" not in h and "&lt;b&gt;bold&lt;/b&gt;" in h
    assert "Сделки &lt;b&gt;" in h                       # the title is escaped too
    assert f"1{NB}250{NB}000{NB}₽" in h and f"12,5{NB}%" in h
    assert h.count("<td class=\"num\">—</td>") == 2      # null amount and null pct
    assert '<a href="https://x.bitrix24.ru/crm/deal/details/1/"' in h
    assert 'href="javascript' not in h                  # only http(s) links become links
    assert "<th>Сумма</th>" in h and "<th>Доля выигранных среди закрытых, %</th>" in h


def test_table_html_labels_no_data_and_cut():
    df = pd.DataFrame({"employee_id": [5, 7, 9], "won_deals": [1, 2, 3]})
    h = vc.table_html(df, ["employee_id", "won_deals"], "en", labels={"employee_id": {5: "Ann <A>", 7: "Bob"}})
    assert "<td>Ann &lt;A&gt;</td>" in h and "<td>Bob</td>" in h and "<td>9</td>" in h
    assert "<th>Employee</th>" in h                       # a labelled id shows the *_name header
    h2 = vc.table_html(df, ["employee_id", "won_deals"], "ru", max_rows=2)
    assert h2.count("<tr>") == 3 and "ещё 1 строк" in h2
    assert "Нет данных за период" in vc.table_html(df.iloc[0:0], ["won_deals"], "ru")


def test_kpi_cards_escape():
    h = vc.kpi_cards([("<i>Won</i>", 1250000, "money"), ("Win rate", 12.5, "pct")], "en", "USD")
    assert "&lt;i&gt;Won&lt;/i&gt;" in h and "$1,250,000" in h and "12.5%" in h


def test_style_figure_fixed_width():
    import plotly.graph_objects as go

    fig = vc.style_figure(go.Figure(go.Bar(x=[1], y=[2])), title="<b>x</b>")
    assert fig.layout.width == vc.FIG_WIDTH and 600 <= vc.FIG_WIDTH <= 700
    assert fig.layout.title.text == "&lt;b&gt;x&lt;/b&gt;"


def test_plural_forms_ru_en():
    from b24reports.core.i18n import count_text, plural

    # CLDR ru: one = n%10==1 and n%100!=11; few = n%10 in 2..4 and n%100 not in 12..14; many = the rest
    assert [count_text(n, "warning", "ru") for n in (1, 2, 5, 11, 12, 21, 22, 25, 111)] == [
        "1 замечание", "2 замечания", "5 замечаний", "11 замечаний", "12 замечаний", "21 замечание",
        "22 замечания", "25 замечаний", "111 замечаний"]
    assert [count_text(n, "data_warning", "en") for n in (0, 1, 2)] == [
        "0 data-quality warnings", "1 data-quality warning", "2 data-quality warnings"]
    assert plural(1.5, "day", "ru") == "дня"  # 1,5 дня
    assert count_text(1234, "row", "ru") == "1\u00a0234 строки"
    assert count_text(1, "attempt", "en") == "1 attempt" and count_text(3, "attempt", "en") == "3 attempts"
    assert count_text(2, "attempt", "ru") == "2 попытки" and count_text(5, "report", "ru") == "5 отчётов"
    assert count_text(21, "report", "ru") == "21 отчёт"


def test_format_month():
    from b24reports.core.i18n import format_month

    assert format_month("2025-11", "ru") == "ноя 2025" and format_month("2025-11", "en") == "Nov 2025"
    assert format_month("2026-01-01", "ru") == "янв 2026"
    assert format_month(dt.date(2026, 5, 17), "en") == "May 2026"
    assert format_month("overdue", "ru") == "overdue" and format_month("2025-13", "ru") == "2025-13"
