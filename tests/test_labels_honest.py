"""Issue 20, the demo reader's findings: each label says what its number is. Values worked by
hand on small data; label tests assert the text a head of sales reads."""

from types import SimpleNamespace

import pandas as pd
import pytest

import b24reports.reports.specs.dynamics  # noqa: F401  (defines the dynamics columns)
from b24reports.core.columns import header
from b24reports.views import dynamics as dv


def _nb(s: str) -> str:
    return s.replace("\u00a0", " ").replace("\u202f", " ")


# ------------------------------------------------------------------ funnel


def test_funnel_reached_and_visits_headers_say_why_they_differ():
    # 713 «дошли» beside 657 «заходы» read as a contradiction: reached counts skipped stages too
    assert header("reached", "ru", "funnel") == "Дошли до стадии или дальше"
    assert header("visits", "ru", "funnel") == "Заходы в стадию по истории переходов"
    assert header("reached", "en", "funnel") == "Reached the stage or beyond"
    assert header("open_deals", "ru", "funnel") == "В работе (из созданных за период)"


def test_funnel_visits_text_says_they_can_be_more_or_fewer_than_reached(demo_dataset, demo_as_of):
    """A fresh reader: the page said entries are fewer than «дошли», while its table showed 940
    entries beside 938 reached (a deal that came back enters twice). On the demo both happen, so
    the text names both directions, in both languages."""
    import json
    from pathlib import Path

    from b24reports import reports

    r = reports.get("funnel").run(demo_dataset, {"as_of": demo_as_of})
    both = r.tables["time_in_stage"].merge(r.tables["stages"], on=["pipeline_id", "stage_id"])
    assert (both["visits"] > both["reached"]).any() and (both["visits"] < both["reached"]).any()
    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "funnel.ipynb").read_text(encoding="utf-8"))
    text = " ".join("".join(c["source"]) for c in nb["cells"])
    assert "их меньше, чем «дошли" not in text and "fewer than \\\"reached" not in text
    assert "(заходов меньше)" in text and "(заходов больше)" in text
    assert "(fewer entries)" in text and "(more entries)" in text


# ------------------------------------------------------------------ dynamics


def _dyn_result(month="2026-12", date_from="2025-12-01", date_to="2026-11-30"):
    # 10 open deals × 1 000 ₽ × 50 % ÷ 25 days = 200 ₽ a day; 12 000 ₽ won over 12 months
    velocity = pd.DataFrame([{"open_deals": 10, "avg_won_amount": 1000.0, "win_rate_pct": 50.0,
                              "avg_cycle_days": 25.0, "velocity_per_day": 200.0}])
    won = pd.DataFrame({"period": ["2025-12", "2026-06"], "won_deals": [3, 9], "won_amount": [3000.0, 9000.0]})
    run_rate = pd.DataFrame([{"month": month, "run_rate": 5000.0}])
    return SimpleNamespace(tables={"velocity": velocity, "won_by_period": won, "run_rate": run_rate},
                           params={"date_from": date_from, "date_to": date_to})


def test_velocity_is_explained_against_the_monthly_actuals():
    ru = _nb(dv.velocity_text(_dyn_result(), "ru", "RUB"))
    # 200 × 30 = 6 000 ₽ projected a month; actual 12 000 ₽ / 12 months = 1 000 ₽ a month
    # the actual monthly mean leads, in bold; the formula's figure follows as what it is (the second
    # demo reader still took a bold «1 975 659 ₽ в день» for the sales)
    assert ru.startswith("За период выигрывалось в среднем **1 000 ₽ в месяц**. Скорость продаж по формуле — 200 ₽ в день "
                         "(≈ 6 000 ₽ за 30 дней): ожидаемая выручка от 10 открытых сделок сейчас (любой даты создания)")
    assert "Это не прогноз продаж" in ru and "чем в «Воронке продаж»: там — только созданные за период" in ru
    assert "**200" not in ru
    en = _nb(dv.velocity_text(_dyn_result(), "en", "RUB"))
    assert "(≈ RUB 6,000 over 30 days)" in en and "won **RUB 1,000 a month**" in en
    assert header("open_deals", "ru", "dynamics") == "Открыто сейчас (все, любой даты создания)"
    assert header("velocity_per_day", "ru").startswith("Скорость продаж: ожидаемая выручка открытых сделок за день")


def test_average_won_deal_has_one_name_with_its_base():
    assert header("avg_deal", "ru", "dynamics") == "Средняя выигранная сделка"
    assert header("avg_won_amount", "ru", "dynamics") == "Средняя выигранная сделка (окно «История, мес.»)"


