"""CPU of one dashboard refilter and one first paint inside a kernel (issue 18), in-process.

Usage::

    .venv/bin/python benchmarks/refilter_cpu.py STORE [--reports managers,funnel,dynamics,forgotten]
        [--reps 3] [--profile]

Runs the dashboard kernel's own code path in this process, without Voila or a browser: an
IPython shell with ``VOILA_KERNEL_ID`` set (so ``nb.open_report`` takes the live path), the
server's parameters in ``$B24REPORTS_DASHBOARD_PARAMS`` (``as_of`` of the demo, the demo plan),
the store loaded once and every report warmed once (``dashboard.warm``: what ``serve``'s zygote
does before it forks a kernel). Then, per report:

* ``first paint``: the notebook's code cells run in a fresh shell (the dashboard opens, computes
  the report and displays every view into its widgets), CPU seconds of this process;
* ``refilter``: ``Dashboard.set_filter('employees', …)`` to each of the three busiest active
  owners and back to everyone (what a pick in the filter bar does), CPU milliseconds each
  (median of ``--reps`` rounds).

What is not counted: the kernel's messages (widget state is not sent: no frontend), and the
page's drawing (``benchmarks/viewers_cpu.py`` measures both). ``--profile`` adds where a
refilter's CPU goes (:func:`add_timers`), milliseconds per refilter; the timers add ~10 % to
the total.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from viewers_bench import server_params_and_picks  # noqa: E402


def code_cells(name: str) -> list[str]:
    """The code cells of report ``name``'s notebook, the parameters cell first."""
    from b24reports.core.paths import NOTEBOOKS_DIR

    nb = json.loads((NOTEBOOKS_DIR / f"{name}.ipynb").read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def first_paint(name: str, store: str) -> tuple[float, object]:
    """Run report ``name``'s notebook cells in a fresh shell as a dashboard kernel does; returns
    (CPU seconds, the dashboard)."""
    from IPython.core.interactiveshell import InteractiveShell

    from b24reports.outputs.dashboard import live

    InteractiveShell.clear_instance()
    live._CURRENT = None
    ip = InteractiveShell.instance()
    cells = code_cells(name)
    ip.user_ns["store"] = store
    t = time.process_time()
    for src in cells:
        src = src.replace("store = None", f"store = {store!r}")
        with contextlib.redirect_stdout(io.StringIO()):  # the plain shell prints each display
            r = ip.run_cell(src, store_history=True)
        if r.error_in_exec is not None:
            raise r.error_in_exec
    return time.process_time() - t, live.current()


def picks(dataset) -> list[str]:
    users = dataset.users.set_index("id")
    owners = dataset.deals["assigned_by_id"].value_counts()
    return [str(int(u)) for u in owners.index if u in users.index and bool(users.loc[u, "active"])][:3]


ORDER = ("metrics (ReportSpec.run)", "cells (the whole replay)", "  figures and texts (views.<report>)",
         "  style_figure", "  of which plotly.py objects", "  tables (table_html)", "  figure_json")


def add_timers(names: list[str]) -> dict[str, float]:
    """Wrap the parts of a refilter in CPU timers (``time.process_time``, this process): returns
    the dict they add their seconds to. Parts: ``metrics`` (``ReportSpec.run``), ``cells`` (the
    whole re-run of the notebook's cells, ``CellReplay.replay``: all of the following and the
    rest of the cells' code), ``figures`` (the report's ``views`` functions other than
    ``table_part``: plotly figures and texts), ``style_figure``, ``tables`` (``table_html``),
    ``figure_json``; and ``plotly.py`` objects (constructors, ``update_layout``, item access:
    counted once when nested), which overlaps ``figures`` and ``style_figure``."""
    import functools
    import importlib

    import plotly.basedatatypes as bdt
    import plotly.graph_objects as go

    from b24reports.outputs.dashboard import cells
    from b24reports.reports import spec as specmod
    from b24reports.views import common as vc

    acc: dict[str, float] = dict.fromkeys(ORDER, 0.0)
    depth = {"plotly": 0, "views": 0}

    def timed(label: str, f, nested: str | None = None):
        @functools.wraps(f)
        def w(*a, **k):
            if nested is not None:
                depth[nested] += 1
            t = time.process_time()
            try:
                return f(*a, **k)
            finally:
                if nested is None or depth[nested] == 1:
                    acc[label] = acc.get(label, 0.0) + time.process_time() - t
                if nested is not None:
                    depth[nested] -= 1
        return w

    specmod.ReportSpec.run = timed("metrics (ReportSpec.run)", specmod.ReportSpec.run)
    cells.CellReplay.replay = timed("cells (the whole replay)", cells.CellReplay.replay)
    cells.figure_json = timed("  figure_json", cells.figure_json)
    vc.table_html = timed("  tables (table_html)", vc.table_html)
    vc.style_figure = timed("  style_figure", vc.style_figure)
    for name in names:
        mod = importlib.import_module(f"b24reports.views.{name}")
        for fn in dir(mod):
            obj = getattr(mod, fn)
            if (callable(obj) and not isinstance(obj, type) and not fn.startswith("_") and fn != "table_part"
                    and getattr(obj, "__module__", "") == mod.__name__):
                setattr(mod, fn, timed("  figures and texts (views.<report>)", obj, "views"))
    for cls, methods in ((bdt.BaseFigure, ("__init__", "update_layout", "add_trace", "add_traces", "__getitem__",
                                           "__contains__", "__setitem__")),
                         (bdt.BasePlotlyType, ("__getitem__", "__contains__", "__setitem__", "update"))):
        for m in methods:
            setattr(cls, m, timed("  of which plotly.py objects", getattr(cls, m), "plotly"))
    for n in dir(go):
        c = getattr(go, n)
        if isinstance(c, type) and issubclass(c, bdt.BaseTraceType):
            c.__init__ = timed("  of which plotly.py objects", c.__init__, "plotly")
    return acc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("store")
    ap.add_argument("--reports", default="managers,funnel,dynamics,forgotten")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()

    from b24reports.ingest.dataset import Dataset

    store = str(Path(a.store).resolve())
    params, _names = server_params_and_picks(Dataset.load(store))
    os.environ.update({"VOILA_KERNEL_ID": "refilter-cpu", "QUERY_STRING": "",
                       "B24REPORTS_DASHBOARD_PARAMS": json.dumps(params)})
    os.environ.pop("VOILA_PREHEAT", None)

    from b24reports import reports
    from b24reports.outputs import dashboard, nb

    t = time.process_time()
    dataset = nb.load_dataset(store)
    for spec in reports.all_reports():  # the zygote's warm-up
        dashboard.warm(spec, dataset, dashboard.server_params(spec))
    print(f"store + warm-up of every report: {time.process_time() - t:.1f} s CPU; load {os.getloadavg()[0]:.1f}")
    who = picks(dataset)
    acc = add_timers(a.reports.split(",")) if a.profile else {}
    for name in a.reports.split(","):
        first_paint(name, store)  # a first run: lazy imports, caches
        fp, dash = first_paint(name, store)
        rounds: list[float] = []
        for k in acc:
            acc[k] = 0.0
        for _ in range(a.reps):
            for value in [*who, None]:
                t = time.process_time()
                dash.set_filter("employees", value)
                rounds.append(time.process_time() - t)
        print(f"{name:10s} first paint {fp:.2f} s CPU; refilter median {statistics.median(rounds) * 1000:.0f} ms CPU "
              f"(min {min(rounds) * 1000:.0f}, max {max(rounds) * 1000:.0f}, n={len(rounds)})", flush=True)
        for label, sec in acc.items():
            print(f"    {label:44s} {sec / len(rounds) * 1000:6.1f} ms per refilter")
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.clear_instance()


if __name__ == "__main__":
    main()
