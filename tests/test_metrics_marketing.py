"""marketing metrics (METRICS.md "marketing") on hand-made data; expected values computed by hand."""

import datetime as dt

import pandas as pd
import pytest

from b24reports.ingest.dataset import Dataset
from b24reports.metrics.scope import Scope
from b24reports.metrics import common as c
from b24reports.metrics import marketing as mk

TZ = "+03:00"
AS_OF = pd.Timestamp("2026-11-15T12:00:00+03:00")
STATUSES = pd.DataFrame(
    {
        "entity_id": ["DEAL_STAGE"] * 3 + ["STATUS"] * 4 + ["SOURCE"] * 3,
        "status_id": ["NEW", "WON", "LOSE", "NEW", "IN_PROCESS", "CONVERTED", "JUNK", "WEB", "CALL", "ADVERTISING"],
        "name": ["New", "Won", "Lost", "New", "In process", "Converted", "Junk", "Сайт", "Звонок", "Реклама"],
        "sort": [10, 20, 30, 10, 20, 30, 40, 10, 20, 30],
        "semantics": ["P", "S", "F", "P", "P", "S", "F", None, None, None],
    }
)
CUR = pd.DataFrame({"currency": ["RUB"], "amount_cnt": [1], "amount": [1.0], "base": [True]})
SEM = {"NEW": "P", "IN_PROCESS": "P", "CONVERTED": "S", "JUNK": "F"}


def _t(s):
    return f"2026-{s}+03:00"


def _ds(with_leads=True):
    # lead id, source, created, current status, employee, utm_source
    L = [
        (1, "WEB", "10-01T09:00:00", "CONVERTED", 1, "yandex"),
        (2, "WEB", "10-02T09:00:00", "JUNK", 1, "google"),
        (3, "WEB", "10-03T09:00:00", "NEW", 1, None),
        (4, "WEB", "10-04T09:00:00", "CONVERTED", 1, None),  # its deal is won after the period
        (5, "CALL", "10-05T09:00:00", "CONVERTED", 2, "yandex"),
        (6, "CALL", "10-06T09:00:00", "JUNK", 2, ""),
        (7, "", "10-07T09:00:00", "IN_PROCESS", 2, None),  # empty SOURCE_ID → not set
        (8, None, "10-08T09:00:00", "CONVERTED", 2, None),
        (9, "ADVERTISING", "09-20T09:00:00", "CONVERTED", 2, None),  # before the period: ADVERTISING has no leads
        (10, "WEB", "10-09T09:00:00", "CONVERTED", 1, None),  # converted only after as_of (history)
    ]
    leads = pd.DataFrame({
        "id": [r[0] for r in L], "title": [f"Lead {r[0]}" for r in L], "source_id": [r[1] for r in L],
        "date_create": [_t(r[2]) for r in L], "status_id": [r[3] for r in L],
        "status_semantic_id": [SEM[r[3]] for r in L], "assigned_by_id": [r[4] for r in L],
        "utm_source": [r[5] for r in L],
    })
    lhist = pd.DataFrame({"id": [1, 2], "owner_id": [10, 10], "created_time": [_t("10-09T09:00:00"), _t("11-20T09:00:00")],
                          "status_id": ["NEW", "CONVERTED"], "status_semantic_id": ["P", "S"]})
    # deal id, lead, stage, final time, amount, created
    D = [
        (1, 1, "WON", "10-10T09:00:00", 1000.0),
        (2, 4, "WON", "11-05T09:00:00", 5000.0),
        (3, 5, "WON", "10-25T09:00:00", 300.0),
        (4, 8, "LOSE", "10-20T09:00:00", 400.0),
        (5, 9, "WON", "10-12T09:00:00", 700.0),
    ]
    deals = pd.DataFrame({
        "id": [d[0] for d in D], "lead_id": [d[1] for d in D], "stage_id": [d[2] for d in D],
        "stage_semantic_id": ["S" if d[2] == "WON" else "F" for d in D], "opportunity": [d[4] for d in D],
        "currency_id": ["RUB"] * len(D), "category_id": [0] * len(D), "date_create": [_t("10-01T10:00:00")] * len(D),
        "assigned_by_id": [1] * len(D),
    })
    dhist = pd.DataFrame({"id": range(1, len(D) + 1), "owner_id": [d[0] for d in D], "created_time": [_t(d[3]) for d in D],
                          "stage_id": [d[2] for d in D], "stage_semantic_id": ["S" if d[2] == "WON" else "F" for d in D]})
    return Dataset.from_frames(leads=leads if with_leads else None, lead_status_history=lhist, deals=deals,
                               deal_stage_history=dhist, statuses=STATUSES, currencies=CUR, timezone=TZ)


