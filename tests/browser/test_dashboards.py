"""Every report as a live Voila dashboard, driven in headless Debian chromium (Playwright).

One Voila server (``b24reports.outputs.serve.VoilaServer``) over the session's demo store serves
all tests; each test opens a dashboard, reads the headline numbers shown on the page and
compares them with ``ReportSpec.run`` for the same filter, formatted the way the page formats
them (``i18n.format_value``). Screenshots go to ``test-artifacts/dashboards/``.

Marker ``browser``: deselect with ``-m "not browser"``; chromium is required (``make test``
installs it), a run without it fails rather than skips.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from b24reports import reports
from chart_layout import MEASURE_JS, layout_problems
from b24reports.core.i18n import format_value

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboards"
TIMEOUT_MS = int(os.environ.get("B24R_BROWSER_TIMEOUT_MS", "180000"))


def _headline(name: str, res: Any) -> tuple[str, str]:
    """(KPI card label, value as shown) of one headline number per report, computed from
    the report result the way each notebook computes its KPI cards."""
    lang, cur = res.params["lang"], res.params["currency"]
    T = res.tables
    if name == "dynamics":
        return "Выиграно сделок", format_value(T["won_by_period"]["won_deals"].sum(), "int", lang, cur)
    if name == "funnel":
        from b24reports.views import funnel as v

        label, value, kind = v.kpis(T["managers"], lang)[0]
        return label, format_value(value, kind, lang, cur)
    if name == "forgotten":
        from b24reports.views import forgotten as v

        label, value, kind = v.kpis(res, lang)[0]
        return label, format_value(value, kind, lang, cur)
    if name == "pipeline":  # the session's store was synced once: "—" until a second sync (history)
        from b24reports.views import pipeline as v

        label, value, kind = v.kpis(res, lang)[0]
        return label, format_value(value, kind, lang, cur)
    if name == "managers":
        return "Сумма выигранных", format_value(float(T["managers"]["won_amount"].sum()), "money", lang, cur)
    if name == "marketing":
        return "Лидов за период", format_value(T["sources_total"].iloc[0]["leads"], "int", lang, cur)
    if name == "plan":
        return "Выиграно с начала месяца", format_value(T["mtd_compare"].iloc[0]["mtd_amount"], "money", lang, cur)
    if name == "tasks":
        return "Задач со сроком в периоде", format_value(T["team"].iloc[0]["total"], "int", lang, cur)
    raise AssertionError(f"no headline number defined for report {name}")


@pytest.fixture(scope="session")
def dash_params(demo_store: Path, demo_as_of: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Server-wide parameters: the demo portal's now and a plan file for the plan report."""
    from b24reports.demo.plan import demo_plan
    from b24reports.ingest.dataset import Dataset

    plan = demo_plan(Dataset.load(demo_store), demo_as_of, tmp_path_factory.mktemp("plan") / "plan.csv")
    return {"as_of": demo_as_of, "plan": str(plan)}