def test_run_rate_card_outside_the_period_names_its_month():
    assert dv.run_rate_kpi(_dyn_result(), "ru") == ("Прогноз на дек 2026 по темпу (после периода)", 5000.0, "money")
    assert dv.run_rate_kpi(_dyn_result(), "en")[0] == "Dec 2026 run rate (after the period)"
    inside = dv.run_rate_kpi(_dyn_result(month="2026-11"), "ru")
    assert inside == ("Темп текущего месяца", 5000.0, "money")


def test_dynamics_intro_does_not_promise_quarters_it_does_not_show():
    from b24reports.reports import get

    ru = get("dynamics").description["ru"]
    assert "по месяцам, кварталам и годам" not in ru and "«Шаг периода»" in ru


def test_forecast_codes_are_plain_words():
    assert header("mape_pct", "ru") == "Средняя ошибка прогноза, %"
    assert "MASE" not in header("mase", "ru") and "MAPE" not in header("mape_pct", "en")


def test_employee_rows_sorted_by_total_won_not_by_id():
    emp = pd.DataFrame({"employee_id": [3, 3, 5, 7, 7], "period": ["2026-01", "2026-02", "2026-01", "2026-01", "2026-02"],
                        "won_deals": [1, 1, 1, 1, 1], "won_amount": [100.0, 50.0, 900.0, 200.0, 300.0]})
    out = dv.by_employee_amount(emp)
    # totals: 3 → 150, 5 → 900, 7 → 500
    assert list(zip(out["employee_id"], out["period"])) == [(5, "2026-01"), (7, "2026-01"), (7, "2026-02"),
                                                             (3, "2026-01"), (3, "2026-02")]


def test_velocity_says_above_the_actuals_only_when_it_is():
    low = _dyn_result()
    low.tables["won_by_period"]["won_amount"] = [36000.0, 48000.0]  # 84 000 / 12 = 7 000 a month > 6 000
    ru = _nb(dv.velocity_text(low, "ru", "RUB"))
    assert "в среднем **7 000 ₽ в месяц**" in ru and "выше факта" not in ru
    assert "поэтому она выше факта" in dv.velocity_text(_dyn_result(), "ru", "RUB")


# ------------------------------------------------------------------ plan


def test_plan_completion_label_stays_at_its_bar_when_the_projection_is_far():
    from b24reports.views.plan import label_positions

    # demo row Попов: plan 990 000, fact 1 563 000, projection 7 454 308 (top of the axis):
    # the label sits at the fact bar's end, not 5,9 M to the right by the marker
    plan, fact = pd.Series([990_000.0, 1_000_000.0]), pd.Series([1_563_000.0, 0.0])
    proj = pd.Series([7_454_308.0, 1_500_000.0])
    # row 2: bar ends at 1 000 000, marker at 1 500 000 ≤ 1 000 000 + 0.12 × 7 454 308 → past the marker
    assert label_positions(plan, fact, proj, 7_454_308.0) == [1_563_000.0, 1_500_000.0]


def _plan_result():
    import datetime as dt

    pf = pd.DataFrame({
        "line": [2, 3, 4], "month": ["2026-12"] * 3,
        "employee_id": pd.array([1, 2, None], dtype="Int64"), "department_id": pd.array([None, None, 7], dtype="Int64"),
        "plan_amount": [1000.0, 500.0, 1500.0], "fact_amount": [300.0, 0.0, 300.0],
        "projection": [1550.0, 0.0, 1550.0]})
    st = pd.DataFrame({
        "line": [2, 2, 2, 2], "month": ["2026-12"] * 4, "employee_id": pd.array([1] * 4, dtype="Int64"),
        "department_id": pd.array([None] * 4, dtype="Int64"), "pipeline_id": [0, 0, 1, 1],
        "stage_id": ["NEW", "WON", "C1:NEW", "C1:WON"], "needed_at_stage": [9, 3, 5, 3]})
    return SimpleNamespace(tables={"plan_fact": pf, "required_stages": st}, as_of=dt.datetime(2026, 12, 6, 12),
                           notes={"prev_month": {"month": "2026-11", "won_amount": 2100.0, "won_deals": 4}})


LABELS = {"employee_id": {1: "Иванова Анна", 2: "Петров Пётр"}, "department_id": {7: "Продажи Москва"},
          "pipeline_id": {0: "Продажи", 1: "Дилеры"},
          "stage_id": {"NEW": "Новая", "WON": "Сделка успешна", "C1:NEW": "Заявка", "C1:WON": "Сделка успешна"}}


