"""docs/metrics.md "pipeline" on hand-made deals, versions and stage history; expected values by hand.

Moments: t0 = 23.11.2026 12:00 (as_of − 7 days), t1 = as_of = 30.11.2026 12:00 (+03:00).
Horizon quarter → CLOSEDATE ≤ 31.12.2026. Syncs: S0 = 20.11 12:00 (history starts), S1 = 30.11 10:00.

Deal  what happens between t0 and t1                      in M(t0)   in M(t1)   step
 1    nothing                                              1000       1000       —
 2    amount 2000 → 2500                                   2000       2500       amount_up +500
 3    amount 3000 → 1000                                   3000       1000       amount_down −2000
 4    won 27.11                                            4000       —          won −4000
 5    lost 28.11                                           500        —          lost −500
 6    close date 20.12 → 15.01.2027 (past the horizon)     600        —          pushed_out −600
 7    close date 01.02.2027 → 15.12                        —          700        pulled_in +700
 8    created 26.11                                        —          800        new +800
 9    NEW → PREPARATION → INVOICE (advanced 2)             900        900        —
10    INVOICE → PREPARATION (moved back 1)                 100        100        —
11    owner 1 → 2                                          1100       1100       —
12    pipeline 0 → 1                                       1200       1200       other (−1200 in 0, +1200 in 1)
13    10 USD × 90, nothing                                 900        900        —
14    close date 01.03.2027: outside the horizon both times —         —          —   (a row: open at t0)
15    created 21.11 after S0, changed 25.11, first seen S1 300 (first   300        —   (warned: state at t0 unknown)
                                                           known version)
16    won 01.11, before t0                                 not a row
start = 1000+2000+3000+4000+500+600+900+100+1100+1200+900+300 = 15 600 (12 deals)
end   = 1000+2500+1000+700+800+900+100+1100+1200+900+300     = 10 500 (11 deals)
15 600 + 800 + 500 − 2000 − 4000 − 500 − 600 + 700 + 0 = 10 500.
"""

import pandas as pd
import pytest

from b24reports.ingest.dataset import Dataset
from b24reports.metrics.scope import Scope
from b24reports.core.errors import BadParameter
from b24reports.metrics import pipeline as m

AS_OF = pd.Timestamp("2026-11-30T12:00:00+03:00")
S0, S1 = "2026-11-20T12:00", "2026-11-30T10:00"


def T(s):
    return None if s is None else f"{s}+03:00"


STATUSES = pd.DataFrame({
    "entity_id": ["DEAL_STAGE"] * 5 + ["DEAL_STAGE_1"] * 2,
    "status_id": ["NEW", "PREPARATION", "INVOICE", "WON", "LOSE", "C1:NEW", "C1:WON"],
    "sort": [10, 20, 30, 40, 50, 10, 20],
    "semantics": ["P", "P", "P", "S", "F", "P", "S"],
})
CUR = pd.DataFrame({"currency": ["RUB", "USD"], "amount_cnt": [1, 1], "amount": [1.0, 90.0], "base": [True, False]})
PIPES = pd.DataFrame({"id": [0, 1], "name": ["Продажи", "Дилеры"]})

# id: (current stage, semantic, category, opportunity, currency, owner, closedate, created)
CURRENT = {
    1: ("NEW", "P", 0, 1000, "RUB", 1, "2026-12-10", "2026-10-01T10:00"),
    2: ("PREPARATION", "P", 0, 2500, "RUB", 1, "2026-12-10", "2026-10-01T10:00"),
    3: ("PREPARATION", "P", 0, 1000, "RUB", 1, "2026-12-10", "2026-10-01T10:00"),
    4: ("WON", "S", 0, 4000, "RUB", 1, "2026-11-27", "2026-10-01T10:00"),
    5: ("LOSE", "F", 0, 500, "RUB", 1, "2026-12-10", "2026-10-01T10:00"),
    6: ("NEW", "P", 0, 600, "RUB", 1, "2027-01-15", "2026-10-01T10:00"),
    7: ("PREPARATION", "P", 0, 700, "RUB", 1, "2026-12-15", "2026-10-01T10:00"),
    8: ("NEW", "P", 0, 800, "RUB", 1, "2026-12-20", "2026-11-26T10:00"),
    9: ("INVOICE", "P", 0, 900, "RUB", 1, "2026-12-01", "2026-10-01T10:00"),
    10: ("PREPARATION", "P", 0, 100, "RUB", 1, "2026-12-10", "2026-10-01T10:00"),
    11: ("NEW", "P", 0, 1100, "RUB", 2, "2026-12-10", "2026-10-01T10:00"),
    12: ("C1:NEW", "P", 1, 1200, "RUB", 1, "2026-12-10", "2026-10-01T10:00"),
    13: ("NEW", "P", 0, 10, "USD", 3, "2026-12-10", "2026-10-01T10:00"),
    14: ("NEW", "P", 0, 5000, "RUB", 1, "2027-03-01", "2026-10-01T10:00"),
    15: ("NEW", "P", 0, 300, "RUB", 1, "2026-12-10", "2026-11-21T10:00"),
    16: ("WON", "S", 0, 50, "RUB", 1, "2026-11-01", "2026-10-01T10:00"),
}
# version changes: id -> [(valid_from, seen_at, fields changed vs the current row's "before" state)]
BEFORE = {2: {"opportunity": 2000}, 3: {"opportunity": 3000}, 4: {"stage_id": "INVOICE", "closedate": "2026-12-05"},
          6: {"closedate": "2026-12-20"}, 7: {"closedate": "2027-02-01"}, 11: {"assigned_by_id": 1},
          12: {"category_id": 0, "stage_id": "NEW"}, 5: {"stage_id": "NEW"}, 9: {"stage_id": "NEW"},
          10: {"stage_id": "INVOICE"}, 16: {}}
