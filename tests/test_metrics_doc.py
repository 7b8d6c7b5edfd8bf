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
        "forgotten": ("Дней без касаний", "Next step: no open to-do", "Следующий шаг: нет открытых дел", "Последнее касание"),
    }.items():
        assert all(w in s[report] for w in words), report


@pytest.mark.parametrize("report", REPORTS)
def test_report_pages_end_with_their_definitions(report):
    """A link to docs/metrics.md was dead in an e-mailed HTML or PDF (second reader of issue 20):
    the page ends with the report's section and the common rules, in the page's language only."""
    from b24reports.views.common import _paragraph_lang, metrics_appendix

    cells = json.loads((ROOT / "notebooks" / f"{report}.ipynb").read_text(encoding="utf-8"))["cells"]
    assert "".join(cells[-1]["source"]).strip() == "r.footer()"
    s = _sections()
    for lang, head, rules in (("ru", "## Как считается каждое число этого отчёта", "Общие правила всех отчётов"),
                              ("en", "## How every number of this report is computed", "Rules common to every report")):
        blocks = metrics_appendix(report, lang)
        text = "\n\n".join(blocks)
        assert blocks[0].startswith(head + "\n\n") and blocks[-1].startswith(f"**{rules}**\n\n")
        pars = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
        assert [p[:60] for p in pars if _paragraph_lang(p) not in (None, lang)] == []
        # every paragraph of the doc's section in this language is there, word for word
        own = [p.strip() for p in re.split(r"\n\s*\n", s[report]) if _paragraph_lang(p) == lang
               and p.strip() not in ("### Русский", "### English", "**По-русски.**", "**In English.**")]
        assert own and all(p in text for p in own)
    assert metrics_doc_url(report) == f"{DOC.resolve().as_uri()}#{report}"  # the file's line, without the docs
    assert f"docs/metrics.md#{report}</a>" in footer_html(report, "ru")


def test_an_english_paragraph_quoting_russian_names_stays_english():
    from b24reports.views.common import _paragraph_lang

    assert _paragraph_lang("Stages of pipeline «Продажи»: the stage's conversion to won") == "en"
    assert _paragraph_lang("Стадии воронки «Sales»: конверсия стадии в выигрыш") == "ru"
    assert _paragraph_lang("= 2 × 3 ÷ 4") is None


def test_the_rendered_page_carries_the_definitions(demo_store, demo_as_of, tmp_path):
    import datetime as dt

    from b24reports.outputs import render

    done = render.render_all(demo_store, {"as_of": demo_as_of, "lang": "en"}, tmp_path, ("html",),
                             dt.datetime(2026, 12, 1, tzinfo=dt.UTC), names=("forgotten",), workers=1, progress=False)
    page = done["forgotten"]["html"].read_text(encoding="utf-8")
    assert "How every number of this report is computed" in page and "Rules common to every report" in page
    assert "<strong>Idle days</strong> = whole days from the last touch to the data date." in page
    assert "Дней без касаний" not in page


def test_readme_points_to_docs_metrics():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/metrics.md" in readme and "METRICS.md, the product contract" not in readme


@pytest.mark.parametrize("report", REPORTS)
@pytest.mark.parametrize("lang", ["ru", "en"])
def test_definitions_on_a_page_name_no_code(report, lang):
    # a seventh fresh reader found `date_from`, `date_to`, (as_of), `compare_to`, `week`, `horizon`,
    # `step`, `params/plan.csv` and «момент t» in the Russian definitions every report page ends with,
    # an eighth the same in English
    import re

    from b24reports.views.common import metrics_appendix

    text = "\n".join(metrics_appendix(report, lang))
    assert re.findall(r"`[^`]+`", text) == []
    assert "as_of" not in text and "момент t" not in text and "moment t" not in text