def test_plan_headline_gives_team_plan_fact_and_completion_and_last_month_early_on():
    from b24reports.views import plan as pv

    # the employees' rows (1 000 + 500 plan, 300 + 0 fact), not the department row on top of them
    items = pv.headline(_plan_result(), "ru")
    assert items == [("План на дек 2026 (сотрудники вместе)", 1500.0, "money"),
                     ("Выиграно за дек 2026", 300.0, "money"),
                     ("Выполнение плана", 20.0, "pct"),                       # 300 / 1 500
                     # 1 550 + 0, on 6 Dec 12:00: 5.5 days of the month behind it
                     ("Прогноз на конец месяца по темпу (первые 5,5 дня из 31)", 1550.0, "money"),
                     ("Итог прошлого месяца (ноя 2026), вся команда", 2100.0, "money")]  # day 6 ≤ 10
    late = _plan_result()
    late.as_of = late.as_of.replace(day=20)
    assert [x[0] for x in pv.headline(late, "en")] == ["Plan for Dec 2026 (employees together)", "Won in Dec 2026",
                                                        "Plan completion",
                                                        "Month-end projection at today's pace (first 19.5 days of 31)"]


def test_plan_stage_tables_name_their_pipeline_and_do_not_add_up():
    from b24reports.views import plan as pv

    html = pv.stage_needs_html(_plan_result(), "ru", LABELS)
    # «Сделка успешна 3» in both tables read as 6: each carries its pipeline
    assert "<th>Сделка успешна (Продажи)</th>" in html and "<th>Сделка успешна (Дилеры)</th>" in html
    assert "<th>Новая</th>" in html  # a name only one pipeline has stays as it is
    assert "Воронка «Дилеры»: сколько сделок должно дойти до стадии, если все нужные выигрыши пойдут через неё" in html
    assert "складывать их нельзя" in html


def test_plan_basis_headers_say_what_the_basis_covers():
    import b24reports.reports.specs.plan  # noqa: F401

    assert header("basis", "ru", "plan") == "Основа чека и звонков"
    assert header("deals_per_won", "ru", "plan") == "Сделок на одну выигранную (вся команда)"
    assert header("lead_conversion_pct", "ru", "plan") == "Конверсия лид → сделка (вся команда), %"


def test_dismissed_employee_note_names_the_person():
    from b24reports.core.texts import translate_warning
    from b24reports.views.common import warnings_html

    w = "demo_plan.csv line 11: employee 12 is dismissed (inactive); the row still counts"
    names = {12: "Михайлов Виктор"}
    assert translate_warning(w, "ru", names) == ("demo_plan.csv, строка 11: сотрудник Михайлов Виктор (ID 12) уволен "
                                                 "(неактивен); строка всё равно учтена")
    assert "employee Михайлов Виктор (ID 12) is dismissed" in translate_warning(w, "en", names)
    assert "Михайлов Виктор (ID 12)" in warnings_html([w], "ru", names=names)


# ------------------------------------------------------------------ managers


def test_managers_headers_name_each_base_and_month_rows_say_month():
    assert header("won_deals", "ru", "managers") == "Выиграно за период по дате выигрыша (создано когда угодно)"
    assert header("created_deals", "ru", "managers") == "Создано за период (база конверсии)"
    assert header("conversion_pct", "ru", "managers") == "Конверсия созданных за период: выиграно к дате данных, %"
    # the month rows of «Динамика по месяцам» said «за период»
    assert header("won_deals", "ru", "managers", "by_month") == "Выиграно за месяц (по дате выигрыша)"
    assert header("won_amount", "en", "managers", "by_month") == "Amount won in the month"
    assert header("won_amount", "ru", "managers", "managers") == "Сумма выигранных за период"


def test_indexes_minutes_and_mean_counts_show_no_needless_decimals():
    from b24reports.views.common import table_html

    df = pd.DataFrame({"activity_index": [137.0, 147.1], "call_minutes": [3444.4, 369.3],
                       "tasks_per_executor": [68.06, 2.0], "touches": [1627, 258]})
    html = _nb(table_html(df, list(df.columns), "ru"))
    # «137,00», «147,10», «3 444,40», «68,06» before
    assert "<td class=\"num\">137</td>" in html and "<td class=\"num\">147</td>" in html
    assert "<td class=\"num\">3 444</td>" in html and "<td class=\"num\">68,1</td>" in html
    assert "<td class=\"num\">2,0</td>" in html


def test_short_calls_shown_as_the_share_the_flag_rule_uses():
    from b24reports.views.managers import with_short_calls_pct

    m = pd.DataFrame({"calls_out": [712, 0], "calls_in": [299, 0], "short_calls": [573, 0]})
    pct = with_short_calls_pct(m)["short_calls_pct"].tolist()
    assert round(pct[0], 4) == 56.6766 and pct[1] is None   # 573 / (712 + 299) × 100; no calls → —
    assert header("short_calls_pct", "ru") == "Короткие звонки, % от всех звонков"


