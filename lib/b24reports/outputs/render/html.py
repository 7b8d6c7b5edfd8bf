"""The ``html`` exporter: papermill runs the report's notebook (on a warm kernel when given), then
nbconvert with the offline template (plotly.js inlined, no external request)."""

from __future__ import annotations

import atexit
import functools
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from b24reports import reports

log = logging.getLogger(__name__)
from b24reports.outputs import plotlyjs
from b24reports.outputs.nb import RESULT_OUT_PARAM
from b24reports.outputs.render.job import TEMPLATE_NAME, TEMPLATES_DIR, RenderError, RenderJob

#: Notebook parameter naming the file with the records a render is cut to (a recipient's
#: ``Visibility``); injected by :func:`execute_notebook`, read by ``nb.open_report``.
VISIBILITY_PARAM = "b24_visibility"
# the notebooks do not declare these (they are no report parameters): papermill's notice is noise
logging.getLogger("papermill").addFilter(lambda r: VISIBILITY_PARAM not in r.getMessage()
                                         and RESULT_OUT_PARAM not in r.getMessage())


def _visibility_file(job: RenderJob) -> str | None:
    """Path of the JSON of the job's dataset visibility in the results folder (0700), or None
    when the render shows the whole store."""
    import json

    from b24reports.ingest.visibility import fingerprint

    vis = getattr(job.dataset, "visibility", None)
    fp = fingerprint(vis)
    if not fp:
        return None
    f = _results_dir() / f"{fp}.visibility.json"
    if not f.exists():
        tmp = f.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(vis.to_json()), encoding="utf-8")
        os.replace(tmp, f)
    return str(f)

def execute_notebook(job: RenderJob, out_ipynb: Path, extra: dict[str, Any] | None = None) -> Any:
    """Run the report's notebook with papermill (Python API) into ``out_ipynb``; returns
    the executed notebook node (papermill's, the one it wrote: not read back). Parameters injected: the resolved ``Params.to_raw()``,
    ``store`` (absolute path) and ``extra``. The kernel runs in this process's working directory, so
    relative paths (e.g. ``plan=params/plan.csv``) mean the same as in-process. Raises
    ``RenderError`` with the failing cell's error."""
    from b24reports.outputs.lean import skip_iri_grammar

    skip_iri_grammar()  # papermill -> nbformat -> jsonschema: 0.5-0.9 s of this process (lean.py)
    import papermill as pm

    nb_path = job.spec.notebook_path
    if not nb_path.exists():
        raise RenderError({f"{job.spec.name}/html": f"notebook {nb_path} does not exist"})
    params = {**job.params.to_raw(), "store": str(job.store.resolve()), **(extra or {})}
    vis_file = _visibility_file(job)
    if vis_file:  # a recipient's slice: the kernel cuts the store to it before anything is shown
        params[VISIBILITY_PARAM] = vis_file
    try:
        if job.kernel is not None:
            return job.kernel.execute_notebook(str(nb_path), str(out_ipynb), params, execution_timeout=job.timeout)
        return pm.execute_notebook(str(nb_path), str(out_ipynb), parameters=params, kernel_name=job.kernel_name,
                                   progress_bar=False, log_output=False, cwd=None, execution_timeout=job.timeout,
                                   report_mode=False, extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    except pm.PapermillExecutionError as e:
        raise RenderError({f"{job.spec.name}/html": f"notebook cell {e.exec_count} raised {e.ename}: {e.evalue}"}) from None


#: the process's one HTML exporter (its template compiled once, ~0.3 s) and the lock its users
#: take: nbconvert exporters keep per-conversion state; a conversion is pure Python, so threads
#: running them one at a time lose no parallelism (the GIL ran them one at a time anyway)
_EXPORTER: dict[str, Any] = {}
_EXPORTER_LOCK = threading.Lock()

#: An output area's opening tag as nbconvert's lab templates write it (``class`` first)
_OUTPUT_AREA = re.compile(r'<div class="((?:[^"<>]*\s)?jp-OutputArea-output(?:\s[^"<>]*)?)"([^<>]*)>')


#: A ``<script>``/``<style>`` block (its text is not HTML: references in it stay as written), or a
#: numeric character reference (decimal or hex)
_CHAR_REF = re.compile(r"(<(script|style)\b.*?</\2\s*>)|&#(?:(\d+)|[xX]([0-9a-fA-F]+));", re.S | re.I)
#: Characters that stay references: markup (" & ' < >) and controls
_KEEP_ESCAPED = {34, 38, 39, 60, 62}


def _char(m: re.Match[str]) -> str:
    if m.group(1):  # a script or style block, as it is
        return m.group(1)
    n = int(m.group(3)) if m.group(3) else int(m.group(4), 16)
    if n in _KEEP_ESCAPED or n < 32 or 127 <= n < 160 or 0xD800 <= n < 0xE000 or n > 0x10FFFF:
        return m.group(0)
    return chr(n)


def _literal_text(page: str) -> str:
    """``page`` with numeric character references written as the characters they stand for,
    outside ``<script>``/``<style>`` and but for markup characters and controls. nbconvert
    writes each heading through ElementTree's ASCII serializer (its anchor link), so a Russian
    heading came out as ``&#1047;&#1072;…``; its BeautifulSoup pass wrote them back as text.
    The document is the same either way; the file stays readable and searchable, and smaller."""
    return _CHAR_REF.sub(_char, page)


def _focusable(m: re.Match[str]) -> str:
    rest = m.group(2)
    return m.group(0) if "tabindex=" in rest else f'<div class="{m.group(1)}"{rest} tabindex="0">'


def _exporter_class() -> type:
    """nbconvert's ``HTMLExporter`` without its BeautifulSoup pass over the finished page.

    nbconvert 7 parses each page it wrote with ``html.parser`` and writes it out again, only to
    give ``<img>`` tags without ``alt`` a placeholder text and input/output areas
    ``tabindex="0"``. On a report page (11,000 tags: the tables) that pass took 0.6–0.8 s of the
    8 demo pages' 1.3 s conversion, in this process's one thread (GIL) where the render waits on
    it. Report pages have no ``<img>`` and no input area (``--no-input``); the output areas get
    their ``tabindex`` here (:data:`_OUTPUT_AREA`), and headings their text as characters
    (:func:`_literal_text`). A test compares the document tree with stock nbconvert's on demo
    reports."""
    from b24reports.outputs.lean import skip_iri_grammar

    skip_iri_grammar()  # nbconvert -> nbformat -> jsonschema (lean.py)
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class ReportHTMLExporter(HTMLExporter):  # type: ignore[misc]
        def from_notebook_node(self, nb: Any, resources: dict[str, Any] | None = None,
                               **kw: Any) -> tuple[str, dict[str, Any]]:
            lang = nb.metadata.get("language_info", {})
            self.register_filter("highlight_code", self.filters.get(
                "highlight_code", Highlight2HTML(pygments_lexer=lang.get("pygments_lexer", lang.get("name")), parent=self)))
            resources = self._init_resources(resources)
            self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                notebook_metadata=self._nb_metadata, parent=self, resources=resources))
            page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return _literal_text(_OUTPUT_AREA.sub(_focusable, page)), resources

    return ReportHTMLExporter


