"""The Voila path of a report notebook: open the dashboard in this kernel (:func:`open_live`),
warm a preheated kernel before its viewer arrives (:func:`warm`), and say plainly why a dashboard
cannot open (:func:`error_card`)."""

from __future__ import annotations

import html as _html
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from b24reports import reports
from b24reports.core.errors import B24ReportsError, BadParameter
from b24reports.core.texts import translate_parameter_error
from b24reports.outputs.dashboard.board import Dashboard
from b24reports.outputs.dashboard.filters import KEY_PARAMS, filter_options
from b24reports.outputs.dashboard.url import (
    LINK_NAMES,
    query_to_raw,
    server_params,
    url_query,
)
from b24reports.outputs.dashboard.widgets import STATIC, _bridge_class
from b24reports.outputs.kernel_env import SKIP_WARM_ENV


def is_voila() -> bool:
    """True inside a kernel started by Voila (it sets ``VOILA_KERNEL_ID``)."""
    return bool(os.environ.get("VOILA_KERNEL_ID"))


# One dashboard per kernel (Voila runs one notebook per kernel).
_CURRENT: Dashboard | None = None


def current() -> Dashboard | None:
    """The dashboard of this kernel, if :func:`open_live` ran."""
    return _CURRENT


def error_card(error: Exception, lang: str = "ru") -> str:
    """HTML box shown instead of a dashboard that cannot open: the error's own message
    (escaped; it names the input, e.g. the plan file or a link's filter) under a heading in
    ``lang``. Never holds a webhook: the errors of the report layer do not carry one."""
    head = {"ru": "Отчёт не открылся", "en": "The report could not open"}.get(lang, "The report could not open")
    message = str(error)
    if isinstance(error, BadParameter):
        # named as in the link (?employee=…), the reason in the page's language
        name = LINK_NAMES.get(error.name, error.name)
        value = ",".join(map(str, error.value)) if isinstance(error.value, (list, tuple)) else error.value
        value = "" if value is None else value
        what = {"ru": "Параметр ссылки", "en": "Link parameter"}.get(lang, "Link parameter")
        message = f"{what} {name}={value}: {translate_parameter_error(error.reason, lang)}"
    hint = {"ru": "Проверьте параметры ссылки или настройки сервера (b24reports serve --help).",
            "en": "Check the link's parameters or the server's settings (b24reports serve --help)."}.get(lang, "")
    # Voila adds its own generic line ("There was an error when executing cell …") under the card
    # as a stderr output of the same cell; the card already says what is wrong, so that line hides
    hide = ('<style>.jp-OutputArea:has(.b24r-open-error) '
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]{display:none}</style>')
    return (hide + f'<div class="b24r-open-error" style="border:1px solid #c62828;border-radius:6px;padding:10px 14px;'
            f'color:#8e1b1b;background:#fff5f5"><b>{_html.escape(head)}</b><p>{_html.escape(message)}</p>'
            f'<p style="color:#555">{_html.escape(hint)}</p></div>')


#: A preheated kernel keeps the as_of of its warm-up run when a viewer arrives within this
#: many seconds; later, "now" is taken again (the page shows as_of in its header).
WARM_AS_OF_MAX_AGE_S = 600.0


def preheating() -> bool:
    """True in a kernel of Voila's preheated pool that has not yet been given to a viewer
    (``VOILA_PREHEAT=True`` and no request's ``QUERY_STRING`` yet)."""
    return os.environ.get("VOILA_PREHEAT") == "True" and "QUERY_STRING" not in os.environ