CHANGED_AT = {2: "2026-11-25T09:00", 3: "2026-11-26T09:00", 4: "2026-11-27T10:00", 5: "2026-11-28T10:00",
              6: "2026-11-24T09:00", 7: "2026-11-25T09:00", 9: "2026-11-25T10:00", 10: "2026-11-25T11:00",
              11: "2026-11-27T09:00", 12: "2026-11-27T12:00"}


def _frames():
    deals, versions = [], []
    for i, (st, sem, cat, opp, cur, own, close, created) in CURRENT.items():
        deals.append({"id": i, "title": f"Сделка {i}", "category_id": cat, "stage_id": st, "stage_semantic_id": sem,
                      "opportunity": opp, "currency_id": cur, "assigned_by_id": own, "closedate": close,
                      "date_create": T(created), "date_modify": T(CHANGED_AT.get(i, created))})
        now = {"stage_id": st, "stage_semantic_id": sem, "category_id": cat, "opportunity": opp, "currency_id": cur,
               "assigned_by_id": own, "closedate": close}
        if i == 8:  # created between the syncs
            versions.append({"id": i, "valid_from": T(created), "valid_to": None, "seen_at": T(S1), **now})
        elif i == 15:  # created after S0 and changed before S1: its state at t0 no sync saw
            versions.append({"id": i, "valid_from": T("2026-11-25T10:00"), "valid_to": None, "seen_at": T(S1), **now})
        elif i in CHANGED_AT:
            before = {**now, **BEFORE.get(i, {})}
            before["stage_semantic_id"] = "P"
            versions.append({"id": i, "valid_from": T("2026-11-01T10:00"), "valid_to": T(CHANGED_AT[i]), "seen_at": T(S0), **before})
            versions.append({"id": i, "valid_from": T(CHANGED_AT[i]), "valid_to": None, "seen_at": T(S1), **now})
        else:
            versions.append({"id": i, "valid_from": T("2026-11-01T10:00"), "valid_to": None, "seen_at": T(S0), **now})
    hist = [  # (owner, time, category, stage, semantic)
        (4, "2026-10-01T10:00", 0, "INVOICE", "P"), (4, "2026-11-27T10:00", 0, "WON", "S"),
        (5, "2026-10-01T10:00", 0, "NEW", "P"), (5, "2026-11-28T10:00", 0, "LOSE", "F"),
        (9, "2026-10-01T10:00", 0, "NEW", "P"), (9, "2026-11-24T10:00", 0, "PREPARATION", "P"),
        (9, "2026-11-25T10:00", 0, "INVOICE", "P"),
        (10, "2026-10-01T10:00", 0, "INVOICE", "P"), (10, "2026-11-25T11:00", 0, "PREPARATION", "P"),
        (12, "2026-10-01T10:00", 0, "NEW", "P"), (12, "2026-11-27T12:00", 1, "C1:NEW", "P"),
        (16, "2026-11-01T10:00", 0, "WON", "S"),
    ]
    history = pd.DataFrame({"id": range(1, len(hist) + 1), "owner_id": [h[0] for h in hist],
                            "created_time": [T(h[1]) for h in hist], "category_id": [h[2] for h in hist],
                            "stage_id": [h[3] for h in hist], "stage_semantic_id": [h[4] for h in hist]})
    return pd.DataFrame(deals), pd.DataFrame(versions), history


