"""Fault: the cloud answers 500s and times out, before and after it stored a batch, while the site keeps journaling.

A seeded fault proxy on loopback sits between the real sync agent (real SQLite outbox) and a real cloud: each batch
request meets one of: passed through; 500 without reaching the cloud; 500 after the cloud stored it (the edge must
resend and the cloud store it once); no answer until the agent's timeout, before or after the cloud stored it; a
200 whose body is no acknowledgement. The health probe passes through. At the end the cloud holds every journaled
record exactly once, the outbox is drained and nothing was quarantined (a failing cloud is no bad record).
(tests/sync/test_sync_chaos.py covers killed and paused processes; this covers answers the cloud gets wrong.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from cloud.app import started_cloud
from cloud.config import CloudConfig
from edge.storage.database import Database
from edge.storage.journal import Journal, Outbox
from sync.agent import SyncAgent
from sync.wire import SYNC_PATH
from tests.net import free_port
from tests.polling import eventually
from tests.sync.test_sync_agent import enroll_site, stored_payloads

SEED = int(os.environ.get("OUTPOST_CLOUD_FAULTS_SEED", "15"))
FAULTS = ("500", "500_after_store", "timeout", "timeout_after_store", "garbage_ack")
FAULTY_REQUESTS = 16  # then the cloud behaves, so the test ends
AGENT_TIMEOUT_S = 1.0
HANG_S = AGENT_TIMEOUT_S + 2  # a hung answer outlives the agent's patience
EVENTS = 300

pytestmark = pytest.mark.timeout(120)


class FaultProxy:
    """An HTTP proxy in front of the cloud that spoils batch requests according to a seeded plan."""

    def __init__(self, upstream: str, plan: Iterator[str]) -> None:
        self.upstream = upstream
        self.plan = plan
        self.seen: list[str] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._client = httpx.AsyncClient(timeout=30)
        self._never = asyncio.Event()

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        answer = await self._client.request(
            request.method, self.upstream + request.path_qs, content=body, headers=headers
        )
        keep = {k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "date")}
        return web.Response(status=answer.status_code, body=answer.content, headers=keep)

    async def _hang(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._never.wait(), HANG_S)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fault = next(self.plan, "pass") if request.path == SYNC_PATH else "pass"
        self.seen.append(fault)
        if fault == "500":
            return web.Response(status=500, text="Internal Server Error")
        if fault == "timeout":
            await self._hang()
            return web.Response(status=504)
        response = await self._forward(request, body)
        if fault == "500_after_store":
            return web.Response(status=500, text="Internal Server Error")
        if fault == "timeout_after_store":
            await self._hang()
        if fault == "garbage_ack":
            return web.Response(status=200, text="<html>proxy error page</html>", content_type="text/html")
        return response

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FaultProxy]:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, shutdown_timeout=HANG_S + 1, auto_decompress=False)  # bytes as sent
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        try:
            yield self
        finally:
            self._never.set()  # release hung answers
            await runner.cleanup()
            await self._client.aclose()


def fault_plan(rng: random.Random) -> Iterator[str]:
    """FAULTY_REQUESTS batch requests, about two in three spoiled (each kind at least once), then none."""
    kinds = [*FAULTS, *(rng.choice([*FAULTS, "pass"]) for _ in range(FAULTY_REQUESTS - len(FAULTS)))]
    rng.shuffle(kinds)
    return iter(kinds)


@pytest.fixture
async def edge_db(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(tmp_path / "edge" / "edge.db")
    await db.migrate()
    yield db
    await db.close()


async def test_cloud_errors_and_timeouts_lose_and_duplicate_nothing(
    tmp_path: Path, db_url: str, edge_db: Database
) -> None:
    rng = random.Random(SEED)
    journal, outbox = Journal(edge_db), Outbox(edge_db)
    config = CloudConfig(data_dir=tmp_path / "cloud", database_url=db_url, host="127.0.0.1", port=free_port())
    async with started_cloud(config) as cloud:
        site = await enroll_site(cloud)
        async with FaultProxy(cloud.url, fault_plan(rng)).running() as proxy:
            agent = SyncAgent(
                outbox,
                cloud_url=proxy.url,
                site_id=site.site_id,
                secret=site.secret,
                batch_size=20,
                interval_s=0.1,
                max_backoff_s=0.5,
                timeout_s=AGENT_TIMEOUT_S,
                probe_interval_s=0.1,
                rng=random.Random(SEED),
            )
            journal.subscribe(lambda _entry: agent.notify())
            await agent.start()
            try:
                # The site keeps recording while the cloud misbehaves.
                for n in range(EVENTS):
                    await journal.record("event", {"type": "note", "n": n}, source="test", summary=f"note {n}")

                async def drained() -> bool:
                    return await outbox.backlog() == 0 and next(proxy.plan, None) is None

                await eventually(drained, timeout_s=90, interval_s=0.2)
            finally:
                await agent.stop(flush_timeout_s=5)
            stored = await stored_payloads(cloud, site.site_id)

    spoiled = [f for f in proxy.seen if f not in ("pass",)]
    assert set(spoiled) == set(FAULTS), proxy.seen  # every kind of fault was met
    assert agent.failed_attempts >= len(spoiled)
    with sqlite3.connect(edge_db.path) as conn:
        journaled = dict(conn.execute("SELECT seq, json_extract(payload, '$.journal_id') FROM outbox").fetchall())
        waiting = conn.execute("SELECT count(*) FROM outbox WHERE acked = 0").fetchone()[0]
        quarantined = conn.execute("SELECT count(*) FROM outbox_quarantine").fetchone()[0]
    assert waiting == 0 and quarantined == 0
    assert len(journaled) == EVENTS
    # Every journaled record stored exactly once (the cloud's key is (site, seq)), with its own content.
    assert {seq: p["journal_id"] for seq, p in stored.items()} == journaled
    assert sorted(p["n"] for p in stored.values()) == list(range(EVENTS))
