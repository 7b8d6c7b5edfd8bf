"""What a report notebook imports: open a report, then show headings, tables and figures.

A notebook holds no logic (docs/reports-howto.md)::

    # cell tagged "parameters": every declared parameter (None = default) and the store
    store = None
    date_from = None
    ...
    # next cell
    from b24reports.outputs import nb
    r = nb.open_report("funnel", store=store, params=globals())
    r.header()
    r.table("stages")
    r.figure(views.funnel.stages_chart(r.result, r.lang))

Plotly renderer: under Voila (``VOILA_KERNEL_ID`` set) ``plotly_mimetype`` (light page);
everywhere else (papermill, nbconvert, Jupyter) ``b24reports_offline``: plotly's ``notebook``
renderer (plotly.js inlined once, so static HTML shows charts offline, rendering-notes.md)
minus the MathJax CDN script it adds to every figure. In ``render``'s warm kernels
(:data:`PLOTLYJS_AT_EXPORT_ENV` set) that renderer puts :data:`PLOTLYJS_MARKER` where the
4.8 MB plotly.js would go, and ``render``'s HTML export writes plotly.js there: the same page,
without carrying the library through the kernel's messages, the notebook and nbconvert.
"""

from __future__ import annotations

import os
import threading
import warnings as _warnings
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from b24reports import reports
from b24reports.core.errors import BadParameter
from b24reports.core.i18n import format_date, format_datetime, t
from b24reports.metrics.labels import name_maps
from b24reports.outputs import plotlyjs
from b24reports.views import common as vc

_PLOTLY_CONFIG = {"displaylogo": False, "responsive": False}


OFFLINE_RENDERER = "b24reports_offline"
#: Environment variable ``render`` sets for its warm kernels: plotly.js is written at export
#: (``render.html.notebook_to_html``), the notebook holds :data:`PLOTLYJS_MARKER` instead.
PLOTLYJS_AT_EXPORT_ENV = "B24REPORTS_PLOTLYJS_AT_EXPORT"
#: What stands for plotly.js's source in such a notebook (inside its ``<script>``).
PLOTLYJS_MARKER = "/* b24reports: plotly.js is written here at export */"


def _register_offline_renderer() -> None:
    """Register plotly renderer ``b24reports_offline``: the stock ``notebook`` renderer
    (plotly.js inlined once per page) without its per-figure MathJax CDN ``<script>``; with
    :data:`PLOTLYJS_AT_EXPORT_ENV` set, :data:`PLOTLYJS_MARKER` stands in the page for plotly.js."""
    import plotly.io as pio
    import plotly.io._base_renderers as base_renderers
    from plotly.io._base_renderers import NotebookRenderer

    class OfflineNotebookRenderer(NotebookRenderer):
        def activate(self):
            if not os.environ.get(PLOTLYJS_AT_EXPORT_ENV):
                return super().activate()
            # plotly's own page prologue, with the marker where it puts get_plotlyjs()
            real = base_renderers.get_plotlyjs
            base_renderers.get_plotlyjs = lambda: PLOTLYJS_MARKER
            try:
                return super().activate()
            finally:
                base_renderers.get_plotlyjs = real

        def to_mimebundle(self, fig_dict):
            html = pio.to_html(fig_dict, config=self.config, auto_play=self.auto_play, include_plotlyjs=False,
                               include_mathjax=False, full_html=False, animation_opts=self.animation_opts,
                               default_width="100%", default_height=525, validate=False)
            # the figure's trace types, for the export to pick the plotly.js that draws them
            # (render.html.page_traces; the note is removed from the page there)
            traces = ",".join(sorted(plotlyjs.figure_traces(fig_dict.get("data") or ())))
            return {"text/html": f"<!--b24r-traces {traces}-->{html}"}

    if OFFLINE_RENDERER not in pio.renderers:
        pio.renderers[OFFLINE_RENDERER] = OfflineNotebookRenderer(config=dict(_PLOTLY_CONFIG))