@pytest.fixture(scope="module")
def ds():
    deals, versions, history = _frames()
    users = pd.DataFrame({"id": [1, 2, 3], "name": ["А", "Б", "В"], "last_name": ["А", "Б", "В"],
                          "uf_department": [[1], [1], [2]]})
    deps = pd.DataFrame({"id": [1, 2], "name": ["Москва", "Регионы"], "parent": [None, None]})
    return Dataset.from_frames(deals=deals, deal_versions=versions, deal_stage_history=history, statuses=STATUSES,
                               currencies=CUR, pipelines=PIPES, users=users, departments=deps)


def _steps(table):
    return dict(zip(table["step"], table["amount"]))


def test_waterfall_adds_up_exactly_with_every_step(ds):
    t, warnings, notes = m.report_tables(ds, Scope.build(ds, as_of=AS_OF))
    w = _steps(t["waterfall_total"])
    assert w == {"start": 15600.0, "new": 800.0, "amount_up": 500.0, "amount_down": -2000.0, "won": -4000.0,
                 "lost": -500.0, "pushed_out": -600.0, "pulled_in": 700.0, "other": 0.0, "end": 10500.0}
    assert w["start"] + sum(v for k, v in w.items() if k not in ("start", "end")) == w["end"]
    counts = dict(zip(t["waterfall_total"]["step"], t["waterfall_total"]["deals"]))
    assert counts["start"] == 12 and counts["end"] == 11 and counts["other"] == 2  # deal 12 once per pipeline
    assert notes["start"] == 15600.0 and notes["end"] == 10500.0
    assert warnings and "15" in warnings[0] and "12" not in warnings[0].split(":")[1]


def test_waterfall_per_pipeline_moves_a_deal_between_pipelines(ds):
    t, _, _ = m.report_tables(ds, Scope.build(ds, as_of=AS_OF))
    p0 = _steps(t["waterfall"][t["waterfall"]["pipeline_id"] == 0])
    p1 = _steps(t["waterfall"][t["waterfall"]["pipeline_id"] == 1])
    assert p0["start"] == 15600.0 and p0["other"] == -1200.0 and p0["end"] == 9300.0  # 10 500 − 1 200
    assert p1 == {"start": 0.0, "new": 0.0, "amount_up": 0.0, "amount_down": 0.0, "won": 0.0, "lost": 0.0,
                  "pushed_out": 0.0, "pulled_in": 0.0, "other": 1200.0, "end": 1200.0}
    for p in (p0, p1):
        assert p["start"] + sum(v for k, v in p.items() if k not in ("start", "end")) == p["end"]


def test_each_deal_carries_its_change(ds):
    t, _, _ = m.report_tables(ds, Scope.build(ds, as_of=AS_OF))
    d = t["deals"].set_index("id")
    assert set(d.index) == set(range(1, 16))  # 16 was closed before t0
    expect = {1: "unchanged", 2: "amount_up", 3: "amount_down", 4: "won", 5: "lost", 6: "slipped",
              7: "closedate_earlier", 8: "new", 9: "advanced", 10: "moved_back", 11: "owner_changed",
              12: "pipeline_changed", 13: "unchanged", 14: "unchanged", 15: "unchanged"}
    assert d["change"].to_dict() == expect
    assert d.loc[9, "stages_moved"] == 2 and d.loc[10, "stages_moved"] == -1 and d.loc[1, "stages_moved"] == 0
    assert d.loc[6, "slip_days"] == 26 and d.loc[7, "slip_days"] == -48  # 20.12 → 15.01; 01.02 → 15.12
    assert pd.isna(d.loc[4, "slip_days"])  # closing a deal resets its date: not a slip
    assert (d.loc[2, "amount_from"], d.loc[2, "amount"]) == (2000.0, 2500.0)
    assert (d.loc[11, "employee_from"], d.loc[11, "employee_id"]) == (1, 2)
    assert d.loc[13, "amount"] == 900.0  # 10 USD × 90
    steps = d["step"].to_dict()
    assert {k: v for k, v in steps.items() if pd.notna(v)} == {
        2: "amount_up", 3: "amount_down", 4: "won", 5: "lost", 6: "pushed_out", 7: "pulled_in", 8: "new", 12: "other"}
    assert d.loc[6, "delta"] == -600.0 and d.loc[8, "delta"] == 800.0
    assert d["url"].loc[2].endswith("/crm/deal/details/2/")


