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
    assert fig.layout.height == 280  # max(280, 30 × 2 rows + 120)


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


def test_list_note_splits_the_list_into_forgotten_and_no_next_step(demo_dataset, demo_as_of):
    """A forgotten list holds the forgotten ones and those only without a next step: the note over
    it says both counts, so its length does not contradict the headline (30 forgotten, 89 rows)."""
    from b24reports import reports
    from b24reports.views import forgotten as vf

    res = reports.get("forgotten").run(demo_dataset, {"as_of": demo_as_of})
    d = res.tables["deals"]
    n, f = len(d), int(d["forgotten"].sum())
    assert 0 < f < n
    note = vf.list_note(res, "deals", "ru")
    assert note.startswith(f"В списке {n} ") and f"забытых (давно без касаний) — {f}, ещё {n - f} — в работе" in note
    assert vf.list_note(res, "leads", "en").startswith(f"The list holds {len(res.tables['leads'])} lead")
