"""Where the CPU of five dashboard pages goes (issue 18): the browser, the kernels or the server.

Usage::

    .venv/bin/python benchmarks/viewers_cpu.py STORE [--report managers] [--no-fork] [--wait page|raf]

Starts ``serve`` on STORE (fork mode unless ``--no-fork``, ``--pool-size 1``, the demo's
``as_of`` and plan), waits for the pool to warm and the CPU to settle, then does what
``viewers_bench.py``'s "5 at once" and "refilter x5" do on one report: five pages requested
together (first paints), then on the five pages the three busiest active owners picked in turn
(15 refilters). Around each phase it reads the CPU time (user + system, seconds) of every
process of the server and of the headless Chromium from ``/proc`` (psutil) and prints it summed
by kind: ``chromium renderer`` (the pages' main work: scripts, layout, drawing), ``chromium
other`` (browser, GPU and utility processes), ``kernels + zygote`` (forked kernels keep the
zygote's command line), ``voila`` (the server: HTTP, websockets, executing the notebook),
``playwright`` (the driver). The phase's wall time and first paints / refilter times (as
``viewers_bench.py`` times them) are printed beside it. ``--wait``: how the driver waits for
the pages (``viewers_bench.WAITS``; ``raf`` polls each page at every animation frame, which shows
as renderer CPU).
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
import viewers_bench as vb  # noqa: E402


def kind_of(cmd: str) -> str:
    """The kind of process a command line belongs to (see the module docstring)."""
    if "chrom" in cmd:
        return "chromium renderer" if "--type=renderer" in cmd else "chromium other"
    if "zygote" in cmd or "ipykernel" in cmd:
        return "kernels + zygote"
    if "playwright" in cmd:
        return "playwright"
    if "voila" in cmd or "serve" in cmd:
        return "voila"
    return "other"


def cpu_by_pid(roots: list[int]) -> dict[int, tuple[str, float]]:
    """``{pid: (kind, CPU seconds)}`` of ``roots`` and all their descendants."""
    import psutil

    out: dict[int, tuple[str, float]] = {}
    for r in roots:
        try:
            procs = [psutil.Process(r), *psutil.Process(r).children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            try:
                t = p.cpu_times()
                out[p.pid] = (kind_of(" ".join(p.cmdline())), t.user + t.system)
            except psutil.Error:
                pass
    return out


def spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds spent between two :func:`cpu_by_pid` readings, by kind, largest first (a
    process that ended in between is missed: none does during a phase)."""
    agg: dict[str, float] = {}
    for pid, (kind, sec) in after.items():
        agg[kind] = agg.get(kind, 0.0) + sec - (before[pid][1] if pid in before else 0.0)
    return dict(sorted(agg.items(), key=lambda kv: -kv[1]))


def show(label: str, wall: float, cpu: dict[str, float]) -> None:
    total = sum(cpu.values())
    print(f"{label}: wall {wall:.1f} s, CPU {total:.1f} s ({vb.loadavg()})")
    for kind, sec in cpu.items():
        print(f"    {kind:20s} {sec:6.2f} s  {100 * sec / total:4.0f} %")


async def run(store: Path, report: str, fork: bool, wait: str = "page") -> None:
    from playwright.async_api import async_playwright

    from b24reports.ingest.dataset import Dataset
    from b24reports.outputs.serve import VoilaServer

    params, picks = vb.server_params_and_picks(Dataset.load(store))
    srv = VoilaServer(store, pool_size=1, params=params, fork=fork,
                      log_path=Path(tempfile.gettempdir()) / "viewers-cpu.log")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        srv.start(timeout=120)
        try:
            roots = [srv.proc.pid, os.getpid()]
            deadline = time.monotonic() + 240  # the pool warms: a kernel per report (and the zygote)
            while time.monotonic() < deadline and vb.kernel_memory(srv.proc.pid)[0] < 8:
                await asyncio.sleep(2)
            await vb.settle(90)
            pages = []
            for _ in range(5):
                ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
                pg = await ctx.new_page()
                pg.set_default_timeout(180_000)
                pages.append(pg)
            url = f"{srv.url}voila/render/{report}.ipynb"
            a, t = cpu_by_pid(roots), time.perf_counter()
            paints = await asyncio.gather(*(vb.first_paint(pg, url, wait) for pg in pages))
            wall, b = time.perf_counter() - t, cpu_by_pid(roots)
            print("5 pages at once, first paints (s):", " ".join(f"{x:.1f}" for x in sorted(paints)))
            show("  5 first paints", wall, spent(a, b))
            times: list[float] = []
            a, t = cpu_by_pid(roots), time.perf_counter()
            for gen, who in enumerate(picks, start=1):
                times += await asyncio.gather(*(vb.refilter(pg, gen, who, wait) for pg in pages))
            wall, b = time.perf_counter() - t, cpu_by_pid(roots)
            print(f"15 refilters (5 pages x 3): median {statistics.median(times) * 1000:.0f} ms, "
                  f"worst {max(times) * 1000:.0f} ms")
            show("  15 refilters", wall, spent(a, b))
            for line in vb.FAILED:
                print("page not drawn:", line)
        finally:
            await browser.close()
            srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--report", default="managers")
    ap.add_argument("--no-fork", action="store_true")
    ap.add_argument("--wait", default="page", choices=vb.WAITS)
    a = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; {vb.loadavg()}", flush=True)
    asyncio.run(run(Path(a.store), a.report, not a.no_fork, a.wait))


if __name__ == "__main__":
    main()
