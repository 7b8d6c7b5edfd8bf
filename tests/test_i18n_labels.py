"""Texts a head of sales reads (issue 20): a data-quality note names ids as ids, not as a count;
days and currencies read as in the tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from b24reports.core import i18n
from b24reports.core import texts


@pytest.mark.parametrize("lang,text", [
    ("ru", "сумма не указана, посчитана как 0: 1 сделка (№ 501)"),
    ("en", "amount not set, counted as 0: 1 deal (#501)"),
])
def test_empty_amount_note_says_one_deal_number_501(lang, text):
    shown = texts.translate_warning("deals with empty OPPORTUNITY counted as 0: 501", lang)
    assert shown == text and "OPPORTUNITY" not in shown


def test_empty_amount_note_counts_ids_with_plurals_and_a_cut_list():
    assert texts.translate_warning("leads with empty OPPORTUNITY counted as 0: 5, 7, 9", "ru") == \
        "сумма не указана, посчитана как 0: 3 лида (№ 5, № 7, № 9)"
    cut = "deals with empty OPPORTUNITY counted as 0: " + ", ".join(str(i) for i in range(1, 51)) + " …"
    assert texts.translate_warning(cut, "ru").startswith("сумма не указана, посчитана как 0: больше 50 сделок (№ 1, № 2,")
    assert texts.translate_warning(cut, "en").startswith("amount not set, counted as 0: more than 50 deals (#1, #2,")


def test_days_text_has_locale_decimals_and_one_noun():
    assert i18n.days_text(33.9, "ru") == "33,9 дня"
    assert i18n.days_text(31.0, "ru") == "31 день"
    assert i18n.days_text(5, "ru") == "5 дней"
    assert i18n.days_text(33.9, "en") == "33.9 days" and i18n.days_text(1, "en") == "1 day"
    assert i18n.days_text(None, "ru") == "—"


def test_currency_symbol_matches_the_tables():
    assert i18n.currency_symbol("RUB", "ru") == "₽" and i18n.currency_symbol("USD", "ru") == "$"
    assert i18n.currency_symbol("RUB", "en") == "RUB"
    assert i18n.format_money(1, "RUB", "ru").endswith(i18n.currency_symbol("RUB", "ru"))


def test_every_parameter_of_every_report_has_russian_help():
    from b24reports import reports

    missing = [p.name for p in reports.COMMON_PARAMS if texts.param_help(p.name, p.help, "ru") == p.help]
    shipped = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
    assert "pipeline" in shipped and len(shipped) == 8
    for name in shipped:  # not all_reports(): other tests register fixture reports
        spec = reports.get(name)
        missing += [f"{name}.{p.name}" for p in spec.params if texts.param_help(p.name, p.help, "ru", name) == p.help]
    assert missing == []


def test_tasks_hover_counts_tasks_with_plurals():
    from types import SimpleNamespace

    import pandas as pd

    from b24reports.views import tasks as vt

    e = pd.DataFrame({"employee_id": [1, 2, 3], "execution_coefficient_pct": [50.0, 60.0, 70.0], "total": [1, 3, 21]})
    fig = vt.coefficient_by_employee(SimpleNamespace(tables={"employees": e}), "ru", {})
    assert list(fig.data[0].customdata) == ["1 задача", "3 задачи", "21 задача"]


def test_russian_headers_put_a_space_before_the_percent_sign():
    """Russian writes «80 %» (the demo reader saw «Нижняя граница 80%» beside «Полоса 80 %»)."""
    import re

    from b24reports.core import columns

    from b24reports import reports

    reports.all_reports()  # every spec registered its columns
    ru = [c.header("ru") for c in columns.CATALOG.values()]
    ru += [h[0] for own in columns.REPORT_HEADERS.values() for h in own.values()]
    assert "Нижняя граница 80 %" in ru
    assert [h for h in ru if re.search(r"\d%", h)] == []


def test_next_step_reads_without_a_double_negative():
    """Forgotten deals: «Нет следующего шага: нет» meant a step *is* planned. The column is
    «Следующий шаг» and its cells say «не запланирован» / «запланирован» (metrics.json keeps
    the boolean)."""
    from b24reports.core import columns

    # «запланирован» read as a future step even when the only open to-do was past due (third reader)
    assert columns.header("no_next_step", "ru") == "Следующий шаг (открытое дело, срок может быть уже прошёл)"
    assert texts.value_label("no_next_step", True, "ru") == "нет открытых дел"
    assert texts.value_label("no_next_step", False, "ru") == "есть открытое дело"
    assert texts.value_label("no_next_step", True, "en") == "no open to-do"


def test_win_rate_header_names_its_base():
    """Funnel KPI «35,9 % Доля выигранных, %» beside «1 182 Сделки · 371 Выиграно» read as
    371/1 182 = 31,4 %; the rate is won of closed, and the header says so."""
    from b24reports.core import columns

    assert columns.header("win_rate_pct", "ru") == "Доля выигранных среди закрытых, %"
    assert columns.header("win_rate_pct", "en") == "Win rate (won of closed), %"


def test_activity_index_header_has_no_unexplained_abbreviation():
    """«Индекс активности (ИАС)»: the abbreviation was never explained anywhere on the page."""
    from b24reports.core import columns

    assert columns.header("activity_index", "ru") == "Индекс активности"
