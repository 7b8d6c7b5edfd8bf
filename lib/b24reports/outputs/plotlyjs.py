"""Which plotly.js a page carries: the partial build of the trace types the reports draw, or the
whole plotly.js that the plotly package ships.

The whole plotly.js is 4.8 MB. A browser spends ~0.7 s evaluating it on this machine's cores,
on every dashboard page and every page Chromium prints to PDF, and each snapshot HTML carries
it. The reports draw six trace types (scatter, bar, funnel, heatmap, pie, waterfall); a
plotly.js of those alone is 1.2 MB and is evaluated in ~0.1 s (docs/benchmarks.md, issue 18).
``make install`` builds it with esbuild from ``js/plotly-b24.cjs`` (npm packages ``plotly.js``,
the same version as plotly's, and ``esbuild``) into :data:`BUNDLE`; its first line names that
version and the trace types.

The partial build is used when it exists, was made from the plotly.js version plotly ships
(figures are built by plotly for that version), and :data:`ENV` is not ``full``; a page whose
figures draw a trace type outside it gets the whole plotly.js (plotly.js would draw an unknown
type as a scatter). A snapshot knows its figures when it is exported (:func:`source`); a live
dashboard page loads the partial build from the server (``serve``), and a chart of another type
makes that page load the whole one, also from the server (``static/chart.js``).
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

#: The partial plotly.js, built by ``make install`` (``js/build.mjs``); absent without node.
BUNDLE = Path(__file__).parent / "static" / "plotly-b24.min.js"
#: ``full``: pages always carry the whole plotly.js (the partial build is not used).
ENV = "B24REPORTS_PLOTLYJS"
#: Set by ``serve`` for the dashboard kernels when their pages load the partial build from the
#: server: its trace types, comma-separated (``dashboard.widgets.page_traces``).
PAGE_TRACES_ENV = "B24REPORTS_PAGE_PLOTLY_TRACES"
_BANNER = re.compile(r"/\* b24reports plotly\.js (\S+) traces=([a-z0-9,]+) \*/")


def shipped_version() -> str:
    """The version of the plotly.js that the installed plotly package ships (``4.1.1``)."""
    from plotly.offline import get_plotlyjs_version

    return get_plotlyjs_version()


@functools.cache
def partial_traces() -> frozenset[str] | None:
    """The trace types of the partial build, or None when it is not to be used: not built,
    unreadable, made from another plotly.js version than plotly's (logged), or :data:`ENV` is
    ``full``. Read once per process (its first line only)."""
    if os.environ.get(ENV, "").strip().lower() == "full":
        return None
    try:
        with BUNDLE.open(encoding="utf-8") as f:
            first = f.readline(300)
    except OSError:
        return None
    m = _BANNER.match(first)
    if m is None:
        log.warning("%s has no b24reports header: the whole plotly.js is used", BUNDLE)
        return None
    if m.group(1) != shipped_version():
        log.warning("%s is plotly.js %s, plotly ships %s: the whole plotly.js is used (run `make install`)",
                    BUNDLE, m.group(1), shipped_version())
        return None
    return frozenset(m.group(2).split(","))


def covers(traces: Iterable[str]) -> bool:
    """Whether the partial build is used and draws every trace type in ``traces``."""
    have = partial_traces()
    return have is not None and set(traces) <= have


@functools.cache
def _read(path: Path | None) -> str:
    """The partial build at ``path``, or for None the whole plotly.js (plotly reads it anew on
    every call)."""
    if path is None:
        from plotly.offline import get_plotlyjs

        return get_plotlyjs()
    return path.read_text(encoding="utf-8")


def source(traces: Iterable[str] | None) -> str:
    """plotly.js's source for a page whose figures draw ``traces`` (trace types; None: not
    known): the partial build when it :func:`covers` them, else the whole plotly.js. Each file
    is read once per process."""
    return _read(BUNDLE if traces is not None and covers(traces) else None)


def figure_traces(data: Iterable[dict]) -> set[str]:
    """The trace types of a figure's ``data`` (plotly JSON: a trace without ``type`` is a scatter)."""
    return {str(t.get("type") or "scatter") for t in data}


__all__ = ["BUNDLE", "ENV", "PAGE_TRACES_ENV", "covers", "figure_traces", "partial_traces", "shipped_version", "source"]
