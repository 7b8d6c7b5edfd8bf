"""Dashboards for a team (issue 18): many viewers at once, kernels forked from the zygote or not.

Usage::

    .venv/bin/python benchmarks/viewers_bench.py [STORE] [--scale S] [--modes main,fork] [--pool 1] [--waits page,raf]

With no STORE a demo portal of scale S (default 1.0; 40 = ~100k deals) is generated, served on
loopback and synced into a temporary store (``dashboard_bench.build_store``). Each mode starts
its own ``VoilaServer`` on that store with ``--pool`` preheated kernels per report (serve's
default, 1): ``main`` is ``fork=False`` (``serve --no-fork``: each kernel imports and loads the
store itself, the pool refills 10 s after a viewer took a kernel: the way before issue 18),
``fork`` is serve's default (kernels forked from the zygote, pool refills when the CPU is
idle). Headless Chromium (the system one, as the browser tests). Printed side by side:

* ``first viewer``: a report requested the moment the server answers, to its charts drawn;
* ``preheated``: once the pool is warm (every report's pool kernel started and the CPU quiet),
  another report's first paint;
* ``5 at once``: five pages of one report requested together: the worst first paint (and all);
* ``refilter x5``: on those five pages an employee picked at once: the median and the worst,
  timed inside each page from the select's change to the first frame with every chart on
  screen redrawn (``dashboard_bench.WATCH``), three picks in turn right after the first paints
  (the figure the issue's target is for); then the same three picks again, on pages and kernels
  that have done three refilters already (V8 has compiled plotly.js's redraw, the forked
  kernels have copied the memory pages they write);
* ``per extra viewer``: the growth of the kernels' memory (zygote included) from the warm pool
  to the five pages open, divided by five: PSS (``/proc/PID/smaps_rollup``: shared pages split
  between the processes that share them) and RSS (counts every shared page in every process);
* ``idle`` and ``75 s after 10 closed``: the kernels' PSS with the warm pool and no page, and
  75 s after ten pages (two per report of five reports) were opened and closed.

How the driver waits (``--waits``, a column for each): ``page`` (the default) awaits a promise the
page resolves at the first frame after it is drawn (``dashboard_bench.DRAWN``, ``WATCH``), so
nothing runs in the pages while they work but the dashboard itself, as in a viewer's browser;
``raf`` waits with Playwright's ``wait_for_selector``/``wait_for_function``, which polls each page
at every animation frame: the way every figure before session 10 was measured.

The machine's load average is printed at the start and at each figure: this shared 2-core VM
varies by a third between runs of the same code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard_bench import AS_OF, CHARTS_DRAWN, DRAWN, WATCH, build_store  # noqa: E402

KERNEL_NAMES = ("b24r-kernel",)


def loadavg() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def kernel_memory(server_pid: int) -> tuple[int, int, int]:
    """(processes, PSS MiB, RSS MiB) of the server's kernels and zygote (the Voila process itself
    is left out: it is the same in both modes)."""
    import psutil

    procs = []
    for c in psutil.Process(server_pid).children(recursive=True):
        try:
            cmd = " ".join(c.cmdline())
            if c.status() != psutil.STATUS_ZOMBIE and ("ipykernel" in cmd or "b24reports.outputs.zygote" in cmd):
                procs.append(c.pid)
        except psutil.Error:
            pass
    pss = sum(_kib(p, "Pss") for p in procs) // 1024
    rss = sum(_kib(p, "Rss") for p in procs) // 1024
    return len(procs), pss, rss


def cpu_quiet(seconds: float = 3.0, below: float = 0.3) -> bool:
    from b24reports.outputs.forking import cpu_busy, cpu_times

    a = cpu_times()
    time.sleep(seconds)
    return cpu_busy(a, cpu_times()) < below


async def settle(limit: float = 60.0) -> None:
    """Wait for a quiet CPU, at most ``limit`` s (the machine is shared: it may never be quiet)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not cpu_quiet():
        await asyncio.sleep(1)


FAILED: list[str] = []


#: how a benchmark waits for a page: ``page``, an in-page promise (:data:`DRAWN`,
#: ``WATCH``'s ``done``) that nothing polls; ``raf``, Playwright's ``wait_for_selector`` and
#: ``wait_for_function``, which polls the page at every animation frame (the way before session 10)
WAITS = ("page", "raf")
#: seconds a page has to be drawn
PAGE_TIMEOUT_S = 180


