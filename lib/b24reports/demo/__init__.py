"""The demo portal: a deterministic generated Bitrix24 portal and a compatible HTTP server.

    from b24reports.demo import generate_portal, DemoServer
    portal = generate_portal(seed=42, scale=1.0)
    with DemoServer(portal) as srv:
        sync(srv.webhook_url, ...)
"""

from .generator import ROLES, DemoPortal, generate_portal
from .server import CostModel, DemoServer, Fault, FaultPlan, RateLimit

__all__ = ["ROLES", "DemoPortal", "generate_portal", "DemoServer", "RateLimit", "CostModel", "Fault", "FaultPlan"]
