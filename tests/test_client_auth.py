"""Webhook parsing and redaction (auth.py)."""

import pytest

from b24reports.ingest.auth import Webhook
from b24reports.core.errors import BadParameter

SECRET = "abc123secretXYZ"


def test_webhook_parts_and_redaction():
    w = Webhook(f"https://Acme.Bitrix24.ru/rest/12/{SECRET}/")
    assert w.portal == "https://acme.bitrix24.ru" and w.user_id == 12
    assert w.method_url("crm.deal.list") == f"https://acme.bitrix24.ru/rest/12/{SECRET}/crm.deal.list"
    for text in (repr(w), str(w), w.redacted()):
        assert SECRET not in text and "***" in text
    assert w.redact(f"error at /rest/12/{SECRET}/x") == "error at /rest/12/***/x"


def test_webhook_http_loopback_with_port_and_no_trailing_slash():
    w = Webhook(f"http://127.0.0.1:8765/rest/1/{SECRET}")
    assert w.portal == "http://127.0.0.1:8765"


@pytest.mark.parametrize("url", [
    "", "ftp://x/rest/1/abc/", f"https://acme.bitrix24.ru/rest/x/{SECRET}/",
    f"https://acme.bitrix24.ru/rest/1/{SECRET}/crm.deal.list", f"https://acme.bitrix24.ru/rest/1/{SECRET}/?a=1",
    f"https://u:p@acme.bitrix24.ru/rest/1/{SECRET}/", "https:///rest/1/abc/",
])
def test_bad_webhook_never_echoes_secret(url):
    with pytest.raises(BadParameter) as ei:
        Webhook(url)
    assert ei.value.name == "webhook" and SECRET not in str(ei.value) and "<redacted>" in str(ei.value)


def test_from_env(monkeypatch):
    monkeypatch.setenv("B24_WEBHOOK_URL", f"https://a.bitrix24.ru/rest/3/{SECRET}/")
    assert Webhook.from_env().portal == "https://a.bitrix24.ru"
    monkeypatch.delenv("B24_WEBHOOK_URL")
    with pytest.raises(BadParameter, match="B24_WEBHOOK_URL"):
        Webhook.from_env()


def test_bad_method_name():
    with pytest.raises(BadParameter):
        Webhook(f"https://a.bitrix24.ru/rest/3/{SECRET}/").method_url("../x")


@pytest.mark.parametrize("url", [
    f"http://acme.bitrix24.ru/rest/1/{SECRET}/", f"http://10.0.0.5:8080/rest/1/{SECRET}/",
    f"http://notlocalhost.ru/rest/1/{SECRET}/",
])
def test_plain_http_to_a_remote_host_is_refused_up_front(url):
    with pytest.raises(BadParameter, match="https://") as ei:
        Webhook(url)
    assert SECRET not in str(ei.value) and "loopback" in str(ei.value)


@pytest.mark.parametrize("host", ["localhost:8765", "127.0.0.2", "[::1]:9000"])
def test_plain_http_on_loopback_is_accepted(host):
    assert Webhook(f"http://{host}/rest/1/{SECRET}/").portal == f"http://{host}"
