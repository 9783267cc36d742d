"""Edge-side sync agent: posts outbox batches to the cloud, signed, with retry and backoff.

One bad record never blocks the records behind it: records the cloud refuses by name (422, see
`sync.wire.BadRecordsBody`), a record too large to send alone, and a record that cannot be encoded are handed
back to the outbox's quarantine with the reason, and the rest go on at once. Failures of the cloud or the
network back off exponentially (`sync.backoff.Backoff`, reset by every delivered batch); while the cloud is
unreachable the agent probes its health endpoint and resumes as soon as it answers.

Every batch carries a fresh nonce (a retry is a new request; the cloud refuses a nonce seen before) and the
agent's status (backlog, oldest waiting record, quarantine, last error) so HQ sees the site's lag. The agent
measures its clock against the cloud's ``Date`` header (`clock_skew_s`): the cloud refuses requests whose signed
timestamp is more than `sync.signing.MAX_CLOCK_SKEW_S` off, so the console warns well before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol, runtime_checkable

import httpx
from pydantic import ValidationError

from observability.version import software_version
from sync.backoff import Backoff
from sync.codec import BatchTooLarge, PendingBatch, encode_batch
from sync.media_uploader import MediaRejected, MediaSource, MediaUploader
from sync.signing import CLAIM_HEADER, SITE_HEADER, SecretSource, current_secret, sign
from sync.wire import (
    HEALTH_PATH,
    SYNC_PATH,
    BadRecordsBody,
    RecordRejection,
    SyncAck,
    SyncBatch,
    SyncRecord,
    SyncStatus,
    new_nonce,
)

log = logging.getLogger(__name__)

# Gateway and availability errors: the cloud (or the way to it) is away, not refusing this batch.
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})


class OutboxSource(Protocol):
    """What the agent needs from the edge's outbox."""

    async def pending(self, limit: int, exclude: Collection[int] = ()) -> list[SyncRecord]:
        """Return up to `limit` unacknowledged records not in quarantine, in seq order (priority kinds first).

        Records whose seqs are in `exclude` (a batch in flight) are skipped as if already acknowledged: the
        result is what `pending(limit)` returns once they are.
        """
        ...

    async def mark_acked(self, seqs: Sequence[int]) -> None:
        """Mark exactly the records with these seqs as delivered.

        Not "everything up to": a batch may leave lower-priority records of lower seq behind (docs/SYNC.md).
        """
        ...

    async def quarantine(self, rejections: Sequence[RecordRejection]) -> None:
        """Set records aside with the reason; `pending` no longer returns them."""
        ...


@runtime_checkable
class WireOutboxSource(Protocol):
    """An outbox that can also hand over its records' wire form (the agent then sends it as it is)."""

    async def pending_batch(self, limit: int, exclude: Collection[int] = ()) -> PendingBatch:
        """`OutboxSource.pending`, with the JSON array of the records when the outbox has it."""
        ...


@runtime_checkable
class BacklogSource(Protocol):
    """Counts an outbox may offer; the agent reports them to the cloud in each batch."""

    async def backlog(self) -> int:
        """Return how many records wait (not counting those in quarantine)."""
        ...

    async def quarantine_count(self) -> int:
        """Return how many records are in quarantine."""
        ...


# Counting a large outbox is not free: the reported backlog is refreshed at most this often during catch-up.
STATUS_REFRESH_S = 5.0
# The console warns past this skew; the cloud refuses past sync.signing.MAX_CLOCK_SKEW_S.
CLOCK_SKEW_WARN_S = 60.0


class SyncRejected(Exception):
    """The cloud refused a batch for a reason retrying will not fix soon (e.g. 401)."""


class RecordsRefused(Exception):
    """The cloud refused named records of a batch (422) and stored nothing of it."""

    def __init__(self, rejected: list[RecordRejection]) -> None:
        super().__init__(f"{len(rejected)} record(s) refused")
        self.rejected = rejected


def _is_unreachable(err: BaseException) -> bool:
    if isinstance(err, httpx.TransportError):
        return True
    return isinstance(err, httpx.HTTPStatusError) and err.response.status_code in UNAVAILABLE_STATUSES


