"""Edge-side sync agent: posts outbox batches to the cloud, signed, with retry and backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import UTC, datetime
from typing import Protocol

import httpx

from sync.codec import encode_batch
from sync.signing import SITE_HEADER, sign
from sync.wire import SYNC_PATH, SyncAck, SyncBatch, SyncRecord

log = logging.getLogger(__name__)


class OutboxSource(Protocol):
    """What the agent needs from the edge's outbox."""

    async def pending(self, limit: int) -> list[SyncRecord]:
        """Return up to `limit` unacknowledged records, oldest first."""
        ...

    async def mark_acked(self, up_to_seq: int) -> None:
        """Mark records up to `up_to_seq` as delivered."""
        ...


class SyncRejected(Exception):
    """The cloud refused a batch for a reason retrying will not fix soon (e.g. 401)."""


class SyncAgent:
    """Delivers the outbox to the cloud; one owned task, woken by `notify()`."""

    def __init__(
        self,
        outbox: OutboxSource,
        *,
        cloud_url: str,
        site_id: str,
        secret: str,
        batch_size: int = 500,
        interval_s: float = 2.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 10.0,
    ) -> None:
        self._outbox = outbox
        self._url = cloud_url.rstrip("/") + SYNC_PATH
        self._site_id = site_id
        self._secret = secret
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._max_backoff_s = max_backoff_s
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self.last_success: datetime | None = None
        self.last_error: str | None = None
        self.batches_sent = 0

    def notify(self) -> None:
        """Wake the agent: new records are waiting."""
        self._wake.set()

    async def start(self) -> None:
        """Start the delivery task."""
        self._task = asyncio.create_task(self._run(), name="sync-agent")

    async def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Stop the task after one last bounded attempt to deliver what is pending."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await asyncio.wait_for(self.flush(), flush_timeout_s)
        except (TimeoutError, httpx.HTTPError, SyncRejected) as err:
            log.warning("sync: final flush incomplete (%s); records stay queued on disk", err)
        await self._client.aclose()

    async def flush(self) -> int:
        """Send batches until the outbox is empty; return records acknowledged."""
        total = 0
        async with self._flush_lock:
            while True:
                records = await self._outbox.pending(self._batch_size)
                if not records:
                    return total
                ack = await self._send(records)
                await self._outbox.mark_acked(ack.acked_seq)
                total += len(records)
                if ack.acked_seq < records[-1].seq:
                    return total

    async def _send(self, records: list[SyncRecord]) -> SyncAck:
        batch = SyncBatch(site_id=self._site_id, sent_at=datetime.now(UTC), records=records)
        body = encode_batch(batch)
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            SITE_HEADER: self._site_id,
            **sign(self._secret, body),
        }
        response = await self._client.post(self._url, content=body, headers=headers)
        if response.status_code in (400, 401, 403, 404, 413):
            raise SyncRejected(f"cloud answered {response.status_code}: {response.text[:200]}")
        response.raise_for_status()
        ack = SyncAck.model_validate_json(response.content)
        self.batches_sent += 1
        self.last_success = datetime.now(UTC)
        self.last_error = None
        log.debug("sync: %d stored, %d duplicates, acked %d", ack.stored, ack.duplicates, ack.acked_seq)
        return ack

    async def _run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                await self.flush()
                failures = 0
            except (httpx.HTTPError, SyncRejected, ValueError) as err:
                failures += 1
                self.last_error = str(err) or type(err).__name__
                delay = min(self._max_backoff_s, self._interval_s * 2 ** min(failures, 10))
                delay *= random.uniform(0.8, 1.2)
                log.warning("sync: attempt %d failed (%s); retrying in %.1fs", failures, self.last_error, delay)
                await asyncio.sleep(delay)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
