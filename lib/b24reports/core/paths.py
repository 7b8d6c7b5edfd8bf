"""Where the project's files are: the report notebooks and the folder around them.

``NOTEBOOKS_DIR``: the report notebooks (``notebooks/`` of the repository; the environment variable
``B24REPORTS_NOTEBOOKS`` overrides it). ``PROJECT_DIR``: the folder holding ``notebooks/``,
``params/`` and ``docs/``; relative paths such as ``params/plan.csv`` fall back to it.
"""

from __future__ import annotations

import os
from pathlib import Path

NOTEBOOKS_DIR = Path(os.environ.get("B24REPORTS_NOTEBOOKS") or Path(__file__).resolve().parents[3] / "notebooks")
PROJECT_DIR = NOTEBOOKS_DIR.resolve().parent