def test_month_rows_grouped_by_the_top_seller_first():
    from b24reports.views.common import grouped_by_total

    df = pd.DataFrame({"month": ["2026-01", "2026-02", "2026-01", "2026-02"], "employee_id": [1, 1, 2, 2],
                       "won_amount": [10.0, 0.0, 5.0, 30.0]})
    out = grouped_by_total(df, "employee_id", "won_amount", "month")
    assert list(zip(out["employee_id"], out["month"])) == [(2, "2026-01"), (2, "2026-02"), (1, "2026-01"), (1, "2026-02")]


# ------------------------------------------------------------------ marketing


def test_marketing_names_say_their_base():
    import b24reports.reports.specs.forgotten  # noqa: F401
    import b24reports.reports.specs.marketing  # noqa: F401
    from b24reports.views.marketing import status_legend

    assert header("share_pct", "ru") == "Доля от всех лидов, %"        # «Доля, %» among revenue columns
    assert header("quality_leads", "ru") == "Лиды без некачественных"   # beside the status «Качественный лид»
    assert header("created", "ru", "marketing", "leads") == "Создан"    # a lead, not «Создана»
    assert header("created", "ru", "forgotten", "leads") == "Создан"
    assert header("created", "ru", "funnel", "deals") == "Создана"
    assert status_legend("CONVERTED", "S", {"CONVERTED": "Качественный лид"}, "ru") == \
        "Качественный лид (сконвертирован в сделку)"
    assert status_legend("JUNK", "F", {"JUNK": "Некачественный"}, "ru") == "Некачественный"


def test_demo_lead_titles_keep_abbreviations():
    from b24reports.demo.generator import lead_title_product

    assert lead_title_product("Фрезерный центр ЧПУ") == "фрезерный центр ЧПУ"   # «чпу» before
    assert lead_title_product("Запасные части") == "запасные части"


# ------------------------------------------------------------------ tasks


def _tasks_result():
    emp = pd.DataFrame({"employee_id": [1, 2], "execution_coefficient_pct": [64.2, 40.0], "total": [36, 10]})
    by_period = pd.DataFrame({"period": ["2026-01", "2026-02"], "total": [5, 6], "started_on_time_pct": [80.0, 70.0],
                              "finished_on_time_pct": [70.0, 60.0], "execution_coefficient_pct": [56.0, 42.0]})
    # month ends: 3 has the largest backlog, 1 and 2 smaller; only 2 grows (flag in 2026-03)
    acc = pd.DataFrame({"month": ["2026-01", "2026-02", "2026-03"] * 3, "employee_id": [1] * 3 + [2] * 3 + [3] * 3,
                        "open": [9] * 9, "overdue": [5, 5, 4, 1, 2, 3, 9, 9, 9],
                        "growing_backlog": [False, False, False, False, False, True, False, False, False]})
    return SimpleNamespace(tables={"employees": emp, "by_period": by_period, "accumulation": acc})


def test_benchmark_label_is_not_drawn_over_the_data():
    from b24reports.views import tasks as tv

    fig = tv.coefficient_by_employee(_tasks_result(), "ru", {1: "Михайлов Виктор", 2: "Захаров Роман"})
    assert not fig.layout.annotations     # «Ориентир 64 %» sat on the top bar (64,2)
    assert fig.layout.xaxis.title.text == "Коэффициент, % · пунктир — ориентир 64 %"
    fig = tv.coefficient_by_period(_tasks_result(), "en")
    assert not fig.layout.annotations
    assert [tr.name for tr in fig.data][-1] == "Benchmark 64% (80% × 80%)" and list(fig.data[-1].y) == [64.0, 64.0]


def test_backlog_chart_draws_everyone_the_growing_table_names():
    from b24reports.views import tasks as tv

    names = {1: "Анна", 2: "Борис", 3: "Вера"}
    # top=2: before, the two largest backlogs (Вера 9, Анна 4) left out Борис, whose backlog grows
    fig = tv.backlog_chart(_tasks_result(), "ru", names, top=2)
    assert [tr.name for tr in fig.data] == ["Борис", "Вера"]
    assert [tr.name for tr in tv.backlog_chart(_tasks_result(), "ru", names, top=3).data] == ["Борис", "Вера", "Анна"]


