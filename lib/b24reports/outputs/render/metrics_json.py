"""The ``json`` exporter: ``metrics.json`` from the report's result (``RenderJob.ensure_result``;
METRICS.md "Outputs")."""

from __future__ import annotations

import logging
from pathlib import Path


log = logging.getLogger(__name__)
from b24reports.outputs.render.job import RenderJob

def write_json(job: RenderJob, path: Path) -> None:
    """``metrics.json`` (see ``ReportResult.to_metrics_json``), UTF-8."""
    path.write_text(job.ensure_result().metrics_json_text(job.generated_at), encoding="utf-8")
