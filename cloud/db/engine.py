"""Async engine and session factory for SQLite (WAL) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from cloud.db.tenant_context import TenantSession

# synchronous=FULL: the cloud acknowledges records and the edge then drops them from its outbox,
# so an acknowledged batch must survive a power cut (see CONVENTIONS.md, "Data and config").
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)


def _apply_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def is_sqlite(url: str) -> bool:
    """Return whether `url` names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, foreign keys and a busy timeout on every connection.

    Statement parameters are hidden from errors (hide_parameters): an error is logged with its statement, and
    the values may be site secrets, session digests or password hashes.
    """
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _apply_sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory every request and command uses."""
    # TenantSession: every transaction tells PostgreSQL's row-level security the tenant (cloud.db.tenant_context).
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=TenantSession)
