"""The local application in a real browser: the demo's stand-in portal page installs the app and
opens it in an iframe with a POST, as Bitrix24 does, for an admin (all), a department head
(department and sub-departments) and a manager (own). Each viewer's funnel totals and
forgotten-deal ids equal the report run by hand over the records that viewer may open
(filtered here from the demo's structure, not through ``visibility.restrict``). A bare
dashboard URL shows only the sign-in hint. Screenshots: ``test-artifacts/app/``.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from b24reports import reports
from b24reports.core.i18n import format_value

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "app"
TIMEOUT_MS = int(os.environ.get("B24R_BROWSER_TIMEOUT_MS", "180000"))
ANCHOR = dt.date(2026, 11, 30)
AS_OF = f"{ANCHOR.isoformat()}T12:00:00+03:00"
#: By hand from the demo's structure: head 3 runs "Продажи Москва" (users 3, 6..12).
VIEWERS = {1: None, 3: {3, 6, 7, 8, 9, 10, 11, 12}, 6: {6}}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Demo portal + its store + `serve --app` over it, installed through the stand-in page."""
    from b24reports.demo import DemoServer, generate_portal
    from b24reports.ingest.sync import sync
    from b24reports.outputs.appmode import AppConfig
    from b24reports.outputs.serve import VoilaServer

    root = tmp_path_factory.mktemp("app")
    portal = generate_portal(seed=42, scale=0.1, anchor=ANCHOR)
    with DemoServer(portal) as demo:
        store = root / "demo.duckdb"
        sync(demo.webhook_url, store, progress=False)
        env = {"B24_CLIENT_ID": demo.app.client_id, "B24_CLIENT_SECRET": demo.app.client_secret,
               "B24_OAUTH_URL": demo.oauth_url}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            with VoilaServer(store, pool_size=0, params={"as_of": AS_OF}, app=AppConfig(store=str(store)),
                             log_path=root / "voila.log") as voila:
                yield {"demo": demo, "voila": voila.url, "store": store}
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


@pytest.fixture(scope="module")
def browser(world, chromium_browser):
    """The module's chromium, started after the stand-in portal and the app server."""
    return chromium_browser


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    yield pg
    ctx.close()


@pytest.fixture(scope="module")
def installed(world, browser):
    ctx = browser.new_context()
    pg = ctx.new_page()
    demo = world["demo"]
    pg.goto(f"{demo.base_url}/portal/?install={world['voila']}b24/install", timeout=TIMEOUT_MS)
    frame = pg.frame_locator("#b24app")
    frame.locator("h1").wait_for(timeout=TIMEOUT_MS)
    assert "Приложение установлено" in frame.locator("h1").inner_text()
    ctx.close()
    assert [b["PLACEMENT"] for b in demo.app.placements] == ["LEFT_MENU", "CRM_ANALYTICS_MENU"]
    return world


def hand_dataset(store: Path, users: set[int] | None, viewer: int | None = None):
    """The store's dataset with only the records a viewer at that level may open, filtered
    directly by responsible (the demo's rights): deals and leads by owner, their history, tasks
    by responsible or creator, activities on those deals and leads or of the ``viewer``, calls
    of those activities or of the ``viewer``."""
    from b24reports.ingest.dataset import Dataset

    ds = Dataset.load(store)
    if users is None:
        return ds
    f = dict(ds.frames)
    deals = f["deals"][f["deals"]["assigned_by_id"].isin(list(users))]
    leads = f["leads"][f["leads"]["assigned_by_id"].isin(list(users))]
    d_ids, l_ids = set(deals["id"].astype(int)), set(leads["id"].astype(int))
    f["deals"], f["leads"] = deals, leads
    f["deal_stage_history"] = f["deal_stage_history"][f["deal_stage_history"]["owner_id"].isin(list(d_ids))]
    f["lead_status_history"] = f["lead_status_history"][f["lead_status_history"]["owner_id"].isin(list(l_ids))]
    f["deal_versions"] = f["deal_versions"][f["deal_versions"]["id"].isin(list(d_ids))]
    a = f["activities"]
    f["activities"] = a[((a["owner_type_id"] == 2) & a["owner_id"].isin(list(d_ids)))
                        | ((a["owner_type_id"] == 1) & a["owner_id"].isin(list(l_ids))) | (a["responsible_id"] == viewer)]
    t = f["tasks"]
    f["tasks"] = t[t["responsible_id"].isin(list(users)) | t["created_by"].isin(list(users))]
    c = f["calls"]
    f["calls"] = c[c["crm_activity_id"].isin(f["activities"]["id"].tolist()) | (c["portal_user_id"] == viewer)]
    return Dataset(frames={k: v.reset_index(drop=True) for k, v in f.items()}, portal=ds.portal, timezone=ds.timezone,
                   base_currency=ds.base_currency, telephony=ds.telephony)


