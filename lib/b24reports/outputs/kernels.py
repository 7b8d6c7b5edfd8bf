"""Warm notebook kernels for snapshot renders: start, import and load the store once per worker.

Rendering a report's HTML runs its notebook with papermill. With a fresh kernel per report,
most of a render is fixed cost: starting the kernel, importing pandas/plotly/b24reports, loading
the store (docs/benchmarks.md "Snapshots"). A :class:`WarmKernel` pays it once: it starts one
``jupyter_client`` kernel, imports the package and loads the store's Dataset (kept by
``nb.load_dataset``), then runs any number of report notebooks, one after another, through
papermill's engine ``b24reports_warm`` (the stock nbclient engine on a kernel it does not own).

State does not leak from one report into the next: the kernel's user namespace is reset
(``InteractiveShell.reset``) right after the warm-up and after each notebook, and a notebook
starts only once that reset has answered, so a variable a notebook left behind is gone;
what survives are imported modules and the read-only Dataset cache, which are the same for
every report. A notebook that failed or timed out gets a restarted kernel, never a half-run one.

Clients and zmq contexts: each warm kernel keeps two clients for its whole life (one for the
notebooks, handed to nbclient so that it starts none of its own: a client per notebook cost
~0.2 s in ``wait_for_ready``; one, shell-only, for the warm-up and the resets). Every kernel
manager and client of the warm kernels uses one zmq context that its owner made (the
:class:`KernelPool`'s, or a lone :class:`WarmKernel`'s own) and ends with ``destroy(linger=0)``
on close, after stopping the channels. No context is left to the garbage collector, whose
``term()`` of a context with a socket still open elsewhere can block forever (it hung a test
once, when every client made a context of its own). A kernel whose start or warm-up failed
stops its channels and its process before the error is raised.

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

log = logging.getLogger(__name__)

#: papermill engine name of the warm-kernel engine
ENGINE = "b24reports_warm"
#: seconds for a kernel to start and answer
START_TIMEOUT = 120

_ENGINE_LOCK = threading.Lock()
_ENGINE_REGISTERED = False


def register_engine() -> None:
    """Register papermill engine :data:`ENGINE` (once). papermill is imported here, not with
    this module, so that ``render_all`` starts its kernels first: papermill's import (nbformat,
    jsonschema) takes 0.7 s of this process, 4 s on a loaded machine."""
    global _ENGINE_REGISTERED
    with _ENGINE_LOCK:
        if _ENGINE_REGISTERED:
            return
        from b24reports.outputs.lean import skip_iri_grammar

        skip_iri_grammar()  # papermill -> nbformat -> jsonschema: no grammar compiled here either
        from papermill.clientwrap import PapermillNotebookClient
        from papermill.engines import NBClientEngine, papermill_engines

        class WarmEngine(NBClientEngine):
            """papermill engine: nbclient on the kernel manager ``km`` and the started kernel
            client ``kc`` given by the caller, both kept open after the notebook (the caller owns
            them). Should nbclient replace ``kc`` by a client of its own, that one is stopped here."""

            @classmethod
            def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None, stderr_file=None,
                                         start_timeout=60, execution_timeout=None, **kwargs):
                km, kc = kwargs.pop("km"), kwargs.pop("kc")
                client = PapermillNotebookClient(nb_man, km=km, timeout=execution_timeout, startup_timeout=start_timeout,
                                                 kernel_name=kernel_name, log=log, log_output=log_output,
                                                 stdout_file=stdout_file, stderr_file=stderr_file)
                client.kc = kc  # nbclient starts no client when it has one, and stops none of a km it does not own
                try:
                    return client.execute()
                finally:
                    if client.kc is not None and client.kc is not kc:
                        _stop_client(client.kc)

        papermill_engines.register(ENGINE, WarmEngine)
        _ENGINE_REGISTERED = True


def _stop_client(kc: Any) -> None:
    """Stop a kernel client's channels (closing their sockets); best effort."""
    try:
        kc.stop_channels()
    except Exception:  # noqa: BLE001 - closing what may already be half gone
        log.debug("stopping a kernel client failed", exc_info=True)


