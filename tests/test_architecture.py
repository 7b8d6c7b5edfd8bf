"""The package's shape: the layer contract (import-linter, pyproject.toml) holds, and no module grows
past ~500 lines without saying why in its docstring (docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lib" / "b24reports"
#: a module longer than this says why in a "Length:" paragraph of its docstring
MAX_LINES = 550


def test_layers_contract_is_kept():
    """cli > demo > outputs > views > reports > metrics > ingest > core: no import goes up or round."""
    exe = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run([str(exe)], capture_output=True, text=True, cwd=PACKAGE.parents[1], timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_long_modules_say_why():
    long = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            if "Length:" not in doc:
                long[str(path.relative_to(PACKAGE))] = n
    assert long == {}, f"modules over {MAX_LINES} lines without a 'Length:' reason in their docstring: {long}"
