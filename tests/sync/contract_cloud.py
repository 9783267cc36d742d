"""A small real HTTP server on loopback that speaks the documented downlink contract (sync.downlink).

It stands in for the cloud's configuration endpoint in edge tests: it checks the box's signatures exactly as
the contract says, long-polls, signs the documents it serves and records every request and report.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from sync.downlink import CONFIG_PATH, CONFIG_REPORT_PATH, ConfigReport, SiteConfigDocument
from sync.signing import SIGNATURE_HEADER, SITE_HEADER, TIMESTAMP_HEADER, SignatureError, request_target_bytes, sign
from sync.signing import verify as verify_signature

SECRET = "ab" * 32


@dataclass
class ContractCloud:
    """Serves the newest published document; `tamper` signs with the wrong key; `failing` answers 503."""

    site_id: str = "test-site"
    secret: str = SECRET
    document: bytes | None = None
    version: int = 0
    tamper: bool = False
    failing: bool = False
    reports: list[ConfigReport] = field(default_factory=list)
    polled_versions: list[int] = field(default_factory=list)
    refused_requests: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    _closing: bool = False
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def publish(self, doc: SiteConfigDocument | bytes, version: int | None = None) -> None:
        """Make `doc` the current document (raw bytes: served as they are, for malformed documents)."""
        if isinstance(doc, SiteConfigDocument):
            self.document, self.version = doc.model_dump_json().encode(), doc.version
        else:
            assert version is not None
            self.document, self.version = doc, version
        self._changed.set()

    async def start(self, port: int = 0) -> None:
        self._closing = False
        app = web.Application()
        app.router.add_get(CONFIG_PATH, self._pull)
        app.router.add_post(CONFIG_REPORT_PATH, self._report)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001

    async def stop(self) -> None:
        self._closing = True  # parked long polls answer 204 at once
        self._changed.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _check(self, request: web.Request, signed: bytes) -> None:
        if request.headers.get(SITE_HEADER) != self.site_id:
            raise web.HTTPForbidden(text="unknown site")
        try:
            verify_signature(
                self.secret, signed, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER)
            )
        except SignatureError as err:
            self.refused_requests += 1
            raise web.HTTPUnauthorized(text=str(err)) from err

    async def _pull(self, request: web.Request) -> web.Response:
        self._check(request, request_target_bytes("GET", request.raw_path))
        if self.failing:
            return web.Response(status=503)
        have = int(request.query["version"])
        wait = min(int(request.query.get("wait", "0")), 30)
        self.polled_versions.append(have)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while self.version <= have:
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closing:
                return web.Response(status=204)
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
        assert self.document is not None
        headers = sign("cd" * 32 if self.tamper else self.secret, self.document)
        return web.Response(body=self.document, content_type="application/json", headers=headers)

    async def _report(self, request: web.Request) -> web.Response:
        body = await request.read()
        self._check(request, body)
        self.reports.append(ConfigReport.model_validate_json(body))
        return web.Response(status=204)
