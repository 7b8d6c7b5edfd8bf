"""Warm notebook kernels for snapshot renders: start, import and load the store once per worker.

Rendering a report's HTML runs its notebook with papermill. With a fresh kernel per report,
most of a render is fixed cost: starting the kernel, importing pandas/plotly/b24reports, loading
the store (docs/benchmarks.md "Snapshots"). A :class:`WarmKernel` pays it once: it starts one
``jupyter_client`` kernel, imports the package and loads the store's Dataset (kept by
``nb.load_dataset``), then runs any number of report notebooks, one after another, through
papermill's engine ``b24reports_warm`` (the stock nbclient engine on a kernel it does not own).

State does not leak from one report into the next: before each notebook the kernel's user
namespace is reset (``InteractiveShell.reset``), so a variable a notebook left behind is gone;
what survives are imported modules and the read-only Dataset cache, which are the same for
every report. A notebook that failed or timed out gets a restarted kernel, never a half-run one.

:class:`KernelPool` holds one warm kernel per render worker (``render.render_all``).
"""

from __future__ import annotations

import logging
import os
import queue
import textwrap
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines

log = logging.getLogger(__name__)

#: papermill engine name of the warm-kernel engine
ENGINE = "b24reports_warm"
#: seconds for a kernel to start and answer
START_TIMEOUT = 120


