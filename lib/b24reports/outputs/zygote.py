"""The fork server ("zygote") of ``b24reports serve``: dashboard kernels share the store's data.

One process imports what a dashboard kernel needs (ipykernel, pandas, plotly, ipywidgets, every
report's metrics and views), loads the store's :class:`~b24reports.ingest.dataset.Dataset`
through :func:`b24reports.outputs.nb.load_dataset` and computes each report once with the
server's parameters (the facts every filter shares, ``Dataset.memo``; plotly's validators).
Then ``gc.collect(); gc.freeze()`` and it waits on a unix socket. Voila's kernels are forked
from it (:mod:`b24reports.outputs.forking` asks for them): a kernel is ready in a fraction of a
second and its pages stay shared with the zygote's until it writes to them (copy-on-write), so
an extra viewer costs its own results, not another copy of the store.

Protocol: one JSON line per connection, answered by one JSON line.

* ``{"op": "fork", "argv": [...], "env": {...}, "cwd": "..."}``: ``argv`` are the arguments of
  ``ipykernel_launcher`` (``["-f", "/…/kernel-<id>.json"]``), ``env`` the kernel's whole
  environment (secrets already cut by ``kernel_env``), ``cwd`` its directory. Answer
  ``{"pid": N}``: the child calls ``setsid``, resets signal handlers, closes the zygote's
  socket, takes ``env`` as its ``os.environ`` and becomes an ``IPKernelApp`` (zmq context and
  event loop made in the child; none exists in the zygote).
* ``{"op": "status"}``: ``{"pid", "ready", "loads", "dataset_id", "threads", "children",
  "store_key"}`` (``loads``: Dataset loads in this process, ``nb.LOADS``; ``dataset_id``:
  ``id()`` of the Dataset a forked kernel inherits; ``threads``: OS threads of the zygote,
  1 before every fork).

Requests wait in the socket's backlog while the zygote starts; between the reports it warms it
answers the waiting ones, so the first viewer after start is not held up by the other reports.

The store changes with each sync: the zygote notices a new size or modification time once the
file has kept it for :data:`SETTLE_S` seconds, loads the store again and warms again (a store it
cannot read then, e.g. locked by a sync, keeps the old Dataset and is tried again after
:data:`RETRY_S` s). A kernel
forked in between inherits the old Dataset under the old key, so ``nb.load_dataset`` in it loads
the new file itself, as a kernel without the zygote would.

Threads: none may run at a fork. DuckDB's threads end with its connection (``Dataset.load``
closes it before returning); BLAS and OpenMP pools are pinned to one thread
(:data:`THREAD_ENV`, set before numpy is imported). The zygote ends when its parent (Voila)
does (``PR_SET_PDEATHSIG`` and a parent check every second), and then ends the kernels it
forked that are still running.

``render_all`` (snapshots) starts one too, ``--for render``: the same imports and store, and as
warm-up only plotly's validators (``nb.warm_plotly``), done before any kernel is forked: its
kernels compute each report with that render's own parameters, which no warm-up can know.

Run as ``python -m b24reports.outputs.zygote --socket PATH [--for dashboard|render]`` with
``B24REPORTS_STORE`` (and optionally ``B24REPORTS_DASHBOARD_PARAMS``) in the environment.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import selectors
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

#: Environment of the zygote: native thread pools of one thread (a pool thread does not survive
#: a fork, and a kernel computes one report at a time anyway).
THREAD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1", "NUMEXPR_MAX_THREADS": "1"}
#: Seconds a changed store must stay unchanged before the zygote loads it again (a sync writes
#: it many times).
SETTLE_S = 3.0
#: Process name (``/proc/PID/comm``, ``ps -o comm``, ``psutil.Process.name()``) of a forked kernel:
#: its command line is the zygote's, this tells them apart.
KERNEL_PROCESS_NAME = "b24r-kernel"
#: Seconds before the zygote tries again to load a changed store it could not read.
RETRY_S = 30.0
#: What the kernels are for: ``dashboard`` (Voila's, ``serve``) or ``render`` (``render_all``'s).
PURPOSES = ("dashboard", "render")
#: Seconds the zygote's end waits for its kernels to end after SIGTERM, before SIGKILL.
END_WAIT_S = 3.0
#: Largest request line, bytes (a kernel's environment).
MAX_REQUEST = 1 << 20


#: Whether progress lines are logged (a dashboard server's log: yes; a render: only problems).
PROGRESS_LOG = True


def _log(msg: str, progress: bool = False) -> None:
    """One line on stderr; a ``progress`` line only when :data:`PROGRESS_LOG`."""
    if progress and not PROGRESS_LOG:
        return
    print(f"[b24reports zygote {os.getpid()}] {msg}", file=sys.stderr, flush=True)


def os_threads() -> int:
    """Threads of this process as the kernel sees them (``/proc/self/task``)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # pragma: no cover - Linux only
        return 1


