"""What one report's render is (:class:`RenderJob`), the exporters registry keyed by format
(:class:`Exporter`, :data:`EXPORTERS`) and the errors of a render."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from b24reports import reports
from b24reports.core.errors import B24ReportsError

log = logging.getLogger(__name__)


TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
TEMPLATE_NAME = "b24reports_offline"
FORMATS: tuple[str, ...] = ("html", "pdf", "xlsx", "json")


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
    """What the exporters of one report run share.

    ``result``: the computed report, or None when a warm kernel's notebook is to compute it
    (``render_report``): the ``html`` exporter then takes the notebook's (``nb.RESULT_OUT_PARAM``),
    and an exporter that needs it first (or after a failed notebook) computes it here
    (:meth:`ensure_result`). ``params``: the validated parameters (default ``result.params``)."""

    spec: reports.ReportSpec
    result: reports.ReportResult | None
    store: Path
    tmp: Path
    generated_at: dt.datetime
    kernel_name: str = "python3"
    timeout: int = 600
    files: dict[str, Path] = field(default_factory=dict)
    dataset: Any = None  # the loaded Dataset (names for the Excel key columns); None = ids only
    kernel: Any = None   # a kernels.WarmKernel or KernelPool to run the notebook on; None = a fresh kernel
    printer: Any = None  # the run's PdfPrinter; None = one for this report
    params: Any = None   # reports.Params, validated against dataset

    def __post_init__(self) -> None:
        if self.params is None:
            if self.result is None:
                raise ValueError("a RenderJob needs a result or its params")
            self.params = self.result.params

    @property
    def lang(self) -> str:
        return self.params["lang"]

    def ensure_result(self) -> reports.ReportResult:
        """The report's result: the one given or taken from the notebook, else computed now
        (``spec.run`` on :attr:`dataset` with :attr:`params`)."""
        if self.result is None:
            self.result = self.spec.run(self.dataset, self.params)
        return self.result


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
