"""Who may see and change money: holders of billing.read (owners and admins in cloud/permissions.py; others 403)."""

from __future__ import annotations

from aiohttp import web

from cloud.auth import forbidden, require_principal
from cloud.tenancy import Principal


def can_see_money(principal: Principal | None) -> bool:
    """Whether the principal may see billing (used by the navigation too)."""
    return principal is not None and principal.can("billing.read")


def require_money(request: web.Request) -> Principal:
    """Return the logged-in owner or admin, else raise 401/redirect or 403."""
    principal = require_principal(request)
    if not can_see_money(principal):
        raise forbidden(request, "forbidden", "only the tenant's owner and admins see billing")
    return principal
