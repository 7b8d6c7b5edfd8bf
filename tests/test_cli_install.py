"""Install files stay true: environment.yml mirrors pyproject.toml; Makefile/.ci/run shape."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_SPLIT = {"dask[distributed]": ["dask", "distributed"]}  # one pip name -> conda packages


def _pyproject_deps() -> dict[str, str]:
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    out: dict[str, str] = {}
    for dep in [*proj["dependencies"], *proj["optional-dependencies"]["dev"]]:
        m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)\s*(>=\s*[^,;\s]+)?.*", dep.strip())
        name, bound = m.group(1).lower(), (m.group(2) or "").replace(" ", "")
        for n in CONDA_SPLIT.get(name, [name]):
            out[n] = bound
    return out


def _env_deps() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    items = []
    for d in env["dependencies"]:
        items.extend(d["pip"] if isinstance(d, dict) else [d])
    out = {}
    for d in items:
        if d.startswith("-e") or d == "pip" or re.fullmatch(r"python\s*(>=.*)?", d):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(>=\s*\S+)?", d.strip())
        out[m.group(1).lower()] = (m.group(2) or "").replace(" ", "")
    return out


def test_environment_yml_has_the_same_dependencies_and_bounds_as_pyproject():
    assert _env_deps() == _pyproject_deps()


def test_ci_run_calls_make_test_with_strict_bash():
    text = (ROOT / ".ci" / "run").read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text and "make test" in text
    assert (ROOT / ".ci" / "run").stat().st_mode & 0o111


def test_makefile_targets_and_fresh_machine_steps():
    mk = (ROOT / "Makefile").read_text()
    for target in ("demo:", "test:", "bench:", "install:"):
        assert re.search(rf"^{target}", mk, flags=re.M), target
    assert "-m venv" in mk and "python3-venv" in mk and "uv pip install" in mk and ".[dev]" in mk
    assert "apt_install,chromium" in mk
    # bytecode compiled at install: uv does not, and a kernel compiling its imports starts ~1.5 s later
    assert re.search(r"^\t-@\$\(BIN\)/python -m compileall .*\$\(VENV\)/lib lib$", mk, flags=re.M)
    # the print check reads the report PDFs with pdftotext: make test installs poppler-utils
    assert "apt_install,poppler-utils" in mk and re.search(r"^test: install chromium poppler$", mk, flags=re.M)


def test_console_script_points_at_cli_main():
    proj = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert proj["scripts"]["b24reports"] == "b24reports.cli:main"
    from b24reports import cli

    assert callable(cli.main)
