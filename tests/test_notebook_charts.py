"""Every chart of every report has a title (issue 20: the funnel's "Время в стадии" had none),
and table cells of the marketing funnel read like the chart's labels."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from b24reports.core import texts

ROOT = Path(__file__).resolve().parents[1]
REPORTS = ("funnel", "forgotten", "dynamics", "plan", "managers", "marketing", "tasks")


@pytest.mark.parametrize("report", REPORTS)
def test_every_figure_call_passes_a_title(report):
    cells = json.loads((ROOT / "notebooks" / f"{report}.ipynb").read_text(encoding="utf-8"))["cells"]
    calls = 0
    for c in cells:
        if c["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(c["source"]))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "figure"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "r"):
                calls += 1
                assert len(node.args) >= 2 or any(k.arg == "title" for k in node.keywords), ast.unparse(node)
    assert calls >= 1


def test_marketing_funnel_steps_are_capitalized_like_the_chart():
    assert [texts.value_label("stage", k, "ru") for k in ("leads", "quality_leads", "converted", "sales")] == \
        ["Лиды", "Лиды без некачественных", "Сконвертированы в сделку", "Продажи"]
    # not «Качественные лиды»: the portal's converted status is named «Качественный лид»
    assert texts.value_label("stage", "quality_leads", "en") == "Leads not junk"
