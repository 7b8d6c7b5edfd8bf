"""``b24reports serve``: the report notebooks as live Voila dashboards.

One Voila server over ``notebooks/`` with the ``b24reports`` Voila template
(``templates/voila/b24reports``: the landing page listing every registered report with its
one-line description, and a loading indicator while a kernel starts). Each report page is the
report notebook run by Voila; under Voila the notebook shows a filter bar
(:mod:`b24reports.outputs.dashboard`).

Server settings (:func:`voila_argv`):

* the store path reaches the kernels through ``B24REPORTS_STORE`` (never a webhook);
* ``pool_size`` preheated kernels per notebook (``--preheat_kernel``): the kernel has
  imported the stack and loaded the store before a viewer arrives, then waits for the
  request's URL query (``voila.utils.get_query_string``) before computing;
* ``fork`` (default): kernels are forked from one process that has imported the stack, loaded
  the store and computed every report once (the zygote, :mod:`b24reports.outputs.zygote`;
  Voila's side in :mod:`b24reports.outputs.forking`), so they share its memory and are ready in
  well under a second; pool kernels start only when the machine is idle or a viewer waits for
  one. ``fork=False`` is the previous way: each kernel imports and loads the store itself,
  a used pool kernel is replaced after ``fill_delay`` s;
* idle kernels are culled (``MappingKernelManager.cull_idle_timeout``, seconds);
* viewers cannot run code: Voila executes only the notebook and refuses execute requests
  from the page; it has no login, so bind to 127.0.0.1 (the default) and put an
  authenticating reverse proxy in front for shared use (README "Dashboards");
* or ``app=AppConfig(...)`` (``serve --app``): the Bitrix24 local application mode of
  :mod:`b24reports.outputs.appmode`: Voila with ``/b24/install`` and ``/b24/app``, each viewer
  identified on the portal and shown only what their Bitrix24 rights allow.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from b24reports import reports
from b24reports.core.errors import BadInput, StoreError
from b24reports.outputs.landing import landing_html
from b24reports.outputs import forking, kernel_env, plotlyjs

TEMPLATE_NAME = "b24reports"
TEMPLATE_SRC = Path(__file__).parent / "templates" / "voila" / TEMPLATE_NAME

def prepare_template(root: Path, lang: str = "ru") -> Path:
    """Write the ``b24reports`` Voila template under ``root/share/jupyter/voila/templates``
    (the packaged files plus the generated ``b24r_landing.html``); returns ``root/share/
    jupyter``, the directory to put on ``JUPYTER_PATH``."""
    jp = Path(root) / "share" / "jupyter"
    dest = jp / "voila" / "templates" / TEMPLATE_NAME
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(TEMPLATE_SRC, dest)
    (dest / "b24r_landing.html").write_text("{% raw %}" + landing_html(lang) + "{% endraw %}", encoding="utf-8")
    # the pages load the partial plotly.js from here (Voila serves a template's static/ files)
    # when it is built; else jupyterlab-plotly's whole one (dashboard.widgets.plotly_loader)
    # (a chart of a trace type outside it makes its page load the whole one, also from here)
    script = ""
    if plotlyjs.partial_traces() is not None:
        (dest / "static").mkdir(exist_ok=True)
        shutil.copyfile(plotlyjs.BUNDLE, dest / PAGE_PLOTLYJS)
        (dest / WHOLE_PLOTLYJS).write_text(plotlyjs.source(None), encoding="utf-8")
        script = (f'<script src="{{{{ resources.base_url }}}}voila/templates/{TEMPLATE_NAME}/{PAGE_PLOTLYJS}" '
                  'defer></script>')
    (dest / "b24r_plotly.html").write_text(script, encoding="utf-8")
    return jp


#: Where a dashboard page's partial plotly.js lies in the template (:func:`prepare_template`),
#: and the whole one (``static/chart.js`` loads it for a trace type the partial build lacks).
PAGE_PLOTLYJS = f"static/{plotlyjs.BUNDLE.name}"
WHOLE_PLOTLYJS = "static/plotly.min.js"


def page_traces(jupyter_path: Path) -> frozenset[str] | None:
    """The trace types of the plotly.js the template at ``jupyter_path`` makes its pages load
    (:func:`prepare_template`), or None when they load jupyterlab-plotly's whole one."""
    if not (Path(jupyter_path) / "voila" / "templates" / TEMPLATE_NAME / PAGE_PLOTLYJS).exists():
        return None
    return plotlyjs.partial_traces()