def _warm_up_code(store: Path | None, plotlyjs_at_export: bool = False) -> str:
    code = """
        # plotly.io imports nbformat -> jsonschema -> an IRI grammar nothing here needs (lean.py)
        import b24reports.outputs.lean
        b24reports.outputs.lean.skip_iri_grammar()
        import importlib
        import pandas, plotly.io, plotly.graph_objects
        import b24reports.outputs.nb, b24reports.reports, b24reports.views.common
        for _spec in b24reports.reports.all_reports():  # each notebook imports its report's views
            try:
                importlib.import_module("b24reports.views." + _spec.name)
            except ImportError:
                pass
        b24reports.outputs.nb.warm_plotly()  # plotly's validators, built on first use (~1 s)
    """
    if store is not None:
        code += f"""
        b24reports.outputs.nb.load_dataset({str(store)!r})
    """
    if plotlyjs_at_export:  # before the renderer is first activated (a notebook's first figure)
        code += """
        import os
        os.environ[b24reports.outputs.nb.PLOTLYJS_AT_EXPORT_ENV] = "1"
    """
    # what the warm-up made lives as long as the kernel: out of the collector's sight, the full
    # collection that ends each namespace reset (IPython's displayhook.flush) walks only what
    # a notebook made (CPython's gc.freeze)
    code += """
        import gc
        gc.collect()
        gc.freeze()
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
        context: the zmq context of its manager and clients, owned by the caller (a
            :class:`KernelPool`), who destroys it; None: the kernel makes one and destroys it
            in :meth:`shutdown`.
        plotlyjs_at_export: notebooks hold ``nb.PLOTLYJS_MARKER`` instead of plotly.js, which
            ``render.html.notebook_to_html`` writes into the page (``render_all`` sets it).
        kernel_dirs: directories of kernelspecs to find ``kernel_name`` in (None: Jupyter's);
            ``render_all`` names the forked kernel's (``forking.write_kernelspec``) there.

    Raises:
        RuntimeError: the kernel did not start or its warm-up failed (the message names the
            error the kernel raised); its channels and process are stopped first.
        TimeoutError: the kernel did not answer within :data:`START_TIMEOUT` s.
    """

    def __init__(self, kernel_name: str = "python3", store: str | os.PathLike | None = None,
                 env: Mapping[str, str] | None = None, *, context: Any = None, plotlyjs_at_export: bool = False,
                 kernel_dirs: list[str] | None = None):
        import zmq

        from b24reports.outputs.kernel_env import kernel_env

        self.kernel_name = kernel_name
        self.kernel_dirs = list(kernel_dirs) if kernel_dirs else None
        self.store = Path(store).resolve() if store is not None else None
        self.env = kernel_env(env if env is not None else os.environ)
        self.plotlyjs_at_export = plotlyjs_at_export
        self._own_context = context is None
        self.context = zmq.Context() if context is None else context
        self.km: Any = None
        self.nb_kc: Any = None  # the notebooks' client (given to nbclient), kept open
        self.kc: Any = None  # this object's own client (warm-up and resets; shell channel only), kept open
        self._reset: str | None = None  # id of a namespace reset sent and not yet waited for
        self.runs = 0
        try:
            self._start()
        except BaseException:
            self.shutdown()
            raise

    def _start(self) -> None:
        from jupyter_client import KernelManager
        from jupyter_client.session import Session

        extra: dict[str, Any] = {}
        if self.kernel_dirs:  # kernelspecs of our own (render's forked kernels: forking.write_kernelspec)
            from jupyter_client.kernelspec import KernelSpecManager

            extra["kernel_spec_manager"] = KernelSpecManager(kernel_dirs=self.kernel_dirs)
        self.km = KernelManager(kernel_name=self.kernel_name, context=self.context, **extra)
        self.km.start_kernel(env=self.env, cwd=os.getcwd(), extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        # what nbclient would start per notebook, started once; nbclient uses shell and iopub only
        self.nb_kc = self.km.client(context=self.context)
        self.nb_kc.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        self.nb_kc.wait_for_ready(timeout=START_TIMEOUT)
        self.nb_kc.allow_stdin = False
        # a session of its own: a client's shell socket is known to the kernel by its session
        # id, and the notebooks' client shares the manager's, so replies to this client would
        # go to that one's socket. No iopub channel: it would receive (and have to drop) every
        # notebook's output, 5 MB a report
        self.kc = self.km.client(session=Session(key=self.km.session.key,
                                                 signature_scheme=self.km.session.signature_scheme),
                                 context=self.context)
        self.kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        self._execute(_warm_up_code(self.store, self.plotlyjs_at_export))
        self._reset = self.kc.execute(RESET_CODE, silent=True, store_history=False, allow_stdin=False)

    def _execute(self, code: str) -> None:
        """Run ``code`` in the kernel (silently) and wait for it (:meth:`_wait`)."""
        self._wait(self.kc.execute(code, silent=True, store_history=False, allow_stdin=False))

    def _wait(self, msg_id: str) -> None:
        """Wait for the shell reply to request ``msg_id``; RuntimeError with the kernel's
        error; TimeoutError after :data:`START_TIMEOUT` s."""
        while True:
            try:
                reply = self.kc.get_shell_msg(timeout=START_TIMEOUT)
            except queue.Empty:
                raise TimeoutError(f"the render kernel did not answer within {START_TIMEOUT} s") from None
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        if reply["content"].get("status") != "ok":
            c = reply["content"]
            raise RuntimeError(f"kernel warm-up failed: {c.get('ename')}: {c.get('evalue')}")

    def execute_notebook(self, input_path: str, output_path: str, parameters: Mapping[str, Any], *,
                         execution_timeout: int | None = None) -> Any:
        """Run one notebook with ``parameters`` (papermill) on this kernel once the user
        namespace is cleared; returns papermill's executed notebook. Errors are papermill's
        (``PapermillExecutionError``); after any error the kernel is restarted and warmed up
        again, so the next notebook starts clean."""
        register_engine()  # first: it keeps jsonschema's IRI grammar out before papermill is imported
        import papermill as pm

        # the namespace was reset right after the previous notebook (or the warm-up), while
        # this process converted that one to HTML: IPython's reset ends in a gc.collect() over
        # the loaded store, ~0.1 s on the demo
        pending, self._reset = self._reset, None
        try:
            self._wait(pending) if pending is not None else self._execute(RESET_CODE)
        except (RuntimeError, TimeoutError):  # a namespace that could not be cleared: a fresh kernel
            self.restart()
            pending, self._reset = self._reset, None
            self._wait(pending)
        try:
            nb = pm.execute_notebook(input_path, output_path, parameters=dict(parameters), engine_name=ENGINE,
                                     km=self.km, kc=self.nb_kc, kernel_name=self.kernel_name, progress_bar=False,
                                     log_output=False, execution_timeout=execution_timeout, report_mode=False,
                                     request_save_on_cell_execute=False)  # one write at the end, not one per cell
        except BaseException:
            self.restart()
            raise
        self.runs += 1
        self._reset = self.kc.execute(RESET_CODE, silent=True, store_history=False, allow_stdin=False)
        return nb

    def restart(self) -> None:
        """Replace the kernel process with a fresh, warmed-up one (same zmq context)."""
        self._stop_kernel()
        self._start()

    def _stop_kernel(self) -> None:
        """Stop both clients' channels and the kernel process (the context stays)."""
        for kc in (self.kc, self.nb_kc):
            if kc is not None:
                _stop_client(kc)
        self.kc = self.nb_kc = self._reset = None
        if self.km is not None:
            try:
                if self.km.has_kernel:
                    self.km.shutdown_kernel(now=True)
                else:
                    self.km.cleanup_resources()
            except Exception:  # noqa: BLE001 - a dead kernel is what we are replacing
                log.debug("kernel shutdown failed", exc_info=True)
            self.km = None

    def shutdown(self) -> None:
        """Stop the kernel process and its clients; destroy the zmq context if it is this
        kernel's own. Safe to call twice."""
        self._stop_kernel()
        if self._own_context and not self.context.closed:
            self.context.destroy(linger=0)


#: contexts of pools closed while a kernel was still starting (see :meth:`KernelPool.close`)
_STARTING_CONTEXTS: list[Any] = []


class KernelPool:
    """``size`` warm kernels handed out one at a time (:meth:`kernel`), started together in
    the background so the first report does not wait for the last kernel. Use as a context
    manager; leaving it shuts every kernel down and destroys the one zmq context
    (:attr:`context`) that all of them used. ``plotlyjs_at_export``, ``kernel_dirs``: as
    :class:`WarmKernel`'s."""

    def __init__(self, size: int, kernel_name: str = "python3", store: str | os.PathLike | None = None,
                 env: Mapping[str, str] | None = None, *, plotlyjs_at_export: bool = False,
                 kernel_dirs: list[str] | None = None):
        import zmq

        # imported here, before the threads below start kernels at once: two threads importing
        # jupyter_client's manager and provisioning modules (which import each other) for the
        # first time can see one half-initialized ("cannot import name 'AsyncKernelManager'")
        import jupyter_client.manager  # noqa: F401
        import jupyter_client.provisioning  # noqa: F401

        self.size = max(1, int(size))
        self.context = zmq.Context()
        self._free: queue.Queue[WarmKernel | BaseException] = queue.Queue()
        self._all: list[WarmKernel] = []
        self._lock = threading.Lock()
        args = (kernel_name, store, env, plotlyjs_at_export, kernel_dirs)
        self._threads = [threading.Thread(target=self._start_one, args=args, daemon=True) for _ in range(self.size)]
        for th in self._threads:
            th.start()

    def _start_one(self, kernel_name, store, env, plotlyjs_at_export, kernel_dirs) -> None:
        try:
            k = WarmKernel(kernel_name, store, env, context=self.context, plotlyjs_at_export=plotlyjs_at_export,
                           kernel_dirs=kernel_dirs)
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
        """Shut every kernel down, then destroy the pool's zmq context (all sockets closed,
        linger 0). Safe to call twice."""
        for th in self._threads:
            th.join(timeout=START_TIMEOUT)
        with self._lock:
            kernels, self._all = self._all, []
        def end(k: WarmKernel) -> None:
            try:
                k.shutdown()
            except Exception:  # noqa: BLE001 - best effort at the end of a run
                log.debug("kernel shutdown failed", exc_info=True)

        # at once: each shutdown waits for its process to end (jupyter_client polls every 0.1 s)
        enders = [threading.Thread(target=end, args=(k,)) for k in kernels]
        for th in enders:
            th.start()
        for th in enders:
            th.join()
        if any(th.is_alive() for th in self._threads):
            # a kernel still starting uses the context from its thread: closing its sockets
            # from here is unsafe; keep the context referenced so no garbage collector ends it
            log.warning("a render kernel is still starting after %s s; its zmq context is left open", START_TIMEOUT)
            _STARTING_CONTEXTS.append(self.context)
        elif not self.context.closed:
            self.context.destroy(linger=0)

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