async def first_paint(page, url: str, wait: str = "page") -> float:
    """Seconds from the request to the charts drawn (:data:`WAITS`: how to wait); ``nan`` (and
    a screenshot named in :data:`FAILED`) when the page is not drawn within its timeout."""
    t = time.perf_counter()
    try:
        await page.goto(url, wait_until="commit")
        if wait == "page":
            await asyncio.wait_for(page.evaluate(DRAWN, 0), PAGE_TIMEOUT_S)
        else:
            await page.wait_for_selector(".b24-kpi")
            await page.wait_for_selector(".b24r-status [data-generation='0'][data-busy='0']")
            await page.wait_for_function(CHARTS_DRAWN)
    except Exception as e:  # noqa: BLE001 - a page that never draws is a figure too
        shot = Path(tempfile.gettempdir()) / f"viewers-bench-failed-{len(FAILED)}.png"
        await page.screenshot(path=str(shot))
        FAILED.append(f"{url}: {type(e).__name__} after {time.perf_counter() - t:.0f} s ({shot})")
        return float("nan")
    return time.perf_counter() - t


async def refilter(page, gen: int, who: str, wait: str = "page") -> float:
    """Seconds from picking employee ``who`` on ``page`` to its charts on screen redrawn for
    generation ``gen``, timed inside the page (``WATCH``); :data:`WAITS`: how to wait."""
    await page.evaluate(WATCH, gen)
    await page.locator(".b24r-f-employees select").select_option(label=who.replace(" ", "\u00a0"))
    if wait == "page":
        return await asyncio.wait_for(page.evaluate("() => window.__b24rWatch.done"), PAGE_TIMEOUT_S) / 1000
    await page.wait_for_selector(f".b24r-status [data-generation='{gen}'][data-busy='0']")
    await page.wait_for_function(CHARTS_DRAWN)
    await page.wait_for_function("() => window.__b24rWatch.t1 !== null")
    w = await page.evaluate("() => window.__b24rWatch")
    return (w["t1"] - w["t0"]) / 1000


async def run_mode(mode: str, store: Path, params: dict, pool: int, picks: list[str], reps: dict,
                   wait: str = "page") -> dict:
    from playwright.async_api import async_playwright

    from b24reports.outputs.serve import VoilaServer

    out: dict = {"mode": mode if wait == "page" else f"{mode}, {wait} polling"}
    srv = VoilaServer(store, pool_size=pool, params=params, fork=(mode == "fork"),
                      log_path=Path(tempfile.gettempdir()) / f"viewers-bench-{mode}.log")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])

        async def new_page(width: int = 1280):
            ctx = await browser.new_context(viewport={"width": width, "height": 900})
            pg = await ctx.new_page()
            pg.set_default_timeout(180_000)
            return ctx, pg

        t0 = time.perf_counter()
        srv.start(timeout=120)
        try:
            out["server up"] = time.perf_counter() - t0
            ctx, pg = await new_page()
            out["first viewer"] = await first_paint(pg, f"{srv.url}voila/render/{reps['first']}.ipynb", wait)
            out["first viewer load"] = loadavg()
            await pg.close(run_before_unload=True)
            await ctx.close()
            # the pool warms up: every report's pool kernel started (or the 3-minute limit), then a quiet CPU
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                n, _, _ = kernel_memory(srv.proc.pid)
                if n >= len(reps["all"]) * pool + (1 if mode == "fork" else 0):
                    break
                await asyncio.sleep(2)
            await settle()
            out["warm after"] = time.perf_counter() - t0
            out["idle kernels"], out["idle pss"], out["idle rss"] = kernel_memory(srv.proc.pid)
            ctx, pg = await new_page()
            out["preheated"] = await first_paint(pg, f"{srv.url}voila/render/{reps['preheated']}.ipynb", wait)
            out["preheated load"] = loadavg()
            await pg.close(run_before_unload=True)
            await ctx.close()
            await settle()  # its pool kernel refills
            _, base_pss, base_rss = kernel_memory(srv.proc.pid)
            pages = [await new_page() for _ in range(5)]
            url = f"{srv.url}voila/render/{reps['five']}.ipynb"
            paints = await asyncio.gather(*(first_paint(pg, url, wait) for _, pg in pages))
            out["5 at once"] = sorted(paints, key=lambda x: (x != x, x))  # nan (not drawn) last
            out["5 at once load"] = loadavg()
            times: list[float] = []
            for gen, who in enumerate(picks, start=1):
                times += await asyncio.gather(*(refilter(pg, gen, who, wait) for _, pg in pages))
            out["refilter x5"] = times
            out["refilter load"] = loadavg()
            # the same three picks again: pages (plotly.js compiled by V8's JIT) and forked kernels
            # (their copy-on-write pages copied) warmed up by the first three refilters
            times = []
            for gen, who in enumerate(picks, start=len(picks) + 1):
                times += await asyncio.gather(*(refilter(pg, gen, who, wait) for _, pg in pages))
            out["refilter x5 again"] = times
            n, pss, rss = kernel_memory(srv.proc.pid)
            out["per viewer pss"], out["per viewer rss"] = (pss - base_pss) / 5, (rss - base_rss) / 5
            for ctx, pg in pages:
                await pg.close(run_before_unload=True)
                await ctx.close()
            # ten visits, two per report of five reports, then closed
            ten = [await new_page() for _ in range(10)]
            names = reps["all"][:5]
            await asyncio.gather(*(first_paint(pg, f"{srv.url}voila/render/{names[i % 5]}.ipynb", wait)
                                   for i, (_, pg) in enumerate(ten)))
            out["10 open"] = kernel_memory(srv.proc.pid)
            for ctx, pg in ten:
                await pg.close(run_before_unload=True)
                await ctx.close()
            await asyncio.sleep(75)
            out["after 10 closed"] = kernel_memory(srv.proc.pid)
            out["after 10 closed load"] = loadavg()
        finally:
            await browser.close()
            srv.stop()
    return out


