"""Keeps the outbox under its disk budget by thinning telemetry, and journals what it dropped.

Audit, alarms, events and every other kind are never dropped. When the unacknowledged outbox grows past the
budget (`storage.outbox_budget_mb`), waiting telemetry is thinned in passes of growing coarseness: keep the last
reading per device per 60 s, then per 10 min, per hour, per day, then only the last per device. After each pass
that dropped something, a `sync.thinning.ThinningReport` is journaled (event row + outbox record of kind
``thinning``, in the same transaction as the deletion), so the hole is visible locally and at HQ. If the outbox is
still over budget with no telemetry left to thin, it stays over budget: the rest is never dropped (logged).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from edge.storage.database import Database
from sync.thinning import ThinningReport

log = logging.getLogger(__name__)

# Per-record overhead beyond the payload text (row header, seq, kind, time, index entry), roughly.
ROW_OVERHEAD_BYTES = 64
# Bucket sizes of the passes; None: keep only the last reading per device.
PASSES: tuple[int | None, ...] = (60, 600, 3600, 86_400, None)

_WAITING = "acked = 0 AND NOT EXISTS (SELECT 1 FROM outbox_quarantine q WHERE q.seq = outbox.seq)"
_PENDING_BYTES = (
    f"SELECT coalesce(sum(length(payload)), 0) + count(*) * {ROW_OVERHEAD_BYTES} FROM outbox WHERE {_WAITING}"
)


def _victims(bucket_s: int | None) -> str:
    """SQL selecting the seqs a pass drops: every waiting telemetry record but the newest per device and bucket."""
    bucket = "0" if bucket_s is None else f"CAST(strftime('%s', occurred_at) AS INTEGER) / {int(bucket_s)}"
    return f"""SELECT seq FROM (
        SELECT seq, row_number() OVER (
            PARTITION BY json_extract(payload, '$.source'), {bucket} ORDER BY seq DESC) AS newer
        FROM outbox WHERE kind = 'telemetry' AND {_WAITING}
    ) WHERE newer > 1"""


def _kept(bucket_s: int | None) -> str:
    return "the last per device" if bucket_s is None else f"the last per device per {bucket_s} s"


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ThinningResult:
    """What one `enforce` call did."""

    before_bytes: int
    after_bytes: int
    reports: list[ThinningReport]


class OutboxThinner:
    """Enforces the outbox budget (see the module docstring); `enforce` is safe to call at any time."""

    def __init__(self, db: Database, budget_bytes: int, check_interval_s: float = 60.0) -> None:
        self._db = db
        self.budget_bytes = budget_bytes
        self.total_thinned = 0
        self._interval_s = check_interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Check the budget now and then every `check_interval_s`, in one owned task."""
        self._task = asyncio.create_task(self._run(), name="outbox-thinner")

    async def stop(self) -> None:
        """Cancel the checking task."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.enforce()
            except Exception:  # supervision point: a busy or failing database must not end the checks
                log.exception("outbox: budget check failed; trying again in %.0f s", self._interval_s)
            await asyncio.sleep(self._interval_s)  # a periodic check, not synchronisation

    async def pending_bytes(self) -> int:
        """Approximate disk use of the waiting outbox records."""
        async with self._db.engine.connect() as conn:
            return int((await conn.execute(text(_PENDING_BYTES))).scalar() or 0)

    async def enforce(self) -> ThinningResult:
        """Thin telemetry until the waiting outbox fits the budget (or no telemetry is left to thin)."""
        before = size = await self.pending_bytes()
        reports: list[ThinningReport] = []
        for bucket_s in PASSES:
            if size <= self.budget_bytes:
                break
            async with self._db.engine.begin() as conn:
                report = await self._thin(conn, bucket_s)
                if report is not None:
                    reports.append(report)
                size = int((await conn.execute(text(_PENDING_BYTES))).scalar() or 0)
        if size > self.budget_bytes:
            log.warning(
                "outbox: %d bytes waiting, over the budget of %d, with no telemetry left to thin "
                "(audit, alarms and events are never dropped)",
                size,
                self.budget_bytes,
            )
        return ThinningResult(before, size, reports)

    async def _thin(self, conn: AsyncConnection, bucket_s: int | None) -> ThinningReport | None:
        victims = _victims(bucket_s)
        row = (
            await conn.execute(
                text(f"SELECT count(*), min(occurred_at), max(occurred_at) FROM outbox WHERE seq IN ({victims})")
            )
        ).one()
        if not row[0]:
            return None
        report = ThinningReport(
            thinned_kind="telemetry",
            count=row[0],
            first_at=_aware(row[1]),
            last_at=_aware(row[2]),
            kept=_kept(bucket_s),
            budget_bytes=self.budget_bytes,
        )
        await conn.execute(text(f"DELETE FROM outbox WHERE seq IN ({victims})"))
        await self._journal(conn, report)
        self.total_thinned += report.count
        log.warning(
            "outbox over budget: dropped %d telemetry records from %s to %s, keeping %s",
            report.count,
            report.first_at,
            report.last_at,
            report.kept,
        )
        return report

    async def _journal(self, conn: AsyncConnection, report: ThinningReport) -> None:
        # As edge.storage.journal.Journal.record writes it (event row + outbox row), inside this transaction.
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
        payload = report.model_dump(mode="json")
        summary = f"{report.count} telemetry records dropped (outbox over budget), kept {report.kept}"
        event_id = (
            await conn.execute(
                text(
                    "INSERT INTO events (kind, occurred_at, source, summary, payload) "
                    "VALUES ('thinning', :at, 'outbox', :summary, :payload)"
                ),
                {"at": now, "summary": summary, "payload": json.dumps(payload)},
            )
        ).lastrowid
        body = {"journal_id": event_id, "source": "outbox", "summary": summary, **payload}
        await conn.execute(
            text("INSERT INTO outbox (kind, occurred_at, payload, acked) VALUES ('thinning', :at, :payload, 0)"),
            {"at": now, "payload": json.dumps(body)},
        )
