"""Edge-side configuration puller: long-polls the cloud for newer site documents, hands them to a sink, reports.

Protocol (sync.downlink, docs/SYNC.md "Downlink"): ``GET CONFIG_PATH?version=<v>&wait=<s>`` signed with the site
secret over `signing.request_target_bytes`; 200 carries a `SiteConfigDocument` signed by the cloud (response
headers over the body bytes), 204 means nothing newer within `wait`. Every document received is answered with a
signed ``POST CONFIG_REPORT_PATH`` (`ConfigReport`: applied, or refused with the reason).

`<v>` is the applied version, or the last refused version if that is higher: the cloud then holds the poll
until HQ publishes a newer document instead of sending the refused one again at once.

The puller knows nothing of the edge: it talks to a `ConfigSink`. It never ends on an error: a cloud that is
away, a bad signature, a malformed answer or a failing sink is counted, logged and retried with a jittered
exponential backoff (`sync.backoff.Backoff`); a report that could not be delivered is sent again first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import httpx
from pydantic import ValidationError

from sync.backoff import Backoff
from sync.downlink import CONFIG_PATH, CONFIG_REPORT_PATH, MAX_WAIT_S, ConfigReport, SiteConfigDocument
from sync.signing import (
    SIGNATURE_HEADER,
    SITE_HEADER,
    TIMESTAMP_HEADER,
    SecretSource,
    SignatureError,
    current_secret,
    request_target_bytes,
    sign,
)
from sync.signing import verify as verify_signature

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConfigOutcome:
    """What the sink did with a document."""

    applied: bool
    reason: str = ""


class ConfigSink(Protocol):
    """Where documents go (the edge's applier)."""

    async def applied_version(self) -> int:
        """The version in force (0: none)."""
        ...

    async def apply(self, doc: SiteConfigDocument) -> ConfigOutcome:
        """Validate and apply `doc` atomically, or refuse it with the reason (changing nothing)."""
        ...


class PullError(Exception):
    """The cloud's answer cannot be used (status, signature, body); retried with backoff."""


class ConfigPuller:
    """One owned task that keeps the site's configuration current (see the module docstring)."""

    def __init__(
        self,
        sink: ConfigSink,
        *,
        cloud_url: str,
        site_id: str,
        secret: SecretSource,
        wait_s: int = 25,
        base_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        self._sink = sink
        self._base = cloud_url.rstrip("/")
        self._site_id = site_id
        self._secret = secret
        self._wait_s = max(0, min(wait_s, MAX_WAIT_S))
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=self._wait_s + 10.0))
        self.backoff = Backoff(base_backoff_s, max_backoff_s, rng=rng)
        self._retry = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending_report: ConfigReport | None = None
        self.refused_version = 0  # the newest version refused (0: none)
        self.last_refusal = ""
        self.version = 0  # the version in force, as of the last poll or apply
        self.polls = 0
        self.documents = 0
        self.applied = 0
        self.refused = 0
        self.errors = 0
        self.bad_signatures = 0
        self.reports_sent = 0
        self.reports_dropped = 0
        self.last_success: datetime | None = None
        self.last_error: str | None = None

    async def start(self) -> None:
        """Start the polling task."""
        self._task = asyncio.create_task(self._run(), name="config-puller")

    async def stop(self) -> None:
        """Stop polling (an undelivered report is dropped: the next start polls again and the cloud asks anew)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._client.aclose()

    def retry_now(self) -> None:
        """Cut a backoff short (the cloud is known to be back)."""
        self._retry.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.pull_once()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # supervision point: never end the task
                self.errors += 1
                self.last_error = f"{type(err).__name__}: {err}"
                delay = self.backoff.failed()
                if isinstance(err, (httpx.HTTPError, PullError)):
                    log.warning("config pull failed (%s); retrying in %.1fs", self.last_error, delay)
                else:
                    log.exception("config pull failed unexpectedly; retrying in %.1fs", delay)
                self._retry.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._retry.wait(), delay)
                self._retry.clear()

    async def pull_once(self) -> ConfigOutcome | None:
        """Send a pending report, then poll once; apply and report a document if one came (None: nothing new)."""
        if self._pending_report is not None:
            await self._report(self._pending_report)
            self._pending_report = None
        self.version = await self._sink.applied_version()
        version = max(self.version, self.refused_version)
        body = await self._poll(version)
        self.backoff.succeeded()
        self.last_success = datetime.now(UTC)
        self.last_error = None
        if body is None:
            return None
        self.documents += 1
        try:
            doc = SiteConfigDocument.model_validate_json(body)
        except ValidationError as err:
            outcome = ConfigOutcome(False, f"invalid document: {_first_error(err)}")
            doc_version = _version_of(body)
            if doc_version is None:
                raise PullError(outcome.reason) from err
        else:
            doc_version = doc.version
            if doc.site_id != self._site_id:
                outcome = ConfigOutcome(False, f"document is for site {doc.site_id!r}, this is {self._site_id!r}")
            else:
                outcome = await self._sink.apply(doc)
        if outcome.applied:
            self.applied += 1
            self.version = doc_version
        else:
            self.last_refusal = outcome.reason[:300]
            self.refused += 1
            self.refused_version = max(self.refused_version, doc_version)
            log.warning("config v%d refused: %s", doc_version, outcome.reason)
        report = ConfigReport(
            site_id=self._site_id,
            version=doc_version,
            status="applied" if outcome.applied else "refused",
            reason=outcome.reason[:2000],
            at=datetime.now(UTC),
        )
        self._pending_report = report  # sent now, or first thing next time if the cloud is away
        await self._report(report)
        self._pending_report = None
        return outcome

    async def _poll(self, version: int) -> bytes | None:
        path = f"{CONFIG_PATH}?version={version}&wait={self._wait_s}"
        secret = current_secret(self._secret)  # the answer is signed with the key the request used
        headers = {SITE_HEADER: self._site_id, **sign(secret, request_target_bytes("GET", path))}
        self.polls += 1
        response = await self._client.get(self._base + path, headers=headers)
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            raise PullError(f"cloud answered {response.status_code}: {response.text[:200]}")
        body = response.content
        try:
            verify_signature(
                secret, body, response.headers.get(TIMESTAMP_HEADER), response.headers.get(SIGNATURE_HEADER)
            )
        except SignatureError as err:
            self.bad_signatures += 1
            raise PullError(f"document signature: {err}") from err
        return body

    async def _report(self, report: ConfigReport) -> None:
        body = report.model_dump_json().encode()
        signature = sign(current_secret(self._secret), body)
        headers = {"Content-Type": "application/json", SITE_HEADER: self._site_id, **signature}
        response = await self._client.post(self._base + CONFIG_REPORT_PATH, content=body, headers=headers)
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            # Refused for good (resending the same report cannot help): logged and dropped, polling goes on.
            self.reports_dropped += 1
            log.warning(
                "report of v%d refused by the cloud (%d): %s", report.version, response.status_code, response.text[:200]
            )
            return
        if response.status_code >= 300:
            raise PullError(f"report of v{report.version}: cloud answered {response.status_code}")
        self.reports_sent += 1


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where + ': ' if where else ''}{first['msg']}"[:500]


def _version_of(body: bytes) -> int | None:
    """The version of a document that failed validation, if it names one (so the refusal can be reported)."""
    try:
        value = json.loads(body).get("version")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and 1 <= value <= 2**63 - 1 else None
