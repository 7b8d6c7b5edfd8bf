"""Links into the demo's temporary portal (a loopback host, gone when `make demo` ends) are not
shown as dead links (issue 20); real portal links stay links; metrics.json keeps every url."""

from __future__ import annotations

import pandas as pd

from b24reports.views.common import is_dead_link, table_html


def test_loopback_links_are_dead_real_ones_are_not():
    assert is_dead_link("http://127.0.0.1:43491/crm/deal/details/5/")
    assert is_dead_link("http://localhost:8000/crm/lead/details/1/")
    assert not is_dead_link("https://acme.bitrix24.ru/crm/deal/details/5/")
    assert not is_dead_link("not a url")


def test_dead_link_by_host_agrees_with_urlsplit_on_awkward_urls():
    """A plain URL is decided once per host; whatever the URL, the answer is urlsplit's."""
    from urllib.parse import urlsplit

    from b24reports.ingest.auth import is_loopback_host

    def by_urlsplit(url: str) -> bool:
        try:
            host = urlsplit(url).hostname
        except ValueError:
            return False
        return bool(host) and is_loopback_host(host)

    cases = {
        "http://127.0.0.1:43491/crm/deal/details/5/": True,
        "HTTP://LOCALHOST/crm/": True,  # scheme and host in capitals
        "https://user:pw@127.0.0.2:8000/x": True,  # userinfo before a loopback address
        "http://[::1]:80/deal": True,  # IPv6 loopback
        "//127.0.0.1/x": True,  # no scheme: urlsplit still finds the host
        "http://app.localhost./x": True,  # a trailing dot
        "http://127.0.0.1?x=1": True,  # query right after the host
        "http://127.0.0.1#frag": True,
        "https://acme.bitrix24.ru/crm/deal/details/5/": False,
        "https://127.0.0.1.acme.ru/": False,  # loopback-looking name of a real host
        "http://localhost@acme.ru/": False,  # the host is after the @
        " http://127.0.0.1/x": True,  # leading space: urlsplit strips it
        "http://127.0.\t0.1/x": True,  # a tab inside: urlsplit removes it
        "http://[::1/x": False,  # a broken IPv6 host: urlsplit refuses it
        "http:////127.0.0.1/x": False,  # empty host
        "1http://127.0.0.1/": False,  # not a scheme: a path
        "mailto:someone@127.0.0.1": False,
        "not a url": False,
        "": False,
    }
    for url, dead in cases.items():
        assert by_urlsplit(url) is dead, url  # the case says what urlsplit says
        assert is_dead_link(url) is dead, url
        assert is_dead_link(url) is dead, url  # asked again: the host's answer is cached


def test_table_shows_demo_links_as_text():
    df = pd.DataFrame({"id": [5, 6], "url": ["http://127.0.0.1:43491/crm/deal/details/5/",
                                             "https://acme.bitrix24.ru/crm/deal/details/6/"]})
    html = table_html(df, ["id", "url"], "ru")
    assert "127.0.0.1" not in html and '<span class="b24-demo-link">демо</span>' in html
    assert '<a href="https://acme.bitrix24.ru/crm/deal/details/6/" target="_blank" rel="noopener">открыть</a>' in html
    assert "<span class=\"b24-demo-link\">demo</span>" in table_html(df, ["id", "url"], "en")


def test_demo_report_excel_has_no_hyperlinks_but_json_keeps_urls(tmp_path, demo_dataset, demo_as_of):
    import datetime as dt

    import openpyxl

    from b24reports import reports
    from b24reports.outputs.render import RenderJob, write_xlsx

    spec = reports.get("forgotten")
    res = spec.run(demo_dataset, {"as_of": demo_as_of})
    urls = res.tables["deals"]["url"].tolist()
    assert urls and all(u.startswith("http://127.0.0.1:") for u in urls)
    assert res.to_metrics_json(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))["tables"]["deals"][0]["url"] == urls[0]
    path = tmp_path / "f.xlsx"
    write_xlsx(RenderJob(spec=spec, result=res, store=tmp_path / "s", tmp=tmp_path,
                         generated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dataset=demo_dataset), path)
    ws = openpyxl.load_workbook(path)[spec.tables["deals"].title["ru"][:31]]
    assert not any(c.hyperlink for row in ws.iter_rows() for c in row)
    # the dead address is the word the page shows, not «http://127.0.0.1:41583/…» (a fresh reader, issue 20)
    cells = [str(c.value) for row in ws.iter_rows(min_row=2) for c in row if c.value is not None]
    assert not any("127.0.0.1" in v for v in cells) and cells.count("демо") == len(urls)
    # the "about" sheet names the demo portal in words: its loopback address is dead after `demo`
    assert res.portal.startswith("http://127.0.0.1:")
    about = {str(r[0].value): str(r[1].value) for r in openpyxl.load_workbook(path).worksheets[-1].iter_rows()}
    assert about["Портал"] == "демо-портал"


def test_report_header_names_the_demo_portal_not_its_loopback_address():
    from b24reports.views.common import portal_label

    assert portal_label("http://127.0.0.1:33571", "ru") == "демо-портал"
    assert portal_label("http://localhost:8080", "en") == "demo portal"
    assert portal_label("https://example.bitrix24.ru", "ru") == "https://example.bitrix24.ru"