def _prctl(option: int, arg: Any) -> None:
    """Linux ``prctl(option, arg)``; nothing elsewhere or on failure."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, arg)
    except Exception:  # noqa: BLE001 - an optional nicety on every caller's side
        pass


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM when the parent ends (the loop's parent check also ends it)."""
    _prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def store_key(store: str) -> tuple[str, int, int] | None:
    """``(real path, size, mtime_ns)`` of the store, the key of ``nb.load_dataset``; ``None``
    when it cannot be read."""
    path = os.path.realpath(store)
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path, st.st_size, st.st_mtime_ns)


def after_kernel_init() -> None:
    """In a forked kernel, once its shell exists: what importing these modules inside a kernel
    does, which their import in the zygote (outside any IPython) could not: ipywidgets registers
    its comm targets (without them a page that connects late finds no widget: "model not found"),
    plotly picks the kernel's renderer."""
    import ipywidgets
    import plotly.io as pio

    ipywidgets.register_comm_target()
    if not os.environ.get("PLOTLY_RENDERER"):
        pio.renderers.default = "plotly_mimetype"


class Zygote:
    """The fork server: ``socket_path`` (created 0600 in an owner-only directory), ``store``
    (the DuckDB file). :meth:`serve_forever` until SIGTERM or the parent's end."""

    def __init__(self, socket_path: str | os.PathLike, store: str, purpose: str = "dashboard"):
        if purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {PURPOSES}, not {purpose!r}")
        self.socket_path, self.store, self.purpose = str(socket_path), store, purpose
        self.parent = os.getppid()
        self.children: set[int] = set()
        self.ready = False
        self.dataset: Any = None
        self.key: tuple[str, int, int] | None = None
        self._stop = False
        self._sel: selectors.BaseSelector | None = None
        old = os.umask(0o077)
        try:
            if os.path.exists(self.socket_path):
                os.unlink(self.socket_path)
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(self.socket_path)
        finally:
            os.umask(old)
        os.chmod(self.socket_path, 0o600)
        self.listener.listen(64)  # requests wait here while the zygote starts

    # ---------------------------------------------------------------- preparing

    def preload(self) -> None:
        """Import the kernel's stack (no zmq context, no event loop, no thread is made)."""
        t = time.monotonic()
        from b24reports.outputs.lean import skip_iri_grammar

        skip_iri_grammar()  # before plotly.io's renderers import nbformat -> jsonschema (lean.py)
        import ipykernel.ipkernel  # noqa: F401
        import ipykernel.kernelapp  # noqa: F401
        import ipykernel.zmqshell  # noqa: F401
        import ipywidgets  # noqa: F401
        import pandas  # noqa: F401
        import plotly.graph_objects  # noqa: F401
        import plotly.io as pio

        pio.renderers  # noqa: B018 - its lazy import (nbformat, jsonschema) is the kernel's biggest

        from b24reports import reports
        from b24reports.outputs import dashboard, nb  # noqa: F401

        import importlib
        import importlib.util

        for spec in reports.all_reports():
            # a report added through B24REPORTS_EXTRA_SPECS may keep its views elsewhere: nothing
            # to import here (importing a missing module ended the zygote, and with it every kernel)
            name = f"b24reports.views.{spec.name}"
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
        _log(f"imports {time.monotonic() - t:.1f} s", progress=True)

    def load(self) -> bool:
        """Load the store (``nb.load_dataset``); False when it cannot be read now."""
        from b24reports.outputs import nb

        key = store_key(self.store)
        t = time.monotonic()
        try:
            self.dataset = nb.load_dataset(self.store)
        except Exception as e:  # noqa: BLE001 - kernels then load it themselves and show the error
            _log(f"store not loaded ({type(e).__name__}): kernels load it themselves")
            return False
        self.key = key
        _log(f"store loaded in {time.monotonic() - t:.1f} s", progress=True)
        return True

    def warm_steps(self) -> list[Any]:
        """For dashboards, one step per report: compute it once with the server's parameters
        (``dashboard.warm``). For render, whose kernels compute each report with that render's
        parameters, one step: plotly's validators (``nb.warm_plotly``)."""
        from b24reports import reports
        from b24reports.outputs import dashboard, nb

        if self.purpose == "render":
            return [nb.warm_plotly]

        def step(spec: Any) -> Any:
            return lambda: dashboard.warm(spec, self.dataset, dashboard.server_params(spec))

        return [step(s) for s in reports.all_reports()]

    def freeze(self) -> None:
        """Move every object to the permanent generation: a kernel's garbage collections then
        never write to the pages it shares with the zygote."""
        gc.collect()
        gc.freeze()

    # ---------------------------------------------------------------- serving

    def reap(self) -> None:
        """Collect the exit of every ended kernel (they are the zygote's children)."""
        while self.children:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.discard(pid)

    def _read(self, conn: socket.socket) -> dict[str, Any]:
        conn.settimeout(10)
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
            if len(buf) > MAX_REQUEST:
                raise ValueError("request too long")
        return json.loads(buf or b"{}")

    def status(self) -> dict[str, Any]:
        from b24reports.outputs import nb

        return {"pid": os.getpid(), "ready": self.ready, "loads": nb.LOADS, "threads": os_threads(),
                "dataset_id": id(self.dataset) if self.dataset is not None else None,
                "children": sorted(self.children), "store_key": list(self.key) if self.key else None}

    def handle(self, conn: socket.socket) -> None:
        """Answer one request (see module doc); errors are answered, never raised."""
        with conn:
            try:
                req = self._read(conn)
                if req.get("op") == "status":
                    conn.sendall(json.dumps(self.status()).encode() + b"\n")
                    return
                if req.get("op") != "fork":
                    raise ValueError(f"unknown op {req.get('op')!r}")
                pid = self.fork(req, conn)
                conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
            except Exception as e:  # noqa: BLE001 - the asker falls back to a normal kernel start
                try:
                    conn.sendall(json.dumps({"error": f"{type(e).__name__}: {e}"}).encode() + b"\n")
                except OSError:
                    pass

    def fork(self, req: dict[str, Any], conn: socket.socket | None = None) -> int:
        """Fork a kernel for request ``req`` (asked on ``conn``, which the kernel closes); returns
        its pid (in the zygote only)."""
        argv, env, cwd = list(req["argv"]), dict(req["env"]), req.get("cwd") or os.getcwd()
        threads = os_threads()
        if threads != 1:
            _log(f"{threads} threads at fork (expected 1)")
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # the kernel
            code = 1
            try:
                if conn is not None:
                    conn.close()
                self._become_kernel(argv, env, cwd)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 0
            except BaseException:  # noqa: BLE001
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        self.children.add(pid)
        return pid

    def _become_kernel(self, argv: list[str], env: dict[str, str], cwd: str) -> None:
        os.setsid()
        _prctl(15, KERNEL_PROCESS_NAME.encode())  # PR_SET_NAME
        self.listener.close()
        if self._sel is not None:
            self._sel.close()
        for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        env.pop("JPY_PARENT_PID", None)  # its parent is the zygote: no parent poller
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        sys.argv = [sys.executable, "-m", "ipykernel_launcher", *argv]
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        app.initialize(argv)
        after_kernel_init()
        app.start()

    def _pending(self, sel: selectors.BaseSelector, timeout: float) -> bool:
        return bool(sel.select(timeout))

    def serve_forever(self) -> None:
        """Prepare (imports, store, warm-up; waiting requests are answered between the reports),
        then answer requests until SIGTERM or the parent's end; then end the running kernels."""
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in serve's terminal: Voila decides
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select; reaped in the loop
        sel = self._sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ)
        try:
            self.preload()
            steps = self.warm_steps() if self.load() else []
            self.ready = True
            self.freeze()
            t = time.monotonic()
            for step in steps:
                # a viewer waits: serve them before warming on (render's kernels all want the
                # warm state, which is one short step: they wait for it)
                while self.purpose == "dashboard" and self._pending(sel, 0):
                    self.handle(self.listener.accept()[0])
                step()
                self.freeze()
            _log(f"warm in {time.monotonic() - t:.1f} s, {os_threads()} thread(s); serving", progress=True)
            seen: tuple[str, int, int] | None = None  # a new state of the store, and since when
            seen_at = retry_at = 0.0
            while not self._stop:
                if self._pending(sel, 1.0):
                    self.handle(self.listener.accept()[0])
                self.reap()
                if os.getppid() != self.parent:
                    break
                key, now = store_key(self.store), time.monotonic()
                if key is None or key == self.key:
                    seen = None
                elif key != seen:
                    seen, seen_at = key, now
                elif now - seen_at >= SETTLE_S and now >= retry_at:
                    _log("the store changed: loading it again", progress=True)
                    if self.load():
                        for step in self.warm_steps():
                            while self._pending(sel, 0):
                                self.handle(self.listener.accept()[0])
                            step()
                    else:
                        retry_at = now + RETRY_S  # locked by a sync, say: kernels load it meanwhile
                    self.freeze()
        finally:
            self.close()

    def _on_term(self, _signum: int, _frame: Any) -> None:
        self._stop = True
        raise SystemExit(0)

    def close(self) -> None:
        """Remove the socket and end the kernels this zygote forked that still run: SIGTERM, then
        up to :data:`END_WAIT_S` s for them to end (reaped, so that their CPU time counts in the
        zygote's children, as a kernel's started the normal way does for its parent), then SIGKILL."""
        try:
            self.listener.close()
            os.unlink(self.socket_path)
        except OSError:
            pass
        for pid in list(self.children):
            try:
                os.killpg(pid, signal.SIGTERM)
            except OSError:
                pass
        deadline = time.monotonic() + END_WAIT_S
        while self.children and time.monotonic() < deadline:
            self.reap()
            if self.children:
                time.sleep(0.05)
        for pid in list(self.children):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m b24reports.outputs.zygote")
    ap.add_argument("--socket", required=True, help="unix socket path (its directory should be 0700)")
    ap.add_argument("--for", dest="purpose", choices=PURPOSES, default="dashboard",
                    help="what the kernels are for: what to warm up (default dashboard)")
    a = ap.parse_args(argv)
    store = os.environ.get("B24REPORTS_STORE")
    if not store:
        _log("B24REPORTS_STORE is not set")
        return 2
    global PROGRESS_LOG
    PROGRESS_LOG = a.purpose == "dashboard"
    _die_with_parent()
    Path(a.socket).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        Zygote(a.socket, store, a.purpose).serve_forever()
    except SystemExit as e:
        return int(e.code or 0)
    return 0


if __name__ == "__main__":
    for _k, _v in THREAD_ENV.items():  # before numpy is imported
        os.environ.setdefault(_k, _v)
    sys.exit(main())