def _run(ds=None, **kw):
    ds = ds or _ds()
    period = c.Period(dt.date(2026, 10, 1), dt.date(2026, 10, 31), ds.timezone)
    scope_kw = {k: kw.pop(k) for k in ("currency", "pipelines", "employees") if k in kw}
    return mk.report_tables(ds, Scope.build(ds, date_from=period.date_from, date_to=period.date_to, tz=period.tz,
                                            as_of=AS_OF, **scope_kw), **kw)


def _rec(df):
    return df.to_dict("records")


def test_sources_table_by_hand():
    t, warns, notes = _run()
    s = t["sources"]
    # rows: WEB (5 leads), CALL (2), not set (2; L7 "" and L8 None); ADVERTISING had no lead in
    # October → a zero row at the end (a silent channel is news to a marketer), ratios null
    assert s["source_id"].tolist() == ["WEB", "CALL", None, "ADVERTISING"]
    web, call, notset, adv = _rec(s)
    assert (adv["leads"], adv["junk_pct"], adv["conversion_to_deal_pct"], adv["revenue_per_lead"], adv["share_pct"]) == (0, None, None, None, 0.0)
    # WEB: L1 conv, L2 junk, L3 new, L4 conv, L10 new as of as_of (converted 11-20 > as_of)
    assert (web["leads"], web["junk"], web["quality_leads"], web["converted"], web["in_work"]) == (5, 1, 4, 2, 2)
    # junk 1/5 = 20 %, to deal 2/5 = 40 %; sales: deal 1 (1000) only — deal 2 won 11-05, after the period
    assert (web["junk_pct"], web["conversion_to_deal_pct"], web["sales"], web["sales_amount"]) == (20.0, 40.0, 1, 1000.0)
    # to sale 1/5 = 20 %; revenue per lead 1000/5 = 200; share 5/9 = 55.6 %; cycle 10-10 − 10-01 = 9.0 days
    assert (web["conversion_to_sale_pct"], web["revenue_per_lead"], web["share_pct"], web["won_cycle_days"]) == (20.0, 200.0, 55.6, 9.0)
    # CALL: L5 conv (deal 3 won 10-25, 300), L6 junk: 50 % / 50 % / 50 %; 300/2 = 150; 2/9 = 22.2 %; 20.0 days
    assert (call["leads"], call["junk"], call["junk_pct"], call["quality_leads"], call["converted"], call["in_work"]) == (2, 1, 50.0, 1, 1, 0)
    assert (call["conversion_to_deal_pct"], call["sales"], call["sales_amount"], call["conversion_to_sale_pct"]) == (50.0, 1, 300.0, 50.0)
    assert (call["revenue_per_lead"], call["share_pct"], call["won_cycle_days"]) == (150.0, 22.2, 20.0)
    # not set: L7 in work, L8 converted (deal lost): no sales → 0 %, revenue 0, cycle None
    assert (notset["leads"], notset["junk"], notset["junk_pct"], notset["converted"], notset["in_work"]) == (2, 0, 0.0, 1, 1)
    assert (notset["sales"], notset["sales_amount"], notset["conversion_to_sale_pct"], notset["revenue_per_lead"]) == (0, 0.0, 0.0, 0.0)
    assert notset["won_cycle_days"] is None
    # deal 5 (lead 9, created in September) won in October is not a sale of the cohort
    assert notes["mode"] == "leads" and warns == []
    assert notes["source_names"]["WEB"] == "Сайт"


def test_total_funnel_cycle_and_what_if():
    t, _, _ = _run()
    tot = _rec(t["sources_total"])[0]
    # 9 leads; junk L2, L6 = 2 (22.2 %); quality 7; converted L1 L4 L5 L8 = 4 (44.4 %); in work L3 L7 L10 = 3
    assert (tot["leads"], tot["junk"], tot["junk_pct"], tot["quality_leads"], tot["converted"], tot["in_work"]) == (9, 2, 22.2, 7, 4, 3)
    # sales deals 1 + 3 = 2 (22.2 %), 1300; revenue per lead 1300/9 = 144.44; share 100 %
    assert (tot["conversion_to_deal_pct"], tot["sales"], tot["sales_amount"], tot["conversion_to_sale_pct"]) == (44.4, 2, 1300.0, 22.2)
    assert tot["revenue_per_lead"] == pytest.approx(1300 / 9) and tot["share_pct"] == 100.0
    # funnel 9 → 7 → 4 → 2: 7/9 = 77.8 %, 4/7 = 57.1 %, 2/4 = 50 %
    f = t["funnel"]
    assert f["stage"].tolist() == ["leads", "quality_leads", "converted", "sales"]
    assert f["count"].tolist() == [9, 7, 4, 2]
    assert f["conversion_from_prev_pct"].tolist() == [None, 77.8, 57.1, 50.0]
    # cycle: (9 + 20) / 2 = 14.5 days
    assert _rec(t["won_cycle_days"]) == [{"sales": 2, "won_cycle_days": 14.5}]
    # what-if with the default (9 leads): WEB 5 × 200 = 1000, CALL 2 × 150 = 300, not set 0; total 9 × 144.44 = 1300
    wi = t["what_if"]
    assert wi["planned_leads"].tolist() == [5.0, 2.0, 2.0]
    assert wi["projected_revenue"].tolist() == [1000.0, 300.0, 0.0]
    wt = _rec(t["what_if_total"])[0]
    assert wt["planned_leads"] == 9.0 and wt["projected_revenue"] == pytest.approx(1300.0)