class WarmEngine(NBClientEngine):
    """papermill engine: nbclient on the kernel manager ``km`` given by the caller (kept
    running after the notebook); its kernel client is closed when the notebook ends."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                 start_timeout=60, execution_timeout=None, **kwargs):
        km = kwargs.pop("km")
        client = PapermillNotebookClient(nb_man, km=km, timeout=execution_timeout, startup_timeout=start_timeout,
                                         kernel_name=kernel_name, log=log, log_output=log_output,
                                         stdout_file=stdout_file, stderr_file=stderr_file)
        try:
            return client.execute()
        finally:
            if client.kc is not None:
                client.kc.stop_channels()


papermill_engines.register(ENGINE, WarmEngine)


def _warm_up_code(store: Path | None) -> str:
    code = """
        import importlib
        import pandas, plotly.io, plotly.graph_objects
        import b24reports.outputs.nb, b24reports.reports, b24reports.views.common
        for _spec in b24reports.reports.all_reports():  # each notebook imports its report's views
            try:
                importlib.import_module("b24reports.views." + _spec.name)
            except ImportError:
                pass
        # plotly builds its property validators on first use (~1 s): build one figure of each
        # trace type the reports draw, with the report template, and serialize it
        b24reports.outputs.nb.setup_plotly()
        _fig = plotly.graph_objects.Figure([plotly.graph_objects.Bar(x=[1], y=[1]), plotly.graph_objects.Scatter(x=[1], y=[1]),
                                            plotly.graph_objects.Heatmap(z=[[1]]), plotly.graph_objects.Funnel(x=[1], y=["a"]),
                                            plotly.graph_objects.Waterfall(x=["a"], y=[1]), plotly.graph_objects.Pie(values=[1])])
        _fig.update_layout(title="warm-up", legend={"orientation": "h"})
        plotly.io.to_html(_fig, include_plotlyjs=False, full_html=False)
    """
    if store is not None:
        code += f"""
        b24reports.outputs.nb.load_dataset({str(store)!r})
    """
    return textwrap.dedent(code)


#: Clears the user namespace (variables, imported names, ``In``/``Out``) between notebooks.
RESET_CODE = "get_ipython().reset(new_session=False, aggressive=False)"


class WarmKernel:
    """One started kernel that has imported b24reports (and loaded ``store``'s Dataset).

    Args:
        kernel_name: the Jupyter kernel (``python3``).
        store: a DuckDB store to load while warming up (None: load on first use).
        env: environment of the kernel process (default this process's); either way without
            its secrets (``kernel_env.kernel_env``: no webhook, client secret or token).

    Raises:
        RuntimeError: the kernel did not start or its warm-up failed (the message names the
            error the kernel raised).
    """

    def __init__(self, kernel_name: str = "python3", store: str | os.PathLike | None = None,
                 env: Mapping[str, str] | None = None):
        from jupyter_client import KernelManager

        self.kernel_name = kernel_name
        self.store = Path(store).resolve() if store is not None else None
        from b24reports.outputs.kernel_env import kernel_env

        self.env = kernel_env(env if env is not None else os.environ)
        self.km = KernelManager(kernel_name=kernel_name)
        self.kc: Any = None  # this object's own client (warm-up and resets), kept open
        self.runs = 0
        self._start()

    def _start(self) -> None:
        from jupyter_client.session import Session

        self.km.start_kernel(env=self.env, cwd=os.getcwd(), extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        # a session of its own: a client's shell socket is known to the kernel by its session
        # id, and papermill's client (km.client()) shares the manager's, so replies to this
        # client would go to papermill's socket once that one connected
        self.kc = self.km.client(session=Session(key=self.km.session.key,
                                                 signature_scheme=self.km.session.signature_scheme))
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=START_TIMEOUT)
        self._execute(_warm_up_code(self.store))

    def _execute(self, code: str) -> None:
        """Run ``code`` in the kernel and wait for it; RuntimeError with the kernel's error."""
        # this client hears every notebook's output on iopub meanwhile: drop that backlog first,
        # or a full queue could swallow the replies to this request
        while True:
            try:
                self.kc.get_iopub_msg(timeout=0)
            except queue.Empty:
                break
        reply = self.kc.execute_interactive(code, timeout=START_TIMEOUT, output_hook=lambda _msg: None,
                                            allow_stdin=False)
        if reply["content"].get("status") != "ok":
            c = reply["content"]
            raise RuntimeError(f"kernel warm-up failed: {c.get('ename')}: {c.get('evalue')}")

    def execute_notebook(self, input_path: str, output_path: str, parameters: Mapping[str, Any], *,
                         execution_timeout: int | None = None) -> Any:
        """Run one notebook with ``parameters`` (papermill) on this kernel after clearing the
        user namespace; returns papermill's executed notebook. Errors are papermill's
        (``PapermillExecutionError``); after any error the kernel is restarted and warmed up
        again, so the next notebook starts clean."""
        import papermill as pm

        self._execute(RESET_CODE)
        try:
            nb = pm.execute_notebook(input_path, output_path, parameters=dict(parameters), engine_name=ENGINE,
                                     km=self.km, kernel_name=self.kernel_name, progress_bar=False,
                                     log_output=False, execution_timeout=execution_timeout, report_mode=False,
                                     request_save_on_cell_execute=False)  # one write at the end, not one per cell
        except BaseException:
            self.restart()
            raise
        self.runs += 1
        return nb

    def restart(self) -> None:
        """Replace the kernel process with a fresh, warmed-up one."""
        from jupyter_client import KernelManager

        self._close_client()
        try:
            self.km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 - a dead kernel is what we are replacing
            pass
        self.km = KernelManager(kernel_name=self.kernel_name)  # the old one's sockets are closed
        self._start()

    def _close_client(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None

    def shutdown(self) -> None:
        """Stop the kernel process."""
        self._close_client()
        if self.km.has_kernel:
            self.km.shutdown_kernel(now=True)


class KernelPool:
    """``size`` warm kernels handed out one at a time (:meth:`kernel`), started together in
    the background so the first report does not wait for the last kernel. Use as a context
    manager; leaving it shuts every kernel down."""

    def __init__(self, size: int, kernel_name: str = "python3", store: str | os.PathLike | None = None,
                 env: Mapping[str, str] | None = None):
        self.size = max(1, int(size))
        self._free: queue.Queue[WarmKernel | BaseException] = queue.Queue()
        self._all: list[WarmKernel] = []
        self._lock = threading.Lock()
        args = (kernel_name, store, env)
        self._threads = [threading.Thread(target=self._start_one, args=args, daemon=True) for _ in range(self.size)]
        for th in self._threads:
            th.start()

    def _start_one(self, kernel_name, store, env) -> None:
        try:
            k = WarmKernel(kernel_name, store, env)
        except BaseException as e:  # handed to the first taker
            self._free.put(e)
            return
        with self._lock:
            self._all.append(k)
        self._free.put(k)

    @contextmanager
    def kernel(self) -> Iterator[WarmKernel]:
        """A warm kernel for the caller's exclusive use until the block ends."""
        k = self._free.get()
        if isinstance(k, BaseException):
            self._free.put(k)
            raise RuntimeError(f"no render kernel could start: {k}") from k
        try:
            yield k
        finally:
            self._free.put(k)

    def execute_notebook(self, input_path: str, output_path: str, parameters: Mapping[str, Any], *,
                         execution_timeout: int | None = None) -> Any:
        """:meth:`WarmKernel.execute_notebook` on the next free kernel (waits for one)."""
        with self.kernel() as k:
            return k.execute_notebook(input_path, output_path, parameters, execution_timeout=execution_timeout)

    def close(self) -> None:
        for th in self._threads:
            th.join(timeout=START_TIMEOUT)
        with self._lock:
            kernels, self._all = self._all, []
        for k in kernels:
            try:
                k.shutdown()
            except Exception:  # noqa: BLE001 - best effort at the end of a run
                log.debug("kernel shutdown failed", exc_info=True)

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
