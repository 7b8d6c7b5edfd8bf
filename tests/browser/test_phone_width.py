"""Issue 20: at a phone's 390 px every report's HTML page stays within the screen — the page
never scrolls sideways; a chart (drawn 660 px wide) or a wide table scrolls inside its own box
(the report template's ``max-width: 760px`` rules). Before, the pages were 660–870 px wide."""

from __future__ import annotations

import datetime as dt

import pytest
from b24reports.demo.plan import demo_plan
from b24reports.ingest.dataset import Dataset
from b24reports.outputs import render

pytestmark = pytest.mark.browser

REPORTS = ("funnel", "forgotten", "dynamics", "plan", "managers", "marketing", "tasks", "pipeline")
PHONE = 390


@pytest.fixture(scope="module")
def pages(demo_week_store, demo_as_of, tmp_path_factory):
    out = tmp_path_factory.mktemp("phone")
    plan = demo_plan(Dataset.load(demo_week_store), demo_as_of, out / "plan.csv")
    done = render.render_all(demo_week_store, {"as_of": demo_as_of, "plan": str(plan)}, out, ("html",),
                             dt.datetime(2026, 12, 1, tzinfo=dt.UTC), names=REPORTS, workers=2, progress=False)
    return {name: files["html"] for name, files in done.items()}


@pytest.fixture(scope="module")
def phone(pages, chromium_browser):
    pg = chromium_browser.new_page(viewport={"width": PHONE, "height": 844})
    yield pg
    pg.close()


@pytest.mark.parametrize("report", REPORTS)
def test_report_page_fits_a_phone(phone, pages, report):
    phone.goto(pages[report].as_uri())
    phone.wait_for_timeout(200)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE
    # the wide things are still all there: each scrolls in its own box, none is cut off
    boxes = phone.evaluate("""() => [...document.querySelectorAll('.jp-OutputArea-output')]
        .filter(e => e.scrollWidth > e.clientWidth + 1)
        .map(e => [getComputedStyle(e).overflowX, e.getBoundingClientRect().right])""")
    assert boxes, "a report with a chart has at least one box wider than a phone"
    assert all(ov == "auto" and right <= PHONE for ov, right in boxes)
