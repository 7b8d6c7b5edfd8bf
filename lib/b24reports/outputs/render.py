"""Render reports to files: an exporters registry keyed by format (html, pdf, xlsx, json).

``render_report(name, store, params, out_dir)`` writes ``OUT/<report>/report.html``,
``report.pdf``, ``report.xlsx`` and ``metrics.json`` (METRICS.md "Outputs"):

* ``json``/``xlsx`` come from the ``ReportResult`` computed in-process (the same
  ``spec.run`` the notebook calls);
* ``html``: papermill runs ``notebooks/<report>.ipynb`` (kernel ``python3``) with the
  *resolved* parameters (so ``as_of`` and defaults match the json), then nbconvert with
  ``--no-input`` and the offline template ``templates/b24reports_offline`` (zero external
  requests; plotly.js inlined);
* ``pdf``: headless chromium prints ``report.html`` (flags from rendering-notes.md).

Every file is first written to a temporary directory inside ``out_dir`` and moved into place
only when complete; a format that failed leaves no stale file of a previous run. The
notebook gets only the store path, never a webhook.
"""

from __future__ import annotations

import atexit
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from b24reports.core import columns as _columns
from b24reports import reports
from b24reports.core.errors import B24ReportsError, BadInput, BadParameter
from b24reports.core.i18n import t

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "b24reports_offline"
FORMATS: tuple[str, ...] = ("html", "pdf", "xlsx", "json")
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class RenderError(B24ReportsError):
    """Some formats of a render failed. ``failures``: {"report/format": one-line reason};
    ``outputs``: what was written anyway ({report: {format: Path}})."""

    def __init__(self, failures: Mapping[str, str], outputs: Mapping[str, Mapping[str, Path]] | None = None):
        self.failures, self.outputs = dict(failures), {k: dict(v) for k, v in (outputs or {}).items()}
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.failures.items()))


class ChromiumNotFound(B24ReportsError):
    """No chromium/chrome executable on PATH (PDF only)."""

    def __init__(self):
        super().__init__(
            "PDF needs chromium, which is not on PATH: install it with `sudo apt-get install -y chromium` "
            "(or set B24REPORTS_CHROMIUM to a chrome executable); the other formats were written")


@dataclass
class RenderJob:
    """What the exporters of one report run share."""

    spec: reports.ReportSpec
    result: reports.ReportResult
    store: Path
    tmp: Path
    generated_at: dt.datetime
    kernel_name: str = "python3"
    timeout: int = 600
    files: dict[str, Path] = field(default_factory=dict)
    dataset: Any = None  # the loaded Dataset (names for the Excel key columns); None = ids only
    kernel: Any = None   # a kernels.WarmKernel or KernelPool to run the notebook on; None = a fresh kernel

    @property
    def lang(self) -> str:
        return self.result.params["lang"]


@dataclass(frozen=True)
class Exporter:
    """A registry entry: ``fmt`` (format key), ``filename`` (in ``OUT/<report>/``),
    ``write(job, path)`` producing the file, ``needs`` (formats that must be built first)."""

    fmt: str
    filename: str
    write: Callable[[RenderJob, Path], None]
    needs: tuple[str, ...] = ()


EXPORTERS: dict[str, Exporter] = {}


def register_exporter(exp: Exporter) -> Exporter:
    """Add (or replace) the exporter of ``exp.fmt``."""
    EXPORTERS[exp.fmt] = exp
    return exp


# --------------------------------------------------------------------------- json


def write_json(job: RenderJob, path: Path) -> None:
    """``metrics.json`` (see ``ReportResult.to_metrics_json``), UTF-8."""
    path.write_text(job.result.metrics_json_text(job.generated_at), encoding="utf-8")


# --------------------------------------------------------------------------- xlsx

_XLSX_NUM = {"money": "#,##0.00", "pct": "0.0", "ratio": "0.00", "number": "#,##0.00", "days": "0.0", "int": "#,##0", "id": "0"}


