"""Fixtures shared by all tests: paths to shared data, and a guard against leaked tasks and loop blocks."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.loop_guard import WATCH, block_limit_s
from tests.paths import SHARED


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder beside the repo (CI has it; tests fail loudly without it)."""
    if not SHARED.is_dir():
        pytest.fail(f"{SHARED} is missing: tests need ../shared (video and model) beside the repo")
    return SHARED


def shared_file(shared_dir: Path, relative: str) -> Path:
    """A file in the shared data folder; fails the test (never skips) when it is missing."""
    path = shared_dir / relative
    if not path.is_file():
        pytest.fail(f"{path} is missing")
    return path


@pytest.fixture(scope="session")
def vtest_path(shared_dir: Path) -> Path:
    """The real surveillance clip."""
    return shared_file(shared_dir, "data/vtest.avi")


@pytest.fixture(scope="session")
def nanodet_path(shared_dir: Path) -> Path:
    """The default NanoDet ONNX model."""
    return shared_file(shared_dir, "models/nanodet-coco-416.onnx")


@pytest.fixture(scope="session")
def blazeface_path(shared_dir: Path) -> Path:
    """The shared BlazeFace model (an ONNX file that is no object detector)."""
    return shared_file(shared_dir, "models/blazeface-256.onnx")


@pytest.fixture(autouse=True)
async def no_leaked_tasks_or_loop_blocks(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running, or whose loop ran one callback for over block_limit_s().

    A test that must block the loop on purpose says so with `@pytest.mark.blocks_loop("why")`.
    """
    WATCH.install()
    WATCH.reset()
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()]
    if leaked:
        for t in leaked:
            t.cancel()
        await asyncio.gather(*leaked, return_exceptions=True)
        pytest.fail(f"test leaked {len(leaked)} task(s): {[t.get_name() for t in leaked]}")
    limit_s = block_limit_s()
    if WATCH.worst_s > limit_s and request.node.get_closest_marker("blocks_loop") is None:
        pytest.fail(f"the event loop was blocked for {WATCH.worst_s:.2f} s (limit {limit_s:.1f} s) by {WATCH.worst}")


# The admin connection used to create and drop one throw-away database per test.
PG_ADMIN_DSN = os.environ.get("OUTPOST_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated-nothing database: a SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cloud-test.db'}"
        return
    name = f"outpost_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    host_part = PG_ADMIN_DSN.split("://", 1)[1].rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{host_part}/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
