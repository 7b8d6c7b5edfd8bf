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