def _exporter() -> Any:
    """The process's one exporter (made on first use; caller holds :data:`_EXPORTER_LOCK`)."""
    exp = _EXPORTER.get("html")
    if exp is None:  # one per process: its template is compiled once, not once per report or thread
        exp = _exporter_class()(template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES_DIR)])
        exp.exclude_input = exp.exclude_input_prompt = exp.exclude_output_prompt = True
        _EXPORTER["html"] = exp
    return exp


def prepare() -> None:
    """What this process's first report page would otherwise wait for: nbconvert and papermill
    imported, the exporter made and its template compiled (~0.3 s), plotly.js read.
    ``render_all`` runs it in a thread while its kernels warm up."""
    with _EXPORTER_LOCK:
        _exporter().template  # noqa: B018 - the property compiles it
    _plotlyjs()


def notebook_to_html(nb: Any, title: str, lang: str) -> str:
    """Executed notebook -> self-contained HTML without code (``--no-input``), offline
    template, stderr streams dropped (from ``nb`` itself). A warm kernel's notebook holds
    ``nb.PLOTLYJS_MARKER`` where plotly.js goes: plotly.js is written there, after nbconvert:
    the partial build when it draws every figure's trace types (:func:`page_traces`), else the
    whole plotly.js (:func:`plotlyjs.source`)."""
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    nb.metadata["title"] = title
    with _EXPORTER_LOCK:
        exp = _exporter()
        exp.language_code = lang
        body, _ = exp.from_notebook_node(nb, resources=page_resources(title, lang))
    from b24reports.outputs.nb import PLOTLYJS_MARKER

    traces = page_traces(body)
    body = TRACES_NOTE.sub("", body)
    if PLOTLYJS_MARKER in body:  # a warm kernel's notebook: plotly.js goes where plotly's renderer put it
        body = body.replace(PLOTLYJS_MARKER, plotlyjs.source(traces))
    return body


