"""docs/metrics.md ships with the product (issue 20): one section per report in Russian and
English with formulas, each report's page links to its section, README points to it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from b24reports.views.common import footer_html, metrics_doc_url

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "metrics.md"
REPORTS = tuple(sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")))  # every report shipped


def _sections() -> dict[str, str]:
    parts = re.split(r"^## (.+)$", DOC.read_text(encoding="utf-8"), flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


@pytest.mark.parametrize("report", REPORTS)
def test_each_report_has_a_section_in_both_languages_with_formulas(report):
    text = _sections()[report]
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    ru = [p for p in paragraphs if re.search(r"[а-яё]{4,}", p)]
    en = [p for p in paragraphs if not re.search(r"[а-яё]", p) and re.search(r"[a-z]{4,}", p)]
    assert ru and en
    assert text.count(" = ") >= 2 or text.count("÷") >= 2  # formulas, not only words
    assert "_pct" not in text and "OPPORTUNITY" not in text  # the product's words, not column ids


def test_every_numbered_column_of_a_report_is_explained():
    """Spot checks that the sections cover each report's headline numbers by name."""
    s = _sections()
    for report, words in {
        "funnel": ("Конверсия из предыдущей", "Conversion to won", "Время в стадии"),
        "managers": ("Индекс активности", "Of those created, won, %", "Касания"),
        "marketing": ("Выручка на лид", "Что если", "Revenue per lead"),
        "plan": ("Нужно в день", "needed at a stage", "Обратная воронка"),
        "tasks": ("Коэффициент исполнения", "Tasks per executor", "Накопление"),
        "dynamics": ("Скорость продаж", "Stage probability", "Темп месяца"),
        "forgotten": ("Дней без движения", "Next step: none planned", "Последнее касание"),
    }.items():
        assert all(w in s[report] for w in words), report


@pytest.mark.parametrize("report", REPORTS)
def test_report_pages_end_with_a_link_to_their_section(report):
    cells = json.loads((ROOT / "notebooks" / f"{report}.ipynb").read_text(encoding="utf-8"))["cells"]
    assert "".join(cells[-1]["source"]).strip() == "r.footer()"
    html = footer_html(report, "ru")
    assert f"docs/metrics.md#{report}</a>" in html and "Как считается каждое число" in html
    assert metrics_doc_url(report) == f"{DOC.resolve().as_uri()}#{report}"
    assert "How every number" in footer_html(report, "en")


def test_readme_points_to_docs_metrics():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/metrics.md" in readme and "METRICS.md, the product contract" not in readme
