"""Billing fixtures: a database migrated to head (SQLite file and fresh PostgreSQL, like every cloud test)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db.engine import create_engine, session_factory
from cloud.db.migrate import upgrade


@pytest.fixture
async def billing_db(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory on a freshly migrated database."""
    await upgrade(db_url)
    engine = create_engine(db_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()