def setup_plotly() -> str:
    """Pick the plotly renderer for this kernel (see module docstring); returns its name:
    ``plotly_mimetype`` under Voila, else :data:`OFFLINE_RENDERER`. Also makes the report
    template plotly's default (``views.common.use_report_template``): figures built afterwards
    carry it from construction, which is ~6× cheaper than applying it to each figure."""
    import plotly.io as pio

    vc.use_report_template()

    if os.environ.get("VOILA_KERNEL_ID"):
        name = "plotly_mimetype"
    else:
        _register_offline_renderer()
        name = OFFLINE_RENDERER
    pio.renderers.default = name
    return name


def warm_plotly() -> None:
    """Build and serialize one figure of each trace type the reports draw, with the report
    template (:func:`setup_plotly` first): plotly builds a property's validator on its first
    use (~1 s for a report's figures), so the first report of a kernel, or of every kernel
    forked from a process that ran this, does not pay it."""
    import plotly.graph_objects as go
    import plotly.io as pio

    setup_plotly()
    fig = go.Figure([go.Bar(x=[1], y=[1]), go.Scatter(x=[1], y=[1]), go.Heatmap(z=[[1]]), go.Funnel(x=[1], y=["a"]),
                     go.Waterfall(x=["a"], y=[1]), go.Pie(values=[1])])
    fig.update_layout(title="warm-up", legend={"orientation": "h"})
    pio.to_html(fig, include_plotlyjs=False, full_html=False)


def _display_html(html: str) -> None:
    from IPython.display import HTML, display

    display(HTML(html))