def test_tasks_labels_tell_due_in_period_from_any_deadline_and_no_deadline_stands_apart():
    import b24reports.reports.specs.tasks  # noqa: F401
    from b24reports.views import tasks as tv

    assert header("overdue_open", "ru", "tasks") == "Просрочены и открыты (срок в периоде)"
    assert header("overdue", "ru", "tasks", "accumulation") == "Просрочено на конец месяца (любой срок)"
    assert header("no_deadline", "ru", "tasks") == "Без срока (не входят во «Всего»)"
    for page in (tv.EMPLOYEES_PAGE, tv.TEAM_PAGE, tv.DEPARTMENTS_PAGE, tv.GROUPS_PAGE):
        assert page[-1] == "no_deadline"


# ------------------------------------------------------------------ pipeline


def _pipe_result():
    # start 100, new +30, won −20, lost −10, other −5 → end 95
    total = pd.DataFrame({"step": ["start", "new", "won", "lost", "other", "end"], "deals": [10, 2, 1, 1, 4, 9],
                          "amount": [100.0, 30.0, -20.0, -10.0, -5.0, 95.0]})
    deals = pd.DataFrame({"id": [1, 2, 3, 4, 5, 6, 7, 8], "step": ["new", "new", "won", "lost", "other", "other", None, None]})
    return SimpleNamespace(tables={"waterfall_total": total, "deals": deals}, params={"currency": "RUB"},
                           notes={"changed": 8})


def test_waterfall_paints_the_won_step_green_and_floats_each_step():
    from b24reports.views.common import OUTCOME_COLORS
    from b24reports.views.pipeline import waterfall_chart

    fig = waterfall_chart(_pipe_result(), "ru")
    bar = fig.data[0]
    colors = dict(zip(bar.customdata, bar.marker.color))
    assert colors["won"] == OUTCOME_COLORS["won"] and colors["lost"] == OUTCOME_COLORS["lost"]   # won was red
    # running total 100 → 130 → 110 → 100 → 95: each bar spans [base, base + |step|]
    assert list(bar.base) == [0.0, 100.0, 110.0, 100.0, 95.0, 0.0] and list(bar.x) == [100, 30, 20, 10, 5, 95]
    assert _nb(bar.text[2]).startswith("−")            # one minus sign: «−»


def test_waterfall_gives_each_step_a_row_of_its_own():
    """The third round of issue 20: upright bars put neighbouring labels on one line and
    «+1,5 млн ₽» ran into «−974 тыс. ₽». The bars lie now, one row per step from the top (start
    first), each label at its bar's right end; the x axis leaves room for the longest bar's label."""
    from b24reports.views.pipeline import waterfall_chart

    fig = waterfall_chart(_pipe_result(), "ru")
    bar = fig.data[0]
    assert bar.orientation == "h" and list(bar.y) == ["Было", "Новые", "Выиграны", "Проиграны", "Прочее", "Стало"]
    assert fig.layout.yaxis.autorange == "reversed" and bar.textposition == "outside"
    # highest running total 130 (start 100 + new 30): the axis runs to 130 × 1.25
    assert list(fig.layout.xaxis.range) == [0.0, 162.5] and fig.layout.xaxis.nticks == 5


def test_waterfall_note_explains_the_other_counts():
    from b24reports.views.pipeline import kpis, waterfall_note

    ru = waterfall_note(_pipe_result(), "ru")
    # 6 deals in steps (8 with any change); «Прочее» 4 rows from 2 deals that changed pipeline
    assert "В шагах водопада — 6 сделок" in ru and "«Сделки с любыми изменениями» (8)" in ru
    assert "2 сделки дали 4 в столбце «Сделки»" in ru
    res = _pipe_result()
    res.notes.update(start=100.0, end=95.0)
    assert kpis(res, "ru")[3][0] == "Сделки с любыми изменениями (и вне горизонта)"   # «104 Сделок …» before
    assert header("new_deals", "ru", "pipeline", "by_employee") == "Новые (и вне горизонта)"


def test_negative_numbers_use_one_minus_sign():
    from b24reports.core.i18n import format_money, format_number, format_pct

    assert _nb(format_money(-7_577_000, "RUB", "ru")) == "−7 577 000 ₽"   # «-7 577 000 ₽» beside «−7,6 млн ₽»
    assert format_pct(-6.8, "ru").startswith("−6,8") and format_number(-1.5, "en", 1) == "−1.5"


def test_task_tables_list_the_busiest_first_not_by_id():
    from b24reports.views.tasks import busiest_first

    df = pd.DataFrame({"employee_id": [1, 2, 3, 4], "total": [40, 100, 58, 100]})
    assert busiest_first(df)["employee_id"].tolist() == [2, 4, 3, 1]


# ------------------------------------------------------------------ the demo's "now"


