"""Real receivers for rule notifications on loopback: an HTTP webhook endpoint and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from tests.net import free_port


@dataclass
class WebhookReceiver:
    """Records each POST (headers and body); answers `status` (a list is used in order, then its last value)."""

    url: str = ""
    statuses: list[int] = field(default_factory=lambda: [204])
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.received.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return web.Response(status=status)


@asynccontextmanager
async def webhook_receiver(statuses: list[int] | None = None) -> AsyncIterator[WebhookReceiver]:
    """A webhook endpoint on a free loopback port."""
    receiver = WebhookReceiver(statuses=statuses or [204])
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[int, _Mailbox]]:
    """A real SMTP server (aiosmtpd) on a free loopback port, in its own thread."""
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    await asyncio.to_thread(controller.start)
    try:
        yield port, mailbox
    finally:
        await asyncio.to_thread(controller.stop)


def webhook_secret(path: Path) -> str:
    """Write a new Standard Webhooks secret ('whsec_<base64>') to `path` (mode 0600); return it."""
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    path.write_text(secret)
    path.chmod(0o600)
    return secret
