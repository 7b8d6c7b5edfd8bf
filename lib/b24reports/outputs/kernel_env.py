"""The environment a report kernel gets: this process's, without its secrets (issue 21).

A dashboard kernel runs the report notebook; it needs the store path, the app-mode settings
and the session key it verifies viewers' links with, never the application's client secret,
a webhook URL, an SMTP password or a token. ``b24reports serve --app`` keeps
``B24_CLIENT_SECRET`` in the server (it refreshes the application's token there), so the
kernels' environment is cut where they are started:

* :func:`kernel_env` drops every variable whose NAME looks like a secret (:data:`SECRET_NAME`:
  ``SECRET``, ``TOKEN``, ``PASSW``/``PASSWD``, ``WEBHOOK``, ``CREDENTIAL``, ``API_KEY``,
  ``PRIVATE_KEY``, and ``B24_CLIENT_ID``/``B24_OAUTH_URL``), and every variable whose VALUE
  is a Bitrix24 webhook URL (``…/rest/<user>/<token>/``, whatever the variable is called,
  e.g. a schedule's ``webhook_env``), but keeps :data:`KEEP` (the session signing key);
* :class:`SecretFreeKernelManager` is the Jupyter kernel manager Voila starts dashboard
  kernels with (``--VoilaConfiguration.multi_kernel_manager_class``, :data:`VOILA_FLAG`):
  every kernel, preheated or not, is started with :func:`kernel_env` of what Voila gives it;
* ``kernels.WarmKernel`` (the render kernels of ``render``/``run-schedule``) starts with it too.

The same manager also ends a dashboard kernel whose page went away without a word (issue 18).
A page that closes normally asks Voila to shut its kernel down (``beforeunload``). A tab killed
with its browser, or a phone that drops the page, never does, and its kernel waited for the idle
cull (15 min). Once a kernel has had a page and its last connection has been closed for
:data:`ORPHAN_GRACE_S` seconds, it is shut down. A page that reconnects within that time (a
network blip) keeps its kernel. A preheated kernel has had no page yet, so it is kept.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Mapping
from typing import Any

#: Names of variables never handed to a kernel (a search, case-insensitive).
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSW|WEBHOOK|CREDENTIAL|API_?KEY|PRIVATE_?KEY|^B24_CLIENT_ID$|^B24_OAUTH_URL$",
                         re.IGNORECASE)
#: A Bitrix24 inbound webhook URL as a value (``https://portal/rest/1/abc123/``).
WEBHOOK_VALUE = re.compile(r"https?://[^\s/]+/rest/\d+/[^\s/]+", re.IGNORECASE)
#: Kept although secret: the key the kernel verifies the viewer's session link with.
KEEP = frozenset({"B24REPORTS_SESSION_KEY"})
#: Set in a preheated kernel a viewer already waits for (``serve``'s pool gate,
#: :mod:`b24reports.outputs.forking`): the kernel skips its warm-up run (``dashboard.open_live``).
SKIP_WARM_ENV = "B24REPORTS_SKIP_WARM"
#: Seconds a kernel lives on once its page's last connection closed (module doc;
#: ``SecretFreeKernelManager.orphan_grace_s``, 0 = only the idle cull ends it). A minute: a page
#: whose connection a phone's browser dropped while the viewer answered a message can still
#: reconnect to its kernel when it comes back, instead of finding the report gone.
ORPHAN_GRACE_S = 60.0
#: Voila's command-line flag that makes it start kernels with :class:`SecretFreeKernelManager`.
VOILA_FLAG = "--VoilaConfiguration.multi_kernel_manager_class=b24reports.outputs.kernel_env.SecretFreeKernelManager"


def is_secret(name: str, value: str) -> bool:
    """Whether variable ``name`` = ``value`` must not reach a kernel (see module doc)."""
    if name in KEEP:
        return False
    return bool(SECRET_NAME.search(name) or WEBHOOK_VALUE.search(value or ""))


def kernel_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default ``os.environ``) without its secrets (:func:`is_secret`); a new dict."""
    env = os.environ if env is None else env
    return {k: v for k, v in env.items() if not is_secret(k, v)}


def _manager_class() -> type:
    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
    from traitlets import Float

    class SecretFreeKernelManager(AsyncMappingKernelManager):  # type: ignore[misc]
        """Jupyter Server's ``AsyncMappingKernelManager`` whose kernels start with
        :func:`kernel_env` of the environment they are given (Voila passes ``os.environ`` plus
        the request's variables; nothing given = this process's), and that shuts down a kernel
        whose page went away without a word (module doc)."""

        orphan_grace_s = Float(ORPHAN_GRACE_S, config=True,
                               help="Seconds a kernel that had a page lives on after its last connection closed "
                                    "(0 = until the idle cull).")

        def __init__(self, **kwargs: Any):
            super().__init__(**kwargs)
            self._b24r_left: dict[str, float] = {}  # kernel id -> when its last connection closed
            self._b24r_ending: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

        async def start_kernel(self, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]
            kwargs["env"] = kernel_env(kwargs.get("env") or os.environ)
            return await super().start_kernel(*args, **kwargs)

        def notify_disconnect(self, kernel_id: str) -> None:
            super().notify_disconnect(kernel_id)
            if self.orphan_grace_s <= 0 or self._kernel_connections.get(kernel_id) != 0:
                return
            left = self._b24r_left[kernel_id] = time.monotonic()
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on the server's loop: the idle cull remains
                return
            loop.call_later(self.orphan_grace_s, self._start_end_orphan, loop, kernel_id, left)

        def _start_end_orphan(self, loop: asyncio.AbstractEventLoop, kernel_id: str, left: float) -> None:
            task = loop.create_task(self._end_orphan(kernel_id, left))
            self._b24r_ending.add(task)  # held until done: an unreferenced task may be collected mid-way
            task.add_done_callback(self._b24r_ending.discard)

        async def _end_orphan(self, kernel_id: str, left: float) -> None:
            """Shut ``kernel_id`` down if no page connected to it since ``left``."""
            if self._b24r_left.get(kernel_id) != left:  # it left again later: that timer decides
                return
            self._b24r_left.pop(kernel_id, None)
            if kernel_id not in self or self._kernel_connections.get(kernel_id) != 0:  # gone, or back
                return
            self.log.info("b24reports: kernel %s has had no page for %.0f s: shutting it down", kernel_id,
                          self.orphan_grace_s)
            try:
                await self.shutdown_kernel(kernel_id)
            except Exception:  # noqa: BLE001 - gone meanwhile (culled, shut down by its page)
                self.log.debug("b24reports: shutting orphan kernel %s down failed", kernel_id, exc_info=True)

    SecretFreeKernelManager.__module__ = __name__
    return SecretFreeKernelManager


_CLASSES: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    """``SecretFreeKernelManager`` is built on first use (importing jupyter_server costs
    ~0.5 s, which a render kernel that only needs :func:`kernel_env` does not pay)."""
    if name == "SecretFreeKernelManager":
        if name not in _CLASSES:
            _CLASSES[name] = _manager_class()
        return _CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["KEEP", "ORPHAN_GRACE_S", "SECRET_NAME", "SKIP_WARM_ENV", "VOILA_FLAG", "SecretFreeKernelManager", "is_secret", "kernel_env"]
