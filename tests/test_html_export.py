"""render.html's exporter: nbconvert's page without its BeautifulSoup pass, the same document."""

from __future__ import annotations

import copy
import re

import pytest
from bs4 import BeautifulSoup

from b24reports import reports
from b24reports.outputs.nb import PLOTLYJS_MARKER
from b24reports.outputs.render import html


@pytest.fixture(scope="module")
def executed(demo_store, demo_as_of, tmp_path_factory):
    """Executed notebooks of two demo reports (tables, charts, markdown), as render makes them."""
    from b24reports.ingest.dataset import Dataset
    from b24reports.outputs.kernels import WarmKernel

    ds, out = Dataset.load(demo_store), tmp_path_factory.mktemp("nbs")
    k = WarmKernel(store=demo_store, plotlyjs_at_export=True)
    try:
        nbs = {}
        for name in ("funnel", "forgotten"):
            spec = reports.get(name)
            params = spec.run(ds, {"as_of": demo_as_of}).params.to_raw()
            nbs[name] = k.execute_notebook(str(spec.notebook_path), str(out / f"{name}.ipynb"),
                                           {**params, "store": str(demo_store)})
        return nbs
    finally:
        k.shutdown()


def _stock(nb, title: str, lang: str) -> str:
    """The page stock nbconvert (HTMLExporter, its BeautifulSoup pass included) writes with the
    same template, settings and notebook clean-up as notebook_to_html."""
    from nbconvert import HTMLExporter

    exp = HTMLExporter(template_name=html.TEMPLATE_NAME, extra_template_basedirs=[str(html.TEMPLATES_DIR)])
    exp.exclude_input = exp.exclude_input_prompt = exp.exclude_output_prompt = True
    exp.language_code = lang
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", [])
                               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    nb.metadata["title"] = title
    body, _ = exp.from_notebook_node(nb, resources=html.page_resources(title, lang))
    # our renderer's notes of each figure's trace types go (they pick the plotly.js, then are removed)
    return html.TRACES_NOTE.sub("", body).replace(PLOTLYJS_MARKER, html._plotlyjs())


@pytest.mark.parametrize("name", ["funnel", "forgotten"])
def test_same_document_as_stock_nbconvert(executed, name):
    ours = html.notebook_to_html(copy.deepcopy(executed[name]), "Отчёт", "ru")
    stock = _stock(copy.deepcopy(executed[name]), "Отчёт", "ru")
    a, b = BeautifulSoup(ours, "html.parser"), BeautifulSoup(stock, "html.parser")
    assert a == b  # the same tree: tags, attributes (tabindex included), text
    areas = a.select(".jp-Notebook div.jp-OutputArea-output")
    assert len(areas) > 10 and all(el.get("tabindex") == "0" for el in areas)
    assert not a.select("img")  # why the alt-text step of nbconvert's pass is not needed
    # headings' text as characters, as nbconvert's pass wrote it: the file is searchable
    outside_scripts = re.sub(r"<(script|style)\b.*?</\1>", "", ours, flags=re.S)
    assert re.findall(r"&#(?!(?:34|38|39|60|62);)[0-9]+;", outside_scripts) == []
    heading = a.select("h1")[0].get_text().rstrip("¶")
    assert heading and f">{heading}<a class=\"anchor-link\"" in ours


def test_focusable_output_areas_only_real_tags():
    page = ('<div class="jp-RenderedHTMLCommon jp-OutputArea-output" data-mime-type="text/html">'
            '<td>&lt;div class="jp-OutputArea-output"&gt; сделка</td></div>'
            '<div class="jp-OutputArea-output" tabindex="0"></div>'
            '<div class="jp-OutputArea-outputs"></div><div class="x jp-OutputArea-output-x"></div>')
    got = html._OUTPUT_AREA.sub(html._focusable, page)
    assert got == ('<div class="jp-RenderedHTMLCommon jp-OutputArea-output" data-mime-type="text/html" tabindex="0">'
                   '<td>&lt;div class="jp-OutputArea-output"&gt; сделка</td></div>'
                   '<div class="jp-OutputArea-output" tabindex="0"></div>'
                   '<div class="jp-OutputArea-outputs"></div><div class="x jp-OutputArea-output-x"></div>')


def test_literal_text_keeps_markup_references_and_script_text():
    page = ('<h2 id="%D0%9C">&#1052;&#1077;&#1085; &#60;b&#62; &#x41;&#38; &#182;</h2>'
            '<td>&amp;#1052; сделка</td><script>var t = "&#1052;&#60;/script&#62;";</script><p>&#9;&#1089;</p>')
    assert html._literal_text(page) == (
        '<h2 id="%D0%9C">Мен &#60;b&#62; A&#38; ¶</h2>'
        '<td>&amp;#1052; сделка</td><script>var t = "&#1052;&#60;/script&#62;";</script><p>&#9;с</p>')