#: Seconds before Voila starts a kernel to replace one a viewer took from the preheated pool.
POOL_FILL_DELAY_S = 10.0


#: Seconds Voila's executor (nbclient) waits, after a cell's reply, for the rest of the cell's
#: output (nbclient's default: 4). Past it the outputs not yet read are dropped without an error:
#: with ten pages opening at once on two cores the output stream fell more than 4 s behind the
#: replies, and 5 of 90 pages lost their filter bar for good (issue 18's stress runs). A
#: local kernel's output is late, not lost, so this waits long. (Snapshot renders read it with
#: a blocking client, where this wait does not expire before the output is read.)
IOPUB_TIMEOUT_S = 60


def voila_argv(*, port: int = 8866, ip: str = "127.0.0.1", notebooks_dir: Path | None = None,
               pool_size: int = 1, cull_idle_timeout: int = 900, cull_interval: int = 60,
               show_tracebacks: bool = False, fill_delay: float = POOL_FILL_DELAY_S, fork: bool = False,
               partial_plotlyjs: bool = False, orphan_grace_s: float = kernel_env.ORPHAN_GRACE_S) -> list[str]:
    """The ``voila`` command line of :func:`serve` (without the executable).

    ``pool_size`` preheated kernels per notebook (0 = none); ``cull_idle_timeout`` seconds
    after which an idle kernel is shut down (0 = never), checked every ``cull_interval`` s;
    ``orphan_grace_s`` seconds after which a kernel whose page's connection closed is shut down
    (0 = only the idle cull; :mod:`~b24reports.outputs.kernel_env`);
    ``fill_delay`` seconds before a used pool kernel is replaced (``fork``: 0, the pool gate of
    :mod:`~b24reports.outputs.forking` decides when); ``fork``: kernels forked from the zygote
    (the caller sets ``forking.SOCKET_ENV`` and writes the kernelspec, as :class:`VoilaServer` does);
    ``partial_plotlyjs``: the pages load the partial plotly.js from the template
    (:func:`prepare_template`), so jupyterlab-plotly, whose script carries the whole plotly.js
    (4.8 MB, parsed by every page that loads the extension), is left out.
    """
    nb_dir = Path(notebooks_dir or reports.NOTEBOOKS_DIR)
    argv = [str(nb_dir), "--no-browser", f"--port={int(port)}", f"--Voila.ip={ip}",
            f"--template={TEMPLATE_NAME}", f"--show_tracebacks={show_tracebacks}",
            "--VoilaConfiguration.file_allowlist=[]", "--Voila.port_retries=0",
            f"--MappingKernelManager.cull_idle_timeout={int(cull_idle_timeout)}",
            f"--MappingKernelManager.cull_interval={int(cull_interval)}",
            "--MappingKernelManager.cull_connected=True",
            # a closed page shuts its kernel down at once (Voila's beforeunload beacon); the beacon
            # carries the _xsrf cookie, which Voila never sets, so the shutdown was refused (403)
            # and every closed page held its kernel (~290 MiB) until the idle cull. The server
            # keeps no login cookie for a cross-site request to ride on: the check guards nothing.
            '--Voila.tornado_settings={"disable_check_xsrf": True}',
            # a cell's output that reaches Voila after the cell's reply is waited for (IOPUB_TIMEOUT_S)
            f"--VoilaExecutor.iopub_timeout={IOPUB_TIMEOUT_S}",
            # kernels start without the server's secrets (B24_CLIENT_SECRET, webhooks, tokens)
            forking.VOILA_FLAG if fork else kernel_env.VOILA_FLAG,
            # a page gone without a word (a killed tab, a phone): its kernel ends, not after 15 min
            f"--SecretFreeKernelManager.orphan_grace_s={float(orphan_grace_s)}"]
    if partial_plotlyjs:
        argv.append('--VoilaConfiguration.extension_denylist=["jupyterlab-plotly"]')
    if pool_size > 0:
        # refill the pool only after the page that took a kernel has painted: a new kernel's
        # warm-up (imports, report run) would otherwise compete for the CPU with that page
        argv += ["--preheat_kernel=True", f"--pool_size={int(pool_size)}",
                 f"--VoilaKernelManager.fill_delay={0.0 if fork else float(fill_delay)}"]
    return argv


