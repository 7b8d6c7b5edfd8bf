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
from hand_filter import hand_dataset

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
                yield {"demo": demo, "voila": voila.url, "store": store, "pid": voila.proc.pid}
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


def open_report(page, world, user: int, report: str):
    demo = world["demo"]
    page.goto(f"{demo.base_url}/portal/?user={user}", timeout=TIMEOUT_MS)
    frame = page.frame_locator("#b24app")
    link = frame.locator(f'li[data-report="{report}"] a')
    link.wait_for(timeout=TIMEOUT_MS)
    assert "b24s=" not in link.get_attribute("href")  # the session goes in a POST with AUTH_ID, not a link
    link.click()
    # the dashboard, or a refusal (named, with a screenshot, rather than a bare timeout)
    frame.locator(".b24r-filterbar, .b24r-signin, .b24r-refused").first.wait_for(timeout=TIMEOUT_MS)
    if frame.locator(".b24r-filterbar").count() == 0:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"refused-{report}-user{user}.png"))
        pytest.fail(f"user {user}, {report}: refused: {frame.locator('body').inner_text()[:300]} ({dashboard_url(page)})")
    frame.locator(".b24r-status [data-busy='0']").first.wait_for(timeout=TIMEOUT_MS)
    return frame


def dashboard_url(page) -> str:
    """The URL the app frame shows (after ``/b24/open`` redirected it to the dashboard)."""
    return next(f.url for f in page.frames if "/voila/render/" in f.url)


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


def test_a_dashboard_url_replayed_by_another_viewer_shows_nothing(installed, browser, page):
    """Head 3 opens the funnel; his dashboard URL (session + spent one-time ticket) then shows
    nothing: opened with no portal sign-in, or inside manager 6's portal frame. His session
    POSTed with manager 6's AUTH_ID (6's list, 3's token swapped in) is refused at /b24/open."""
    from urllib.parse import parse_qs, urlsplit

    open_report(page, installed, 3, "funnel")
    url = dashboard_url(page)
    q = parse_qs(urlsplit(url).query)
    assert q["b24s"] and len(q["b24t"][0]) >= 40

    def nothing_shown(target) -> None:
        target.locator(".b24r-signin").wait_for(timeout=TIMEOUT_MS)
        assert "Откройте отчёты из Битрикс24" in target.locator(".b24r-signin").inner_text()
        assert target.locator(".b24-kpi").count() == 0 and target.locator(".b24r-filterbar").count() == 0

    ctx = browser.new_context()
    bare = ctx.new_page()
    bare.set_default_timeout(TIMEOUT_MS)
    bare.goto(url, timeout=TIMEOUT_MS)  # no portal sign-in at all
    nothing_shown(bare)
    bare.goto(f"{installed['demo'].base_url}/portal/?user=6", timeout=TIMEOUT_MS)
    frame = bare.frame_locator("#b24app")
    frame.locator('li[data-report="funnel"] a').wait_for(timeout=TIMEOUT_MS)
    app = next(f for f in bare.frames if f.parent_frame is not None)
    app.goto(url, timeout=TIMEOUT_MS, wait_until="commit")  # inside manager 6's portal frame
    nothing_shown(app)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    bare.screenshot(path=str(ARTIFACTS / "replayed-url-user6.png"))
    bare.goto(f"{installed['demo'].base_url}/portal/?user=6", timeout=TIMEOUT_MS)
    frame = bare.frame_locator("#b24app")
    frame.locator('li[data-report="funnel"] a').wait_for(timeout=TIMEOUT_MS)
    frame.locator('#b24r-open input[name="b24s"]').evaluate("(el, v) => { el.value = v; }", q["b24s"][0])
    frame.locator('li[data-report="funnel"] a').click()
    frame.locator(".b24r-refused").wait_for(timeout=TIMEOUT_MS)
    assert "выдана другому пользователю" in frame.locator(".b24r-refused").inner_text()
    assert frame.locator(".b24-kpi").count() == 0
    bare.screenshot(path=str(ARTIFACTS / "replayed-session-user6.png"))
    ctx.close()


def test_dashboard_kernels_have_no_client_secret(installed, page):
    """The server holds B24_CLIENT_SECRET (it refreshes the app's token); the kernel of an
    open dashboard and the zygote it was forked from (processes under the server) started
    without it (their /proc environ; a forked kernel's os.environ is checked in test_zygote.py)."""
    from pathlib import Path as P

    open_report(page, installed, 6, "funnel")
    parents: dict[int, int] = {}
    for stat_file in P("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat_file.parent.name)] = int(stat_file.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue

    def under_server(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == installed["pid"]:
                return True
        return False

    envs = []
    for pid in filter(under_server, parents):
        d = P("/proc") / str(pid)
        try:
            env = dict(x.split("=", 1) for x in (d / "environ").read_bytes().decode("utf-8", "replace").split("\0") if "=" in x)
            cmd = (d / "cmdline").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if "ipykernel" in cmd or "b24reports.outputs.zygote" in cmd:
            envs.append(env)
    assert envs, "no kernel process found under the server"
    assert os.environ["B24_CLIENT_SECRET"]  # the server's environment has it
    for env in envs:
        assert "B24_CLIENT_SECRET" not in env and "B24_CLIENT_ID" not in env
        assert os.environ["B24_CLIENT_SECRET"] not in "\0".join(env.values())
        assert env["B24REPORTS_STORE"] == str(P(installed["store"]).resolve()) and env["B24REPORTS_SESSION_KEY"]
