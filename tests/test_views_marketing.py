"""What the marketing page says (issue 20): the what-if names what its lead count is, charts use
plurals and ₽, and the leads-by-employee chart colours junk red and converted green as the chart
of sources does."""

from __future__ import annotations

import pytest

from b24reports import reports
from b24reports.views import marketing as v
from b24reports.views.common import OUTCOME_COLORS


@pytest.fixture(scope="module")
def res(demo_dataset, demo_as_of):
    return reports.get("marketing").run(demo_dataset, {"as_of": demo_as_of})


def test_what_if_default_says_whole_period_and_a_month_on_average(res):
    wt = res.tables["what_if_total"].iloc[0]
    leads, projected = float(wt["planned_leads"]), float(wt["projected_revenue"])
    assert leads == float(res.tables["sources_total"].iloc[0]["leads"])  # the contract's default, unchanged
    ru = v.what_if_text(res, "ru")
    # the default period: the 12 full months before as_of's month; e.g. 675 leads -> 56 a month (56.25)
    d0, d1 = res.params["date_from"], res.params["date_to"]
    assert (d1.year - d0.year) * 12 + d1.month - d0.month + 1 == 12
    per_month = f"{leads / 12:.1f}".replace(".", ",")  # one decimal, as the mean is (56,3; not 56)
    # a one-month projection with its base said: «56,3 лида … (675 лидов за 12 месяцев ÷ 12)»
    assert ru.startswith("**Прогноз на один месяц.**")
    assert f"**{per_month} лид" in ru and f"({int(leads)} лид" in ru and "за 12 месяцев ÷ 12)" in ru
    month_money = f"{round(projected / 12):,}".replace(",", "\u00a0")
    assert f"продажи из этих лидов за месяц составят **{month_money}\u00a0₽**" in ru
    assert "следующем месяце" not in ru and "planned_leads" not in ru
    en = v.what_if_text(res, "en")
    assert f"**{per_month.replace(',', '.')} leads**" in en and "over 12 months ÷ 12)" in en and "planned_leads" not in en
    # the table beside it is for the month too: leads and revenue ÷ 12
    month = v.what_if_month(res, "what_if_total").iloc[0]
    assert month["leads_per_month"] == pytest.approx(leads / 12) and month["revenue_per_month"] == pytest.approx(projected / 12)



def test_what_if_with_the_parameter_names_it(demo_dataset, demo_as_of):
    r = reports.get("marketing").run(demo_dataset, {"as_of": demo_as_of, "planned_leads": "101"})
    ru = v.what_if_text(r, "ru")
    assert "**101 лид**" in ru and "«Плановые лиды»" in ru


def test_what_if_bars_use_plurals_and_the_currency_sign(res):
    from b24reports.views.forgotten import compact_money

    fig = v.what_if_chart(res, "ru", {})
    # the bars are one month's: the period's planned leads ÷ 12, with one decimal when not whole
    planned = (res.tables["what_if"]["planned_leads"].astype(float) / 12).round(1).tolist()
    # each label is the bar's own money first («687 тыс. ₽ · 7,8 лида»), then its leads
    money, leads = zip(*(t.split(" · ") for t in fig.data[0].text))
    assert all(m.endswith("₽") for m in money)
    top = max(range(len(fig.data[0].x)), key=lambda k: fig.data[0].x[k])
    assert money[top] == compact_money(fig.data[0].x[top], "RUB", "ru")
    assert sorted(leads) == sorted(
        f"{int(n)} {('лид', 'лида', 'лидов')[_ru_form(int(n))]}" if n.is_integer() else f"{n:.1f} лида".replace(".", ",")
        for n in planned)
    assert not any(t.endswith(("2 лидов", "3 лидов", "4 лидов")) and not t.endswith(("12 лидов", "13 лидов", "14 лидов"))
                   for t in leads)
    assert fig.layout.xaxis.title.text == "Прогноз выручки за месяц, ₽"
    assert v.revenue_per_lead(res, "ru", {}).layout.xaxis.title.text == "Выручка на лид, ₽"


def _ru_form(n: int) -> int:
    if n % 10 == 1 and n % 100 != 11:
        return 0
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return 1
    return 2


