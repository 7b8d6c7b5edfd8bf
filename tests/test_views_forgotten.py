"""Views of the forgotten report on a tiny hand-made store."""


import pandas as pd
from b24reports import reports
from b24reports.ingest.dataset import Dataset
from b24reports.views import forgotten as v

STATUSES = pd.DataFrame({"entity_id": ["DEAL_STAGE", "DEAL_STAGE"], "status_id": ["NEW", "WON"], "sort": [10, 20],
                         "semantics": ["P", "S"]})
# as_of 11-30 12:00: deal 1 (emp 1, 1 000 000) idle 60 d, deal 2 (emp 2, 2 500 000) idle 30 d, deal 3 (emp 2) idle 2 d
DEALS = pd.DataFrame({
    "id": [1, 2, 3], "title": ["<b>x</b>", "y", "z"], "stage_id": ["NEW"] * 3, "stage_semantic_id": ["P"] * 3,
    "opportunity": [1_000_000, 2_500_000, 5], "currency_id": ["RUB"] * 3, "assigned_by_id": [1, 2, 2], "category_id": [0] * 3,
    "date_create": ["2026-10-01T12:00+03:00", "2026-10-31T12:00+03:00", "2026-11-28T12:00+03:00"],
})
# dismissed user 2 still owns open deals: they are listed (METRICS.md)
USERS = pd.DataFrame({"id": [1, 2], "name": ["Анна", "Борис"], "active": [True, False]})


def _result(**params):
    ds = Dataset.from_frames(deals=DEALS, statuses=STATUSES, users=USERS, timezone="+03:00")
    return reports.get("forgotten").run(ds, {"as_of": "2026-11-30T12:00:00+03:00", **params})


def test_summary_line_and_dismissed_owner():
    r = _result()
    # forgotten: deals 1 and 2 = 3 500 000; every deal lacks a next step (no planned activity); no leads
    assert r.tables["deals"]["id"].tolist() == [1, 2, 3]
    assert r.tables["deals"]["employee_id"].tolist() == [1, 2, 2]
    text = v.summary_text(r, "ru").replace("\xa0", " ")
    assert text == "2 сделки на 3,5 млн ₽ без касаний 14+ дней; без следующего шага: 3 сделки и 0 лидов."
    assert v.summary_text(r, "en").replace("\xa0", " ").startswith("2 deals worth ")


def test_by_employee_chart_biggest_on_top():
    fig = v.by_employee_chart(_result(), "ru", {1: "Анна", 2: "Борис"})
    bar = fig.data[0]
    # ascending so the biggest (Борис 2 500 000) is drawn on top
    assert list(bar.y) == ["Анна", "Борис"] and list(bar.x) == [1_000_000.0, 2_500_000.0]
    assert fig.layout.height == 260  # max(260, 22 × 2 rows + 100): 22 px a row, so the chart prints on page 1 beside the cards


def test_page_table_escapes_crm_text():
    from b24reports.views.common import table_html

    html = table_html(_result().tables["deals"], v.DEALS_PAGE, "ru", "RUB")
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


def test_nothing_forgotten():
    r = _result(deal_idle_days="100")
    assert v.by_employee_chart(r) is None
    assert v.summary_text(r, "en").startswith("No next step: 3 deals")


def test_forgotten_summary_plural():
    from b24reports.views.forgotten import plural

    assert [plural(n, "deal", "ru") for n in (1, 3, 5, 21)] == ["сделка", "сделки", "сделок", "сделка"]
    assert [plural(n, "lead", "en") for n in (1, 2)] == ["lead", "leads"]
    assert [plural(n, "day", "ru") for n in (14, 21, 3)] == ["дней", "день", "дня"]  # "21+ день без касаний"


def test_lists_split_forgotten_from_in_work_and_tie_to_the_cards():
    """The second reader of issue 20 saw «забытые» and «без следующего шага» mixed in one list
    under cards of 30 and 71. Now two tables, each captioned with its kind and length, and a note
    that ties them to the cards. Hand data: deals 1 and 2 forgotten (idle 60 and 30 days), deal 3
    idle 2 days; none has a planned activity, so all three lack a next step."""
    from types import SimpleNamespace

    r = _result()
    p = v.list_parts(r, "deals")
    assert p["forgotten"]["id"].tolist() == [1, 2] and p["no_next_only"]["id"].tolist() == [3]
    assert (p["no_next"], p["no_next_forgotten"]) == (3, 2)
    assert v.list_note(r, "deals", "ru") == ("Забытых — 2, это первый список. Без следующего шага — 3 сделки: "
                                             "забытые из них (2) стоят в первом списке, ещё 1 в работе — второй список.")
    assert v.list_note(r, "deals", "en").startswith("Forgotten: 2, the first list. Without a next step: 3 deals; 2 of them")
    view = SimpleNamespace(result=r, lang="ru", currency="RUB", labels={"employee_id": {1: "Анна", 2: "Борис"}})
    html = v.lists_html(view, "deals", v.DEALS_PAGE)
    first, second = html.split("Сделки в работе без следующего шага — 1")
    assert "Забытые сделки — 2" in first and first.count("<tr") == 3      # header + deals 1, 2
    assert second.count("<tr") == 2 and ">z<" in second                   # header + deal 3