def test_when_stage_moves_and_field_changes_are_known(ds):
    t, _, notes = m.report_tables(ds, Scope.build(ds, as_of=AS_OF))
    d = t["deals"].set_index("id")
    assert d.loc[9, "stage_moved_at"] == pd.Timestamp("2026-11-25T10:00+03:00")  # stage history: exact
    # an amount change is known only between the sync that saw the old value and the one that saw the new
    assert d.loc[2, "sync_before"] == pd.Timestamp(T(S0)) and d.loc[2, "sync_after"] == pd.Timestamp(T(S1))
    assert pd.isna(d.loc[9, "sync_before"])  # a pure stage move needs no sync bracket
    assert notes["history_start"] == pd.Timestamp(T(S0)) and not notes["too_early"]
    assert notes["syncs"] == [pd.Timestamp(T(S1))] and notes["sync_before"] == pd.Timestamp(T(S0))


def test_by_employee_summary(ds):
    t, _, _ = m.report_tables(ds, Scope.build(ds, as_of=AS_OF))
    b = t["by_employee"].set_index("employee_id")
    # 1: start 15 600 − 900 (deal 13 of 3) = 14 700; end 10 500 − 1 100 (11 now of 2) − 900 = 8 500
    assert b.loc[1, ["open_amount_start", "open_amount_end", "net_change"]].tolist() == [14700.0, 8500.0, -6200.0]
    assert b.loc[1, ["new_deals", "advanced_deals", "moved_back_deals", "slipped_deals", "won_deals", "lost_deals"]].tolist() \
        == [1, 1, 1, 1, 1, 1]
    assert b.loc[1, "slipped_amount"] == 600.0
    # of 1's fall of 6 200: deal 4 won (4 000 at t0) and deal 5 lost (500) left the open pipeline
    assert b.loc[1, ["won_out_amount", "lost_out_amount"]].tolist() == [4000.0, 500.0]
    assert b.loc[2, ["won_out_amount", "lost_out_amount"]].tolist() == [0.0, 0.0]
    assert b.loc[2, ["open_amount_start", "open_amount_end", "net_change"]].tolist() == [0.0, 1100.0, 1100.0]
    assert b.loc[3, "net_change"] == 0.0
    assert list(t["by_employee"]["employee_id"]) == [1, 3, 2]  # biggest fall first


def test_employee_filter_counts_a_handover_as_other(ds):
    t, _, _ = m.report_tables(ds, Scope.build(ds, as_of=AS_OF, employees={1}))
    w = _steps(t["waterfall_total"])
    # owner 1 at t0: 14 700; at t1: 8 500; deal 11 went to employee 2: other −1 100
    assert w["start"] == 14700.0 and w["end"] == 8500.0 and w["other"] == -1100.0
    assert w["start"] + sum(v for k, v in w.items() if k not in ("start", "end")) == w["end"]


def test_pipeline_filter(ds):
    t, _, _ = m.report_tables(ds, Scope.build(ds, as_of=AS_OF, pipelines=[1]))
    w = _steps(t["waterfall_total"])
    assert (w["start"], w["other"], w["end"]) == (0.0, 1200.0, 1200.0)
    assert list(t["deals"]["id"]) == [12]


def test_horizon_all_has_no_pushed_or_pulled(ds):
    t, _, _ = m.report_tables(ds, Scope.build(ds, as_of=AS_OF), horizon="all")
    w = _steps(t["waterfall_total"])
    # every open deal counts: start 15 600 + 700 (7) + 5 000 (14) = 21 300; end 10 500 + 600 (6) + 5 000 = 16 100
    assert (w["start"], w["end"], w["pushed_out"], w["pulled_in"]) == (21300.0, 16100.0, 0.0, 0.0)


def test_compare_before_history_start_is_said_not_zeroed(ds):
    t, _, notes = m.report_tables(ds, Scope.build(ds, as_of=AS_OF), compare_to="2026-11-15")
    assert notes["too_early"] and notes["history_start"] == pd.Timestamp(T(S0))
    assert all(len(x) == 0 for x in t.values())
    assert notes["start"] is None  # not 0


