"""render_all's kernels forked from one zygote (``render._RenderZygote``, ``zygote --for render``)."""

from __future__ import annotations

import psutil

from b24reports.outputs import forking, render
from b24reports.outputs.kernels import KernelPool

from test_kernels import notebook, outputs


def test_kernels_forked_from_one_zygote_share_its_load_and_leave_nothing(tmp_path, demo_store, monkeypatch):
    monkeypatch.setenv("B24_CLIENT_SECRET", "client-secret-not-for-kernels")
    probe = notebook(tmp_path / "probe.ipynb",
                     "import os, b24reports.outputs.nb as nb\n"
                     "LEFT = tag\n"
                     "print(os.getpid(), os.getppid(), nb.LOADS, 'B24_CLIENT_SECRET' in os.environ,"
                     " nb.load_dataset(%r) is nb.load_dataset(%r), sep=',')" % (str(demo_store), str(demo_store)))
    second = notebook(tmp_path / "second.ipynb", "import os\nprint(os.getpid(), 'LEFT' in globals(), tag, sep=',')")
    zygote = render._RenderZygote(demo_store)
    seen = []
    try:
        with KernelPool(2, forking.KERNEL_NAME, demo_store, kernel_dirs=[str(zygote.kernel_dir)]) as pool:
            with pool.kernel() as a, pool.kernel() as b:
                for k in (a, b):
                    pid, ppid, loads, secret, same = outputs(k.execute_notebook(
                        probe, str(tmp_path / "p.out.ipynb"), {"tag": "first"}))[0].split(",")
                    seen.append(int(pid))
                    # forked by the zygote, which loaded the store once; the kernel did not load it again
                    assert (int(ppid), loads, secret, same.strip()) == (zygote.proc.pid, "1", "False", "True")
                    pid2, left, tag = outputs(k.execute_notebook(second, str(tmp_path / "s.out.ipynb"),
                                                                 {"tag": "second"}))[0].strip().split(",")
                    assert (int(pid2), left, tag) == (int(pid), "False", "second"), "same kernel, nothing left over"
        assert len(set(seen)) == 2
    finally:
        zygote.close()
    assert zygote.proc.returncode is not None
    assert [p for p in seen if psutil.pid_exists(p)] == [], "the zygote ended (and reaped) its kernels"
    assert not zygote.dir.exists()


def test_render_all_forks_only_where_it_pays(tmp_path, demo_store, monkeypatch):
    # one worker: one kernel, nothing to share; two: one zygote for the run, gone afterwards
    started = []
    real = render._RenderZygote

    class Counted(real):
        def __init__(self, store):
            super().__init__(store)
            started.append(self)

    monkeypatch.setattr(render, "_RenderZygote", Counted)
    params = {"as_of": "2026-11-30T12:00:00"}
    one = render.render_all(demo_store, params, tmp_path / "one", "html", names=["pipeline"], workers=1, progress=False)
    assert started == []
    two = render.render_all(demo_store, params, tmp_path / "two", "html", names=["pipeline", "plan"], workers=2,
                            progress=False)
    assert len(started) == 1 and started[0].proc.returncode is not None and not started[0].dir.exists()
    a, b = (_stable(x["pipeline"]["html"].read_text(encoding="utf-8")) for x in (one, two))
    assert a == b, "a forked kernel's page is a normal kernel's"


def _stable(page: str) -> str:
    """The page without what differs from run to run: plotly's random div ids, the id papermill
    gives its parameters cell, the render time."""
    import re

    page = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "ID", page)
    page = re.sub(r'id="cell-id=[0-9a-f]{8}"', 'id="cell-id"', page)
    return re.sub(r"\d{2}:\d{2}(:\d{2})?", "HH:MM", page)
