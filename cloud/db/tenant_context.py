"""The tenant a unit of work acts for, handed to PostgreSQL's row-level security on every transaction.

`tenant_context(tenant_id)` (set by the auth middleware for a logged-in user or API key, and by ingest for a
signed site) and `system_context()` (the few lookups made before any tenant is known: login by e-mail, a session
or API key by its digest, a site by the id a box sends) set a context variable; every ORM transaction opened
through `cloud.db.engine.session_factory` starts with `SET LOCAL app.tenant_id` from it. The policies created by
`cloud.db.rls` then show a transaction only its tenant's rows, whatever its queries forget to filter. With no
context set, the setting is empty and no tenant-owned row is visible (closed by default).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import Session

SETTING = "app.tenant_id"
SYSTEM = "*"
"""The setting's value in a system context: the policies let such a transaction see every tenant."""

_CURRENT: ContextVar[str] = ContextVar("outpost_tenant_id", default="")


def current_tenant() -> str:
    """The tenant id the current unit of work acts for ("" for none, SYSTEM for a system lookup)."""
    return _CURRENT.get()


@contextmanager
def tenant_context(tenant_id: str) -> Iterator[None]:
    """Act for `tenant_id` inside the block."""
    if not tenant_id or tenant_id == SYSTEM:
        raise ValueError("a tenant context needs a real tenant id")
    token = _CURRENT.set(tenant_id)
    try:
        yield
    finally:
        _CURRENT.reset(token)


@contextmanager
def system_context() -> Iterator[None]:
    """Act across tenants inside the block: only for lookups that find out which tenant a request is for."""
    token = _CURRENT.set(SYSTEM)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def enter_tenant(tenant_id: str) -> None:
    """Act for `tenant_id` for the rest of the current task (a request handler's task ends with the request)."""
    if not tenant_id or tenant_id == SYSTEM:
        raise ValueError("a tenant context needs a real tenant id")
    _CURRENT.set(tenant_id)


def reset_tenant() -> Token[str]:
    """Clear the tenant (start of a request); pass the token to `restore_tenant` at its end."""
    return _CURRENT.set("")


def restore_tenant(token: Token[str]) -> None:
    """Undo `reset_tenant` and every `enter_tenant` since."""
    _CURRENT.reset(token)


class TenantSession(Session):
    """The ORM session class of the cloud: each transaction carries the current tenant to PostgreSQL."""


@event.listens_for(TenantSession, "after_begin")
def _set_tenant(session: Session, transaction: Any, connection: Any) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT set_config(:name, :value, true)"), {"name": SETTING, "value": _CURRENT.get()})
