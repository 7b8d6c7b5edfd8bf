"""The zygote of ``b24reports serve`` (issue 18): dashboard kernels forked from one process that
holds the store, started through the ``b24reports-fork`` kernel provisioner as Voila starts them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from b24reports.outputs import forking, zygote

SECRET = "s3cret-of-the-server"
WEBHOOK = "https://acme.bitrix24.ru/rest/1/abcdef123456/"


def _wait_for(predicate, what: str, seconds: float = 120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds} s")


def status(sock: Path) -> dict:
    return asyncio.run(forking.ask(str(sock), {"op": "status"}))


@pytest.fixture
def server_env(monkeypatch):
    """This process as a server holding secrets (they must reach neither the zygote nor a kernel)."""
    monkeypatch.setenv("B24_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("B24_WEBHOOK_URL", WEBHOOK)


def start(store: Path, tmp_path: Path, monkeypatch) -> tuple:
    """A zygote over ``store`` and the kernelspec that reaches it (on this process's JUPYTER_PATH)."""
    sock = tmp_path / "zygote" / "socket"
    proc = forking.start_zygote(str(sock), {**os.environ, "B24REPORTS_STORE": str(store)})
    forking.write_kernelspec(tmp_path / "jp", sock)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jp"))
    _wait_for(lambda: sock.exists(), "the zygote's socket")
    _wait_for(lambda: status(sock)["ready"], "the zygote loaded the store")
    return proc, sock


@pytest.fixture
def zyg(demo_store, tmp_path, monkeypatch, server_env):
    proc, sock = start(demo_store, tmp_path, monkeypatch)
    yield proc, sock
    proc.terminate()
    proc.wait(timeout=30)


async def _kernel_run(code: str, env: dict | None = None, shutdown: bool = True):
    """Start a kernel with kernelspec ``b24reports-fork``, run ``code``, return (the kernel
    manager, what it printed). ``shutdown``: shut the kernel down before returning."""
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name=forking.KERNEL_NAME)
    await km.start_kernel(env={**os.environ, **(env or {})})
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=120)
        out: list[str] = []

        def hook(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("ERROR " + msg["content"]["evalue"])

        await kc.execute_interactive(code, timeout=120, output_hook=hook)
    finally:
        kc.stop_channels()
        if shutdown:
            await km.shutdown_kernel(now=True)
    return km, "".join(out)


PROBE = """
import json, os
from b24reports.outputs import nb
ds = nb.load_dataset(os.environ["B24REPORTS_STORE"])
print(json.dumps({"loads": nb.LOADS, "id": id(ds), "deals": len(ds.deals), "ppid": os.getppid(),
                  "secrets": sorted(k for k, v in os.environ.items() if "SECRET" in k or "WEBHOOK" in k or "/rest/" in v)}))
"""


def test_a_forked_kernel_has_the_zygotes_dataset_and_no_secrets(zyg, demo_store, demo_dataset):
    proc, sock = zyg
    st = status(sock)
    assert st["loads"] == 1 and st["threads"] == 1  # one load; no thread at a fork
    km, out = asyncio.run(_kernel_run(PROBE, {"B24REPORTS_STORE": str(demo_store)}))
    seen = json.loads(out)
    assert km.provisioner.forked is not None and km.provisioner.process is None  # forked, not a subprocess of ours
    # the kernel did not load the store: it holds the zygote's Dataset object, at the same address
    assert seen["loads"] == 1 and seen["id"] == st["dataset_id"] and seen["ppid"] == st["pid"] == proc.pid
    assert seen["deals"] == len(demo_dataset.deals)
    assert seen["secrets"] == []  # neither the server's nor the request's
    zenv = (Path("/proc") / str(proc.pid) / "environ").read_bytes().decode()
    assert SECRET not in zenv and WEBHOOK not in zenv and "B24_CLIENT_SECRET" not in zenv  # the zygote's own


def test_shutting_a_forked_kernel_down_ends_its_process(zyg):
    proc, sock = zyg
    km, out = asyncio.run(_kernel_run("import os; print(os.getpid())", shutdown=False))
    pid = km.provisioner.forked
    assert out.strip() == str(pid)
    assert Path(f"/proc/{pid}/comm").read_text().strip() == zygote.KERNEL_PROCESS_NAME
    asyncio.run(km.shutdown_kernel())
    _wait_for(lambda: not Path(f"/proc/{pid}").exists(), "the kernel's process ended and was reaped", 30)
    assert pid not in status(sock)["children"]


def test_without_the_zygote_a_kernel_starts_the_normal_way(zyg, demo_store):
    proc, sock = zyg
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    km, out = asyncio.run(_kernel_run(PROBE, {"B24REPORTS_STORE": str(demo_store)}, shutdown=False))
    try:
        assert km.provisioner.forked is None and km.provisioner.process is not None
        seen = json.loads(out)
        assert seen["loads"] == 1 and seen["secrets"] == []  # it loaded the store itself, still without secrets
    finally:
        asyncio.run(km.shutdown_kernel(now=True))


def test_the_zygote_loads_a_changed_store_again(demo_store, tmp_path, monkeypatch, server_env):
    store = tmp_path / "copy.duckdb"
    shutil.copy(demo_store, store)
    proc, sock = start(store, tmp_path, monkeypatch)
    try:
        first = status(sock)
        assert first["loads"] == 1
        st = os.stat(store)
        os.utime(store, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # what a sync's write does to the key
        after = _wait_for(lambda: (s := status(sock))["loads"] == 2 and s, "the zygote loaded the store again", 120)
        assert after["dataset_id"] != first["dataset_id"] and after["store_key"][2] == st.st_mtime_ns + 10**9
        _, out = asyncio.run(_kernel_run(PROBE, {"B24REPORTS_STORE": str(store)}))
        seen = json.loads(out)
        assert seen["loads"] == 2 and seen["id"] == after["dataset_id"]  # the new one, inherited
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_cpu_busy_is_the_busy_share_of_all_cpus():
    assert forking.cpu_busy((100, 1000), (150, 1100)) == 0.5
    assert forking.cpu_busy((100, 1000), (100, 1000)) == 0.0
    busy, total = forking.cpu_times()
    assert 0 <= busy <= total


def test_a_pool_kernel_a_viewer_waits_for_starts_at_once(monkeypatch):
    """The pool gate: a pool kernel waits for an idle machine, unless a viewer took it from the
    pool (Voila's ``get_rendered_notebook``); only a kernel waiting at the gate is marked."""
    monkeypatch.delenv(forking.SOCKET_ENV, raising=False)
    monkeypatch.setattr(forking, "IDLE_CPU", -1.0)  # never idle: only a viewer (or the max wait) lets it start
    m = forking.ForkingKernelManager()

    async def scenario():
        taken: list[str] = []

        async def rendered(notebook_name, *a, **kw):
            taken.append(notebook_name)
            return "kernel"

        take = m._wrap_taken(rendered)
        await take("a.ipynb")  # no kernel of a.ipynb waits at the gate: nothing marked
        assert m._wanted.get("a.ipynb", 0) == 0
        gate = asyncio.ensure_future(m._pool_turn("a.ipynb"))
        await asyncio.sleep(0.2)
        assert not gate.done() and m._gated["a.ipynb"] == 1
        await take("a.ipynb")
        assert await asyncio.wait_for(gate, 5) == "viewer"
        assert taken == ["a.ipynb", "a.ipynb"] and m._gated["a.ipynb"] == 0 and m._wanted["a.ipynb"] == 0

    asyncio.run(scenario())


def test_a_forked_kernel_is_watched_whatever_its_descriptor_number():
    """A server holding many kernels' connections has descriptors numbered past 1024, where
    select() refuses to look: a forked kernel's liveness check raised ValueError there, and the
    kernel's restarter and every new page's websocket failed with it (five pages at a time, after
    ~60 pages whose kernels waited for the idle cull). Its pidfd here is given number 1500."""
    import resource
    import subprocess
    import sys

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1600:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1600, hard), hard))
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    prov = forking.ForkProvisioner()
    prov.forked = child.pid
    pidfd = os.pidfd_open(child.pid)
    prov._pidfd = os.dup2(pidfd, 1500)
    os.close(pidfd)
    try:
        assert prov._pidfd == 1500 and prov._running()
        child.stdin.close()
        child.wait(timeout=30)
        assert not prov._running()
    finally:
        prov._close_pidfd()
        if soft < 1600:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_pool_kernel_waits_for_the_machine_idle_for_two_seconds_in_a_row(monkeypatch):
    """A pool kernel starts after IDLE_FOR_S (2 s) of an idle machine in a row, not at the first
    quiet half second: five viewers' first paints, then a lull of one sample, then their
    refilters (issue 18: a refill that started in such a lull ran during the refilters)."""
    monkeypatch.delenv(forking.SOCKET_ENV, raising=False)
    monkeypatch.setattr(forking, "SAMPLE_S", 0.001)
    monkeypatch.setattr(forking, "IDLE_FOR_S", 0.004)  # four samples, as 2 s is at 0.5 s each
    monkeypatch.setattr(forking, "POOL_SPACING_S", 0.0)
    # the CPU's share busy in each sample: busy, one quiet sample, busy, then quiet from sample 4 on
    shares = [0.9, 0.1, 0.9, 0.9] + [0.1] * 10
    state = {"busy": 0, "total": 0, "samples": 0}

    def cpu_times():
        i = state["samples"]
        state["samples"] += 1
        if i:  # the first reading is the starting point
            state["busy"] += int(100 * shares[i - 1])
            state["total"] += 100
        return state["busy"], state["total"]

    monkeypatch.setattr(forking, "cpu_times", cpu_times)
    m = forking.ForkingKernelManager()
    assert asyncio.run(m._pool_turn("a.ipynb")) == "idle"
    # samples: 4 before the quiet stretch, then 4 quiet ones (plus the starting reading)
    assert state["samples"] == 1 + 4 + 4


def test_a_report_added_without_a_views_module_does_not_stop_the_zygote(demo_store, tmp_path, monkeypatch):
    """A report registered through ``B24REPORTS_EXTRA_SPECS`` (here the tests' fixture report,
    whose views live in its own module) has no ``b24reports.views.<name>``: the zygote imported
    it, died, and every kernel started the slow way (a fresh clone's ``make test`` failed four
    zygote tests after a test had set the variable)."""
    here = Path(__file__).resolve().parent
    monkeypatch.setenv("B24REPORTS_EXTRA_SPECS", "b24r_fixture_report")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(here), os.environ.get("PYTHONPATH", "")])))
    proc, sock = start(demo_store, tmp_path, monkeypatch)
    try:
        assert status(sock)["ready"] and proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=30)