async def _discard(task: asyncio.Task[PendingBatch]) -> None:
    """Cancel a read-ahead that will not be used (its outcome, even an error, no longer matters)."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _settle(marking: asyncio.Task[None] | None) -> None:
    """Wait for an acknowledgement being written (its error is raised). Cancelling the waiter cancels the write:
    its records stay waiting and go out again, stored once by the cloud (acknowledged as duplicates)."""
    if marking is not None:
        await marking


def _unencodable(records: Sequence[SyncRecord]) -> list[RecordRejection]:
    bad = []
    for record in records:
        try:
            encode_batch(SyncBatch(site_id="-", sent_at=datetime.now(UTC), nonce=new_nonce(), records=[record]))
        except BatchTooLarge as err:
            bad.append(RecordRejection(seq=record.seq, error="too_large", detail=str(err)))
        except ValueError as err:  # e.g. a lone surrogate in a string: not UTF-8, so not JSON
            bad.append(RecordRejection(seq=record.seq, error="unencodable", detail=str(err)[:300]))
    return bad


class SyncAgent:
    """Delivers the outbox to the cloud; one owned task, woken by `notify()` (new records) or `retry_now()`."""

    def __init__(
        self,
        outbox: OutboxSource,
        *,
        cloud_url: str,
        site_id: str,
        secret: SecretSource,
        batch_size: int = 500,
        catch_up_batch_size: int | None = None,
        interval_s: float = 2.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 10.0,
        probe_interval_s: float | None = None,
        rng: random.Random | None = None,
        media: MediaSource | None = None,
        claim: str | None = None,
    ) -> None:
        self._outbox = outbox
        # A box enrolled from a file claims its site with its first batch (sync.enrollment_file), sent even when
        # the outbox is empty; once the cloud accepted one batch the claim is made and no longer sent.
        self._claim = claim
        base = cloud_url.rstrip("/")
        self._url = base + SYNC_PATH
        self._health_url = base + HEALTH_PATH
        self._site_id = site_id
        self._secret = secret
        self._batch_size = batch_size
        # While batches come back full (a backlog), each next one is read twice as large, up to this size; the
        # per-batch round trips then weigh less per record. None keeps every batch at `batch_size`.
        self._catch_up_batch_size = max(batch_size, catch_up_batch_size or batch_size)
        self._interval_s = interval_s
        self._probe_interval_s = interval_s if probe_interval_s is None else probe_interval_s
        self._client = httpx.AsyncClient(timeout=timeout_s)
        # Snapshots and clips go up only when no record waits (sync.media_uploader), on the same connection pool.
        self.media = (
            None
            if media is None
            else MediaUploader(media, self._client, cloud_url=cloud_url, site_id=site_id, secret=secret)
        )
        self._probe_timeout_s = min(timeout_s, 3.0)
        self._wake = asyncio.Event()
        self._retry = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()
        self.backoff = Backoff(interval_s, max_backoff_s, rng=rng)
        self.last_success: datetime | None = None
        self.last_error: str | None = None
        self.last_error_at: datetime | None = None
        self.retry_at: datetime | None = None
        self.batches_sent = 0
        self.failed_attempts = 0  # every failed delivery attempt, never reset (the metrics' sync errors)
        self.quarantined = 0
        # Kept across successes (unlike last_error): the cloud shows a site's last error, not only a current one.
        self.last_failure: str | None = None
        self.last_failure_at: datetime | None = None
        self.clock_skew_s: float | None = None
        self._counts: tuple[float, int, int] | None = None  # (monotonic time, backlog, quarantined)

    @property
    def claim_pending(self) -> bool:
        """Whether this box, enrolled from a file, still waits for the cloud to accept its claim."""
        return self._claim is not None

    def notify(self) -> None:
        """Wake the agent: new records are waiting (does not cut a backoff short)."""
        self._wake.set()

    def retry_now(self) -> None:
        """Try at once, cutting a backoff short (the cloud is known to be back, or an operator asked)."""
        self._retry.set()
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
        except (TimeoutError, httpx.HTTPError, SyncRejected, ValueError) as err:
            log.warning("sync: final flush incomplete (%s); records stay queued on disk", err)
        await self._client.aclose()

    async def flush(self) -> int:
        """Send batches until the outbox is empty; return records acknowledged (and marked so on return).

        Records that cannot be delivered are quarantined on the way (see the module docstring). While a batch
        is in flight the next one is read ahead (`pending(limit, exclude=...)`) and the previous one's
        acknowledgement is written (`mark_acked`); the read-ahead is used only if the batch is acknowledged in
        full, so acks stay per batch and by exact seqs. At most one acknowledgement is being written at a time.
        """
        total = 0
        async with self._flush_lock:
            marking: asyncio.Task[None] | None = None  # the previous batch's mark_acked, written meanwhile
            marking_seqs: set[int] = set()
            try:
                limit = self._batch_size
                ceiling = self._catch_up_batch_size  # lowered for this flush by a batch that was too large
                ahead: PendingBatch | None = None
                while True:
                    if ahead is None:  # a fresh read: the acknowledgement being written is on disk first
                        await _settle(marking)
                        marking, marking_seqs = None, set()
                        pending = await self._pending(limit)
                    else:
                        pending = ahead
                    ahead = None
                    records = pending.records
                    if not records:
                        if self._claim is not None:  # a box enrolled from a file claims its site even when idle
                            await self._send(PendingBatch([]))
                        return total
                    in_flight = {r.seq for r in records}
                    if len(records) >= limit:  # a full batch: more is waiting, read the next one larger
                        limit = min(limit * 2, ceiling)
                    reading = asyncio.create_task(self._pending(limit, exclude=in_flight | marking_seqs))
                    try:
                        ack = await self._send(pending)
                    except RecordsRefused as refused:
                        await _discard(reading)
                        await self._quarantine(records, refused.rejected)
                        continue
                    except BatchTooLarge as err:
                        await _discard(reading)
                        if len(records) > 1:
                            limit = max(1, len(records) // 2)  # until the record that is too large stands alone
                            ceiling = min(ceiling, limit)
                            continue
                        await self._quarantine(
                            records, [RecordRejection(seq=records[0].seq, error="too_large", detail=str(err))]
                        )
                        continue
                    except BaseException:
                        await _discard(reading)
                        raise
                    delivered = [r.seq for r in records if r.seq <= ack.acked_seq]
                    if ack.acked_seq < records[-1].seq:
                        await _discard(reading)
                        await _settle(marking)
                        marking = None
                        await self._outbox.mark_acked(delivered)
                        return total + len(delivered)
                    await _settle(marking)  # one acknowledgement written at a time, in order
                    marking = asyncio.create_task(self._outbox.mark_acked(delivered))
                    marking_seqs = in_flight
                    total += len(delivered)
                    ahead = await reading  # after the ack: an outbox error here loses no acknowledgement
            finally:
                await _settle(marking)  # every acknowledged batch is marked when flush ends, even by an error

    async def _pending(self, limit: int, exclude: Collection[int] = ()) -> PendingBatch:
        """The next batch; with `exclude` (the batch in flight), the one `pending(limit)` gives once it is acked."""
        if isinstance(self._outbox, WireOutboxSource):
            return await self._outbox.pending_batch(limit, exclude)
        return PendingBatch(await self._outbox.pending(limit, exclude))

    async def _quarantine(self, records: Sequence[SyncRecord], rejected: Sequence[RecordRejection]) -> None:
        in_batch = {r.seq for r in records}
        named = [r for r in rejected if r.seq in in_batch]
        if not named:  # nothing to set aside: resending would loop
            raise SyncRejected(f"cloud refused records that are not in the batch: {[r.seq for r in rejected][:10]}")
        await self._outbox.quarantine(named)
        self.quarantined += len(named)

    async def _status(self, records: list[SyncRecord]) -> SyncStatus | None:
        if not isinstance(self._outbox, BacklogSource):
            return None
        now = time.monotonic()
        if self._counts is None or now - self._counts[0] > STATUS_REFRESH_S:
            self._counts = (now, await self._outbox.backlog(), await self._outbox.quarantine_count())
        _, backlog, quarantined = self._counts
        return SyncStatus(
            backlog=max(backlog, len(records)),
            oldest_pending_at=records[0].occurred_at if records else None,  # pending() returns oldest first
            quarantined=quarantined,
            last_error=self.last_failure[:500] if self.last_failure else None,
            last_error_at=self.last_failure_at,
        )

    def _note_clock(self, response: httpx.Response) -> None:
        try:
            server = parsedate_to_datetime(response.headers.get("Date", ""))
        except (TypeError, ValueError):
            return
        if server.tzinfo is None:
            return
        # Date has whole seconds: the skew is known to about a second, enough to warn at CLOCK_SKEW_WARN_S.
        self.clock_skew_s = round((datetime.now(UTC) - server).total_seconds())

    def _encode(self, pending: PendingBatch, status: SyncStatus | None = None) -> bytes:
        records = pending.records
        try:
            batch = SyncBatch(
                site_id=self._site_id,
                sent_at=datetime.now(UTC),
                nonce=new_nonce(),
                records=records,
                status=status,
                software_version=software_version(),
            )
            return encode_batch(batch, pending.records_json)
        except BatchTooLarge:
            if len(records) > 1:
                raise
            bad = _unencodable(records)
        except ValueError:
            bad = _unencodable(records)
            if not bad:
                raise
        raise RecordsRefused(bad)

    async def _send(self, pending: PendingBatch) -> SyncAck:
        records = pending.records
        body = self._encode(pending, await self._status(records))
        headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            SITE_HEADER: self._site_id,
            **sign(current_secret(self._secret), body),
        }
        if self._claim is not None:
            headers[CLAIM_HEADER] = self._claim
        response = await self._client.post(self._url, content=body, headers=headers)
        self._note_clock(response)
        if response.status_code == 422:
            try:
                refused = BadRecordsBody.model_validate_json(response.content)
            except ValidationError as err:
                raise SyncRejected(f"cloud answered 422: {response.text[:200]}") from err
            self._succeeded()  # the cloud is up and answering: not a failure to back off from
            raise RecordsRefused(refused.rejected)
        if response.status_code == 413:
            raise BatchTooLarge(f"cloud answered 413 for {len(records)} record(s)")
        if response.status_code in (400, 401, 403, 404, 409):
            raise SyncRejected(f"cloud answered {response.status_code}: {response.text[:200]}")
        response.raise_for_status()
        ack = SyncAck.model_validate_json(response.content)
        self._claim = None
        self.batches_sent += 1
        self._succeeded()
        log.debug("sync: %d stored, %d duplicates, acked %d", ack.stored, ack.duplicates, ack.acked_seq)
        return ack

    def _succeeded(self) -> None:
        self.backoff.succeeded()
        self.last_success = datetime.now(UTC)
        self.last_error = None
        self.last_error_at = None

    async def _probe(self) -> bool:
        try:
            response = await self._client.get(self._health_url, timeout=self._probe_timeout_s)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def _pause(self, delay: float, probe: bool) -> None:
        """Wait `delay` s; end early on `retry_now()` or, when `probe`, once the cloud's health probe answers."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        self.retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        try:
            while (remaining := deadline - loop.time()) > 0:
                step = min(remaining, self._probe_interval_s) if probe else remaining
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._retry.wait(), step)
                if self._retry.is_set():
                    return
                if probe and remaining > step and await self._probe():
                    log.info("sync: cloud answers its health probe again; retrying now")
                    return
        finally:
            self._retry.clear()
            self.retry_at = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            self._retry.clear()  # an earlier "retry now" is served by this attempt; it must not cut the next pause
            try:
                await self.flush()
                if self.media is not None and not self._wake.is_set():
                    await self.media.run(interrupt=self._wake)  # stops after a chunk once records wait
            except (httpx.HTTPError, SyncRejected, MediaRejected, ValueError) as err:
                delay = self.backoff.failed()
                self.failed_attempts += 1
                self.last_error = str(err) or type(err).__name__
                self.last_error_at = datetime.now(UTC)
                self.last_failure, self.last_failure_at = self.last_error, self.last_error_at
                log.warning(
                    "sync: attempt %d failed (%s); retrying in %.1fs", self.backoff.failures, self.last_error, delay
                )
                # Probing only helps when the cloud is away; one that answers with an error gets its full pause.
                await self._pause(delay, probe=_is_unreachable(err))
                continue
            except Exception as err:  # supervision point: the outbox failed (e.g. database busy); never end the task
                delay = self.backoff.failed()
                self.failed_attempts += 1
                self.last_error = f"outbox: {err}"
                self.last_error_at = datetime.now(UTC)
                self.last_failure, self.last_failure_at = self.last_error, self.last_error_at
                log.exception("sync: attempt %d failed in the outbox; retrying in %.1fs", self.backoff.failures, delay)
                await self._pause(delay, probe=False)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
