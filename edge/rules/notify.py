"""Notifications with a durable queue: webhooks signed the Standard Webhooks way, e-mail over SMTP, MQTT.

A notification is a row in `notifications` before anything is sent, so it survives a restart. One worker task
sends what is due; a failed attempt is retried with exponential backoff (`rules.first_retry_s`, doubling, at most
`rules.max_retry_s`) until it is `rules.retry_for_s` old (a day by default), then marked failed. The last error is
kept on the row and shown in the console.

Webhook signature (https://www.standardwebhooks.com): headers ``webhook-id`` (the message id, the same on every
retry), ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature`` =
``v1,<base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))>``, the key being the base64-decoded part of the
channel's ``whsec_...`` secret.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib
from sqlalchemy import func, insert, or_, select, update

from edge.config.rules import EmailChannel, MqttChannel, RulesConfig, WebhookChannel
from edge.rules.schema import notifications
from edge.rules.store import aware
from edge.storage.database import Database

log = logging.getLogger(__name__)
BATCH = 20
Publish = Callable[[str, bytes, bool], Awaitable[None]]


class DeliveryError(Exception):
    """One attempt to deliver a notification failed (it is retried)."""


def sign_webhook(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class NotificationRecord:
    """A queued, sent or failed notification (console)."""

    id: int
    message_id: str
    rule_id: str
    channel: str
    status: str
    attempts: int
    created_at: datetime
    next_at: datetime
    last_error: str
    finished_at: datetime | None


class Notifier:
    """The durable notification queue and its delivery worker."""

    def __init__(
        self,
        db: Database,
        config: RulesConfig,
        *,
        publish: Publish | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._config = config
        self._publish = publish
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._shifts: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.sent = 0
        self.failed_attempts = 0

    async def enqueue(self, rule_id: str, channel: str, body: dict[str, Any]) -> str:
        """Queue a notification durably; return its message id. KeyError: no such channel."""
        if channel not in self._config.channels:
            raise KeyError(channel)
        message_id = "msg_" + uuid.uuid4().hex
        now = self._clock()
        async with self._db.engine.begin() as conn:
            await conn.execute(
                insert(notifications).values(
                    message_id=message_id,
                    rule_id=rule_id,
                    channel=channel,
                    body=body,
                    created_at=now,
                    attempts=0,
                    next_at=now,
                    status="pending",
                    last_error="",
                )
            )
        self._wake.set()
        return message_id

    async def start(self) -> None:
        """Start sending (what was queued before a restart goes first)."""
        self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(), name="rule-notifications")

    def clock_stepped(self, step_s: float) -> None:
        """The wall clock stepped (edge.clock): queued notifications keep their retry waits and their day to be sent.

        Their creation and next-attempt times move by the step, so a backward step does not delay a retry by the
        step and a forward step does not make them give up.
        """
        task = asyncio.get_running_loop().create_task(self._shift(timedelta(seconds=step_s)), name="notify-shift")
        self._shifts.add(task)
        task.add_done_callback(self._shifts.discard)

    async def _shift(self, step: timedelta) -> None:
        pending = notifications.c.status == "pending"
        async with self._db.engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(notifications.c.id, notifications.c.created_at, notifications.c.next_at).where(pending)
                )
            ).all()
            for row in rows:
                await conn.execute(
                    update(notifications)
                    .where(notifications.c.id == row.id, pending)
                    .values(created_at=aware(row.created_at) + step, next_at=aware(row.next_at) + step)
                )
        self._wake.set()

    async def stop(self) -> None:
        """Stop sending; what is not sent stays queued."""
        for shift in list(self._shifts):
            shift.cancel()
        await asyncio.gather(*self._shifts, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait_s = await self.deliver_due()
            except Exception:  # supervision point: a database hiccup must not end delivery for good; retried
                log.exception("notifications: delivery round failed")
                wait_s = self._config.first_retry_s
            if wait_s is None:
                await self._wake.wait()
            else:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.05, wait_s))
                except TimeoutError:
                    pass

    async def deliver_due(self) -> float | None:
        """Send every due notification; return seconds until the next one is due (None: nothing waits)."""
        now = self._clock()
        query = (
            select(notifications)
            .where(notifications.c.status == "pending", notifications.c.next_at <= now)
            .order_by(notifications.c.next_at, notifications.c.id)
            .limit(BATCH)
        )
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        await asyncio.gather(*(self._attempt(row) for row in rows))
        if len(rows) == BATCH:
            return 0.0
        async with self._db.engine.connect() as conn:
            upcoming = (
                await conn.execute(select(func.min(notifications.c.next_at)).where(notifications.c.status == "pending"))
            ).scalar()
        if upcoming is None:
            return None
        return max(0.0, (aware(upcoming) - self._clock()).total_seconds())

    async def _attempt(self, row: Any) -> None:
        channel = self._config.channels.get(row.channel)
        error = ""
        try:
            if channel is None:
                raise DeliveryError(f"channel {row.channel!r} is no longer configured")
            await self._send(channel, row.message_id, row.body)
        except DeliveryError as err:
            error = str(err)
        now = self._clock()
        attempts = row.attempts + 1
        if not error:
            values: dict[str, Any] = {"status": "sent", "attempts": attempts, "finished_at": now, "last_error": ""}
            self.sent += 1
        else:
            self.failed_attempts += 1
            age_s = (now - aware(row.created_at)).total_seconds()
            delay = min(self._config.first_retry_s * 2 ** (attempts - 1), self._config.max_retry_s)
            if age_s + delay > self._config.retry_for_s:
                values = {"status": "failed", "attempts": attempts, "finished_at": now, "last_error": error}
                log.error(
                    "notification %s to %s given up after %d attempts: %s", row.message_id, row.channel, attempts, error
                )
            else:
                values = {"attempts": attempts, "next_at": now + timedelta(seconds=delay), "last_error": error}
                log.warning(
                    "notification %s to %s failed (attempt %d, retry in %.0f s): %s",
                    row.message_id,
                    row.channel,
                    attempts,
                    delay,
                    error,
                )
        async with self._db.engine.begin() as conn:
            await conn.execute(update(notifications).where(notifications.c.id == row.id).values(**values))

    async def _send(self, channel: WebhookChannel | EmailChannel | MqttChannel, message_id: str, body: Any) -> None:
        if isinstance(channel, WebhookChannel):
            await self._webhook(channel, message_id, body)
        elif isinstance(channel, EmailChannel):
            await self._email(channel, message_id, body)
        else:
            if self._publish is None:
                raise DeliveryError("no MQTT broker")
            payload = json.dumps({"id": message_id, **body}).encode()
            try:
                await self._publish(channel.topic, payload, channel.retain)
            except (ConnectionError, PermissionError, ValueError, OSError) as err:
                raise DeliveryError(f"MQTT publish to {channel.topic}: {err}") from err

    async def _webhook(self, channel: WebhookChannel, message_id: str, body: Any) -> None:
        if self._session is None:
            raise DeliveryError("notifier not started")
        try:
            key = channel.read_key()
        except Exception as err:  # a ConfigError or OSError reading the secret: retried, shown in the console
            raise DeliveryError(f"webhook secret: {err}") from err
        data = json.dumps(body, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_webhook(key, message_id, timestamp, data),
        }
        try:
            async with self._session.post(
                str(channel.url), data=data, headers=headers, timeout=aiohttp.ClientTimeout(total=channel.timeout_s)
            ) as response:
                if not 200 <= response.status < 300:
                    raise DeliveryError(f"webhook answered HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as err:
            raise DeliveryError(f"webhook: {type(err).__name__}: {err}") from err

    async def _email(self, channel: EmailChannel, message_id: str, body: Any) -> None:
        message = EmailMessage()
        message["From"] = channel.sender
        message["To"] = ", ".join(channel.to)
        message["Subject"] = str(body.get("subject") or f"{body['rule']['name']}: {body.get('trigger', '')}")[:200]
        message["Message-ID"] = f"<{message_id}@outpost>"
        text = str(body.get("message") or body.get("trigger") or "")
        details = json.dumps(body, indent=2, sort_keys=True)
        message.set_content(f"{text}\n\n-- \nOutpost rule {body['rule']['id']}\n{details}\n")
        try:
            await aiosmtplib.send(
                message,
                hostname=channel.host,
                port=channel.port,
                username=channel.username,
                password=channel.read_password(),
                use_tls=channel.tls == "implicit",
                start_tls=None if channel.tls == "starttls" else False,
                timeout=channel.timeout_s,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
            raise DeliveryError(f"SMTP {channel.host}:{channel.port}: {err}") from err

    async def problems(self, limit: int = 20) -> list[NotificationRecord]:
        """Notifications that failed at least once and are not sent: still retrying, or given up (console)."""
        query = (
            select(notifications)
            .where(
                or_(
                    notifications.c.status == "failed",
                    (notifications.c.status == "pending") & (notifications.c.attempts > 0),
                )
            )
            .order_by(notifications.c.id.desc())
            .limit(limit)
        )
        return await self._records(query)

    async def recent(self, limit: int = 20) -> list[NotificationRecord]:
        """The newest notifications."""
        return await self._records(select(notifications).order_by(notifications.c.id.desc()).limit(limit))

    async def _records(self, query: Any) -> list[NotificationRecord]:
        async with self._db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            NotificationRecord(
                r.id,
                r.message_id,
                r.rule_id,
                r.channel,
                r.status,
                r.attempts,
                aware(r.created_at),
                aware(r.next_at),
                r.last_error,
                aware(r.finished_at) if r.finished_at else None,
            )
            for r in rows
        ]
