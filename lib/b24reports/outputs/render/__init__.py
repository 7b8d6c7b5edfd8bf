"""Render reports to files: an exporters registry keyed by format (html, pdf, xlsx, json), one
module per exporter (``html``, ``pdf``, ``metrics_json``; ``xlsx`` is :mod:`b24reports.outputs.excel`,
which the dashboards' download shares; the registry in ``job``).

``render_report(name, store, params, out_dir)`` writes ``OUT/<report>/report.html``,
``report.pdf``, ``report.xlsx`` and ``metrics.json`` (METRICS.md "Outputs"):

* every format shows one computation of the report (``spec.run``): on a warm kernel the
  notebook computes it and ``json``/``xlsx`` take its ``ReportResult`` (``nb.RESULT_OUT_PARAM``),
  which frees this process while the kernel works; otherwise this process computes it and the
  notebook shows that one (``render.html.write_html``);
* ``html``: papermill runs ``notebooks/<report>.ipynb`` (kernel ``python3``) with the
  *resolved* parameters (so ``as_of`` and defaults match the json), then nbconvert with
  ``--no-input`` and the offline template ``templates/b24reports_offline`` (zero external
  requests; plotly.js inlined);
* ``pdf``: headless chromium prints ``report.html`` (flags from rendering-notes.md): one
  chromium for a whole ``render_all`` run, a tab per worker (:class:`PdfPrinter`, Playwright).

Every file is first written to a temporary directory inside ``out_dir`` and moved into place
only when complete; a format that failed leaves no stale file of a previous run. The
notebook gets only the store path, never a webhook.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from b24reports import reports
from b24reports.outputs import forking
from b24reports.core.errors import B24ReportsError, BadInput, BadParameter

from b24reports.outputs.render.html import execute_notebook, notebook_to_html, prepare as prepare_html, write_html, _results_dir, RESULT_CACHE_ENV
from b24reports.outputs.render.job import (
    EXPORTERS, FORMATS, TEMPLATE_NAME, TEMPLATES_DIR, ChromiumNotFound, Exporter, RenderError, RenderJob, register_exporter,
)
from b24reports.outputs.render.metrics_json import write_json
from b24reports.outputs.render.pdf import CHROMIUM_NAMES, PdfPrinter, find_chromium, html_to_pdf, write_pdf
from b24reports.outputs.excel import (
    excel_cells, excel_name_maps, excel_sheet_names, write_xlsx, xlsx_sheet_names,
)

log = logging.getLogger(__name__)

__all__ = [
    "CHROMIUM_NAMES", "EXPORTERS", "FORMATS", "RESULT_CACHE_ENV", "TEMPLATES_DIR", "TEMPLATE_NAME", "ChromiumNotFound",
    "Exporter", "PdfPrinter", "RenderError", "RenderJob", "excel_cells", "excel_name_maps", "excel_sheet_names",
    "execute_notebook", "find_chromium", "html_to_pdf", "notebook_to_html", "parse_formats", "progress_line",
    "register_exporter", "render_all", "render_report", "write_html", "write_json", "write_pdf", "write_xlsx",
    "xlsx_sheet_names",
]

register_exporter(Exporter("json", "metrics.json", write_json))
register_exporter(Exporter("xlsx", "report.xlsx", write_xlsx))
register_exporter(Exporter("html", "report.html", write_html))
register_exporter(Exporter("pdf", "report.pdf", write_pdf, needs=("html",)))


# --------------------------------------------------------------------------- API


def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """``"html,pdf"`` or an iterable -> tuple of known formats in registry order; unknown ->
    ``BadParameter('formats', …)``."""
    items = [f.strip().lower() for f in (formats.split(",") if isinstance(formats, str) else formats) if f.strip()]
    bad = [f for f in items if f not in EXPORTERS]
    if bad or not items:
        raise BadParameter("formats", ",".join(items), f"use some of {', '.join(EXPORTERS)}")
    return tuple(f for f in EXPORTERS if f in items)


def _load(store: Any) -> Any:
    """The Dataset of ``store``; a never (or not successfully) synced store raises
    ``StoreNotSynced`` (exit code 2, "run `b24reports sync` first": ``store.check_synced``)."""
    from b24reports.ingest.dataset import Dataset
    from b24reports.ingest.store import check_synced

    check_synced(store)
    return Dataset.load(store)


def render_report(name: str, store: str | os.PathLike, params: Mapping[str, Any] | None, out_dir: str | os.PathLike,
                  formats: Iterable[str] | str = FORMATS, generated_at: dt.datetime | None = None, *,
                  dataset: Any = None, kernel_name: str = "python3", timeout: int = 600,
                  kernel: Any = None, printer: PdfPrinter | None = None) -> dict[str, Path]:
    """Render report ``name`` from the DuckDB ``store`` into ``out_dir/<name>/``.

    ``params``: raw parameter values (CLI strings or Python values) of the report's declared
    parameters. ``formats``: some of ``html``, ``pdf``, ``xlsx``, ``json``. ``generated_at``:
    the run's timestamp (default now, UTC). ``dataset``: an already loaded Dataset of the same
    store (saves a reload; the notebook still reads ``store``). ``kernel``: a
    :class:`~b24reports.outputs.kernels.WarmKernel` or ``KernelPool`` to run the notebook on (default:
    a fresh kernel). ``printer``: a :class:`PdfPrinter` to print the PDF with (default: one
    started for this report).

    Returns {format: Path of the written file}. Raises ``BadParameter``/``BadInput`` before
    writing anything; ``RenderError`` (``.outputs`` holds what was written) when some
    formats failed — ``ChromiumNotFound`` when only the PDF failed for lack of chromium.
    """
    fmts = parse_formats(formats)
    spec = reports.get(name)
    store = Path(store)
    ds = dataset if dataset is not None else _load(store)
    parsed = spec.parse_params(params or {}).validate_against(ds)  # BadParameter before any work
    todo: list[str] = []
    for f in fmts:
        for dep in (*EXPORTERS[f].needs, f):
            if dep not in todo:
                todo.append(dep)
    # on a warm kernel the notebook computes the report, and the formats after it use its result
    # (it runs in parallel with this process, which otherwise computes it while the kernel waits)
    notebook_computes = kernel is not None and "html" in todo
    if notebook_computes:
        todo.sort(key=lambda f: f != "html" and "html" not in EXPORTERS[f].needs)  # the page (and pdf) first
    result = None if notebook_computes else spec.run(ds, parsed)
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    out_root = Path(out_dir)
    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-tmp-", dir=out_root))
    job = RenderJob(spec, result, store, tmp, generated_at, kernel_name, timeout, dataset=ds, kernel=kernel,
                    printer=printer, params=parsed)
    failures: dict[str, str] = {}
    chromium_missing = False
    try:
        for f in todo:
            exp = EXPORTERS[f]
            if any(d not in job.files for d in exp.needs):
                failures[f"{name}/{f}"] = f"skipped: {', '.join(exp.needs)} failed"
                continue
            target = tmp / exp.filename
            try:
                exp.write(job, target)
                job.files[f] = target
            except ChromiumNotFound as e:
                chromium_missing = True
                failures[f"{name}/{f}"] = str(e)
            except RenderError as e:
                failures.update({(k if "/" in k else f"{name}/{k}"): v for k, v in e.failures.items()})
            except BadInput:
                raise
            except Exception as e:  # one failing format must not lose the others
                failures[f"{name}/{f}"] = f"{type(e).__name__}: {e}"
        final.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for f in fmts:
            dest = final / EXPORTERS[f].filename
            if f in job.files:
                os.replace(job.files[f], dest)
                written[f] = dest
            elif dest.exists():
                dest.unlink()  # never leave a previous run's file looking current
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        if chromium_missing and len(failures) == 1:
            err: RenderError | ChromiumNotFound = ChromiumNotFound()
            err.outputs = {name: written}  # type: ignore[attr-defined]
            raise err
        raise RenderError(failures, {name: written})
    return written


def progress_line(done: int, total: int, name: str, seconds: float, ok: bool = True) -> str:
    """One log line of ``render_all``'s progress when stderr is not a terminal:
    ``report 3/7 funnel: 6.1 s`` (``seconds`` of that report's render, 1 decimal), or
    ``report 3/7 funnel: failed after 6.1 s``."""
    return f"report {done}/{total} {name}: {'' if ok else 'failed after '}{seconds:.1f} s"


def render_all(store: str | os.PathLike, params: Mapping[str, Any] | None, out_dir: str | os.PathLike,
               formats: Iterable[str] | str = FORMATS, generated_at: dt.datetime | None = None, *,
               names: Iterable[str] | None = None, workers: int = 2, progress: bool = True,
               kernel_name: str = "python3", warm_kernels: bool = True,
               visibility: Any = None, fork: bool = True, kernels: Any = None) -> dict[str, dict[str, Path]]:
    """Render every registered report (or ``names``) into ``out_dir``, ``workers`` at a time
    (threads). With ``warm_kernels`` (default) each worker runs its notebooks on one
    :class:`~b24reports.outputs.kernels.WarmKernel` (started, imported and loaded with the store once,
    its namespace cleared between reports); without, each notebook gets a fresh kernel. With
    ``fork`` (default; Linux, more than one worker, kernel ``python3``) the warm kernels are forked
    from one process that imported the stack and loaded the store once
    (:class:`_RenderZygote`), instead of each doing it. ``kernels``: a
    :class:`~b24reports.outputs.kernels.KernelPool` (or ``WarmKernel``) the caller owns, warmed
    with this store and ``plotlyjs_at_export``: the notebooks run on it, and it stays open for the
    caller's next render (a schedule's recipients share one). PDFs
    are printed by one chromium for the whole run (:class:`PdfPrinter`, a tab per worker).

    ``params`` are handed to the reports that declare them (``reports.split_params``); one
    no report declares, or any value a report refuses, raises ``BadParameter`` before
    anything runs. The store is loaded once. ``visibility``: an
    :class:`~b24reports.ingest.visibility.Visibility` (a scheduled recipient's slice): every
    format is computed from ``visibility.restrict`` of the store only, the notebook kernels
    included (they get it as ``html.VISIBILITY_PARAM``); None = the whole store.
    ``progress``: a tqdm bar on a terminal; when stderr is not one (a log, ``make demo`` piped),
    one plain line per finished report instead (:func:`progress_line`). Returns
    {report: {format: Path}}; raises ``RenderError`` (with ``.outputs``) listing every
    failed report/format after all reports ran.
    """
    fmts = parse_formats(formats)
    specs = [reports.get(n) for n in names] if names is not None else reports.all_reports()
    if not specs:
        raise BadInput("no reports are registered")
    per_report = reports.split_params(params or {}, specs)
    for s in specs:  # syntax errors before any work
        s.parse_params(per_report[s.name])
    pool_of_kernels = zygote = printer = None
    try:
        if kernels is None and warm_kernels and ("html" in fmts or "pdf" in fmts):
            # one warm kernel per worker, started now so that it imports and loads the store while
            # this process loads it too and checks the parameters (a store never synced is refused
            # first, as _load would)
            from b24reports.ingest.store import check_synced
            from b24reports.outputs.kernels import KernelPool, register_engine

            check_synced(store)
            _results_dir()  # the kernels inherit the result-cache directory at start
            size = min(max(1, workers), len(specs))
            pool_kernel, kernel_dirs = kernel_name, None
            if fork and size > 1 and kernel_name == "python3" and _can_fork():
                zygote = _RenderZygote(store)
                pool_kernel, kernel_dirs = forking.KERNEL_NAME, [str(zygote.kernel_dir)]
            # plotly.js is written into each page at export, not carried through the notebook
            pool_of_kernels = KernelPool(size, pool_kernel, store, plotlyjs_at_export=True, kernel_dirs=kernel_dirs)
            # meanwhile this process imports papermill and compiles the page template, which the
            # first finished notebook would otherwise wait for (the GIL is free while workers wait
            # for a kernel)
            threading.Thread(target=_prepare_quietly, args=(register_engine, prepare_html), daemon=True).start()
        if "pdf" in fmts:
            try:  # one chromium for the run, a tab per worker
                printer = PdfPrinter(pages=min(max(1, workers), len(specs)))
            except (ChromiumNotFound, RenderError) as e:  # each report's PDF then fails with the reason
                log.warning("pdf: %s", e)
        return _render_specs(specs, per_report, store, out_dir, fmts, generated_at, workers, progress,
                             kernel_name, pool_of_kernels if kernels is None else kernels, printer, visibility)
    finally:
        if printer is not None:
            printer.close()
        if pool_of_kernels is not None:
            pool_of_kernels.close()
        if zygote is not None:
            zygote.close()


def _can_fork() -> bool:
    """Whether kernels can be forked here (Linux: ``fork`` and ``pidfd_open``)."""
    return hasattr(os, "fork") and hasattr(os, "pidfd_open")


class _RenderZygote:
    """A zygote (``outputs.zygote``, ``--for render``) for one ``render_all``: it imports the
    kernels' stack and loads ``store`` once, and every render kernel is forked from it; in a
    private temporary directory (``mkdtemp``: owner only) with its socket and the kernelspec
    that selects the fork provisioner (:attr:`kernel_dir`). A kernel it cannot fork starts the
    normal way (``forking``'s provisioner says so in the log)."""

    def __init__(self, store: str | os.PathLike):
        self.dir = Path(tempfile.mkdtemp(prefix="b24reports-render-"))
        socket_path = self.dir / "zygote.sock"
        self.kernel_dir = forking.write_kernelspec(self.dir / "jupyter", socket_path).parent
        self.proc = forking.start_zygote(str(socket_path), {**os.environ, "B24REPORTS_STORE": str(Path(store).resolve())},
                                         purpose="render")

    def close(self) -> None:
        """End the zygote (and with it any kernel it forked that still runs); remove the directory."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # it does not end on its own
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _prepare_quietly(*steps: Callable[[], None]) -> None:
    """Run ``steps`` in turn; an error is only logged (the report that needs the step then
    meets it itself, where it is reported)."""
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - see docstring
            log.debug("preparing %s failed", step, exc_info=True)


def _render_specs(specs: list, per_report: dict, store: Any, out_dir: Any, fmts: tuple[str, ...],
                  generated_at: dt.datetime | None, workers: int, progress: bool, kernel_name: str,
                  pool_of_kernels: Any, printer: PdfPrinter | None = None,
                  visibility: Any = None) -> dict[str, dict[str, Path]]:
    """:func:`render_all` once its syntax checks passed and its kernels are starting."""
    ds = _load(store)
    if visibility is not None:  # the one place a recipient's slice meets the data (-> Scope.visible)
        from b24reports.ingest.visibility import restrict

        ds = restrict(ds, visibility)
    now = dt.datetime.now(getattr(ds, "timezone", None) or dt.timezone.utc).replace(microsecond=0).isoformat()
    clock = getattr(ds, "clock", None)  # a demo store's own "now" (Dataset.clock), in any language
    for s in specs:  # one "now" for the whole run, so every report shows the same as_of
        if clock is not None and per_report[s.name].get("as_of") in (None, ""):
            per_report[s.name]["as_of"] = clock.isoformat()
        elif per_report[s.name].get("as_of") in (None, "", "now"):
            per_report[s.name]["as_of"] = now
    for s in specs:  # semantic errors (unknown ids, currency, …) also before any work
        s.parse_params(per_report[s.name]).validate_against(ds)
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    outputs: dict[str, dict[str, Path]] = {}
    failures: dict[str, str] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        # disable=None: tqdm shows the bar on a terminal only; a log (stderr not a TTY) gets
        # one plain line per finished report instead (progress_line) of carriage-return updates
        bar = tqdm(total=len(specs), desc="reports", unit="report", disable=None, file=sys.stderr)
    started: dict[str, float] = {}

    def run_one(name: str) -> dict[str, Path]:
        started[name] = time.monotonic()
        # the pool lends a kernel only while the notebook runs, not while this process computes
        return render_report(name, store, per_report[name], out_dir, fmts, generated_at, dataset=ds,
                             kernel_name=kernel_name, kernel=pool_of_kernels, printer=printer)

    # with warm kernels, twice as many threads as kernels: while one thread writes a report's
    # page, Excel and JSON here, another already runs the next notebook on the kernel it freed
    _run_all(specs, run_one, outputs, failures, bar, started, workers * 2 if pool_of_kernels is not None else workers)
    if bar is not None:
        bar.close()
    outputs = {s.name: outputs.get(s.name, {}) for s in specs}
    if failures:
        raise RenderError(dict(sorted(failures.items())), outputs)
    return outputs


def _run_all(specs: list, run_one: Callable[[str], dict[str, Path]], outputs: dict, failures: dict, bar: Any,
             started: dict[str, float], workers: int = 2) -> None:
    """Run ``run_one`` for every spec on ``workers`` threads, filling ``outputs`` and
    ``failures`` and reporting progress on ``bar`` (see :func:`render_all`)."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futs = {pool.submit(run_one, s.name): s.name for s in specs}
        for done, fut in enumerate(as_completed(futs), start=1):
            n = futs[fut]
            seconds = time.monotonic() - started.get(n, time.monotonic())
            try:
                outputs[n] = fut.result()
            except (RenderError, ChromiumNotFound) as e:
                outputs[n] = getattr(e, "outputs", {}).get(n, {})
                failures.update(getattr(e, "failures", None) or {f"{n}/pdf": str(e)})
            except B24ReportsError as e:
                failures[n] = str(e)
            except Exception as e:
                failures[n] = f"{type(e).__name__}: {e}"
            if bar is not None and bar.disable:
                bar.write(progress_line(done, len(specs), n, seconds, n in outputs and not any(
                    k == n or k.startswith(f"{n}/") for k in failures)), file=sys.stderr)
            elif bar is not None:
                bar.set_postfix_str(n)
                bar.update(1)
