"""``b24reports serve``: a busy port fails at once with a clear message (exit 2) and starts nothing,
so the printed address never leads to another server (issue 18); a cell's late output still
reaches the page."""

from __future__ import annotations

import socket

import pytest

from b24reports import cli
from b24reports.outputs.serve import PortInUse, VoilaServer, voila_argv


@pytest.fixture
def busy_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    yield s.getsockname()[1]
    s.close()


def test_busy_port_is_refused_before_voila_starts(tmp_path, busy_port):
    store = tmp_path / "store.duckdb"
    store.write_bytes(b"")
    srv = VoilaServer(store, port=busy_port)
    with pytest.raises(PortInUse, match=f"port {busy_port} on 127.0.0.1 is in use"):
        srv.start()
    assert srv.proc is None  # nothing started
    # and Voila itself never moves to the next port
    assert "--Voila.port_retries=0" in voila_argv(port=busy_port)


def test_cli_serve_on_a_busy_port_exits_2(tmp_path, busy_port, capsys):
    store = tmp_path / "store.duckdb"
    store.write_bytes(b"")
    code = cli.run(["serve", "--store", str(store), "--port", str(busy_port)])
    out, err = capsys.readouterr()
    assert code == 2
    assert f"port {busy_port} on 127.0.0.1 is in use" in err and f"http://127.0.0.1:{busy_port}/" not in out


def test_served_page_links_nothing_off_the_machine(demo_store):
    """The HTML of a dashboard page names no host but the server's (the lab template's CDN
    stylesheets and the mermaid loader are dropped by the b24reports template); the browser test
    tests/browser/test_dashboards.py::test_no_request_leaves_the_machine watches the requests."""
    import re
    import urllib.request

    with VoilaServer(demo_store, pool_size=0) as srv:
        page = urllib.request.urlopen(srv.url + "voila/render/tasks.ipynb", timeout=240).read().decode()
    assert "b24r-cell" in page  # the report rendered
    assert re.findall(r"https?://[A-Za-z0-9.\-]+", page) == []


def test_a_cell_whose_output_lags_its_reply_keeps_every_output():
    """Voila's executor, configured by serve's command line, keeps a cell's outputs that reach it
    after the cell's reply. nbclient's default waits 4 s for them, then drops the rest: with ten
    pages opening at once on two cores, pages lost their filter bar with no error. Here every
    output message reaches the executor 50 ms late (100 outputs: 5 s behind the reply)."""
    import asyncio

    import nbformat
    from jupyter_client.manager import AsyncKernelManager
    from voila.app import Voila
    from voila.execute import VoilaExecutor

    app = Voila()
    app.parse_command_line(voila_argv(fork=True))

    class LateOutput(VoilaExecutor):
        async def async_start_new_kernel_client(self):
            kc = await super().async_start_new_kernel_client()
            get_msg = kc.iopub_channel.get_msg

            async def late(*args, **kwargs):
                msg = await get_msg(*args, **kwargs)
                if msg["msg_type"] == "display_data":
                    await asyncio.sleep(0.05)
                return msg

            kc.iopub_channel.get_msg = late
            return kc

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("for i in range(100):\n    display(i)"),
                nbformat.v4.new_code_cell("print('next cell')")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    km = AsyncKernelManager(kernel_name="python3")
    try:
        asyncio.run(LateOutput(nb, km=km, config=app.config).async_execute())
    finally:
        if km.has_kernel:
            asyncio.run(km.shutdown_kernel(now=True))
    shown = [o["data"]["text/plain"] for o in nb.cells[0].outputs]
    assert shown == [str(i) for i in range(100)]
    assert nb.cells[1].outputs[0]["text"] == "next cell\n"


def test_a_kernel_whose_page_left_without_a_word_is_shut_down():
    """A page that never says goodbye (a killed tab, a phone that dropped it) no longer leaves its
    kernel for the idle cull: once its last connection has been closed for ``orphan_grace_s`` the
    kernel is shut down. A page back within that time keeps its kernel; a kernel that never had
    a page (a preheated one) is kept; a page that leaves, comes back and leaves again gets the
    whole grace from its last leave."""
    import asyncio
    import time

    from b24reports.outputs.kernel_env import SecretFreeKernelManager

    async def run() -> dict[str, bool]:
        km = SecretFreeKernelManager(orphan_grace_s=1.0)
        ids = {name: await km.start_kernel(kernel_name="python3") for name in ("left", "back", "twice", "pool")}
        seen: dict[str, bool] = {}
        try:
            for name in ("left", "back", "twice"):
                km.notify_connect(ids[name])
                km.notify_disconnect(ids[name])  # t = 0: every page left
            await asyncio.sleep(0.3)
            km.notify_connect(ids["back"])  # back within the grace (a network blip), and stays
            km.notify_connect(ids["twice"])
            await asyncio.sleep(0.3)
            km.notify_disconnect(ids["twice"])  # t = 0.6: gone again, for good
            await asyncio.sleep(0.7)  # t = 1.3: the first leave's grace is over, not the last one's
            seen["twice alive at 1.3 s"] = ids["twice"] in km
            deadline = time.monotonic() + 20
            while (ids["left"] in km or ids["twice"] in km) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            return {**seen, **{name: ids[name] in km for name in ids}}
        finally:
            await km.shutdown_all(now=True)

    alive = asyncio.run(run())
    assert alive == {"twice alive at 1.3 s": True, "left": False, "back": True, "twice": False, "pool": True}
