"""Live dashboards: the same report notebook, under Voila, with a filter bar.

Under papermill/nbconvert nothing here runs: :func:`b24reports.outputs.nb.open_report` checks
:func:`is_voila` (``VOILA_KERNEL_ID`` set in the kernel) and only then calls :func:`open_live`,
so static snapshots hold no widget code or output.

How one notebook becomes a dashboard (no second copy of the logic):

* :func:`open_live` computes the report, displays the filter bar (:class:`Dashboard`), and
  from then on wraps the output of the rest of the current cell and of every later cell in an
  ``ipywidgets.Output`` (IPython ``pre_run_cell``/``post_run_cell`` hooks), remembering each
  cell's source.
* A filter change recomputes the report (``ReportSpec.run`` with the new parameters), swaps
  the result inside the notebook's ``ReportView`` and re-runs the remembered cell sources into
  their outputs, so every view of the report is redrawn by the notebook's own code.

Filters (the report's declared parameters, METRICS.md "Parameters"): period (presets
:data:`PRESETS` + custom dates), ``pipelines``, ``departments`` (the metrics include
sub-departments), ``employees``; on reports that declare them ``sources`` and the UTM tags.
Clicks on a chart point whose label is a manager (or a lead source) refilter to it and show
a chip that clears it; a click on a month of a time axis drills the period down to that month.
URL query parameters (:func:`query_to_raw`) prefill the filters.

Modules: ``live`` (open, warm, error card), ``board`` (the state: filters, period, result),
``bar`` (the filter bar widgets), ``cells`` (cell capture and replay), ``filters`` (dimensions,
options, clicks), ``url`` (query and server parameters), ``widgets`` (anywidget classes whose
JavaScript is in ``outputs/static/``), ``texts`` (UI words); the period presets are the one registry
of :mod:`b24reports.reports.presets`.
"""

from b24reports.outputs.dashboard.board import Dashboard
from b24reports.outputs.dashboard.filters import (
           DIMENSIONS,
           KEY_PARAMS,
           click_target,
           filter_options,
)
from b24reports.outputs.dashboard.live import (
           CSS,
           current,
           error_card,
           is_voila,
           open_live,
           preheating,
           warm,
)
from b24reports.outputs.dashboard.url import (
           LINK_NAMES,
           PARAMS_ENV,
           QUERY_ALIASES,
           query_to_raw,
           server_params,
           url_query,
)
from b24reports.outputs.dashboard.widgets import (
           ChartSlot,
           ClickBridge,
           HtmlSlot,
           figure_json,
           plotly_loader,
)
from b24reports.reports.presets import DASHBOARD_PRESETS as PRESETS
from b24reports.reports.presets import PRESET_LABELS, detect_preset, preset_period

__all__ = ["CSS", "DIMENSIONS", "KEY_PARAMS", "LINK_NAMES", "PARAMS_ENV", "PRESETS", "PRESET_LABELS", "QUERY_ALIASES",
           "ChartSlot", "ClickBridge", "Dashboard", "HtmlSlot", "click_target", "current", "detect_preset", "error_card",
           "figure_json", "filter_options", "is_voila", "open_live", "plotly_loader", "preheating", "preset_period",
           "query_to_raw", "server_params", "url_query", "warm"]