#: The fit of a chart to a phone's width, which the offline template inlines (``resources.b24r_fit_js``)
#: and the dashboard's chart widget shares; beside the partial plotly.js in ``outputs/static``
FIT_JS = plotlyjs.BUNDLE.with_name("fit.js")


@functools.cache
def _fit_js() -> str:
    return FIT_JS.read_text(encoding="utf-8")  # once per process, not once per page


def page_resources(title: str, lang: str) -> dict[str, Any]:
    """nbconvert's ``resources`` for a report page: its title, language and what the offline
    template inlines (``b24r_fit_js``: :data:`FIT_JS`)."""
    return {"metadata": {"name": title}, "language_code": lang, "b24r_fit_js": _fit_js()}


#: What ``nb``'s offline renderer writes before each figure: the figure's trace types.
TRACES_NOTE = re.compile(r"<!--b24r-traces ([a-z0-9,]*)-->")


def page_traces(body: str) -> set[str] | None:
    """The trace types of every figure of a page (:data:`TRACES_NOTE`), or None when some
    figure carries no note (drawn another way: its types are not known)."""
    notes = TRACES_NOTE.findall(body)
    if len(notes) != body.count("Plotly.newPlot("):
        return None
    return {t for note in notes for t in note.split(",") if t}


def _plotlyjs() -> str:
    """plotly.js's source for a page of the reports' own figures (:func:`plotlyjs.source`)."""
    return plotlyjs.source(plotlyjs.partial_traces() or ())


_RESULTS_LOCK = threading.Lock()
_RESULTS_DIR: Path | None = None
#: Environment variable naming the (0700) directory where render leaves computed results
#: for the notebook kernels it starts (``nb.open_report`` reads them; see ``write_html``).
RESULT_CACHE_ENV = "B24REPORTS_RESULT_CACHE"


def _results_dir() -> Path:
    global _RESULTS_DIR
    with _RESULTS_LOCK:
        if _RESULTS_DIR is None or not _RESULTS_DIR.exists():
            _RESULTS_DIR = Path(tempfile.mkdtemp(prefix="b24reports-results-"))
            atexit.register(shutil.rmtree, _RESULTS_DIR, True)
        os.environ[RESULT_CACHE_ENV] = str(_RESULTS_DIR)  # kernels inherit it at launch
        return _RESULTS_DIR


def write_html(job: RenderJob, path: Path) -> None:
    """``report.html``: papermill + nbconvert (see module docstring). One computation of the
    report serves every format, so the page shows the very numbers of ``metrics.json`` and Excel:

    * a result computed here already (``job.result``) is pickled for the kernel (key
      ``reports.result_cache_key``), which shows it and does not compute the report again;
    * without one (a warm kernel, ``render_report``), the notebook computes it and writes it
      to a file (``nb.RESULT_OUT_PARAM``) that becomes ``job.result`` here, for the formats
      exported after the page. When the notebook fails, the report is computed here: an error
      of the report itself (``BadInput``: a broken plan row) is then raised as itself, as it
      would have been before the notebook ran; otherwise the notebook's error is."""
    from b24reports.ingest.visibility import fingerprint
    from b24reports.outputs.nb import dump_result, load_result

    results = _results_dir()
    extra: dict[str, Any] = {}
    if job.result is not None:
        key = reports.result_cache_key(job.params, job.store, fingerprint(getattr(job.dataset, "visibility", None)))
        handoff = results / f"{key}.pkl"
        dump_result(job.result, handoff)
    else:
        handoff = results / f"{job.spec.name}-{secrets.token_hex(8)}.pkl"  # the notebook writes it (dump_result)
        extra[RESULT_OUT_PARAM] = str(handoff)
    try:
        try:
            nb = execute_notebook(job, job.tmp / "report.ipynb", extra)
        except RenderError:
            if job.result is None:  # an error of the report itself (a bad plan row, say) is raised as itself
                job.ensure_result()
            raise
        if job.result is None:
            job.result = load_result(job.spec, handoff, job.dataset, job.params)
    finally:
        handoff.unlink(missing_ok=True)
    path.write_text(notebook_to_html(nb, job.spec.title.get(job.lang, job.spec.name), job.lang), encoding="utf-8")