def test_what_if_planned_leads_split_by_share():
    t, _, _ = _run(planned_leads=18)
    # WEB 18 × 5/9 = 10 → 2000; CALL 4 → 600; not set 4 → 0; total 18 × 1300/9 = 2600
    assert t["what_if"]["planned_leads"].tolist() == pytest.approx([10.0, 4.0, 4.0])
    assert t["what_if"]["projected_revenue"].tolist() == pytest.approx([2000.0, 600.0, 0.0])
    assert t["what_if_total"]["projected_revenue"].iloc[0] == pytest.approx(2600.0)
    with pytest.raises(ValueError, match="planned_leads"):
        _run(planned_leads=-1)


def test_top5_daily_and_by_employee_and_list():
    t, _, _ = _run()
    top = t["top5"]
    # 3 sources × 31 days; WEB leads on 10-01..10-04 and 10-09; not set on 10-07 and 10-08
    # one shape whatever the granularity: the unused ``month`` column is all null
    assert len(top) == 93 and list(top.columns) == ["source_id", "day", "month", "leads"]
    assert top["month"].isna().all()
    web = top[top.source_id == "WEB"].set_index("day")["leads"]
    assert web["2026-10-01"] == 1 and web["2026-10-05"] == 0 and web.sum() == 5
    ns = top[top.source_id.isna()].set_index("day")["leads"]
    assert ns["2026-10-07"] == 1 and ns["2026-10-08"] == 1 and ns.sum() == 2
    # employee 1: L1 L4 converted, L3 L10 new, L2 junk; employee 2: L5 L8 converted, L6 junk, L7 in process
    be = [(r["employee_id"], r["status_id"], r["leads"]) for r in _rec(t["by_employee"])]
    assert be == [(1, "CONVERTED", 2), (1, "NEW", 2), (1, "JUNK", 1), (2, "CONVERTED", 2), (2, "IN_PROCESS", 1), (2, "JUNK", 1)]
    lst = t["leads"]
    assert lst["id"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 10]
    assert lst["url"].iloc[0] == "https://demo.bitrix24.ru/crm/lead/details/1/"


def test_monthly_top5_for_long_periods():
    ds = _ds()
    period = c.Period(dt.date(2026, 9, 1), dt.date(2026, 11, 30), ds.timezone)  # 91 days > 62 → months
    t, _, _ = mk.report_tables(ds, Scope.build(ds, date_from=period.date_from, date_to=period.date_to, tz=period.tz, as_of=AS_OF))
    top = t["top5"]
    assert list(top.columns) == ["source_id", "day", "month", "leads"] and top["day"].isna().all()
    # ADVERTISING now has lead 9 (September)
    adv = top[top.source_id == "ADVERTISING"].set_index("month")["leads"].to_dict()
    assert adv == {"2026-09": 1, "2026-10": 0, "2026-11": 0}


def test_filters_utm_breakdown_and_not_set_token():
    t, _, _ = _run(utm_source=("yandex",))
    # L1 (WEB) and L5 (CALL): 1 lead each, 50 % share each; both sold
    assert t["sources"][["source_id", "leads", "share_pct", "sales"]].values.tolist() == [["CALL", 1, 50.0, 1], ["WEB", 1, 50.0, 1], ["ADVERTISING", 0, 0.0, 0]]
    t, _, _ = _run(sources=("-",))
    assert t["leads"]["id"].tolist() == [7, 8]
    t, _, _ = _run(employees={2})
    assert t["sources_total"]["leads"].iloc[0] == 4
    t, _, _ = _run()
    u = t["utm"]
    # utm_source: not set = L3 L4 L6("") L7 L8 L10 = 6, yandex 2 (sales 1300), google 1
    rows = {r["utm_source"]: (r["leads"], r["sales_amount"]) for r in _rec(u)}
    assert rows == {None: (6, 0.0), "yandex": (2, 1300.0), "google": (1, 0.0)}
    assert u["utm_medium"].isna().all()
    with pytest.raises(ValueError, match="utm_group"):
        _run(utm_group=("utm_term",))