def server_params_and_picks(ds) -> tuple[dict, list[str]]:
    """What every viewers benchmark gives ``serve`` and picks in the pages, for Dataset ``ds``:
    ``({"as_of": AS_OF, "plan": path of the demo plan written to a temporary folder}, the three
    busiest active deal owners as the employee filter shows them, "Last First")``."""
    from b24reports.demo.plan import demo_plan

    plan = demo_plan(ds, AS_OF, Path(tempfile.mkdtemp(prefix="bench-plan-")) / "plan.csv")
    users = ds.users.set_index("id")
    owners = ds.deals["assigned_by_id"].value_counts()
    busy = [int(u) for u in owners.index if u in users.index and bool(users.loc[u, "active"])][:3]
    picks = [" ".join(x for x in (users.loc[u, "last_name"], users.loc[u, "name"]) if isinstance(x, str) and x)
             for u in busy]
    return {"as_of": AS_OF, "plan": str(plan)}, picks


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store", nargs="?")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--modes", default="main,fork")
    ap.add_argument("--pool", type=int, default=1, help="preheated kernels per report (serve's default: 1)")
    ap.add_argument("--waits", default="page",
                    help="how the driver waits for a page, each a column per mode: page (an in-page promise, "
                         "nothing polls), raf (Playwright polls at every animation frame, as before session 10)")
    a = ap.parse_args()
    waits = a.waits.split(",")
    if not set(waits) <= set(WAITS):
        ap.error(f"--waits: one or more of {', '.join(WAITS)}")

    from b24reports import reports
    from b24reports.ingest.dataset import Dataset

    store = Path(a.store) if a.store else build_store(a.scale)
    ds = Dataset.load(store)
    params, picks = server_params_and_picks(ds)
    names = [s.name for s in reports.all_reports()]
    reps = {"first": "funnel", "preheated": "dynamics", "five": "managers", "all": names}
    print(f"store: {len(ds.deals):,} deals, {len(ds.activities):,} activities; {os.cpu_count()} CPUs; {loadavg()}", flush=True)
    results = []
    for mode in a.modes.split(","):
        for wait in waits:
            r = asyncio.run(run_mode(mode, store, params, a.pool, picks, reps, wait))
            results.append(r)
            print(f"[{r['mode']} done, {loadavg()}]", flush=True)

    def row(label: str, f) -> None:
        print(f"{label:44s}" + "".join(f"{f(r):>28s}" for r in results))

    row("", lambda r: r["mode"])
    row("first viewer after start -> charts (s)", lambda r: f"{r['first viewer']:.1f}")
    row("  load average then", lambda r: r["first viewer load"][5:])
    row("pool warm after (s)", lambda r: f"{r['warm after']:.0f}")
    row("first paint, preheated (s)", lambda r: f"{r['preheated']:.1f}")
    row("5 viewers on one report: worst (s)", lambda r: f"{r['5 at once'][-1]:.1f}")
    row("  all five (s)", lambda r: " ".join(f"{x:.1f}" for x in r["5 at once"]))
    row("refilter, 5 pages at once: median (ms)", lambda r: f"{statistics.median(r['refilter x5']) * 1000:.0f}")
    row("  worst (ms)", lambda r: f"{max(r['refilter x5']) * 1000:.0f}")
    row("  3 more each, warm pages: median (ms)", lambda r: f"{statistics.median(r['refilter x5 again']) * 1000:.0f}")
    row("  load average then", lambda r: r["refilter load"][5:])
    row("memory per extra viewer, PSS (MiB)", lambda r: f"{r['per viewer pss']:.0f}")
    row("memory per extra viewer, RSS (MiB)", lambda r: f"{r['per viewer rss']:.0f}")
    row("idle: kernels, PSS MiB (RSS MiB)", lambda r: f"{r['idle kernels']}, {r['idle pss']} ({r['idle rss']})")
    row("10 pages open: PSS MiB", lambda r: f"{r['10 open'][0]}, {r['10 open'][1]}")
    row("75 s after 10 closed: PSS MiB (RSS MiB)",
        lambda r: f"{r['after 10 closed'][0]}, {r['after 10 closed'][1]} ({r['after 10 closed'][2]})")
    row("  vs idle", lambda r: f"{(r['after 10 closed'][1] / r['idle pss'] - 1) * 100:+.0f} %")
    for f in FAILED:
        print("page not drawn:", f)


if __name__ == "__main__":
    main()