class ReportView:
    """A computed report inside a notebook: ``result`` (``ReportResult``), ``params``,
    ``dataset``, ``lang``, ``currency``, and display helpers in the report language.
    ``live`` is set by a Voila dashboard (``dashboard.open_live``): the key columns (e.g.
    ``employee_id``) whose table cells a click refilters by."""

    live: frozenset[str] = frozenset()

    def __init__(self, result: reports.ReportResult, dataset: Any):
        self.result, self.dataset = result, dataset
        self.spec, self.params = result.spec, result.params
        self.lang: str = result.params["lang"]
        self.currency: str = result.params["currency"]

    @property
    def tables(self) -> dict[str, Any]:
        """The result's tables (``{table_id: DataFrame}``)."""
        return self.result.tables

    def t(self, key: str, **fmt: Any) -> str:
        """UI string ``key`` in the report language (``b24reports.core.i18n.STRINGS``)."""
        return t(key, self.lang, **fmt)

    def text(self, by_lang: Mapping[str, str]) -> str:
        """Pick the report-language text from ``{"ru": …, "en": …}``."""
        return by_lang.get(self.lang) or next(iter(by_lang.values()))

    @cached_property
    def labels(self) -> dict[str, dict[Any, str]]:
        """Display names for key columns: ``employee_id`` (user name), ``pipeline_id``,
        ``stage_id`` (deal stage names), ``status_id`` (lead statuses), ``source_id``,
        ``department_id``, ``group_id`` (:func:`b24reports.metrics.labels.name_maps`, the one
        definition the Excel export uses too), a dismissed employee marked in the report's
        language; used by :meth:`table`."""
        return name_maps(self.dataset, self.lang)

    # ---- display helpers (each displays and returns None, so a cell's last line shows nothing more)

    def html(self, html: str) -> None:
        """Display raw HTML (already escaped by the caller)."""
        _display_html(html)

    def md(self, text: str | Mapping[str, str]) -> None:
        """Display Markdown prose; ``text`` is a string or ``{"ru": …, "en": …}``; an empty
        text displays nothing (a view's sentence that does not apply)."""
        from IPython.display import Markdown, display

        s = self.text(text) if isinstance(text, Mapping) else text
        if s:
            display(Markdown(s))

    def heading(self, text: str | Mapping[str, str], level: int = 2) -> None:
        """Display a Markdown heading of ``level`` (1..4)."""
        self.md("#" * level + " " + (self.text(text) if isinstance(text, Mapping) else text))

    def header(self) -> None:
        """Title, period (if the report reads one, ``ReportSpec.period``), as_of, portal,
        currency, whose records when the data is cut to one person's Bitrix24 rights (a
        viewer in app mode, a scheduled recipient), and data-quality warnings of the run."""
        p = self.params
        self.heading(self.spec.title, 1)
        facts = [(self.t("as_of"), format_datetime(p["as_of"], self.lang)), (self.t("currency"), p["currency"])]
        if self.spec.period:  # a report that reads no period (plan) names none
            period = f"{format_date(p['date_from'], self.lang)} — {format_date(p['date_to'], self.lang)}"
            facts.insert(0, (self.t("period"), period))
        if self.result.portal:
            facts.append((self.t("portal"), vc.portal_label(self.result.portal, self.lang)))
        vis = getattr(self.dataset, "visibility", None)
        if vis is not None and not vis.sees_all:
            who = self.labels.get("employee_id", {}).get(vis.user_id) or f"#{vis.user_id}"
            facts.append((self.t("visible_to"), who))
        import html as _h

        self.html("<p>" + " · ".join(f"{_h.escape(k)}: <b>{_h.escape(v)}</b>" for k, v in facts) + "</p>")
        if self.spec.description:
            self.md(self.spec.description)
        self.warnings()

    def footer(self) -> None:
        """The page's foot: how every number of this report is computed — its section of
        docs/metrics.md and the common rules, in the page's language, on the page itself
        (``views.common.metrics_appendix``); a line naming the file when the docs are not here."""
        blocks = vc.metrics_appendix(self.spec.name, self.lang)
        if blocks is None:
            self.html(vc.footer_html(self.spec.name, self.lang))
            return
        self.html('<div class="b24-footer"></div>')
        for text in blocks:  # the print CSS keeps the first (heading) whole and lets the rest break
            self.md(text)

    def warnings(self) -> None:
        """Display the run's warnings (nothing when there are none)."""
        h = vc.warnings_html(self.result.warnings, self.lang, names=self.labels.get("employee_id"))
        if h:
            self.html(h)

    def table(self, table_id: str, df: Any = None, *, max_rows: int | None = 50, title: str | None = None,
              names: bool = True, columns: list[str] | None = None) -> None:
        """Display declared table ``table_id`` (or ``df`` with that table's columns) as a
        localized HTML table; key columns show names (:attr:`labels`) when ``names``;
        ``columns``: only these of the table's columns (the page leaves out what its text says
        once; Excel and metrics.json keep every column). ``KeyError`` for a column the table
        does not declare."""
        import dataclasses

        ts = self.spec.tables[table_id]
        if columns is not None:
            unknown = [c for c in columns if c not in ts.columns]
            if unknown:
                raise KeyError(f"table {table_id!r} has no column {unknown[0]!r}")
            ts = dataclasses.replace(ts, columns=list(columns))
        frame = self.result.tables[table_id] if df is None else df
        self.html(vc.table_html(frame, ts, self.lang, self.currency, max_rows=max_rows, title=title,
                                       labels=self.labels if names else None, keys=self.live, table_id=table_id,
                                       report=self.spec.name))

    def figure(self, fig: Any, title: str | None = None) -> None:
        """Style (``views.common.style_figure``) and display a plotly figure; ``None``
        shows the no-data message instead."""
        if fig is None:
            self.no_data()
            return
        vc.style_figure(fig, title, lang=self.lang)
        hook = getattr(self, "figure_hook", None)  # live dashboard (b24reports.outputs.dashboard) under Voila
        if hook is not None:
            hook(fig, _PLOTLY_CONFIG)
        else:
            fig.show(config=_PLOTLY_CONFIG)

    def kpis(self, items: list[tuple[str, Any, str]]) -> None:
        """Display headline numbers: ``(label, value, kind)`` items (see ``kpi_cards``)."""
        self.html(vc.kpi_cards(items, self.lang, self.currency))

    def no_data(self) -> None:
        """Display "Нет данных за период" / "No data for the period"."""
        self.html(vc.no_data(self.lang))