def test_no_leads_in_period_gives_nulls_not_errors():
    ds = _ds()
    period = c.Period(dt.date(2025, 1, 1), dt.date(2025, 1, 31), ds.timezone)
    t, _, _ = mk.report_tables(ds, Scope.build(ds, date_from=period.date_from, date_to=period.date_to, tz=period.tz, as_of=AS_OF))
    # every dictionary source is listed with zeros; with no lead at all even share_pct is null
    assert t["sources"]["leads"].tolist() == [0, 0, 0] and t["sources"]["share_pct"].tolist() == [None] * 3
    assert t["top5"].empty and t["what_if"].empty
    tot = _rec(t["sources_total"])[0]
    assert tot["leads"] == 0 and tot["junk_pct"] is None and tot["revenue_per_lead"] is None and tot["share_pct"] is None
    assert _rec(t["what_if_total"])[0]["projected_revenue"] is None
    assert t["funnel"]["conversion_from_prev_pct"].tolist() == [None, None, None, None]


def test_deals_only_portal_builds_sources_from_deals():
    ds = _ds(with_leads=False)
    ds.deals["source_id"] = ["WEB", "WEB", "CALL", None, "WEB"]
    t, warns, notes = _run(ds=ds)
    # deals 1..5 all created 10-01: WEB 1, 2, 5; CALL 3; not set 4. Won in October: 1 (1000), 3 (300), 5 (700)
    s = {r["source_id"]: (r["leads"], r["converted"], r["junk"], r["sales"], r["sales_amount"]) for r in _rec(t["sources"])}
    assert s == {"WEB": (3, 3, 0, 2, 1700.0), "CALL": (1, 1, 0, 1, 300.0), None: (1, 1, 0, 0, 0.0),
                 "ADVERTISING": (0, 0, 0, 0, 0.0)}
    assert notes["mode"] == "deals" and mk.DEALS_ONLY_WARNING in warns
    assert t["leads"]["url"].iloc[0].endswith("/crm/deal/details/1/")


def test_report_timezone_moves_days_and_period_edges():
    ds = _ds()
    ds.leads.loc[ds.leads["id"] == 3, "date_create"] = pd.Timestamp("2026-10-01T01:00:00+03:00")
    utc = dt.timezone.utc
    t, _, _ = mk.report_tables(ds, Scope.build(ds, date_from=c.Period(dt.date(2026, 10, 1), dt.date(2026, 10, 31), utc).date_from, date_to=c.Period(dt.date(2026, 10, 1), dt.date(2026, 10, 31), utc).date_to, tz=c.Period(dt.date(2026, 10, 1), dt.date(2026, 10, 31), utc).tz, as_of=AS_OF))
    # lead 3 was created 2026-09-30 22:00 UTC: outside October in UTC, so WEB has 4 leads; the rest are in
    assert t["sources"].set_index("source_id").loc["WEB", "leads"] == 4
    # lead 1 (10-01 09:00 +03:00 = 06:00 UTC) stays on 10-01 in UTC
    web = t["top5"][t["top5"].source_id == "WEB"].set_index("day")["leads"]
    assert web["2026-10-01"] == 1 and web.sum() == 4
    # in portal time lead 3 is on 10-01 with lead 1
    t, _, _ = _run(ds=ds)
    web = t["top5"][t["top5"].source_id == "WEB"].set_index("day")["leads"]
    assert web["2026-10-01"] == 2 and web.sum() == 5


def test_source_with_no_leads_in_period_gets_a_zero_row():
    from b24reports.metrics.marketing import add_silent_sources, source_metrics, SOURCE_COLUMNS

    cohort = pd.DataFrame({"source_id": ["WEB", "WEB", None], "outcome": ["junk", "converted", "in_work"],
                           "utm_source": [None] * 3})
    src = source_metrics(cohort, pd.DataFrame(columns=["source_id", "won_at", "lead_created", "amount"]))
    out = add_silent_sources(src, ["CALL", "WEB", "EMAIL"], total_leads=3)
    # WEB (2 leads) and not set (1) come first; CALL and EMAIL had no lead: zeros, ratios null
    assert out["source_id"].tolist() == ["WEB", None, "CALL", "EMAIL"]
    call = out.iloc[2]
    assert call["leads"] == 0 and call["junk"] == 0 and call["sales_amount"] == 0.0
    assert call["junk_pct"] is None and call["conversion_to_deal_pct"] is None and call["revenue_per_lead"] is None
    assert call["share_pct"] == 0.0
    assert set(SOURCE_COLUMNS) <= set(out.columns)
