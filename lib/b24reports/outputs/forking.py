"""Voila's side of the zygote (:mod:`b24reports.outputs.zygote`): kernels forked, pool refills
that wait for an idle machine.

``b24reports serve`` (``fork=True``, the default) runs Voila with :data:`VOILA_FLAG`, puts the
zygote's socket path in :data:`SOCKET_ENV` and writes the kernelspec :data:`KERNEL_NAME`
(:func:`write_kernelspec`) into its temporary ``JUPYTER_PATH``:

* :class:`ForkingKernelManager` (``SecretFreeKernelManager`` of :mod:`kernel_env`, so every
  kernel still starts without the server's secrets) starts the zygote when Voila starts it,
  with the cut environment and :data:`zygote.THREAD_ENV`; every dashboard kernel is started
  with the kernelspec :data:`KERNEL_NAME` instead of the notebook's ``python3``.
* That kernelspec names the kernel provisioner :data:`PROVISIONER` (entry point
  ``jupyter_client.kernel_provisioners`` in pyproject.toml), :class:`ForkProvisioner`: it sends
  the kernel's arguments, environment and directory to the zygote and gets the pid of the
  forked kernel; ``poll``/``wait``/``send_signal``/``kill``/``terminate`` act on that pid (not a
  child of Voila: a pidfd says when it ended; the zygote reaps it). When the zygote cannot be
  reached (it died, or does not answer within :data:`FORK_TIMEOUT_S`), the kernel starts the
  normal way (``LocalProvisioner``) with a warning in Voila's log: never a broken page.
* **Warming never starves a viewer.** A preheated pool kernel (``VOILA_PREHEAT=True``) starts
  only when the machine is idle (:func:`cpu_busy` below :data:`IDLE_CPU` in every half second
  of the last :data:`IDLE_FOR_S` s: a lull between a viewer's first paint and their first click
  is not idle) or after :data:`POOL_MAX_WAIT_S`, and at least :data:`POOL_SPACING_S` after the
  previous pool start either way; the pool refills at once (``fill_delay`` 0) but through that gate. A
  viewer who takes a pool kernel still waiting at the gate starts it at once, and that kernel
  skips its warm-up (:data:`SKIP_WARM_ENV`): the viewer's own kernel comes first. A viewer
  whose report has no pool kernel yet gets a kernel of their own, which no gate holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from b24reports.outputs import kernel_env
from b24reports.outputs.kernel_env import SKIP_WARM_ENV
from b24reports.outputs.zygote import THREAD_ENV

#: Environment variable of the Voila process: the zygote's unix socket (unset: no zygote).
SOCKET_ENV = "B24REPORTS_ZYGOTE_SOCKET"
#: Name of the kernel provisioner (entry point) and of the kernelspec that selects it.
PROVISIONER = "b24reports-fork"
KERNEL_NAME = "b24reports-fork"
#: Voila's command-line flag for :class:`ForkingKernelManager` (instead of ``kernel_env.VOILA_FLAG``).
VOILA_FLAG = "--VoilaConfiguration.multi_kernel_manager_class=b24reports.outputs.forking.ForkingKernelManager"
#: Seconds a kernel start waits for the zygote's answer (it may still be loading the store).
FORK_TIMEOUT_S = 120.0
#: Seconds a kernel start waits for the zygote's socket to appear after the server started.
BIND_TIMEOUT_S = 15.0
#: Share of all CPUs busy (0..1) under which the machine counts as idle for a pool start.
IDLE_CPU = 0.5
#: Seconds the machine must have stayed idle for a pool start.
IDLE_FOR_S = 2.0
#: Seconds between two looks at the CPU while a pool kernel waits.
SAMPLE_S = 0.5
#: Seconds between two pool kernel starts (the previous one's notebook run shows in the CPU by then).
POOL_SPACING_S = 3.0
#: Seconds a pool kernel waits for an idle machine before it starts anyway.
POOL_MAX_WAIT_S = 120.0


def write_kernelspec(jupyter_path: Path, socket_path: str | os.PathLike) -> Path:
    """Write kernelspec :data:`KERNEL_NAME` under ``jupyter_path/kernels`` (the ``python3``
    command line of this interpreter, provisioner :data:`PROVISIONER` with ``socket_path``);
    returns its directory."""
    d = Path(jupyter_path) / "kernels" / KERNEL_NAME
    d.mkdir(parents=True, exist_ok=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (b24reports, forked)", "language": "python",
            "metadata": {"kernel_provisioner": {"provisioner_name": PROVISIONER,
                                                "config": {"socket_path": str(socket_path)}}}}
    (d / "kernel.json").write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return d


async def ask(socket_path: str, request: dict[str, Any], timeout: float = FORK_TIMEOUT_S) -> dict[str, Any]:
    """Send one request to the zygote at ``socket_path`` and return its answer (a dict).

    Raises ``OSError`` (no zygote: the socket is missing or refuses), ``TimeoutError`` (no
    answer within ``timeout`` s), ``RuntimeError`` (the zygote answered an error or nothing).
    """
    reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(socket_path), 5.0)
    try:
        writer.write(json.dumps(request).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
    if not line:
        raise RuntimeError("the zygote closed the connection without an answer")
    reply = json.loads(line)
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply


def cpu_times() -> tuple[int, int]:
    """``(busy, total)`` jiffies of all CPUs since boot (``/proc/stat``)."""
    with open("/proc/stat", encoding="ascii") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)  # idle + iowait
    total = sum(parts[:8])  # guest time is already counted in user
    return total - idle, total


def cpu_busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share (0..1) of all CPUs busy between two :func:`cpu_times` readings."""
    busy, total = after[0] - before[0], after[1] - before[1]
    return busy / total if total > 0 else 0.0