def test_compare_moments():
    assert m.compare_moment("week", AS_OF) == pd.Timestamp("2026-11-23T12:00+03:00")
    assert m.compare_moment(None, AS_OF) == pd.Timestamp("2026-11-23T12:00+03:00")
    assert m.compare_moment("month", AS_OF) == pd.Timestamp("2026-10-30T12:00+03:00")
    assert m.compare_moment("2026-11-20", AS_OF) == pd.Timestamp("2026-11-20T23:59:59.999999+03:00")
    for bad in ("2026-12-01", "yesterday", "2026-11-30"):
        with pytest.raises(BadParameter) as e:
            m.compare_moment(bad, AS_OF)
        assert e.value.name == "compare_to"
    assert m.horizon_end("month", AS_OF).isoformat() == "2026-11-30"
    assert m.horizon_end("quarter", AS_OF).isoformat() == "2026-12-31"
    assert m.horizon_end("year", pd.Timestamp("2026-02-10T12:00+03:00")).isoformat() == "2026-12-31"
    assert m.horizon_end("all", AS_OF) is None


def test_other_currency_report(ds):
    t, _, _ = m.report_tables(ds, Scope.build(ds, as_of=AS_OF, currency="USD"))
    w = _steps(t["waterfall_total"])
    assert w["start"] == pytest.approx(15600 / 90) and w["end"] == pytest.approx(10500 / 90)


def test_page_table_escapes_crm_text_and_writes_changes_out():
    """A deal titled with HTML shows as text; its change reads in words with the sync bracket."""
    from b24reports import reports
    from b24reports.outputs.nb import ReportView
    from b24reports.views import pipeline as v

    deals, versions, history = _frames()
    deals.loc[deals["id"] == 2, "title"] = '<script>alert(1)</script> & <b>x</b>'
    ds = Dataset.from_frames(deals=deals, deal_versions=versions, deal_stage_history=history, statuses=STATUSES,
                             currencies=CUR, pipelines=PIPES)
    view = ReportView(reports.get("pipeline").run(ds, {"as_of": AS_OF.isoformat()}), ds)
    page = v.deals_table_html(view)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;x&lt;/b&gt;" in page
    assert "сумма 2 000 ₽ → 2 500 ₽ (между синхронизациями 20.11 и 30.11)" in page.replace("\xa0", " ")
    won = v.deals_table_html(view, step="won")
    assert "Сделка 4" in won and "Сделка 2" not in won and "Выиграны" in won


def test_manager_chart_draws_a_win_apart_from_a_fall(ds):
    """Issue 20, a fresh reader: «Попов Алексей −1,8 млн ₽» was one red bar, though −1,56 млн of it
    was his two wins. Manager 1 (−6 200): won 4 000 in green, lost 500 in red, the other −1 700 in
    blue; the net stays in brackets after the name."""
    from b24reports import reports
    from b24reports.views import pipeline as v
    from b24reports.views.common import OUTCOME_COLORS

    result = reports.get("pipeline").run(ds, {"as_of": AS_OF.isoformat()})
    fig = v.net_change_chart(result, "ru", {1: "Иванов", 2: "Петров", 3: "Сидоров"})
    bars = {t.name: dict(zip(t.y, t.x)) for t in fig.data}
    assert list(bars) == ["Выиграны (ушли из воронки)", "Проиграны", "Прочие изменения"]
    assert [t.marker.color for t in fig.data] == [OUTCOME_COLORS["won"], OUTCOME_COLORS["lost"], OUTCOME_COLORS["open"]]
    ivanov = "Иванов (−6,2\xa0тыс.\xa0₽)"
    assert (bars["Выиграны (ушли из воронки)"][ivanov], bars["Проиграны"][ivanov], bars["Прочие изменения"][ivanov]) \
        == (-4000.0, -500.0, -1700.0)
    assert bars["Прочие изменения"]["Петров (+1,1\xa0тыс.\xa0₽)"] == 1100.0 and fig.layout.barmode == "relative"
    assert "зелёная часть — сделки, которые ушли из неё выигранными" in v.net_change_note("ru")
    # ordered by the change apart from wins, the largest fall on top (plotly's last row): Иванов −6 200
    # + 4 000 won = −2 200 sits above Петров's +1 100; by the net alone a win counted as a fall
    order = [y.split(" (")[0] for y in fig.data[-1].y]
    who = {1: "Иванов", 2: "Петров", 3: "Сидоров"}
    apart = {who[int(r.employee_id)]: float(r.net_change + r.won_out_amount)
             for r in result.tables["by_employee"].itertuples()}
    assert order == sorted(order, key=lambda n: -apart[n]) and order[-1] == "Иванов"
    # a click on a bar still refilters to its manager (the dashboard reads the name from customdata)
    from b24reports.outputs.dashboard.filters import click_target

    point = fig.data[0]
    k = list(point.y).index(ivanov)
    values = [point.x[k], point.y[k], point.name, *point.customdata[k]]
    assert click_target(values, {"employee_id": {1: "Иванов", 2: "Петров"}}, {"employees"}) == ("employees", "1")