def _excel_value(v: Any, kind: str) -> Any:
    from b24reports.core.i18n import is_null

    if kind == "list":
        return ", ".join(str(x) for x in reports.json_value(v, "list"))
    if is_null(v):
        return None
    if kind in ("date", "datetime"):
        if isinstance(v, str):
            return v
        if hasattr(v, "to_pydatetime"):
            v = v.to_pydatetime()
        if isinstance(v, dt.datetime):
            v = v.replace(tzinfo=None)  # wall-clock time in portal tz (Excel has no offsets)
            return v if kind == "datetime" else v.date()
        return v
    return reports.json_value(v, kind)


_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
#: Excel's limit on a sheet name, characters
SHEET_MAX = 31
#: words a cut sheet name must not end with (a dangling "и"/"by" reads as a cut mid-phrase)
_DANGLING = frozenset("и или а но по в во на с со к ко о об от до из за для без при у "
                      "and or but by of the for per to in on at a an with from vs".split())


def _cut_words(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` chars after a whole word, without a dangling
    conjunction/preposition at its end (:data:`_DANGLING`) nor trailing punctuation; ``""``
    when that keeps less than half of ``limit``."""
    words = text[:limit + 1].split(" ")[:-1] if len(text) > limit else text.split(" ")
    while words and (words[-1].lower() in _DANGLING or not words[-1].strip(" ,.;-—")):
        words.pop()
    cut = " ".join(words).rstrip(" ,.;-—")
    return cut if len(cut) >= limit // 2 else ""


def excel_sheet_names(titles: Iterable[str], reserved: Iterable[str] = ()) -> list[str]:
    """Excel-safe, unique sheet names for ``titles`` (in order): ``": "`` becomes ``" — "``
    (``Что если — итого``), other ``[]:*?/\\`` become spaces,
    leading/trailing apostrophes and blanks are dropped, at most :data:`SHEET_MAX` (31) chars:
    a longer title is cut after a whole word, never ending in a dangling "и"/"по"/"by"
    (``Накопление открытых и просроченных`` -> ``Накопление открытых``); a title without such
    a cut (one long word) is cut to 30 chars + ``…``. A name already used (case-insensitive,
    including ``reserved``) gets `` (2)``, `` (3)``… within 31 chars, cut the same way; an
    empty title becomes ``Sheet<n>``."""
    used = {r.lower() for r in reserved}
    out = []
    for i, title in enumerate(titles, start=1):
        base = " ".join(_SHEET_BAD.sub(" ", str(title).replace(": ", " — ")).split()).strip("'").strip() or f"Sheet{i}"
        if len(base) > SHEET_MAX:
            base = _cut_words(base, SHEET_MAX) or base[:SHEET_MAX - 1].rstrip() + "…"
        name, n = base, 1
        while name.lower() in used:
            n += 1
            suffix = f" ({n})"
            room = SHEET_MAX - len(suffix)
            stem = base if len(base) <= room else (_cut_words(base, room) or base[:room - 1].rstrip() + "…")
            name = stem + suffix
        used.add(name.lower())
        out.append(name)
    return out


def xlsx_sheet_names(spec: reports.ReportSpec, lang: str) -> dict[str, str]:
    """``{table id: Excel sheet name}`` of ``spec``'s tables in ``lang``: the localized
    ``TableSpec.title`` (else its ``sheet_name``) made Excel-safe and unique next to the
    "about" sheet (:func:`excel_sheet_names`)."""
    titles = [ts.title.get(lang) or ts.sheet_name for ts in spec.tables.values()]
    return dict(zip(spec.tables, excel_sheet_names(titles, reserved=[t("about_sheet", lang)])))


def _key_header(col: str, lang: str) -> str:
    """Header of a key column followed by its name column: ``Воронка (ID)`` / ``Стадия (код)``."""
    h = _columns.header(col, lang)
    if "ID" in h or "код" in h or "code" in h:
        return h
    if _columns.kind_of(col) == "code":
        return f"{h} (код)" if lang == "ru" else f"{h} code"
    return f"{h} (ID)" if lang == "ru" else f"{h} ID"


def excel_name_maps(job: RenderJob) -> dict[str, dict[Any, str]]:
    """``{key column id: {raw value: name}}`` for Excel's name columns: the very labels the
    HTML/PDF tables show (``nb.ReportView.labels``, one definition: employees "Surname Name",
    pipelines, stages, lead statuses, sources, departments, projects from the store), with
    ``responsible_id`` named like ``employee_id``. ``{}`` without a dataset (ids only)."""
    if job.dataset is None:
        return {}
    from b24reports.outputs.nb import ReportView

    maps = dict(ReportView(job.result, job.dataset).labels)
    if "employee_id" in maps:
        maps.setdefault("responsible_id", maps["employee_id"])
    return maps


#: Pairs of columns of which a table fills one per run (marketing ``top5``: leads per ``day`` for
#: a short period, else per ``month``); Excel leaves out the one that is empty throughout.
ALTERNATIVE_COLUMNS = (("day", "month"),)


def _excel_columns(columns: Sequence[str], df: Any) -> list[str]:
    """``columns`` of a table as Excel shows them: without the unused one of a pair of
    :data:`ALTERNATIVE_COLUMNS` (all null while its partner has values); ``metrics.json`` keeps both."""
    cols = list(columns)
    for pair in ALTERNATIVE_COLUMNS:
        if all(c in cols and c in df.columns for c in pair) and len(df):
            empty = [c for c in pair if df[c].isna().all()]
            if len(empty) == 1:
                cols.remove(empty[0])
    return cols


def _null_key(value: Any, column_id: str) -> bool:
    """A key value that means "none": null, or project 0 (Bitrix24 ``GROUP_ID`` 0: no project)."""
    from b24reports.core.i18n import is_null

    if is_null(value):
        return True
    return column_id == "group_id" and str(value) in ("0", "0.0")


def write_xlsx(job: RenderJob, path: Path) -> None:
    """One sheet per declared table, named by its localized ``TableSpec.title`` (Excel-safe,
    unique: :func:`excel_sheet_names`) with localized headers, number formats by column
    kind, frozen header row and autofilter. Each key column (employee, department, project,
    pipeline, stage, lead status, source id) is followed by a readable name column, named as
    in the HTML tables (:func:`excel_name_maps`, from ``job.dataset``); the plan's whole-team
    row names its owner "Вся команда" like the HTML (``i18n.team_row_label``); enum codes show their localized
    label (``i18n.value_label``). Then an "about" sheet (localized parameter labels with raw
    values, as_of, portal, warnings in ``lang``). Text cells are written as strings, never as
    formulas (CRM text like ``=HYPERLINK(...)`` stays text, names included)."""
    import xlsxwriter

    from b24reports.metrics.labels import lookup_name, with_name_columns
    from b24reports.views.common import is_dead_link
    from b24reports.core.i18n import (
        OWNER_COLUMNS,
        TEAM_ROW_TABLES,
        null_key_label,
        param_label,
        team_row_label,
        translate_warning,
        value_label,
    )

    res, lang = job.result, job.lang
    maps = excel_name_maps(job)
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False,
                                         "strings_to_numbers": False, "remove_timezone": True})
    try:
        hdr = wb.add_format({"bold": True, "bg_color": "#F2F4F7", "bottom": 1, "text_wrap": True, "valign": "top"})
        fmts = {k: wb.add_format({"num_format": f}) for k, f in _XLSX_NUM.items()}
        fmts["date"] = wb.add_format({"num_format": "dd.mm.yyyy" if lang == "ru" else "yyyy-mm-dd"})
        fmts["datetime"] = wb.add_format({"num_format": "dd.mm.yyyy hh:mm" if lang == "ru" else "yyyy-mm-dd hh:mm"})
        about = t("about_sheet", lang)
        sheet_names = xlsx_sheet_names(res.spec, lang)
        for tid, ts in res.spec.tables.items():
            ws = wb.add_worksheet(sheet_names[tid])
            df = res.tables[tid]
            layout = with_name_columns(_excel_columns(ts.columns, df), maps)
            named = {key for _, key in layout if key}
            kinds = [_columns.kind_of(c) if key is None else "text" for c, key in layout]
            for j, (c, key) in enumerate(layout):
                ws.write_string(0, j, _key_header(c, lang) if c in named else _columns.header(c, lang, res.report), hdr)
                ws.set_column(j, j, 28 if kinds[j] in ("text", "url") else 14)
            raw = {c: df[c].tolist() for c in ts.columns}
            data = [[lookup_name(maps, key, x) for x in raw[key]] if key else raw[c] for c, key in layout]
            owners = [o for o in OWNER_COLUMNS if o in raw]
            for j, (c, key) in enumerate(layout):  # the whole-team row's name cell: "Вся команда", as in HTML
                if key in owners and tid in TEAM_ROW_TABLES:
                    data[j] = [name if name is not None else
                               team_row_label(tid, key, {o: raw[o][i] for o in owners}, lang)
                               for i, name in enumerate(data[j])]
            for j, (c, key) in enumerate(layout):  # a null source, UTM tag or project: "Не указан", "Без проекта"
                col = key or c  # a name column (of key column ``key``) or a text column (UTM tags)
                empty = null_key_label(col, lang)
                if empty is not None and (key is not None or _columns.kind_of(c) == "text"):
                    data[j] = [empty if _null_key(raw[col][i], col) else x for i, x in enumerate(data[j])]
            for i in range(len(df)):
                for j, k in enumerate(kinds):
                    label = value_label(layout[j][0], data[j][i], lang) if layout[j][1] is None else None
                    v = label if label is not None else _excel_value(data[j][i], k)
                    r = i + 1
                    if v is None:
                        ws.write_blank(r, j, None)
                    elif k == "bool":
                        ws.write_boolean(r, j, bool(v))
                    elif k in _XLSX_NUM and isinstance(v, int | float):
                        ws.write_number(r, j, v, fmts[k])
                    elif k in ("date", "datetime") and isinstance(v, dt.date):
                        ws.write_datetime(r, j, v if isinstance(v, dt.datetime) else dt.datetime.combine(v, dt.time()), fmts[k])
                    elif (k == "url" and isinstance(v, str) and v.lower().startswith(("http://", "https://")) and len(v) < 2000
                          and not is_dead_link(v)):
                        ws.write_url(r, j, v, string=v)
                    else:
                        ws.write_string(r, j, str(v))
            ws.freeze_panes(1, 0)
            ws.autofilter(0, 0, max(len(df), 1), max(len(layout) - 1, 0))
        ws = wb.add_worksheet(about[:31])
        ws.set_column(0, 0, 24)
        ws.set_column(1, 1, 60)
        ws.write_string(0, 0, t("parameter", lang), hdr)
        ws.write_string(0, 1, t("value", lang), hdr)
        rows = [(t("report", lang), res.spec.title.get(lang, res.report)), (t("portal", lang), res.portal),
                (t("as_of", lang), res.as_of.isoformat()), (t("generated_at", lang), job.generated_at.isoformat())]
        unread = set() if res.spec.period else {"date_from", "date_to"}  # plan reads no period (ReportSpec.period)
        rows += [(param_label(k, lang), "" if v is None else (", ".join(map(str, v)) if isinstance(v, list) else str(v)))
                 for k, v in res.params.to_json().items() if k not in unread]
        rows += [(t("warnings", lang), translate_warning(w, lang)) for w in res.warnings]
        for i, (k, v) in enumerate(rows, start=1):
            ws.write_string(i, 0, str(k))
            ws.write_string(i, 1, str(v))
    finally:
        wb.close()


# --------------------------------------------------------------------------- html


def execute_notebook(job: RenderJob, out_ipynb: Path) -> Any:
    """Run the report's notebook with papermill (Python API) into ``out_ipynb``; returns
    the executed notebook node. Parameters injected: the resolved ``Params.to_raw()`` and
    ``store`` (absolute path). The kernel runs in this process's working directory, so
    relative paths (e.g. ``plan=params/plan.csv``) mean the same as in-process. Raises
    ``RenderError`` with the failing cell's error."""
    import nbformat
    import papermill as pm

    nb_path = job.spec.notebook_path
    if not nb_path.exists():
        raise RenderError({f"{job.spec.name}/html": f"notebook {nb_path} does not exist"})
    params = {**job.result.params.to_raw(), "store": str(job.store.resolve())}
    try:
        if job.kernel is not None:
            job.kernel.execute_notebook(str(nb_path), str(out_ipynb), params, execution_timeout=job.timeout)
        else:
            pm.execute_notebook(str(nb_path), str(out_ipynb), parameters=params, kernel_name=job.kernel_name,
                                progress_bar=False, log_output=False, cwd=None, execution_timeout=job.timeout,
                                report_mode=False, extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
    except pm.PapermillExecutionError as e:
        raise RenderError({f"{job.spec.name}/html": f"notebook cell {e.exec_count} raised {e.ename}: {e.evalue}"}) from None
    return nbformat.read(str(out_ipynb), as_version=4)


_EXPORTER = threading.local()


def notebook_to_html(nb: Any, title: str, lang: str) -> str:
    """Executed notebook -> self-contained HTML without code (``--no-input``), offline
    template, stderr streams dropped."""
    from nbconvert import HTMLExporter

    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    nb.metadata["title"] = title
    exp = getattr(_EXPORTER, "html", None)
    if exp is None:  # one per thread: its template is compiled once, not once per report
        exp = HTMLExporter(template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES_DIR)])
        exp.exclude_input = exp.exclude_input_prompt = exp.exclude_output_prompt = True
        _EXPORTER.html = exp
    exp.language_code = lang
    body, _ = exp.from_notebook_node(nb, resources={"metadata": {"name": title}, "language_code": lang})
    return body


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
    """``report.html``: papermill + nbconvert (see module docstring). The in-process result
    is pickled for the kernel (key ``reports.result_cache_key``), so the notebook shows the
    very numbers of ``metrics.json``/Excel and does not compute the report again."""
    import pickle

    cache = _results_dir() / f"{reports.result_cache_key(job.result.params, job.store)}.pkl"
    res = job.result
    cache.write_bytes(pickle.dumps({"tables": res.tables, "warnings": res.warnings, "notes": res.notes}))
    try:
        nb = execute_notebook(job, job.tmp / "report.ipynb")
    finally:
        cache.unlink(missing_ok=True)
    path.write_text(notebook_to_html(nb, job.spec.title.get(job.lang, job.spec.name), job.lang), encoding="utf-8")


# --------------------------------------------------------------------------- pdf


def find_chromium() -> str | None:
    """Path of a chromium/chrome executable: env ``B24REPORTS_CHROMIUM``, else the first of
    :data:`CHROMIUM_NAMES` on PATH, else ``None``."""
    env = os.environ.get("B24REPORTS_CHROMIUM")
    if env:
        return env if Path(env).exists() else shutil.which(env)
    for n in CHROMIUM_NAMES:
        p = shutil.which(n)
        if p:
            return p
    return None


def html_to_pdf(html_path: Path, pdf_path: Path, timeout: int = 120) -> None:
    """Print ``html_path`` to ``pdf_path`` (A4, by the page's print CSS) with headless
    chromium. Raises ``ChromiumNotFound`` or ``RenderError``."""
    exe = find_chromium()
    if exe is None:
        raise ChromiumNotFound()
    with tempfile.TemporaryDirectory(prefix="b24r-chromium-") as profile:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--no-pdf-header-footer", "--virtual-time-budget=5000",
               f"--print-to-pdf={pdf_path}", html_path.resolve().as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RenderError({"pdf": f"chromium did not finish within {timeout} s"}) from None
    if not pdf_path.exists() or pdf_path.stat().st_size == 0:
        last = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
        raise RenderError({"pdf": f"chromium exited {proc.returncode} without a PDF: {last[0][:200]}"})


def write_pdf(job: RenderJob, path: Path) -> None:
    """``report.pdf`` from the ``report.html`` built in the same run."""
    html_to_pdf(job.files["html"], path)


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
                  kernel: Any = None) -> dict[str, Path]:
    """Render report ``name`` from the DuckDB ``store`` into ``out_dir/<name>/``.

    ``params``: raw parameter values (CLI strings or Python values) of the report's declared
    parameters. ``formats``: some of ``html``, ``pdf``, ``xlsx``, ``json``. ``generated_at``:
    the run's timestamp (default now, UTC). ``dataset``: an already loaded Dataset of the same
    store (saves a reload; the notebook still reads ``store``). ``kernel``: a
    :class:`~b24reports.outputs.kernels.WarmKernel` or ``KernelPool`` to run the notebook on (default:
    a fresh kernel).

    Returns {format: Path of the written file}. Raises ``BadParameter``/``BadInput`` before
    writing anything; ``RenderError`` (``.outputs`` holds what was written) when some
    formats failed — ``ChromiumNotFound`` when only the PDF failed for lack of chromium.
    """
    fmts = parse_formats(formats)
    spec = reports.get(name)
    store = Path(store)
    ds = dataset if dataset is not None else _load(store)
    result = spec.run(ds, params or {})
    generated_at = generated_at or dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    out_root = Path(out_dir)
    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-tmp-", dir=out_root))
    job = RenderJob(spec, result, store, tmp, generated_at, kernel_name, timeout, dataset=ds, kernel=kernel)
    todo: list[str] = []
    for f in fmts:
        for dep in (*EXPORTERS[f].needs, f):
            if dep not in todo:
                todo.append(dep)
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
               kernel_name: str = "python3", warm_kernels: bool = True) -> dict[str, dict[str, Path]]:
    """Render every registered report (or ``names``) into ``out_dir``, ``workers`` at a time
    (threads). With ``warm_kernels`` (default) each worker runs its notebooks on one
    :class:`~b24reports.outputs.kernels.WarmKernel` (started, imported and loaded with the store once,
    its namespace cleared between reports); without, each notebook gets a fresh kernel.

    ``params`` are handed to the reports that declare them (``reports.split_params``); one
    no report declares, or any value a report refuses, raises ``BadParameter`` before
    anything runs. The store is loaded once.
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
    pool_of_kernels = None
    if warm_kernels and ("html" in fmts or "pdf" in fmts):
        # one warm kernel per worker, started now so that it imports and loads the store while
        # this process loads it too and checks the parameters (a store never synced is refused
        # first, as _load would)
        from b24reports.outputs.kernels import KernelPool
        from b24reports.ingest.store import check_synced

        check_synced(store)
        _results_dir()  # the kernels inherit the result-cache directory at start
        pool_of_kernels = KernelPool(min(max(1, workers), len(specs)), kernel_name, store)
    try:
        return _render_specs(specs, per_report, store, out_dir, fmts, generated_at, workers, progress,
                             kernel_name, pool_of_kernels)
    finally:
        if pool_of_kernels is not None:
            pool_of_kernels.close()


def _render_specs(specs: list, per_report: dict, store: Any, out_dir: Any, fmts: tuple[str, ...],
                  generated_at: dt.datetime | None, workers: int, progress: bool, kernel_name: str,
                  pool_of_kernels: Any) -> dict[str, dict[str, Path]]:
    """:func:`render_all` once its syntax checks passed and its kernels are starting."""
    ds = _load(store)
    now = dt.datetime.now(getattr(ds, "timezone", None) or dt.timezone.utc).replace(microsecond=0).isoformat()
    for s in specs:  # one "now" for the whole run, so every report shows the same as_of
        if per_report[s.name].get("as_of") in (None, "", "now"):
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
                             kernel_name=kernel_name, kernel=pool_of_kernels)

    _run_all(specs, run_one, outputs, failures, bar, started, workers)
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