def test_a_demo_store_renders_at_its_portals_now_in_any_language(demo_store, tmp_path):
    """The second reader rendered the demo store in English without --as-of and read another
    «as of» than the Russian demo's (the machine's clock, not the demo portal's noon). `b24reports
    demo` writes its portal's now into the store (portal_info «clock»); a report without as_of
    takes it, in either language; a store without it (a real portal) takes the machine's now."""
    import datetime as dt
    import shutil

    from b24reports import reports
    from b24reports.ingest.dataset import Dataset
    from b24reports.ingest.store import open_store

    spec = reports.get("forgotten")
    plain = Dataset.load(demo_store)
    assert plain.clock is None
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    got = spec.parse_params({"lang": "en"}).validate_against(plain)["as_of"]
    assert before <= got <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)

    store = tmp_path / "demo.duckdb"
    shutil.copy(demo_store, store)
    with open_store(store) as st:
        st.set_info("clock", "2026-11-30T12:00:00")  # what `b24reports demo` writes: portal time
    ds = Dataset.load(store)
    noon = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    for lang in ("ru", "en"):
        p = spec.parse_params({"lang": lang}).validate_against(ds)
        assert p["as_of"] == noon and p["as_of"].utcoffset() == dt.timedelta(hours=3)
    # an explicit as_of still wins
    assert spec.parse_params({"as_of": "2026-11-01T09:00:00"}).validate_against(ds)["as_of"].day == 1
    # and the render path (which fixes one "now" for a whole run) takes the clock too
    import json

    from b24reports.outputs import render

    done = render.render_all(store, {"lang": "en"}, tmp_path / "out", ("json",), names=("forgotten",), workers=1,
                             progress=False)
    assert json.loads(done["forgotten"]["json"].read_text(encoding="utf-8"))["as_of"] == "2026-11-30T12:00:00+03:00"


def test_the_demo_command_writes_its_portals_now_into_the_store(tmp_path):
    """`b24reports demo` (a small portal, one sync, JSON only) leaves its portal's now in the
    store, the as_of its own reports were rendered with."""
    import datetime as dt
    import json

    from click.testing import CliRunner

    from b24reports.cli import cli
    from b24reports.ingest.dataset import Dataset

    store = tmp_path / "demo.duckdb"
    res = CliRunner().invoke(cli, ["demo", "--scale", "0.05", "--anchor", "2026-11-30", "--advance-days", "0",
                                   "--formats", "json", "--store", str(store), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    # the log names the reports' day (it said "today 2026-11-23" for a portal that lives a week to the 30th)
    assert "generating the demo portal (seed 42, scale 0.05) as of 2026-11-30, the reports' day (12:00)" in res.output
    ds = Dataset.load(store)
    assert ds.clock == dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    rendered = json.loads((tmp_path / "out" / "forgotten" / "metrics.json").read_text(encoding="utf-8"))
    assert rendered["as_of"].startswith("2026-11-30T12:00:00")


def test_tasks_backlog_text_names_what_the_page_shows():
    """The page spoke of a «флаг «Растёт просрочка»» that only Excel has (the page shows a cross and
    the table «Где просрочка растёт»), and of «три месяца подряд» where the rule is a rise at each of
    the last three month ends (metrics.tasks.accumulation), the first ones measured against months
    the chart does not show."""
    import json
    from pathlib import Path

    from b24reports.core.columns import header

    cells = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "tasks.ipynb").read_text(encoding="utf-8"))["cells"]
    src = next("".join(c["source"]) for c in cells if "Накопление просрочки" in "".join(c["source"]))
    assert "«Где просрочка растёт»" in src and "Где просрочка растёт" in src.split("title=")[1]
    assert "на каждом из трёх последних концов месяца" in src and "флаг" not in src
    assert f"в Excel это столбец «{header('growing_backlog', 'ru')}»" in src
    assert "rose at each of the last three month ends" in src and 'a row in \\"Where the backlog grows\\"' in src


def test_dynamics_employee_table_shows_zero_months():
    """The employee table dropped months without a win, and the next month's «К предыдущему» was
    «—» after a gap nobody could see. Hand data: A wins in 2026-01 and 2026-03, none in 2026-02;
    B never wins. Rows: A's three months (the zero one too); B left out."""
    emp = pd.DataFrame({"employee_id": [1, 1, 1, 2, 2, 2], "period": ["2026-01", "2026-02", "2026-03"] * 2,
                        "won_deals": [2, 0, 1, 0, 0, 0], "won_amount": [300.0, 0.0, 100.0, 0.0, 0.0, 0.0],
                        "change_prev_pct": [None, -100.0, None, None, None, None]})
    rows = dv.employee_rows(emp)
    assert rows["employee_id"].tolist() == [1, 1, 1] and rows["period"].tolist() == ["2026-01", "2026-02", "2026-03"]
    assert rows["won_deals"].tolist() == [2, 0, 1]
    assert dv.employee_rows(emp.iloc[0:0]).empty


