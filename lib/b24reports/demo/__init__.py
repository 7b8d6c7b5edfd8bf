"""The demo portal: a deterministic generated Bitrix24 portal and a compatible HTTP server.

    from b24reports.demo import generate_portal, DemoServer
    portal = generate_portal(seed=42, scale=1.0)
    with DemoServer(portal) as srv:
        sync(srv.webhook_url, ...)

Command line: ``python -m b24reports.demo.server --scale 1 --port 8765``.
"""

from __future__ import annotations

from typing import Any

from b24reports.demo.generator import ROLES, DemoPortal, generate_portal

_SERVER_NAMES = ("DemoServer", "RateLimit", "CostModel", "Fault", "FaultPlan")


def __getattr__(name: str) -> Any:
    # server names are imported lazily so that ``python -m b24reports.demo.server`` runs the
    # module once (no runpy double-import warning)
    if name in _SERVER_NAMES:
        from b24reports.demo import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ROLES", "DemoPortal", "generate_portal", *_SERVER_NAMES]
