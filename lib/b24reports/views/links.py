"""Links into the portal that lead nowhere: the demo's temporary portal server on a loopback
host is gone once ``b24reports demo`` ends, so pages and Excel show such a link as text
(``views.common.table_html``, ``outputs.excel``); ``metrics.json`` keeps every URL."""

from __future__ import annotations

import functools
import re


#: ``scheme://netloc`` at the start of a URL, and any character ``urlsplit`` strips or removes
#: before it parses (a URL with one takes the long way)
_URL_NETLOC = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:(//[^/?#]*)")
_URL_STRIPPED = re.compile(r"[\x00-\x20]")


def is_dead_link(url: str) -> bool:
    """True for a link into a portal on a loopback host (the demo's temporary server, gone when
    ``b24reports demo`` ends): pages and Excel show it as text, ``metrics.json`` keeps it.
    The same as ``urlsplit(url).hostname`` being a loopback host; a plain ``scheme://host/…``
    URL is decided once per host (a 100k-deal Excel export asks for every deal's link)."""
    m = _URL_NETLOC.match(url) if isinstance(url, str) else None
    if m is not None and _URL_STRIPPED.search(url) is None:
        return _netloc_is_loopback(m.group(1))
    return _host_is_loopback(url)


def _host_is_loopback(url: str) -> bool:
    """Whether ``urlsplit(url).hostname`` is a loopback host (False for no host, or a URL
    ``urlsplit`` refuses)."""
    from urllib.parse import urlsplit

    from b24reports.ingest.auth import is_loopback_host

    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return bool(host) and is_loopback_host(host)


#: :func:`_host_is_loopback` of ``//netloc``, once per netloc
_netloc_is_loopback = functools.lru_cache(maxsize=64)(_host_is_loopback)


__all__ = ["is_dead_link"]