def test_plan_needed_leads_header_carries_its_assumption_in_every_row():
    # a fresh reader: «Нужно лидов 111» per manager (and in Excel) read as a real need, while only
    # the note under the chart said it assumes every deal starts as a lead (17 % do on the demo)
    assert header("needed_leads", "ru", "plan") == "Нужно лидов, если все сделки из лидов"
    assert header("needed_leads", "en", "plan") == "Leads needed if every deal came from a lead"


def test_a_dismissed_employee_is_named_so_in_tables_and_excel(demo_dataset):
    # two fresh readers: Михайлов Виктор (ACTIVE N) topped the forgotten list and the tasks chart
    # as if active; only the plan's data note said «уволен». His deals need a new owner.
    from b24reports.core.texts import translate_warning
    from b24reports.metrics.labels import name_maps

    users = demo_dataset.users
    gone = sorted(int(u) for u, a in zip(users["id"], users["active"]) if not a)
    assert gone, "the demo portal has a dismissed employee"
    ru, en, plain = (name_maps(demo_dataset, lang)["employee_id"] for lang in ("ru", "en", None))
    u = gone[0]
    assert ru[u] == plain[u] + " (уволен)" and en[u] == plain[u] + " (dismissed)"
    active = next(int(i) for i, a in zip(users["id"], users["active"]) if a)
    assert ru[active] == plain[active]
    # the plan's own warning already says «уволен»: the name there carries no second marker
    w = f"plan.csv line 3: employee {u} is dismissed (inactive); the row still counts"
    assert translate_warning(w, "ru", ru) == f"plan.csv, строка 3: сотрудник {plain[u]} (ID {u}) уволен (неактивен); " \
                                             "строка всё равно учтена"


def test_run_rate_card_says_how_many_days_its_pace_stands_on():
    # reader 6: on the 7th «Прогноз на дек 2026 по темпу 21 638 000 ₽» led the dynamics page with
    # no word that it extrapolates 6.5 days to 31
    r = _dyn_result()
    r.tables["run_rate"] = pd.DataFrame([{"month": "2026-12", "run_rate": 5000.0, "elapsed_days": 6.5,
                                          "days_in_month": 31}])
    assert dv.run_rate_kpi(r, "ru")[0] == "Прогноз на дек 2026 по темпу (первые 6,5 дня из 31, после периода)"
    assert dv.run_rate_kpi(r, "en")[0] == "Dec 2026 run rate (first 6.5 days of 31, after the period)"
    r.tables["run_rate"]["month"], r.tables["run_rate"]["elapsed_days"] = "2026-11", 7.0
    assert dv.run_rate_kpi(r, "ru")[0] == "Темп текущего месяца (первые 7 дней из 31)"


def test_marketing_sales_say_they_are_the_leads_part_of_all_wins():
    # reader 6: «Сумма продаж 43 320 000 ₽» read as the company's sales (270 772 000 ₽ won in the
    # period on the demo); only deals won from the period's leads are counted there
    from b24reports.views import marketing as mv

    total = pd.DataFrame([{"sales": 3, "sales_amount": 250_000.0}])
    r = SimpleNamespace(tables={"sources_total": total}, params={"currency": "RUB"},
                        notes={"mode": "leads", "won_in_period": {"deals": 8, "amount": 1_000_000.0}})
    # 250 000 / 1 000 000 = 25 %
    assert _nb(mv.sales_base_text(r, "ru")) == (
        "«Продажи» в этом отчёте — только сделки, выигранные за период из лидов этого периода: 3 сделки на "
        "250 000 ₽, 25,0 % суммы всех выигранных за период (8 сделок на 1 000 000 ₽; все продажи — в отчёте "
        "«Динамика продаж и прогноз»).")
    assert "3 deals for RUB 250,000, 25.0% of everything won in the period (8 deals" in _nb(mv.sales_base_text(r, "en"))
    r.notes["mode"] = "deals"  # no leads on the portal: the cohort is the deals, nothing to set apart
    assert mv.sales_base_text(r, "ru") == ""
    assert header("sales_amount", "ru", "marketing") == "Сумма продаж из лидов периода"
    assert header("sales_amount", "ru") == "Сумма продаж"