def test_leads_by_employee_colours_follow_lead_outcome(res, demo_dataset):
    sem = v.lead_status_semantics(demo_dataset)
    assert sem == {"NEW": "P", "IN_PROCESS": "P", "PROCESSED": "P", "CONVERTED": "S", "JUNK": "F"}
    fig = v.leads_by_employee_chart(res, "ru", {}, {}, sem)
    colours = {tr.name: tr.marker.color for tr in fig.data}
    conv = "CONVERTED (сконвертирован в сделку)"  # the portal's «Качественный лид» is the converted status
    assert colours["JUNK"] == OUTCOME_COLORS["lost"] and colours[conv] == OUTCOME_COLORS["won"]
    in_work = [colours[s] for s in ("NEW", "IN_PROCESS", "PROCESSED")]
    assert len(set(in_work)) == 3 and not {OUTCOME_COLORS["won"], OUTCOME_COLORS["lost"]} & set(in_work)
    assert [tr.name for tr in fig.data] == ["NEW", "IN_PROCESS", "PROCESSED", conv, "JUNK"]


def test_funnel_chart_says_the_tables_share_of_the_previous_step(res):
    f = res.tables["funnel"]
    fig = v.funnel_chart(res, "ru")
    counts = [int(n) for n in f["count"]]
    # each bar: count · share of the step above (the table's conversion_from_prev_pct), «29%» of all before
    prev = [f"{100 * b / a:.1f}".replace(".", ",") for a, b in zip(counts, counts[1:])]
    assert list(fig.data[0].text) == [str(counts[0])] + [f"{n} · {p}\u00a0%" for n, p in zip(counts[1:], prev)]
    assert fig.data[0].textinfo == "text" and list(fig.data[0].y)[1] == "Лиды без некачественных"


def test_what_if_month_leads_keep_a_decimal():
    """Rounded to whole leads, «8 лидов» beside 686 667 ₽ at 87 660 ₽ a lead did not multiply
    out (7,83 leads a month did). Labels and text keep one decimal; the table two (kind number)."""
    from b24reports.core.columns import kind_of

    assert [v.leads_text(x, "ru") for x in (12.0, 7.8333, 2.25, 1.0, 21.04)] == [
        "12 лидов", "7,8 лида", "2,2 лида", "1 лид", "21 лид"]
    assert v.leads_text(7.8333, "en") == "7.8 leads"
    assert kind_of("leads_per_month") == "number"


def test_excel_what_if_sheets_show_the_month_the_page_shows(res, demo_dataset, tmp_path):
    """A fresh reader (issue 20): the Excel «Что если» sheets held the period's 43 320 000 ₽ under
    «Прогноз выручки» while the page said 3 610 000 ₽ for a month. Excel now shows the page's
    month: leads and revenue ÷ 12, under «… за месяц» headers; metrics.json keeps the period's."""
    import datetime as dt

    import openpyxl

    from b24reports.outputs.render import RenderJob, write_xlsx, xlsx_sheet_names

    path = tmp_path / "m.xlsx"
    write_xlsx(RenderJob(spec=res.spec, result=res, store=tmp_path / "s", tmp=tmp_path,
                         generated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dataset=demo_dataset), path)
    wb = openpyxl.load_workbook(path)
    names = xlsx_sheet_names(res.spec, "ru")
    total = [[c.value for c in row] for row in wb[names["what_if_total"]].iter_rows()]
    assert total[0] == ["Лидов в месяц (среднее за период)", "Выручка на лид", "Прогноз выручки за месяц"]
    wt = res.tables["what_if_total"].iloc[0]
    assert total[1][0] == pytest.approx(float(wt["planned_leads"]) / 12)
    assert total[1][2] == pytest.approx(float(wt["projected_revenue"]) / 12)
    by_source = [[c.value for c in row] for row in wb[names["what_if"]].iter_rows()]
    assert "Прогноз выручки за месяц" in by_source[0] and "Прогноз выручки" not in by_source[0]
    assert sum(r[-1] for r in by_source[1:]) == pytest.approx(float(wt["projected_revenue"]) / 12)
    # metrics.json keeps the period's figures (the contract)
    js = res.to_metrics_json(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))["tables"]["what_if_total"][0]
    assert js["projected_revenue"] == pytest.approx(float(wt["projected_revenue"]))