class PortInUse(BadInput):
    """The port ``serve`` was asked to listen on is taken (exit code 2): nothing is started, so
    the printed address never leads to another server."""


def check_port_free(ip: str, port: int) -> None:
    """Raise :class:`PortInUse` naming ``ip:port`` when something already listens there (a bind
    test; Voila would otherwise move to the next port while the old address is printed)."""
    with socket.socket() as s:
        try:
            s.bind((ip, int(port)))
        except OSError:
            raise PortInUse(f"port {port} on {ip} is in use (another b24reports serve?); stop it or choose "
                            f"another with --port") from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VoilaServer:
    """A Voila server over the report notebooks, as a context manager.

    ``store``: the DuckDB store (must exist: ``StoreError``); ``port`` (0 = a free one);
    ``params``: raw report parameters for every dashboard that declares them (e.g. ``plan``,
    ``as_of``), passed as ``$B24REPORTS_DASHBOARD_PARAMS``;
    ``fork``: kernels forked from a zygote started with the server (``False``: each kernel
    starts on its own, the way before issue 18); other arguments as :func:`voila_argv`.
    ``url`` is ``http://ip:port/``. Used by
    :func:`serve`, the browser tests and ``benchmarks/dashboard_bench.py``.
    """

    def __init__(self, store: str | os.PathLike, *, port: int = 0, ip: str = "127.0.0.1", lang: str = "ru",
                 pool_size: int = 1, cull_idle_timeout: int = 900, cull_interval: int = 60,
                 show_tracebacks: bool = False, log_path: Path | None = None,
                 params: dict[str, Any] | None = None, app: Any = None, fork: bool = True,
                 orphan_grace_s: float = kernel_env.ORPHAN_GRACE_S):
        self.store = Path(store)
        self.fork = bool(fork)
        self.app = app  # appmode.AppConfig: Bitrix24 local application mode
        if not self.store.is_file():
            raise StoreError(f"store {self.store} does not exist (b24reports sync --store PATH, or make demo)")
        self.ip, self.port = ip, int(port) or _free_port()
        self.lang, self.log_path = lang, log_path
        self.params = {k: str(v) for k, v in (params or {}).items()}
        self.argv = voila_argv(port=self.port, ip=ip, pool_size=pool_size, cull_idle_timeout=cull_idle_timeout,
                               cull_interval=cull_interval, show_tracebacks=show_tracebacks, fork=self.fork,
                               partial_plotlyjs=plotlyjs.partial_traces() is not None, orphan_grace_s=orphan_grace_s)
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}/"

    def env(self, jupyter_path: Path) -> dict[str, str]:
        """The server's environment: ``B24REPORTS_STORE``, ``JUPYTER_PATH`` with the template,
        and for the kernels the trace types of their pages' plotly.js (``plotlyjs.PAGE_TRACES_ENV``)."""
        env = dict(os.environ)
        env["B24REPORTS_STORE"] = str(self.store.resolve())
        env["B24REPORTS_DASHBOARD_PARAMS"] = json.dumps(self.params, ensure_ascii=False)
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(jupyter_path), env.get("JUPYTER_PATH", "")]))
        traces = page_traces(jupyter_path)
        env.pop(plotlyjs.PAGE_TRACES_ENV, None)
        if traces:
            env[plotlyjs.PAGE_TRACES_ENV] = ",".join(sorted(traces))
        env.pop(forking.SOCKET_ENV, None)
        if self.fork:
            env[forking.SOCKET_ENV] = str(self.zygote_socket(jupyter_path))
        if self.app is not None:
            import secrets

            from b24reports.outputs.appmode import CONFIG_ENV, KEY_ENV

            env[CONFIG_ENV] = self.app.to_env()
            # the session signing key: random per start unless the operator fixed one (never printed)
            env[KEY_ENV] = os.environ.get(KEY_ENV) or getattr(self, "_key", None) or secrets.token_urlsafe(32)
            self._key = env[KEY_ENV]
        else:
            env.pop("B24REPORTS_APP", None)
            # a plain dashboard server needs no secret at all (its kernels are cut again anyway)
            env = kernel_env.kernel_env(env)
        return env

    @staticmethod
    def zygote_socket(jupyter_path: Path) -> Path:
        """The zygote's socket: in the server's temporary directory (``mkdtemp``: owner only)."""
        return Path(jupyter_path).parents[1] / "zygote" / "socket"

    def start(self, timeout: float = 60.0) -> VoilaServer:
        """Start Voila and wait until it answers on :attr:`url` (``TimeoutError`` after ``timeout`` s).
        A port already in use is :class:`PortInUse` before anything starts."""
        check_port_free(self.ip, self.port)
        self._tmp = tempfile.TemporaryDirectory(prefix="b24r-voila-")
        jp = prepare_template(Path(self._tmp.name), self.lang)
        if self.fork:
            forking.write_kernelspec(jp, self.zygote_socket(jp))
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        module = "b24reports.outputs.appmode" if self.app is not None else "voila"
        self.proc = subprocess.Popen([sys.executable, "-m", module, *self.argv], env=self.env(jp),
                                     stdout=out, stderr=subprocess.STDOUT, cwd=str(reports.NOTEBOOKS_DIR))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"voila exited with code {self.proc.returncode}")
            try:
                with socket.create_connection((self.ip, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"voila did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        """Stop the server (and its kernels) and remove the template directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> VoilaServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def serve(store: str | os.PathLike, *, port: int = 8866, ip: str = "127.0.0.1", lang: str = "ru",
          pool_size: int = 1, cull_idle_timeout: int = 900, params: dict[str, Any] | None = None,
          echo: Any = print, argv_extra: Sequence[str] = (), app: Any = None, fork: bool = True) -> int:
    """Run the dashboard server in the foreground until Ctrl-C or SIGTERM (both stop Voila and its
    kernels); returns the exit code.

    Prints the landing page URL (never the store's webhook: the store holds none).
    """
    srv = VoilaServer(store, port=port, ip=ip, lang=lang, pool_size=pool_size, cull_idle_timeout=cull_idle_timeout,
                      params=params, app=app, fork=fork)
    srv.argv += list(argv_extra)

    def stop_on_term(_signum: int, _frame: Any) -> None:  # `kill PID` stops it like Ctrl-C: Voila and its kernels too
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop_on_term)
    try:
        srv.start()
        echo(f"b24reports dashboards: {srv.url}  (Ctrl-C stops)")
        if app is not None:
            echo(f"local application: install handler {srv.url}b24/install, app handler {srv.url}b24/app "
                 f"(Bitrix24 needs them over https: README, \"installing the local application\")")
        assert srv.proc is not None
        return srv.proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        srv.stop()
        signal.signal(signal.SIGTERM, previous)