def test_marketing_notes_count_every_win_of_the_period(demo_dataset, demo_as_of):
    # the base of the sentence above is every deal won in the period, whatever its origin: the
    # managers report's won deals and amount over the same period and employees
    from b24reports.reports import get

    params = {"as_of": demo_as_of, "date_from": "2026-03-01", "date_to": "2026-08-31"}
    mk = get("marketing").run(demo_dataset, params)
    mg = get("managers").run(demo_dataset, params)
    won = mk.notes["won_in_period"]
    assert won["deals"] == int(mg.tables["managers"]["won_deals"].sum()) > 0
    assert won["amount"] == pytest.approx(float(mg.tables["managers"]["won_amount"].sum()))
    # the lead-sourced sales are a part of it
    assert 0 < int(mk.tables["sources_total"]["sales"].iloc[0]) < won["deals"]
    one = get("marketing").run(demo_dataset, {**params, "employees": "6"})
    mg6 = get("managers").run(demo_dataset, {**params, "employees": "6"})
    assert one.notes["won_in_period"]["deals"] == int(mg6.tables["managers"]["won_deals"].sum()) < won["deals"]


def test_dynamics_forecast_says_one_thing_about_itself(demo_dataset, demo_as_of, monkeypatch):
    # reader 7: the intro and the definitions spoke of «модель временного ряда» and a MAPE «на
    # последних 3 месяцах», the page of the method the backtest chose («среднее за 3 месяца») and a
    # 13,4 % repeated on each month's row beside «обычно ошибается на 6–19 %»
    from b24reports.core.i18n import t
    from b24reports.outputs import nb
    from b24reports.reports import get

    assert "временного ряда" not in get("dynamics").description["ru"]
    assert "time-series model" not in get("dynamics").description["en"]
    res = get("dynamics").run(demo_dataset, {"as_of": demo_as_of})
    assert len(res.tables["forecast_trend"]) == 3 and res.tables["forecast_trend"]["mape_pct"].notna().all()
    shown: list[str] = []
    monkeypatch.setattr(nb.ReportView, "html", lambda self, h: shown.append(h))
    view = nb.ReportView(res, demo_dataset)
    view.table("forecast_trend", names=False, columns=["month", "forecast", "lower_80", "upper_80"])
    assert "Нижняя граница 80 %" in shown[0] and "Средняя ошибка" not in shown[0]
    with pytest.raises(KeyError, match="no column 'mape'"):
        view.table("forecast_trend", columns=["month", "mape"])
    # the weighted pipeline is no «нижняя граница»: overdue deals are weighted by their stage, undiscounted
    ru, en = t("fc_differ", "ru"), t("fc_differ", "en")
    assert "нижняя граница" not in ru and "скорее завышена" in ru and "floor" not in en and "too high" in en
    assert "не получает ровно 1" in t("fc_mase_note", "ru")


def test_close_date_slips_say_since_when_they_can_be_seen():
    # reader 8: «4 сделки» read as every repeatedly slipped deal, on a store whose history began a week ago
    r = _dyn_result()
    r.as_of = pd.Timestamp("2026-12-07T12:00:00+03:00")
    r.notes = {"versions_since": pd.Timestamp("2026-11-30T12:00:00+03:00")}
    ru = _nb(dv.slips_text(r, "ru"))
    assert "переносы видны лишь с первой синхронизации — **30.11.2026 12:00** (7 дней истории)" in ru
    assert "(7 days of history)" in dv.slips_text(r, "en")
    r.notes = {"versions_since": None}
    assert "история ещё не началась" in dv.slips_text(r, "ru")


def test_managers_tasks_are_named_as_crm_activities(demo_dataset, demo_as_of):
    # reader 8: «Задачи» in managers (CRM activities of type task) beside the tasks report's Bitrix24 tasks
    assert header("tasks", "ru", "managers") == "Дела «Задача» в CRM"
    assert header("tasks", "en", "managers") == "CRM activities of type task"
    from b24reports.reports import get

    res = get("dynamics").run(demo_dataset, {"as_of": demo_as_of})
    since = res.notes["versions_since"]
    assert since is not None and since == pd.Timestamp(demo_dataset.deal_versions["seen_at"].min())


def test_a_band_from_few_backtests_is_called_rough(demo_dataset, demo_as_of):
    # reader 10: «примерно 8 месяцев из 10 попадают в неё» claimed more than 6 backtests can show
    import dataclasses

    from b24reports.reports import get

    rec = get("dynamics").run(demo_dataset, {"as_of": demo_as_of}).notes["forecast_record"]
    n = rec.origins
    assert n < dv.ROUGH_BAND_ORIGINS
    ru = dv.forecast_record_md(rec, "ru", "RUB")
    assert f"в неё должны попадать примерно 8 месяцев из 10; проверок всего {n}, так что это грубая оценка." in ru
    assert f"with only {n} tests it is a rough one" in dv.forecast_record_md(rec, "en", "RUB")
    many = dataclasses.replace(rec, origins=dv.ROUGH_BAND_ORIGINS)
    assert "грубая" not in dv.forecast_record_md(many, "ru", "RUB")