#: Notebook parameter ``render`` injects (it is no report parameter) when a warm kernel's
#: notebook is to compute the report for the other formats too: the path :func:`open_report`
#: writes the result to (:func:`dump_result`), which ``render`` reads (:func:`load_result`).
RESULT_OUT_PARAM = "b24_result_out"


def dump_result(result: reports.ReportResult, path: str | os.PathLike) -> None:
    """Write what ``result`` computed (its tables, warnings and notes; pickle) to ``path``, whole
    or not at all (a temporary file replaced into place). Readers: :func:`load_result`."""
    import pickle
    from pathlib import Path

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(pickle.dumps({"tables": result.tables, "warnings": result.warnings, "notes": result.notes}))
    os.replace(tmp, path)


def load_result(spec: reports.ReportSpec, path: str | os.PathLike, dataset: Any, params: Any) -> reports.ReportResult:
    """The result :func:`dump_result` wrote to ``path``, for ``params`` (validated against
    ``dataset``), as ``spec.run`` builds it (``reports.make_result``; checked against the spec).
    Raises ``OSError`` (no file), ``pickle.UnpicklingError``, ``ReportDefinitionError``."""
    import pickle
    from pathlib import Path

    d = pickle.loads(Path(path).read_bytes())
    res = reports.make_result(dataset, params, d["tables"], d["warnings"], d["notes"])
    spec.check_result(res)
    return res


def _cached_result(spec: reports.ReportSpec, raw: Mapping[str, Any], dataset: Any, store: Any) -> reports.ReportResult | None:
    """The result ``render`` already computed for these params and store (see
    ``render.write_html``), or ``None`` (then the notebook computes it)."""
    from pathlib import Path

    from b24reports.ingest.visibility import fingerprint

    folder = os.environ.get("B24REPORTS_RESULT_CACHE")
    if not folder or not isinstance(store, str | os.PathLike):
        return None
    try:
        params = spec.parse_params(raw).validate_against(dataset)
        key = reports.result_cache_key(params, store, fingerprint(getattr(dataset, "visibility", None)))
        f = Path(folder) / f"{key}.pkl"
        if not f.exists():
            return None
        return load_result(spec, f, dataset, params)
    except Exception:  # noqa: BLE001 - any doubt: compute instead
        return None


_DATASETS: dict[tuple[str, int, int], Any] = {}
_DATASETS_LOCK = threading.Lock()
#: How many times this process read a store (``Dataset.load`` calls of :func:`load_dataset`): a
#: kernel forked from ``serve``'s zygote inherits its Dataset and its count.
LOADS = 0
#: stores whose Dataset a kernel keeps (a render kernel serves one store; an analyst may switch)
DATASETS_KEPT = 2


def load_dataset(store: str | os.PathLike) -> Any:
    """The :class:`~b24reports.ingest.dataset.Dataset` of the store at ``store``, loaded once per
    kernel while the file stays the same (key: resolved path, size and modification time, so a
    sync in between loads it afresh). A Dataset is read-only, so every report run in the kernel
    may share it (``kernels.WarmKernel`` renders several reports in one kernel). Raises what
    ``Dataset.load`` raises (``StoreError``)."""
    from b24reports.ingest.dataset import Dataset

    path = os.path.realpath(os.fspath(store))
    try:
        st = os.stat(path)
    except OSError:
        return Dataset.load(store)  # Dataset.load names the problem
    key = (path, st.st_size, st.st_mtime_ns)
    global LOADS
    with _DATASETS_LOCK:
        ds = _DATASETS.get(key)
        if ds is None:
            ds = Dataset.load(store)
            LOADS += 1
            for old in [k for k in _DATASETS if k[0] == path]:  # an older state of the same file
                del _DATASETS[old]
            while len(_DATASETS) >= DATASETS_KEPT:  # then the oldest store
                del _DATASETS[next(iter(_DATASETS))]
            _DATASETS[key] = ds
        return ds