def open_report(page, world, user: int, report: str):
    demo = world["demo"]
    page.goto(f"{demo.base_url}/portal/?user={user}", timeout=TIMEOUT_MS)
    frame = page.frame_locator("#b24app")
    link = frame.locator(f'li[data-report="{report}"] a')
    link.wait_for(timeout=TIMEOUT_MS)
    assert "b24s=" in link.get_attribute("href")
    link.click()
    frame.locator(".b24r-filterbar").wait_for(timeout=TIMEOUT_MS)
    frame.locator(".b24r-status [data-busy='0']").first.wait_for(timeout=TIMEOUT_MS)
    return frame


def cards(frame) -> dict[str, str]:
    out = {}
    for card in frame.locator(".b24-kpi").all():
        out[card.locator(".l").inner_text().strip()] = card.locator(".v").inner_text().strip()
    return out


@pytest.mark.parametrize("user", list(VIEWERS))
def test_funnel_totals_follow_the_viewers_rights(installed, page, user):
    from b24reports.views import funnel as v

    frame = open_report(page, installed, user, "funnel")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"funnel-user{user}.png"))
    res = reports.get("funnel").run(hand_dataset(installed["store"], VIEWERS[user], user), {"as_of": AS_OF, "lang": "ru"})
    want = {label: format_value(value, kind, "ru", "RUB") for label, value, kind in v.kpis(res.tables["managers"], "ru")}
    assert cards(frame) == want
    # the employee filter offers only people whose records the viewer sees: never the regional
    # team (users 13..18, department 4) to the Moscow head or to his manager
    options = frame.locator(".b24r-filterbar select").nth(3).locator("option").all_inner_texts()
    regional = {"Егорова", "Никитин", "Орлова", "Захаров", "Белова", "Зайцев"}
    named = {w for o in options for w in o.replace(",", " ").split()}
    if VIEWERS[user] is None:
        assert regional <= named
    else:
        assert not (regional & named) and len(options) >= 2


@pytest.mark.parametrize("user", list(VIEWERS))
def test_forgotten_deal_lists_follow_the_viewers_rights(installed, page, user):
    """The forgotten-deals list (its rows: title and owner, as the page shows no id on the demo,
    whose portal links are placeholders) equals the report run by hand over the viewer's records."""
    frame = open_report(page, installed, user, "forgotten")
    page.screenshot(path=str(ARTIFACTS / f"forgotten-user{user}.png"))
    res = reports.get("forgotten").run(hand_dataset(installed["store"], VIEWERS[user], user), {"as_of": AS_OF, "lang": "ru"})
    d = res.tables["deals"]
    want = [(str(t), int(e)) for t, e in zip(d["title"], d["employee_id"])][:50]
    deals_table = frame.locator("table.b24-table").filter(has=frame.locator("th", has_text="Стадия"))  # leads have «Статус»
    rows = deals_table.locator("tbody tr")
    got = [(r.locator("td").nth(0).inner_text().strip(), int(r.locator("td").nth(1).get_attribute("data-b24r-value")))
           for r in rows.all()]
    assert got == want
    if VIEWERS[user] is not None:
        assert {e for _, e in got} <= VIEWERS[user]


