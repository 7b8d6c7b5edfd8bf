"""DemoPortal.advance: a deterministic stretch of simulated life, stamped inside the stretch."""

import datetime as dt

from b24reports.demo.generator import generate_portal, stretches
from b24reports.demo.table import parse_dt

ANCHOR = dt.date(2026, 11, 23)


def _life(days=7):
    p = generate_portal(seed=7, scale=0.3, anchor=ANCHOR)
    before = {int(r["ID"]): r for r in p.rows("deal")}
    start = p.now
    done = p.advance(days)
    return p, before, start, done


def test_advance_is_deterministic_and_stamped_inside_the_stretch():
    p, before, start, done = _life()
    q, _, _, again = _life()
    assert done == again and p.rows("deal") == q.rows("deal")
    assert p.now == start + 7 * 86400 == p.server_clock
    after = {int(r["ID"]): r for r in p.rows("deal")}
    changed = [i for i, r in after.items() if i in before and r != before[i]]
    assert changed and all(start < parse_dt(after[i]["DATE_MODIFY"]) <= p.now for i in changed)
    new = [i for i in after if i not in before]
    assert sorted(new) == done["new"] and all(start < parse_dt(after[i]["DATE_CREATE"]) <= p.now for i in new)
    assert done["deleted"] and done["deleted"][0] not in after
    for i in done["won"]:
        assert after[i]["STAGE_SEMANTIC_ID"] == "S"
    for i in done["slipped"]:
        assert parse_dt(after[i]["CLOSEDATE"]) > parse_dt(before[i]["CLOSEDATE"])
    # each stage move writes a stage-history row inside the stretch
    moved = [h for h in p.rows("deal_stage_history") if start < parse_dt(h["CREATED_TIME"]) <= p.now]
    assert {int(h["OWNER_ID"]) for h in moved} >= set(done["won"]) | set(done["lost"]) | set(done["advanced"])


def test_stretches_and_the_server_clock():
    assert stretches(7) == [4, 3] and stretches(1) == [1] and stretches(0) == []
    p = generate_portal(seed=7, scale=0.1, anchor=ANCHOR)
    block = {"date_start": "x", "date_finish": "x"}
    assert p.stamp_time(dict(block)) == block  # wall clock until frozen
    p.freeze_clock()
    assert p.stamp_time(dict(block))["date_start"] == "2026-11-23T12:00:00+03:00"


def test_sync_with_history_reports_each_sync_as_it_ends():
    """`b24reports demo` printed the three syncs' summaries together at the end: each now comes
    right after its sync, before the portal lives on (``on_sync``)."""
    from b24reports.demo.generator import sync_with_history

    p = generate_portal(seed=7, scale=0.05, anchor=ANCHOR)
    events: list[tuple] = []

    def fake_sync(url, store, full=False, **kw):
        events.append(("sync", "full" if full else "incremental", p.now))
        return f"report {len(events)}"

    reports = sync_with_history(p, "http://demo/rest/1/x/", "store.duckdb", 7, sync=fake_sync,
                                on_advance=lambda d, _done: events.append(("lived", d)),
                                on_sync=lambda rep: events.append(("summary", rep)))
    start = p.now - 7 * 86400
    assert events == [("sync", "full", start), ("summary", "report 1"),
                      ("lived", 4), ("sync", "incremental", start + 4 * 86400), ("summary", "report 4"),
                      ("lived", 3), ("sync", "incremental", start + 7 * 86400), ("summary", "report 7")]
    assert reports == ["report 1", "report 4", "report 7"]
