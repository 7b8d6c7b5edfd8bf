"""Warm render kernels (issue 19): one kernel runs many notebooks, and no notebook sees what
another left behind."""

from __future__ import annotations

import nbformat
import pytest

from b24reports.outputs.kernels import KernelPool, WarmKernel


def notebook(path, *cells: str):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("tag = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return str(path)


def outputs(nb) -> list[str]:
    return [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "stream"]


@pytest.fixture(scope="module")
def kernel():
    k = WarmKernel("python3")
    yield k
    k.shutdown()


def test_one_kernel_runs_notebooks_one_after_another_without_leaking_state(tmp_path, kernel):
    a = notebook(tmp_path / "a.ipynb", "import os\nLEFT_BY_A = tag\nprint(os.getpid())")
    b = notebook(tmp_path / "b.ipynb", "import os\nprint(os.getpid())\nprint('LEFT_BY_A' in globals(), 'tag' in globals(), tag)")
    out_a = outputs(kernel.execute_notebook(a, str(tmp_path / "a.out.ipynb"), {"tag": "report A"}))
    out_b = outputs(kernel.execute_notebook(b, str(tmp_path / "b.out.ipynb"), {"tag": "report B"}))
    pid_a = out_a[0].strip()
    pid_b, seen = out_b[0].split("\n")[0], out_b[0].split("\n")[1]
    assert pid_a == pid_b, "the same kernel process ran both notebooks"
    assert seen == "False True report B", "B sees its own parameter and nothing A left"


def test_a_failed_notebook_restarts_the_kernel_and_the_next_one_runs(tmp_path, kernel):
    import papermill as pm

    bad = notebook(tmp_path / "bad.ipynb", "import os\nLEFT = os.getpid()\nraise ValueError('broken report')")
    good = notebook(tmp_path / "good.ipynb", "print('LEFT' in globals())")
    with pytest.raises(pm.PapermillExecutionError, match="broken report"):
        kernel.execute_notebook(bad, str(tmp_path / "bad.out.ipynb"), {})
    assert outputs(kernel.execute_notebook(good, str(tmp_path / "good.out.ipynb"), {})) == ["False\n"]


def test_pool_hands_each_kernel_to_one_taker_at_a_time(tmp_path):
    import threading

    nb = notebook(tmp_path / "p.ipynb", "import os, time\ntime.sleep(0.3)\nprint(os.getpid())")
    pids: list[str] = []
    with KernelPool(2) as pool:
        def run(i: int) -> None:
            with pool.kernel() as k:
                pids.append(outputs(k.execute_notebook(nb, str(tmp_path / f"p{i}.ipynb"), {}))[0].strip())

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert len(pids) == 4 and len(set(pids)) == 2, "4 notebooks on exactly 2 kernels"


def test_load_dataset_keeps_one_dataset_per_store_until_the_file_changes(demo_store):
    """What a warm kernel relies on: the second report in it gets the same (read-only) Dataset;
    a sync that rewrote the file in between gets a fresh one."""
    import os

    from b24reports.outputs import nb

    first = nb.load_dataset(demo_store)
    assert nb.load_dataset(str(demo_store)) is first
    st = os.stat(demo_store)
    try:
        os.utime(demo_store, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # as a sync would
        again = nb.load_dataset(demo_store)
        assert again is not first and len(again.deals) == len(first.deals)
        assert len([k for k in nb._DATASETS if k[0] == os.path.realpath(demo_store)]) == 1
    finally:
        os.utime(demo_store, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_the_first_notebook_sees_nothing_of_the_warm_up(tmp_path):
    """The warm-up leaves ``_fig``, ``_spec``, ``importlib``, ``b24reports`` in the namespace;
    the reset sent right after it has cleared them by the time the first notebook runs, and
    the reset sent after a notebook clears that one's variables before the next."""
    k = WarmKernel("python3")
    try:
        probe = "print([n for n in ('_fig', '_spec', 'importlib', 'b24reports', 'LEFT') if n in globals()])"
        first = notebook(tmp_path / "first.ipynb", probe + "\nLEFT = 1")
        assert outputs(k.execute_notebook(first, str(tmp_path / "f1.ipynb"), {})) == ["[]\n"]
        assert outputs(k.execute_notebook(first, str(tmp_path / "f2.ipynb"), {})) == ["[]\n"]
        assert k.runs == 2
    finally:
        k.shutdown()


def kernel_processes() -> set[int]:
    """Pids of the live (not zombie) ipykernel processes below this one."""
    import psutil

    found = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if "ipykernel_launcher" in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                found.add(p.pid)
        except psutil.Error:  # it ended meanwhile
            pass
    return found


@pytest.fixture
def zmq_made(monkeypatch):
    """Every zmq context and socket made while the test runs, in order. They are held here, so
    the garbage collector ends none of them meanwhile: what is open at the end was left open."""
    import zmq

    made: list = []
    for cls in (zmq.Context, zmq.Socket):
        def init(self, *args, _orig=cls.__init__, **kwargs):
            _orig(self, *args, **kwargs)
            made.append(self)

        monkeypatch.setattr(cls, "__init__", init)
    return made


def test_a_render_run_a_restart_and_a_failed_start_leave_no_zmq_context_socket_or_kernel(tmp_path, demo_store, zmq_made):
    """Each pool makes one zmq context, which every kernel manager and client of its kernels
    uses (nbclient makes no client of its own), and ends it on close: nothing is left for the
    garbage collector, whose term() of a context with a socket open elsewhere can block
    forever. Clients that made contexts of their own (the code reverted in d5c2f99) fail the
    count; a kernel whose warm-up failed and stayed running fails the closed checks."""
    import papermill as pm
    import zmq

    from b24reports.outputs import render

    kernels_before = kernel_processes()
    out = render.render_all(demo_store, {"as_of": "2026-11-30T12:00:00"}, tmp_path / "out", "html",
                            names=["pipeline"], workers=1, progress=False)
    assert out["pipeline"]["html"].stat().st_size > 100_000

    bad = notebook(tmp_path / "bad.ipynb", "raise ValueError('broken report')")
    good = notebook(tmp_path / "good.ipynb", "import os\nprint(os.getpid())")
    with KernelPool(1) as pool:
        first = outputs(pool.execute_notebook(good, str(tmp_path / "g1.ipynb"), {}))
        with pytest.raises(pm.PapermillExecutionError, match="broken report"):
            pool.execute_notebook(bad, str(tmp_path / "bad.out.ipynb"), {})
        second = outputs(pool.execute_notebook(good, str(tmp_path / "g2.ipynb"), {}))
    assert first != second, "the failed notebook got a restarted kernel (another process)"

    not_a_store = tmp_path / "not-a-store.duckdb"
    not_a_store.write_text("not a DuckDB file")
    with pytest.raises(RuntimeError, match="no render kernel could start: kernel warm-up failed: StoreError"):
        with KernelPool(1, store=not_a_store) as pool, pool.kernel():
            pass

    contexts = [o for o in zmq_made if isinstance(o, zmq.Context)]
    sockets = [o for o in zmq_made if isinstance(o, zmq.Socket)]
    assert len(contexts) == 3, f"one context per pool (render_all's and two here), none per client: {contexts}"
    assert [c.closed for c in contexts] == [True, True, True]
    assert len(sockets) >= 4 * 3 and [s for s in sockets if not s.closed] == []
    assert kernel_processes() - kernels_before == set(), "every kernel process was stopped"