def warm(spec: reports.ReportSpec, dataset: Any, raw: Mapping[str, Any]) -> str | None:
    """Warm-up of a preheated kernel before a viewer arrives: compute the report once with the
    server's and notebook's parameters (imports such as statsmodels, and the facts cached on the
    dataset, ``Dataset.memo``; once more filtered to one employee, so the first refilter runs warm
    code) and draw one figure of each kind the views use through
    plotly's JSON path (plotly loads its validators on first use). Returns that run's as_of
    (ISO string) for the viewer's run to reuse, or ``None`` when the run failed (the viewer's
    run then shows the error)."""
    import importlib

    try:
        res = spec.run(dataset, dict(raw))
    except Exception:
        return None
    if "employees" in {p.name for p in spec.all_params} and not raw.get("employees"):
        try:  # one filtered run too: the first refilter then runs warm code paths
            spec.run(dataset, {**raw, "as_of": res.params["as_of"].isoformat(),
                               "employees": str(int(dataset.users["id"].iloc[0]))})
        except Exception:
            pass
    try:
        import plotly.graph_objects as go
        import plotly.io as pio

        from b24reports.views import common as vc

        importlib.import_module(f"b24reports.views.{spec.name}")
        import ipywidgets  # noqa: F401 - the filter bar's widgets

        _bridge_class()
        filter_options(dataset, spec, res.params["lang"])
        for trace in (go.Bar(x=["a"], y=[1]), go.Scatter(x=["a"], y=[1]), go.Funnel(x=[1], y=["a"]), go.Pie(labels=["a"], values=[1]),
                      go.Heatmap(z=[[1]])):
            pio.to_json(vc.style_figure(go.Figure(trace), "warm", lang=res.params["lang"]))
    except Exception:  # warming is an optimisation only
        pass
    return res.params["as_of"].isoformat()


def open_live(spec: reports.ReportSpec, dataset: Any, raw: Mapping[str, Any],
              make_view: Callable[[reports.ReportResult, Any], Any],
              scope: Callable[[Any, str], Any] | None = None) -> Any:
    """Voila path of ``nb.open_report``: build (or, while re-running cells, reuse) the
    dashboard, display the filter bar, start capturing cells, and return the ``ReportView``
    made by ``make_view(result, dataset)``. URL query parameters override the notebook's.
    ``scope(dataset, url_query)``: the dataset this page may show (app mode: the viewer's
    records; it raises, after showing a sign-in hint, when the URL has no valid session)."""
    global _CURRENT
    if _CURRENT is not None and _CURRENT.replaying and _CURRENT.spec.name == spec.name:
        return _CURRENT.view
    from IPython import get_ipython
    from IPython.display import HTML, display

    given = {**server_params(spec), **dict(raw)}
    # a pool kernel started because a viewer already waits for it skips the warm-up (forking's pool gate)
    warmed = warm(spec, dataset, given) if preheating() and not os.environ.get(SKIP_WARM_ENV) else None
    t_warm = time.monotonic()
    query_string = url_query()  # a preheated kernel waits here for its viewer
    if scope is not None:
        dataset = scope(dataset, query_string)
    query = query_to_raw(query_string, spec)
    if warmed is not None and "as_of" not in given and time.monotonic() - t_warm < WARM_AS_OF_MAX_AGE_S:
        given["as_of"] = warmed  # same as_of as the warm-up run: its cached facts are reused
    base = {**given, **query}
    try:
        dash = Dashboard(spec, dataset, base)
    except B24ReportsError as e:  # bad input (a link's filter, the plan file): say what, not a blank page
        display(HTML(error_card(e, str(base.get("lang") or "ru"))))
        raise
    dash.view = make_view(dash.result, dataset)
    dash.view.figure_hook = dash.show_figure
    # tables mark the cells of key columns the report can filter by as clickable (views.common.table_html)
    dash.view.live = frozenset(col for col, param in KEY_PARAMS.items() if param in dash.declared)
    _CURRENT = dash
    display(dash.widget())
    ip = get_ipython()
    src = ""
    if ip is not None:
        hist = ip.user_ns.get("In") or []
        src = hist[-1] if hist else ""
    dash.capture_cells(src)
    return dash.view


#: Page CSS of the live filter bar (added to the report CSS under Voila only).
CSS = (STATIC / "dashboard.css").read_text(encoding="utf-8")