_ZYGOTE: subprocess.Popen[bytes] | None = None
_NOTEBOOK: contextvars.ContextVar[str | None] = contextvars.ContextVar("b24r_notebook", default=None)


def start_zygote(socket_path: str, env: dict[str, str] | None = None, purpose: str = "dashboard") -> subprocess.Popen[bytes]:
    """Start the zygote (``python -m b24reports.outputs.zygote``) with ``env`` (default this
    process's) cut by ``kernel_env.kernel_env`` plus :data:`zygote.THREAD_ENV`, in its own
    session; it ends with this process. ``purpose``: ``dashboard`` or ``render``
    (``zygote.PURPOSES``: what it warms up)."""
    global _ZYGOTE
    zenv = {**kernel_env.kernel_env(env if env is not None else os.environ), **THREAD_ENV}
    Path(socket_path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _ZYGOTE = subprocess.Popen([sys.executable, "-m", "b24reports.outputs.zygote", "--socket", str(socket_path),
                                "--for", purpose], env=zenv, start_new_session=True)
    return _ZYGOTE


def _provisioner_class() -> type:
    from jupyter_client.provisioning import LocalProvisioner
    from traitlets import Unicode

    class ForkProvisioner(LocalProvisioner):  # type: ignore[misc]
        """A kernel forked by the zygote at ``socket_path`` (else started as ``LocalProvisioner``
        does, with a warning). ``forked``: the kernel's pid when it was forked (kept after it
        ended; ``None``: started the normal way)."""

        socket_path = Unicode("", config=True, help="the zygote's unix socket")
        forked: int | None = None
        _pidfd: int | None = None
        _ended = False
        _waited = False

        @property
        def has_process(self) -> bool:
            return (self.forked is not None and not self._waited) or super().has_process

        async def _wait_for_socket(self, path: str) -> None:
            deadline = time.monotonic() + BIND_TIMEOUT_S
            while not os.path.exists(path) and time.monotonic() < deadline:
                if _ZYGOTE is not None and _ZYGOTE.poll() is not None:
                    break
                await asyncio.sleep(0.1)

        async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
            path = self.socket_path or os.environ.get(SOCKET_ENV, "")
            env = kernel_env.kernel_env(kwargs.get("env") or os.environ)  # whoever started it: no secrets
            cwd = str(kwargs.get("cwd") or os.getcwd())
            try:
                if not path:
                    raise RuntimeError("no zygote socket configured")
                if list(cmd[1:3]) != ["-m", "ipykernel_launcher"]:
                    raise RuntimeError(f"not an ipykernel command line: {cmd[:3]}")
                await self._wait_for_socket(path)
                reply = await ask(path, {"op": "fork", "argv": list(cmd[3:]), "env": env, "cwd": cwd})
                pid = int(reply["pid"])
            except Exception as e:  # noqa: BLE001 - any failure: the normal start
                if _ZYGOTE is not None:
                    _ZYGOTE.poll()  # a dead zygote is reaped, not left a zombie
                self.log.warning("b24reports: no kernel from the zygote (%s: %s): starting it the normal way",
                                 type(e).__name__, e)
                return await super().launch_kernel(cmd, **{**kwargs, "env": env})
            self.forked = self.pid = self.pgid = pid  # the kernel called setsid: its group is its pid
            self.cwd = cwd
            try:
                self._pidfd = os.pidfd_open(pid)
            except ProcessLookupError:
                self._ended = True
            self.log.info("b24reports: kernel %s forked from the zygote (pid %s)", self.kernel_id, pid)
            return self.connection_info

        def _running(self) -> bool:
            if self._ended:
                return False
            if self._pidfd is not None:
                # poll, not select: select() refuses a descriptor numbered 1024 or more, which a
                # server holding ~50 kernels' connections reaches; every page then failed (500)
                watch = select.poll()
                watch.register(self._pidfd, select.POLLIN)
                self._ended = bool(watch.poll(0))
            else:
                try:
                    os.kill(self.forked or 0, 0)
                except ProcessLookupError:
                    self._ended = True
                except PermissionError:
                    pass
            return not self._ended

        async def poll(self) -> int | None:
            if self.forked is None:
                return await super().poll()
            return None if self._running() else 0  # the zygote reaped it: the exit code is its own

        async def wait(self) -> int | None:
            if self.forked is None:
                return await super().wait()
            while self._running():
                await asyncio.sleep(0.1)
            self._close_pidfd()
            self._waited = True
            return 0

        async def send_signal(self, signum: int) -> None:
            if self.forked is None:
                return await super().send_signal(signum)
            if not self._running():
                return None
            try:
                os.killpg(self.forked, signum)
            except OSError:  # not yet its own group leader: the kernel alone
                os.kill(self.forked, signum)
            return None

        async def kill(self, restart: bool = False) -> None:
            return await self._end(signal.SIGKILL, super().kill, restart)

        async def terminate(self, restart: bool = False) -> None:
            return await self._end(signal.SIGTERM, super().terminate, restart)

        async def _end(self, signum: int, unforked: Any, restart: bool) -> None:
            """``signum`` to a forked kernel (gone already: nothing to do); a kernel started the
            normal way (the zygote was not there) ends through ``unforked``, the base class's way."""
            if self.forked is None:
                return await unforked(restart)
            with contextlib.suppress(ProcessLookupError):
                await self.send_signal(signum)
            return None

        def _close_pidfd(self) -> None:
            if self._pidfd is not None:
                os.close(self._pidfd)
                self._pidfd = None

        async def cleanup(self, restart: bool = False) -> None:
            await super().cleanup(restart)
            if not restart:
                self._close_pidfd()

    ForkProvisioner.__module__ = __name__
    return ForkProvisioner


def _manager_class() -> type:
    base = kernel_env.SecretFreeKernelManager

    class ForkingKernelManager(base):  # type: ignore[misc, valid-type]
        """``SecretFreeKernelManager`` that starts the zygote, starts kernels with kernelspec
        :data:`KERNEL_NAME`, and lets a pool kernel start only when the machine is idle or a
        viewer waits for it (module doc)."""

        def __init__(self, **kwargs: Any):
            super().__init__(**kwargs)
            self._b24r_socket = os.environ.get(SOCKET_ENV, "")
            self._wanted: dict[str | None, int] = {}
            self._gated: dict[str | None, int] = {}
            self._last_pool_start = 0.0
            if self._b24r_socket and os.environ.get("B24REPORTS_STORE"):
                start_zygote(self._b24r_socket)
            # Voila's pool methods are defined by its subclass of this class: wrap them per instance
            for name, wrap in (("_initialize", self._wrap_initialize), ("get_rendered_notebook", self._wrap_taken)):
                orig = getattr(self, name, None)
                if orig is not None:
                    setattr(self, name, wrap(orig))

        def _wrap_initialize(self, orig: Any) -> Any:
            async def initialize(notebook_path: str, *args: Any, **kwargs: Any) -> Any:
                _NOTEBOOK.set(notebook_path)  # this task's kernel start is for that notebook's pool
                return await orig(notebook_path, *args, **kwargs)
            return initialize

        def _wrap_taken(self, orig: Any) -> Any:
            async def taken(notebook_name: str, *args: Any, **kwargs: Any) -> Any:
                if self._gated.get(notebook_name, 0) > self._wanted.get(notebook_name, 0):
                    self._wanted[notebook_name] = self._wanted.get(notebook_name, 0) + 1
                return await orig(notebook_name, *args, **kwargs)
            return taken

        async def _pool_turn(self, notebook: str | None) -> str:
            """Wait until a pool kernel of ``notebook`` may start: ``"viewer"`` (one waits for
            it), ``"idle"`` or ``"timeout"``."""
            self._gated[notebook] = self._gated.get(notebook, 0) + 1
            try:
                t0, before, quiet = time.monotonic(), cpu_times(), 0
                needed = max(1, round(IDLE_FOR_S / SAMPLE_S))  # idle samples in a row
                while True:
                    await asyncio.sleep(SAMPLE_S)
                    if self._wanted.get(notebook, 0) > 0:
                        self._wanted[notebook] -= 1
                        return "viewer"
                    now = cpu_times()
                    busy, before = cpu_busy(before, now), now
                    quiet = quiet + 1 if busy < IDLE_CPU else 0
                    if time.monotonic() - self._last_pool_start < POOL_SPACING_S:
                        continue  # one pool start at a time, also after the longest wait
                    if quiet >= needed or time.monotonic() - t0 >= POOL_MAX_WAIT_S:
                        self._last_pool_start = time.monotonic()
                        return "idle" if quiet >= needed else "timeout"
            finally:
                self._gated[notebook] -= 1

        async def start_kernel(self, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]
            if self._b24r_socket:
                kwargs["kernel_name"] = KERNEL_NAME
                env = dict(kwargs.get("env") or os.environ)
                if env.get("VOILA_PREHEAT") == "True":
                    notebook = _NOTEBOOK.get()
                    why = await self._pool_turn(notebook)
                    self.log.info("b24reports: pool kernel for %s starts (%s)", notebook, why)
                    if why == "viewer":
                        env[SKIP_WARM_ENV] = "1"
                kwargs["env"] = env
            return await super().start_kernel(*args, **kwargs)

    ForkingKernelManager.__module__ = __name__
    return ForkingKernelManager


_CLASSES: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    """``ForkProvisioner`` and ``ForkingKernelManager`` are built on first use (they import
    jupyter_client and jupyter_server, which only the Voila process needs)."""
    makers = {"ForkProvisioner": _provisioner_class, "ForkingKernelManager": _manager_class}
    if name in makers:
        if name not in _CLASSES:
            _CLASSES[name] = makers[name]()
        return _CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FORK_TIMEOUT_S", "IDLE_CPU", "KERNEL_NAME", "POOL_MAX_WAIT_S", "POOL_SPACING_S", "PROVISIONER",
           "SKIP_WARM_ENV", "SOCKET_ENV", "VOILA_FLAG", "ForkProvisioner", "ForkingKernelManager", "ask",
           "cpu_busy", "cpu_times", "start_zygote", "write_kernelspec"]