@pytest.fixture(scope="session")
def voila_server(demo_store: Path, dash_params: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """One Voila server for the whole session (no preheated pool: kernels start on demand)."""
    assert Path(CHROMIUM).exists(), "chromium not installed (make test installs it)"
    from b24reports.outputs.serve import VoilaServer

    log = tmp_path_factory.mktemp("voila") / "voila.log"
    with VoilaServer(demo_store, pool_size=0, params=dash_params, show_tracebacks=True, log_path=log) as srv:
        yield srv


@pytest.fixture(scope="session")
def voila_url(voila_server) -> str:
    return voila_server.url


@pytest.fixture(scope="module")  # not session: one Playwright per thread at a time, the next module starts its own
def browser(voila_url: str, chromium_browser):
    """The module's chromium, started after the Voila server."""
    return chromium_browser


@pytest.fixture()
def page(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    yield pg
    ctx.close()


def _cards(page) -> dict[str, str]:
    """KPI cards on the page: {label: shown value}."""
    out = {}
    for card in page.locator(".b24-kpi").all():
        out[card.locator(".l").inner_text().strip()] = card.locator(".v").inner_text().strip()
    return out


def _wait_generation(page, n: int) -> None:
    page.wait_for_selector(f".b24r-status [data-generation='{n}'][data-busy='0']", timeout=TIMEOUT_MS)


def _open(page, url: str) -> None:
    page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
    page.wait_for_selector(".b24r-filterbar", timeout=TIMEOUT_MS)
    page.wait_for_selector(".b24-kpi", timeout=TIMEOUT_MS)
    _wait_generation(page, 0)


def _click_bar(bars, *, last: bool = False) -> None:
    """Click the middle of the first (``last``: the last) bar of ``bars`` drawn with a visible size."""
    bars.first.wait_for(timeout=TIMEOUT_MS)
    order = range(bars.count())
    for i in reversed(order) if last else order:
        b = bars.nth(i).bounding_box()
        if b and b["width"] > 3 and b["height"] > 3:
            bars.nth(i).scroll_into_view_if_needed()
            box = bars.nth(i).bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            bars.page.mouse.move(x, y)
            bars.page.mouse.click(x, y)
            return
    raise AssertionError("no bar to click")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)


@pytest.fixture(scope="session")
def top_manager(demo_dataset, demo_as_of: str) -> tuple[int, str]:
    """(id, shown name) of the manager with the largest won amount in the default period."""
    from b24reports.outputs.nb import ReportView

    res = reports.get("managers").run(demo_dataset, {"as_of": demo_as_of})
    m = res.tables["managers"].sort_values(["won_amount", "employee_id"], ascending=[False, True])
    uid = int(m.iloc[0]["employee_id"])
    return uid, ReportView(res, demo_dataset).labels["employee_id"][uid]


def test_landing_lists_every_report(page, voila_url: str) -> None:
    page.goto(voila_url)
    items = page.locator(".b24r-report")
    names = sorted(items.evaluate_all("els => els.map(e => e.dataset.report)"))
    assert names == sorted(s.name for s in reports.all_reports())
    link = page.locator(".b24r-report[data-report='funnel'] a")
    assert link.get_attribute("href") == "/voila/render/funnel.ipynb"
    _shot(page, "landing")


@pytest.mark.parametrize("name", sorted(s.name for s in reports.all_reports()))
def test_dashboard_filter_recomputes(page, voila_url: str, name: str, demo_dataset, dash_params, top_manager) -> None:
    """Open the dashboard, check the headline number for the default filter, pick the top
    manager in the employee filter, check it again for that filter (and the chip)."""
    spec = reports.get(name)
    _open(page, f"{voila_url}voila/render/{spec.notebook_path.name}")
    _shot(page, f"{name}-default")
    base = {k: v for k, v in dash_params.items() if k in {p.name for p in spec.all_params}}
    label, shown = _headline(name, spec.run(demo_dataset, base))
    assert _cards(page)[label] == shown

    uid, uname = top_manager
    # ipywidgets renders option labels with no-break spaces
    page.locator(".b24r-f-employees select").select_option(label=uname.replace(" ", "\u00a0"))
    _wait_generation(page, 1)
    _shot(page, f"{name}-employee")
    label, shown = _headline(name, spec.run(demo_dataset, {**base, "employees": str(uid)}))
    assert _cards(page)[label] == shown
    chip = page.locator(".b24r-chip-employees")
    assert uname.replace("\u00a0", " ") in chip.inner_text().replace("\u00a0", " ")
    # the chip clears the filter: back to the default numbers
    chip.click()
    _wait_generation(page, 2)
    label, shown = _headline(name, spec.run(demo_dataset, base))
    assert _cards(page)[label] == shown
    assert page.locator(".b24r-chip").count() == 0


def test_click_manager_refilters(page, voila_url: str, demo_dataset, dash_params, top_manager) -> None:
    """Click a manager's bar in a managers chart: the report refilters to that manager (chip
    shown, numbers equal ReportSpec.run for him); the chip clears it."""
    from b24reports.outputs.nb import ReportView

    spec = reports.get("managers")
    _open(page, f"{voila_url}voila/render/managers.ipynb")
    base = {"as_of": dash_params["as_of"]}
    _click_bar(page.locator(".b24r-cell .js-plotly-plot .bars path"))  # the first bar drawn with a visible size
    _wait_generation(page, 1)
    _shot(page, "managers-click")
    chip = page.locator(".b24r-chip-employees").inner_text().replace("\u00a0", " ")
    names = ReportView(spec.run(demo_dataset, base), demo_dataset).labels["employee_id"]
    clicked = [uid for uid, n in names.items() if f": {n} ✕" in chip]
    assert len(clicked) == 1, chip
    label, shown = _headline("managers", spec.run(demo_dataset, {**base, "employees": str(clicked[0])}))
    assert _cards(page)[label] == shown
    page.locator(".b24r-chip-employees").click()
    _wait_generation(page, 2)
    label, shown = _headline("managers", spec.run(demo_dataset, base))
    assert _cards(page)[label] == shown


def test_url_query_prefills_filters(page, voila_url: str, demo_dataset, dash_params, top_manager) -> None:
    """``?employee=<id>&period=last_month`` opens the tasks dashboard already filtered."""
    spec = reports.get("tasks")
    uid, uname = top_manager
    _open(page, f"{voila_url}voila/render/tasks.ipynb?employee={uid}&period=last_month")
    _shot(page, "tasks-prefilled")
    assert uname.replace("\u00a0", " ") in page.locator(".b24r-chip-employees").inner_text().replace("\u00a0", " ")
    # last month of as_of 2026-11-30: October 2026
    label, shown = _headline("tasks", spec.run(demo_dataset, {"as_of": dash_params["as_of"], "employees": str(uid),
                                                             "date_from": "2026-10-01", "date_to": "2026-10-31"}))
    assert _cards(page)[label] == shown


def test_address_bar_follows_filters_and_reload_keeps_them(page, voila_url: str, demo_dataset, dash_params,
                                                            top_manager) -> None:
    """After a filter change the address bar carries the filters (a copied link or a reload shows
    the same page); query keys that are not filters stay."""
    spec = reports.get("tasks")
    uid, uname = top_manager
    _open(page, f"{voila_url}voila/render/tasks.ipynb?period=last_month&lang=ru")
    page.locator(".b24r-f-employees select").select_option(label=uname.replace(" ", "\u00a0"))
    _wait_generation(page, 1)
    page.wait_for_function(f"() => location.search.includes('employee={uid}')")
    assert "period=last_month" in page.url and "lang=ru" in page.url
    page.reload(wait_until="commit")
    page.wait_for_selector(".b24-kpi", timeout=TIMEOUT_MS)
    _wait_generation(page, 0)
    assert uname.replace("\u00a0", " ") in page.locator(".b24r-chip-employees").inner_text().replace("\u00a0", " ")
    label, shown = _headline("tasks", spec.run(demo_dataset, {"as_of": dash_params["as_of"], "employees": str(uid),
                                                             "date_from": "2026-10-01", "date_to": "2026-10-31"}))
    assert _cards(page)[label] == shown


def test_click_table_cell_refilters(page, voila_url: str, demo_dataset, dash_params) -> None:
    """Click a manager's name in the managers table: the report refilters to him."""
    spec = reports.get("managers")
    _open(page, f"{voila_url}voila/render/managers.ipynb")
    cell = page.locator(".b24r-cell td[data-b24r-key='employee_id']").first
    uid = int(cell.get_attribute("data-b24r-value"))
    name = cell.inner_text().strip()
    cell.scroll_into_view_if_needed()
    cell.click()
    _wait_generation(page, 1)
    _shot(page, "managers-table-click")
    chip = page.locator(".b24r-chip-employees").inner_text().replace("\u00a0", " ")
    assert f": {name} ✕" in chip.replace("\u00a0", " ")
    base = {"as_of": dash_params["as_of"]}
    label, shown = _headline("managers", spec.run(demo_dataset, {**base, "employees": str(uid)}))
    assert _cards(page)[label] == shown
    # only that manager's rows are left in the table
    values = page.locator(".b24r-cell td[data-b24r-key='employee_id']").evaluate_all("els => els.map(e => e.dataset.b24rValue)")
    assert values and set(values) == {str(uid)}


def test_drill_month_to_day(page, voila_url: str, demo_dataset, dash_params) -> None:
    """Click a month's bar on the won-sales chart: the period becomes that month, the chart and
    table show days, the numbers equal ReportSpec.run for that month by day; a reload keeps that
    view (the URL holds the drill); the drill chip brings the year back."""
    import re

    spec = reports.get("dynamics")
    _open(page, f"{voila_url}voila/render/dynamics.ipynb")
    base = {"as_of": dash_params["as_of"]}
    # a recent month with a visible bar on the first (won sales) chart
    _click_bar(page.locator(".b24r-cell .js-plotly-plot").first.locator(".bars path"), last=True)
    _wait_generation(page, 1)
    _shot(page, "dynamics-drill-day")
    chip = page.locator(".b24r-chip-drill").inner_text().replace("\u00a0", " ")
    m = re.search(r"(\d{2})\.(\d{2})\.(\d{4}) – (\d{2})\.(\d{2})\.(\d{4})", chip)
    assert m, chip
    date_from = f"{m[3]}-{m[2]}-{m[1]}"
    date_to = f"{m[6]}-{m[5]}-{m[4]}"
    assert m[1] == "01" and date_from[:7] == date_to[:7]  # one calendar month
    want = spec.run(demo_dataset, {**base, "date_from": date_from, "date_to": date_to, "granularity": "day"})
    label, shown = _headline("dynamics", want)
    assert _cards(page)[label] == shown
    days = list(want.tables["won_by_period"]["period"])
    assert len(days) == int(date_to[-2:]) and days[0] == date_from
    # the won-by-period table lists the month's days, the last one included
    assert page.locator(".b24r-cell td", has_text=days[-1]).count() >= 1
    # the address bar holds the drill: a reload shows the same days and the chip that goes back
    page.wait_for_function("() => location.search.includes('drill=')")
    assert "granularity=day" in page.evaluate("location.search")
    page.reload(wait_until="commit")
    page.wait_for_selector(".b24-kpi", timeout=TIMEOUT_MS)
    _wait_generation(page, 0)
    assert _cards(page)[label] == shown
    assert page.locator(".b24r-cell td", has_text=days[-1]).count() >= 1
    page.locator(".b24r-chip-drill").click()
    _wait_generation(page, 1)
    label, shown = _headline("dynamics", spec.run(demo_dataset, base))
    assert _cards(page)[label] == shown
    assert page.locator(".b24r-chip-drill").count() == 0


def _is_kernel(proc) -> bool:
    """A kernel process: started as ``ipykernel_launcher``, or forked from serve's zygote (its
    command line is the zygote's; its name says kernel)."""
    from b24reports.outputs.zygote import KERNEL_PROCESS_NAME

    return proc.name() == KERNEL_PROCESS_NAME or "ipykernel" in " ".join(proc.cmdline())


def _kernels(server) -> list:
    """Live kernel processes under ``server`` (a ``psutil.Process``), forked ones included (they
    are children of the zygote, a child of the server). A culled kernel that has exited but is
    not yet reaped is a zombie: reading its command line raises ``psutil.ZombieProcess``, so it
    counts as gone, as does one that vanishes while we look."""
    import psutil

    out = []
    for c in server.children(recursive=True):
        try:
            if c.status() != psutil.STATUS_ZOMBIE and _is_kernel(c):
                out.append(c)
        except psutil.Error:  # gone meanwhile (NoSuchProcess) or exited unreaped (ZombieProcess)
            pass
    return out


def _live_kernels(server) -> int:
    """How many :func:`_kernels` run under ``server``."""
    return len(_kernels(server))


def test_idle_kernels_are_culled(demo_store: Path, dash_params, browser) -> None:
    """A dashboard whose page went away loses its kernel after the idle timeout."""
    import time

    import psutil
    from b24reports.outputs.serve import VoilaServer

    with VoilaServer(demo_store, pool_size=0, params=dash_params, cull_idle_timeout=10, cull_interval=1) as srv:
        assert srv.proc is not None
        server = psutil.Process(srv.proc.pid)

        def kernels() -> int:
            return _live_kernels(server)

        ctx = browser.new_context()
        pg = ctx.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        _open(pg, f"{srv.url}voila/render/forgotten.ipynb")
        assert kernels() == 1
        ctx.close()
        deadline = time.monotonic() + 60
        while kernels() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert kernels() == 0


def test_click_source_cell_refilters_marketing(page, voila_url: str, demo_dataset, dash_params) -> None:
    """Click a lead source's name in the marketing sources table: the report shows that source."""
    spec = reports.get("marketing")
    _open(page, f"{voila_url}voila/render/marketing.ipynb")
    cell = page.locator(".b24r-cell td[data-b24r-key='source_id']").first
    code = cell.get_attribute("data-b24r-value")
    cell.scroll_into_view_if_needed()
    cell.click()
    _wait_generation(page, 1)
    _shot(page, "marketing-source-click")
    assert page.locator(".b24r-chip-sources").count() == 1
    label, shown = _headline("marketing", spec.run(demo_dataset, {"as_of": dash_params["as_of"], "sources": code}))
    assert _cards(page)[label] == shown


def test_page_says_when_its_kernel_is_gone(page, voila_server, voila_url: str) -> None:
    """A kernel culled after being idle (or a stopped server) must not leave a page that silently
    ignores filters: the next filter change gets a banner with a reload button."""
    import time

    import psutil

    started = time.time()
    _open(page, f"{voila_url}voila/render/forgotten.ipynb")
    # the newest kernel of this server: any other process's kernels on the machine are not ours to kill
    mine = [p for p in _kernels(psutil.Process(voila_server.proc.pid)) if p.create_time() >= started - 1]
    assert mine, "the page's kernel was not found"
    kernel = max(mine, key=lambda p: p.create_time())
    kernel.kill()
    kernel.wait(timeout=30)
    assert not page.locator(".b24r-lost").count()
    page.locator(".b24r-f-employees select").select_option(index=1)
    banner = page.locator(".b24r-lost")
    banner.wait_for(timeout=30_000)  # the page waits 10 s for an answer
    assert "Отчёт не отвечает" in banner.inner_text() and banner.locator("button").inner_text() == "Обновить"
    page.screenshot(path=str(ARTIFACTS / "forgotten-kernel-gone.png"))


def test_culled_kernel_page_says_so(browser, demo_store: Path, dash_params: dict[str, str]) -> None:
    """The real cull: a server that culls kernels idle for 10 s shuts the page's kernel down; the
    viewer's next filter change gets the banner (the page waits 10 s for an answer). With 4 s, a
    loaded machine let the kernel go idle that long between running the notebook and the page's
    widgets connecting, and the page was culled before it was drawn (seen once in a full run)."""
    import time

    import psutil
    from b24reports.outputs.serve import VoilaServer

    with VoilaServer(demo_store, pool_size=0, params=dash_params, cull_idle_timeout=10, cull_interval=1) as srv:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            pg = ctx.new_page()
            pg.set_default_timeout(TIMEOUT_MS)
            _open(pg, f"{srv.url}voila/render/tasks.ipynb")
            server = psutil.Process(srv.proc.pid)
            deadline = time.monotonic() + 60
            while _live_kernels(server):
                assert time.monotonic() < deadline, "the idle kernel was not culled"
                time.sleep(0.5)
            pg.locator(".b24r-f-employees select").select_option(index=1)
            banner = pg.locator(".b24r-lost")
            banner.wait_for(timeout=30_000)
            assert "Отчёт не отвечает" in banner.inner_text()
        finally:
            ctx.close()


def test_bad_link_shows_what_is_wrong(page, voila_url: str) -> None:
    """A shared link with an unknown employee opens a readable error naming it, not a blank page."""
    page.goto(f"{voila_url}voila/render/managers.ipynb?employee=99999", wait_until="commit", timeout=TIMEOUT_MS)
    card = page.locator(".b24r-open-error")
    card.wait_for(timeout=TIMEOUT_MS)
    assert "99999" in card.inner_text() and "Отчёт не открылся" in card.inner_text()
    # Voila's own report of the failed cell (a generic line, or the traceback when the server shows
    # tracebacks) comes after it, in the same output area, and is hidden: the card says it already
    err = page.locator('.jp-OutputArea:has(.b24r-open-error) .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
    err.first.wait_for(state="attached", timeout=TIMEOUT_MS)
    assert "99999" in err.first.inner_text() or "There was an error" in err.first.inner_text()
    assert not err.first.is_visible()


def test_excel_button_downloads_what_is_shown(page, voila_url: str, demo_dataset, dash_params, top_manager) -> None:
    """One click on "Скачать Excel" saves the workbook of the current filter."""
    import io

    import openpyxl
    from b24reports.outputs import render

    spec = reports.get("funnel")
    uid, _name = top_manager
    _open(page, f"{voila_url}voila/render/funnel.ipynb?employee={uid}")
    with page.expect_download(timeout=TIMEOUT_MS) as dl:
        page.locator(".b24r-excel button, button.b24r-excel").first.click()
    path = dl.value.path()
    assert dl.value.suggested_filename.startswith("funnel_") and dl.value.suggested_filename.endswith(".xlsx")
    wb = openpyxl.load_workbook(io.BytesIO(Path(path).read_bytes()))
    want = spec.run(demo_dataset, {"as_of": dash_params["as_of"], "employees": str(uid)})
    ws = wb[render.xlsx_sheet_names(spec, "ru")["deals"]]
    assert ws.max_row == len(want.tables["deals"]) + 1  # header + the manager's deals only


def test_click_on_a_waterfall_step_lists_its_deals(browser, demo_week_store, demo_as_of, tmp_path) -> None:
    """The pipeline dashboard over the demo that lived a week: a click on the waterfall's "won"
    bar keeps that step's deals in the deals table (chip shown, rows = the step's deals); the
    chip clears it."""
    from b24reports.ingest.dataset import Dataset
    from b24reports.outputs.serve import VoilaServer

    spec = reports.get("pipeline")
    full = spec.run(Dataset.load(demo_week_store), {"as_of": demo_as_of})
    won = int(dict(zip(full.tables["waterfall_total"]["step"], full.tables["waterfall_total"]["deals"]))["won"])
    with VoilaServer(demo_week_store, pool_size=0, params={"as_of": demo_as_of}, show_tracebacks=True,
                     log_path=tmp_path / "voila.log") as srv:
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        try:
            _open(page, f"{srv.url}voila/render/pipeline.ipynb")
            # the waterfall: one bar trace floating on the running total (its y axis is the open pipeline)
            chart = page.locator(".b24r-cell .js-plotly-plot", has_text="Открытая воронка").first
            bars = chart.locator(".barlayer .point path")
            bars.first.wait_for(timeout=TIMEOUT_MS)
            assert bars.count() == 10  # start, eight steps, end
            bar = bars.nth(4)  # start, new, amount up, amount down, won
            bar.scroll_into_view_if_needed()
            box = bar.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            _wait_generation(page, 1)
            _shot(page, "pipeline-step-click")
            assert "Выиграны" in page.locator(".b24r-chip-step").inner_text()
            caption = page.locator(".b24-caption", has_text="Сделки · Выиграны")
            rows = caption.locator("xpath=following-sibling::table[1]//tbody/tr")
            assert rows.count() == won > 0
            page.locator(".b24r-chip-step").click()
            _wait_generation(page, 2)
            assert page.locator(".b24r-chip").count() == 0
        finally:
            ctx.close()


def test_live_kernels_counts_a_zombie_kernel_as_gone() -> None:
    """The cause of the flaky culled-kernel test: a culled kernel not yet reaped by the server is a
    zombie, and asking for its command line raised ``psutil.ZombieProcess``."""
    import psutil

    class Proc:
        def __init__(self, status: str, cmd: list[str] | Exception, name: str = "python"):
            self._status, self._cmd, self._name = status, cmd, name

        def status(self) -> str:
            return self._status

        def name(self) -> str:
            return self._name

        def cmdline(self) -> list[str]:
            if isinstance(self._cmd, Exception):
                raise self._cmd
            return self._cmd

    class Server:
        def children(self, recursive: bool = False) -> list[Proc]:
            return [Proc(psutil.STATUS_ZOMBIE, psutil.ZombieProcess(4242)),
                    Proc(psutil.STATUS_RUNNING, psutil.ZombieProcess(4243)),  # became one meanwhile
                    Proc(psutil.STATUS_RUNNING, psutil.NoSuchProcess(4244)),
                    Proc(psutil.STATUS_SLEEPING, ["python", "-m", "ipykernel_launcher", "-f", "k.json"]),
                    Proc(psutil.STATUS_SLEEPING, ["python", "-m", "b24reports.outputs.zygote"]),
                    Proc(psutil.STATUS_SLEEPING, ["python", "-m", "b24reports.outputs.zygote"], "b24r-kernel"),
                    Proc(psutil.STATUS_SLEEPING, ["chromium"], "chromium")]

    assert _live_kernels(Server()) == 2  # the launched kernel and the forked one, not the zygote


def test_no_request_leaves_the_machine(browser, voila_url: str) -> None:
    """Every request a dashboard page makes (HTML, scripts, styles, fonts, the kernel's
    websocket) goes to the server itself; none to a CDN or any other host (issue 18: the lab
    template's FontAwesome stylesheets made every page wait 30 s on a network that drops traffic)."""
    from urllib.parse import urlsplit

    server = urlsplit(voila_url).netloc
    seen: list[str] = []
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        pg = ctx.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        pg.on("request", lambda r: seen.append(r.url))
        pg.on("websocket", lambda ws: seen.append(ws.url))
        _open(pg, f"{voila_url}voila/render/marketing.ipynb")
        pg.goto(voila_url)
        pg.wait_for_selector(".b24r-report")
    finally:
        ctx.close()
    # data: and blob: URLs are made in the page itself (the widgets' modules), not fetched
    outside = sorted({u for u in seen if not u.startswith(("data:", "blob:")) and urlsplit(u).netloc != server})
    assert len(seen) > 10 and outside == []


@pytest.mark.parametrize("name", ["funnel", "managers"])
def test_phone_width_fits_and_the_filter_bar_stays(browser, voila_url: str, name: str) -> None:
    """At 390 px (a phone) no chart, table or card is wider than the screen (charts are redrawn at
    the cell's width, wide tables scroll inside their own box), the page never scrolls sideways,
    no chart cuts a text (the layout check of tests/browser/chart_layout.py), and the filter bar
    stays at the top, at most a third of the screen, after scrolling down."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    try:
        pg = ctx.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        _open(pg, f"{voila_url}voila/render/{name}.ipynb")
        # scroll through the page so that every chart is drawn (charts off screen draw lazily)
        total = pg.evaluate("document.getElementById('rendered_cells').scrollHeight")
        for y in range(0, total, 600):
            pg.evaluate(f"document.getElementById('rendered_cells').scrollTo(0, {y})")
            pg.wait_for_timeout(150)
        pg.wait_for_function("() => !document.querySelector('[data-b24r-stale], [data-b24r-pending]')")
        _shot(pg, f"{name}-phone")
        widths = pg.evaluate("""() => ({
            page: document.getElementById('rendered_cells').scrollWidth, doc: document.documentElement.scrollWidth,
            over: [...document.querySelectorAll('.b24r-cell .main-svg, .b24r-cell .b24-table, .b24r-cell .b24-kpi')]
                  .map(e => e.getBoundingClientRect().right).filter(r => r > innerWidth + 1).length,
            charts: document.querySelectorAll('.b24r-cell .main-svg').length })""")
        assert widths["charts"] > 0 and widths["over"] == 0
        assert widths["page"] <= 390 and widths["doc"] <= 390
        # and no chart text is cut or covered, as the layout check sees it (static/fit.js at work)
        charts = pg.evaluate(MEASURE_JS, ".b24r-chart")
        assert len(charts) == pg.evaluate("document.querySelectorAll('.b24r-chart').length") > 0
        assert [f"{c['name']}: {p}" for c in charts for p in layout_problems(c)] == []
        bar = pg.evaluate("(() => { const r = document.querySelector('.b24r-filterbar').getBoundingClientRect();"
                          " return [r.top, r.height]; })()")
        assert bar[0] == 0 and bar[1] <= 844 / 3
    finally:
        ctx.close()


#: In the page: count ``Plotly.react`` calls per chart (``window.__b24rReacts``, in the order of
#: the page's chart slots) from now on.
_COUNT_REACTS = """() => {
  const P = window.Plotly, react = P.react;
  const slots = () => [...document.querySelectorAll('.b24r-chart')];
  window.__b24rReacts = slots().map(() => 0);
  P.react = function (gd, ...rest) {
    const i = slots().findIndex((s) => s.contains(gd));
    if (i >= 0) window.__b24rReacts[i] += 1;
    return react.call(this, gd, ...rest);
  };
}"""
#: In the page: each chart slot's state, in order: "stale" (waits to be drawn), "pending" or "drawn".
_CHART_STATES = """() => [...document.querySelectorAll('.b24r-chart')].map((s) =>
  s.dataset.b24rStale ? 'stale' : s.dataset.b24rPending ? 'pending' : 'drawn')"""
#: In the page: the traces the last chart shows (plotly keeps them on its element).
_LAST_TRACES = """() => { const c = [...document.querySelectorAll('.b24r-chart .js-plotly-plot')].pop();
  return JSON.stringify(c.data.map((t) => [t.type, t.name, t.x, t.y])); }"""


def _scroll_to_last_chart(page) -> None:
    page.locator(".b24r-chart").last.scroll_into_view_if_needed()
    page.wait_for_function("() => { const c = [...document.querySelectorAll('.b24r-chart')].pop();"
                           " return !c.dataset.b24rStale && !c.dataset.b24rPending; }")


def test_charts_off_screen_are_drawn_when_scrolled_to_or_printed(page, browser, voila_url: str, top_manager) -> None:
    """A refilter redraws the charts the viewer sees; one further down the page is drawn when
    scrolled to (with the figure of the current filter, as a page opened with that filter draws
    it) or when the page is printed, and not before, however idle the page is (issue 18: five
    pages refiltering at once redrew every chart of the report)."""
    uid, uname = top_manager
    _open(page, f"{voila_url}voila/render/managers.ipynb")
    page.wait_for_function("() => !document.querySelector('.b24r-chart[data-b24r-pending]')")
    assert {"drawn", "stale"} == set(page.evaluate(_CHART_STATES))  # some charts below the fold
    page.evaluate(_COUNT_REACTS)
    page.locator(".b24r-f-employees select").select_option(label=uname.replace(" ", "\u00a0"))
    _wait_generation(page, 1)
    page.wait_for_timeout(2000)  # an idle page: off-screen charts still wait
    reacts, states = page.evaluate("() => window.__b24rReacts"), page.evaluate(_CHART_STATES)
    far = [i for i, s in enumerate(states) if s == "stale"]
    # redrawn: charts near the screen only (a chart the filter does not change is not sent at all);
    # not drawn: charts far below it, however long the page stays idle
    assert any(reacts) and far and far[-1] == len(states) - 1 and all(reacts[i] == 0 for i in far)
    tops = page.evaluate("() => [...document.querySelectorAll('.b24r-chart')].map((s) => s.getBoundingClientRect().top)")
    assert all(tops[i] > 900 + 200 for i in far)
    _scroll_to_last_chart(page)
    assert page.evaluate("() => window.__b24rReacts")[far[-1]] == 1
    # the same chart on a page opened with that filter
    other = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        other.set_default_timeout(TIMEOUT_MS)
        _open(other, f"{voila_url}voila/render/managers.ipynb?employee={uid}")
        _scroll_to_last_chart(other)
        assert page.evaluate(_LAST_TRACES) == other.evaluate(_LAST_TRACES)
    finally:
        other.context.close()
    # back to everyone (charts away from the screen wait again), then printed: every chart drawn first
    page.locator(".b24r-chip-employees").click()
    _wait_generation(page, 2)
    assert "stale" in page.evaluate(_CHART_STATES)
    page.pdf()
    assert "stale" not in page.evaluate(_CHART_STATES)


#: In the page: from now on, log every ``Plotly.react`` as ``[chart element's number, in the page?]``.
_LOG_DRAWS = """() => {
  const P = window.Plotly, react = P.react;
  let n = 0;
  window.__b24rDraws = [];
  P.react = function (gd, ...rest) {
    gd.__b24rN = gd.__b24rN || ++n;
    window.__b24rDraws.push([gd.__b24rN, gd.isConnected]);
    return react.call(this, gd, ...rest);
  };
}"""
#: In the page: the names the first chart's points carry (the activity-versus-result scatter).
_FIRST_CHART_NAMES = """() => [...new Set(document.querySelector('.b24r-chart .js-plotly-plot').data
  .flatMap((t) => t.text || []))].sort()"""


def test_a_cell_shown_anew_draws_its_chart_once(page, voila_url: str, demo_dataset, dash_params, top_manager) -> None:
    """Picking a manager adds a note to the managers report's first cells, so the page shows those
    cells anew, with new views of their charts. The chart on screen is drawn once, in the page,
    with the new filter's figure, not three times (by the view going, by the new one before it was
    in the page, at no size, and once it was). The same back to everyone."""
    from b24reports.outputs.nb import ReportView

    uid, uname = top_manager
    _open(page, f"{voila_url}voila/render/managers.ipynb")
    page.wait_for_function("() => !document.querySelector('.b24r-chart[data-b24r-pending]')")
    res = reports.get("managers").run(demo_dataset, {"as_of": dash_params["as_of"]})
    labels = ReportView(res, demo_dataset).labels["employee_id"]
    everyone = sorted(labels[int(e)] for e in res.tables["managers"].query("activity_index.notna()")["employee_id"])
    assert page.evaluate(_FIRST_CHART_NAMES) == everyone and len(everyone) > 1
    cells = page.locator(".b24r-cell").count()
    page.evaluate(_LOG_DRAWS)
    page.locator(".b24r-f-employees select").select_option(label=uname.replace(" ", "\u00a0"))
    _wait_generation(page, 1)
    page.wait_for_function("() => window.__b24rDraws.length > 0")
    page.wait_for_timeout(1500)  # a second drawing would come by now
    draws = page.evaluate("() => window.__b24rDraws.splice(0)")
    assert page.locator(".b24r-cell").count() == cells
    assert draws == [[draws[0][0], True]], draws
    assert page.evaluate(_FIRST_CHART_NAMES) == [uname]
    assert page.evaluate(_CHART_STATES)[0] == "drawn"
    page.locator(".b24r-chip-employees").click()
    _wait_generation(page, 2)
    page.wait_for_function("() => window.__b24rDraws.length > 0")
    page.wait_for_timeout(1500)
    draws = page.evaluate("() => window.__b24rDraws.splice(0)")
    assert draws == [[draws[0][0], True]], draws
    assert page.evaluate(_FIRST_CHART_NAMES) == everyone
    _shot(page, "managers-cell-shown-anew")


_LOSE_A_WIDGET = """() => { const e = document.createElement('div'); e.className = 'jupyter-widgets';
  e.textContent = 'Error displaying widget: model not found';
  document.querySelector('#rendered_cells .jp-Cell').appendChild(e); }"""


def test_a_page_whose_widgets_lost_the_race_opens_again_once(page, voila_url: str) -> None:
    """A page showing ipywidgets' "model not found" (its widget manager lost the race with the
    renderer: seen about once in 30 pages with five loading at once) is opened again, saying so in
    the viewer's language; a second time in the same tab it is not reloaded again but shows a
    banner with a reload button (no loop)."""
    url = f"{voila_url}voila/render/managers.ipynb?lang=en"
    _open(page, url)
    with page.expect_navigation():
        page.evaluate(_LOSE_A_WIDGET)
        assert "opening it again" in page.locator(".b24r-reopening").inner_text()
    _wait_generation(page, 0)
    page.wait_for_selector(".b24-kpi")
    assert page.locator(".b24r-lost").count() == 0
    page.evaluate(_LOSE_A_WIDGET)
    banner = page.locator(".b24r-lost")
    banner.wait_for()
    assert banner.inner_text().startswith("Part of the report did not load.")
    assert page.evaluate("sessionStorage.getItem('b24r-reopened')") == page.url
    with page.expect_navigation():
        banner.locator("button").click()
    _wait_generation(page, 0)
    assert page.evaluate("sessionStorage.getItem('b24r-reopened')") is None


@pytest.mark.parametrize("unload", [True, False], ids=["closed", "gone-without-unload"])
def test_a_page_that_goes_ends_its_kernel(demo_store: Path, dash_params, browser, unload: bool) -> None:
    """A closed (or reloaded) page ends its kernel at once, long before the idle cull (900 s
    here): Voila's shutdown beacon is no longer refused for a missing _xsrf cookie (issue 18;
    the orphan rule is off for this case). A page closed without its unload handlers (a killed
    tab, a phone that dropped the page: no beacon) ends its kernel once its connection has been
    closed for the grace, 2 s here; such kernels used to wait for the cull."""
    import time

    import psutil
    from b24reports.outputs.serve import VoilaServer

    grace = 0 if unload else 2
    with VoilaServer(demo_store, pool_size=0, params=dash_params, cull_idle_timeout=900, orphan_grace_s=grace) as srv:
        assert srv.proc is not None
        server = psutil.Process(srv.proc.pid)
        ctx = browser.new_context()
        pg = ctx.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        _open(pg, f"{srv.url}voila/render/forgotten.ipynb")
        assert _live_kernels(server) == 1
        pg.close(run_before_unload=unload)
        if not unload:
            time.sleep(1)
            assert _live_kernels(server) == 1, "ended before the grace: not the orphan rule"
        deadline = time.monotonic() + 30
        while _live_kernels(server) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _live_kernels(server) == 0
        ctx.close()


@pytest.mark.parametrize(("query", "pattern"), [
    ("", r"^(Запускаю отчёт…|Загружаю данные портала…|Считаю отчёт: шаг \d+ из \d+)$"),
    ("?lang=en", r"^(Starting the report…|Loading the portal's data…|Computing the report: step \d+ of \d+)$"),
])
def test_loading_screen_speaks_the_viewers_language(browser, voila_url: str, query: str, pattern: str) -> None:
    """While the kernel starts and the report computes, the page says what is happening and how
    far along it is in the viewer's language, never Voila's English "Executing 1 of 9"."""
    import re
    import time

    ctx = browser.new_context()
    try:
        pg = ctx.new_page()
        pg.goto(f"{voila_url}voila/render/pipeline.ipynb{query}", wait_until="commit")
        seen: list[str] = []
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while time.monotonic() < deadline and not pg.query_selector(".b24-kpi"):
            text = pg.evaluate("(document.getElementById('loading_text') || {}).textContent || ''")
            if text and (not seen or seen[-1] != text):
                seen.append(text)
            time.sleep(0.05)
        assert seen, "the loading screen was never seen"
        assert all(re.match(pattern, t) for t in seen), seen
    finally:
        ctx.close()


def test_a_forked_kernel_shows_what_a_kernel_of_its_own_shows(browser, voila_server, demo_store: Path, dash_params,
                                                             demo_dataset) -> None:
    """The session's server forks its kernels from the zygote (serve's default); a server started
    with fork=False (serve --no-fork) starts each kernel on its own. The same report shows the
    same cards on both, and its headline number is the one ReportSpec.run computes."""
    import psutil
    from b24reports.outputs.serve import VoilaServer

    assert voila_server.fork
    seen = {}
    with VoilaServer(demo_store, pool_size=0, params=dash_params, fork=False) as own:
        for key, srv in (("forked", voila_server), ("own", own)):
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            pg = ctx.new_page()
            pg.set_default_timeout(TIMEOUT_MS)
            _open(pg, f"{srv.url}voila/render/marketing.ipynb")
            seen[key] = _cards(pg)
            names = {k.name() for k in _kernels(psutil.Process(srv.proc.pid))}
            assert ("b24r-kernel" in names) == (key == "forked")
            ctx.close()
    label, shown = _headline("marketing", reports.get("marketing").run(demo_dataset, {"as_of": dash_params["as_of"]}))
    assert seen["forked"] == seen["own"] and seen["forked"][label] == shown


def test_a_page_opens_when_the_zygote_is_gone(browser, demo_store: Path, dash_params, demo_dataset, tmp_path) -> None:
    """The zygote killed: the next page's kernel starts the normal way (a line in the log says
    so) and shows the report."""
    import time

    import psutil
    from b24reports.outputs.serve import VoilaServer

    log = tmp_path / "voila.log"
    with VoilaServer(demo_store, pool_size=0, params=dash_params, log_path=log) as srv:
        server = psutil.Process(srv.proc.pid)
        zygotes = [c for c in server.children() if "b24reports.outputs.zygote" in " ".join(c.cmdline())]
        assert len(zygotes) == 1
        zygotes[0].kill()
        deadline = time.monotonic() + 30  # dead: gone, or a zombie until the server reaps it
        while zygotes[0].is_running() and zygotes[0].status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.1)
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = ctx.new_page()
        pg.set_default_timeout(TIMEOUT_MS)
        _open(pg, f"{srv.url}voila/render/marketing.ipynb")
        label, shown = _headline("marketing", reports.get("marketing").run(demo_dataset, {"as_of": dash_params["as_of"]}))
        assert _cards(pg)[label] == shown
        assert [k.name() for k in _kernels(server)] != ["b24r-kernel"]
        ctx.close()
    assert "no kernel from the zygote" in log.read_text(encoding="utf-8", errors="replace")