def viewer_dataset(dataset: Any, query: str) -> Any:
    """The dataset a dashboard page may show: the whole store, or in app mode (``serve --app``,
    ``$B24REPORTS_APP`` set) only the records of the viewer whose signed session token is in
    the page's URL ``query`` (``appmode.viewer_of_query``; ``visibility.restrict`` over the
    ids the app handler asked the portal with the viewer's token). The one place the viewer's
    rights meet the data (the lead moves it into the report ``Scope``).

    Raises:
        appmode.ViewerRefused: app mode and no valid session, or no fresh visibility for the
            viewer: only a sign-in hint is displayed, in the URL's language.
    """
    from b24reports.outputs import appmode

    cfg = appmode.AppConfig.from_env()
    if cfg is None:
        return dataset
    from urllib.parse import parse_qsl

    from b24reports.ingest.visibility import cached_visibility, restrict

    lang = "en" if dict(parse_qsl(query or "")).get("lang") == "en" else "ru"
    try:
        viewer = appmode.viewer_of_query(query, cfg)
        vis = cached_visibility(cfg, viewer, max_age=cfg.session_ttl)
        if vis is None or vis.user_id != viewer.user_id:
            raise appmode.ViewerRefused("no_session")
    except appmode.ViewerRefused:
        _display_html(appmode.signin_hint_html(lang))
        raise
    return restrict(dataset, vis)


def open_report(name: str, store: Any = None, params: Mapping[str, Any] | None = None, **kw: Any) -> ReportView:
    """Load the store, parse and validate the parameters, compute report ``name``.

    ``store``: path of the DuckDB store (default env ``B24REPORTS_STORE``) or a loaded
    ``Dataset``. ``params``: a mapping from which the report's declared parameter names are
    taken (a notebook passes ``globals()``; ``None`` values = default); ``kw`` override it.
    Raises ``BadParameter`` (bad or unknown value, missing store), ``StoreError``.
    Also sets the plotly renderer (:func:`setup_plotly`) and the page CSS.
    """
    from b24reports.outputs import dashboard as _dash

    live = _dash.current() if _dash.is_voila() else None
    if live is not None and live.replaying and live.spec.name == name:  # a filter change re-runs the cells
        return live.view
    spec = reports.get(name)
    declared = {p.name for p in spec.all_params}
    raw = {k: v for k, v in dict(params or {}).items() if k in declared and v is not None}
    for k, v in kw.items():
        if v is not None:
            raw[k] = v
    if store is None:
        store = os.environ.get("B24REPORTS_STORE")
    if store is None:
        raise BadParameter("store", None, "give the path of the DuckDB store (b24reports sync --store PATH)")
    if isinstance(store, str | os.PathLike):
        dataset = load_dataset(store)
    else:
        dataset = store
    vis_file = dict(params or {}).get("b24_visibility")  # render.html.VISIBILITY_PARAM: a recipient's slice
    if vis_file:
        import json

        from b24reports.ingest.visibility import Visibility, restrict

        dataset = restrict(dataset, Visibility.from_json(json.loads(Path(vis_file).read_text(encoding="utf-8"))))
    _warnings.filterwarnings("ignore", category=FutureWarning)
    _warnings.filterwarnings("ignore", category=DeprecationWarning)
    if _dash.is_voila():  # live dashboard: filter bar, cells re-run on every filter change
        setup_plotly()
        _display_html(f"<style>{vc.CSS}{_dash.CSS}</style>")
        return _dash.open_live(spec, dataset, raw, ReportView, scope=viewer_dataset)
    result = _cached_result(spec, raw, dataset, store)
    if result is None:
        result = spec.run(dataset, raw)
        out = dict(params or {}).get(RESULT_OUT_PARAM)
        if out:  # render takes this notebook's result for metrics.json and Excel
            dump_result(result, out)
    setup_plotly()
    try:
        _display_html(f"<style>{vc.CSS}</style>")
    except ImportError:  # pragma: no cover - IPython is a dependency of ipykernel
        pass
    return ReportView(result, dataset)