@pytest.mark.parametrize("user", [3, 6])
def test_excel_download_holds_only_the_viewers_deals(installed, page, user):
    import io

    import openpyxl
    from b24reports.outputs import render

    frame = open_report(page, installed, user, "funnel")
    with page.expect_download(timeout=TIMEOUT_MS) as dl:
        frame.locator(".b24r-excel button, button.b24r-excel").first.click()
    wb = openpyxl.load_workbook(io.BytesIO(Path(dl.value.path()).read_bytes()))
    spec = reports.get("funnel")
    want = spec.run(hand_dataset(installed["store"], VIEWERS[user], user), {"as_of": AS_OF, "lang": "ru"})
    full = spec.run(hand_dataset(installed["store"], None), {"as_of": AS_OF, "lang": "ru"})
    ws = wb[render.xlsx_sheet_names(spec, "ru")["deals"]]
    assert ws.max_row == len(want.tables["deals"]) + 1 < len(full.tables["deals"]) + 1  # header + the viewer's deals


@pytest.mark.parametrize("user", list(VIEWERS))
def test_managers_rows_and_team_numbers_follow_the_viewers_rights(installed, page, user):
    """The managers report: its headline numbers (managers shown, touches, won deals and amount:
    the team the means and flags are taken over) and the managers table's rows equal the hand run."""
    frame = open_report(page, installed, user, "managers")
    res = reports.get("managers").run(hand_dataset(installed["store"], VIEWERS[user], user), {"as_of": AS_OF, "lang": "ru"})
    m = res.tables["managers"]
    want = {"Менеджеров в отчёте": format_value(len(m), "int", "ru", "RUB"),
            "Касаний за период": format_value(int(m["touches"].sum()), "int", "ru", "RUB"),
            "Выиграно сделок": format_value(int(m["won_deals"].sum()), "int", "ru", "RUB"),
            "Сумма выигранных": format_value(float(m["won_amount"].sum()), "money", "ru", "RUB")}
    assert cards(frame) == want
    # the managers' activity table (it has «Касания» and no «Месяц»): one row per manager shown
    shown = frame.locator("table.b24-table").evaluate_all("""ts => {
        const t = ts.find(t => { const h = [...t.querySelectorAll('th')].map(x => x.textContent);
                                 return h.includes('Касания') && !h.includes('Месяц'); });
        return t ? [...t.querySelectorAll('tbody tr td:first-child')].map(e => e.getAttribute('data-b24r-value')) : null;
    }""")
    assert sorted(int(x) for x in shown if x) == sorted(int(x) for x in m["employee_id"])
    if VIEWERS[user] is not None:
        assert set(int(x) for x in m["employee_id"]) <= VIEWERS[user]


def test_bare_dashboard_url_shows_only_the_sign_in_hint(installed, page):
    resp = page.goto(f"{installed['voila']}voila/render/funnel.ipynb", timeout=TIMEOUT_MS)
    # Voila's own pages may be framed by the installed portal only, and send no Referer
    assert resp.headers["content-security-policy"] == f"frame-ancestors {installed['demo'].base_url}"
    assert resp.headers["referrer-policy"] == "no-referrer" and "set-cookie" not in resp.headers
    page.locator(".b24r-signin").wait_for(timeout=TIMEOUT_MS)
    assert "Откройте отчёты из Битрикс24" in page.locator(".b24r-signin").inner_text()
    assert page.locator(".b24-kpi").count() == 0 and page.locator(".b24r-filterbar").count() == 0
    page.goto(f"{installed['voila']}voila/render/funnel.ipynb?b24s=forged.token.here", timeout=TIMEOUT_MS)
    page.locator(".b24r-signin").wait_for(timeout=TIMEOUT_MS)
    assert page.locator(".b24-kpi").count() == 0
