"""Pydantic wire models for edge -> cloud sync and enrollment.

A batch is POSTed to `SYNC_PATH` as gzip JSON with ``Content-Encoding: gzip``; the HMAC (see
`sync.signing`) covers the compressed bytes exactly as sent, so a server must not inflate the body before
verifying it (aiohttp: ``auto_decompress=False``).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from sync.timezones import TimeZoneName

RecordKind = Literal[
    "event", "audit", "detection", "device_status", "telemetry", "config_edit", "thinning", "inventory"
]

SYNC_PATH = "/api/v1/sync/batch"
ENROLL_PATH = "/api/v1/enroll"
HEALTH_PATH = "/healthz"

# Sequence numbers are signed 64-bit integers end to end (the edge's SQLite INTEGER, the cloud's BIGINT).
MAX_SEQ = 2**63 - 1


class WireModel(BaseModel):
    """Base for all wire models: unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")


class SyncRecord(WireModel):
    """One outbox record; `seq` is unique and increasing per site and is the record's identity in the cloud.

    The payload of a journal record carries the edge's local journal row id as ``journal_id`` (bookkeeping
    only; ids inside the body, such as a badge read's ``event_id``, keep their own names). Exception: a
    ``config_edit`` payload is exactly a `sync.downlink.LocalEdit` (unknown keys refused), without those keys.
    """

    seq: int = Field(ge=1, le=MAX_SEQ, description="Per-site sequence number assigned by the edge outbox")
    kind: RecordKind = Field(description="What the record describes")
    occurred_at: AwareDatetime = Field(description="When it happened at the site (timezone-aware, in UTC range)")
    payload: dict[str, Any] = Field(description="Kind-specific body")

    @field_validator("occurred_at")
    @classmethod
    def _representable_in_utc(cls, value: datetime) -> datetime:
        # 9999-12-31T23:00-05:00 is year 10000 in UTC: no database (nor Python) can store it. Only the first and
        # last year can overflow, and the conversion is not free (pydantic's offsets): check just those.
        if 1 < value.year < 9999:
            return value
        try:
            value.astimezone(UTC)
        except OverflowError as err:
            raise ValueError("occurred_at is out of range once converted to UTC") from err
        return value


NONCE_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


def new_nonce() -> str:
    """Return a fresh batch nonce (128 random bits)."""
    return secrets.token_hex(16)


class SyncStatus(WireModel):
    """The edge's view of its uplink, sent in every batch so HQ sees each site's lag (the console's numbers)."""

    backlog: int = Field(ge=0, description="Records waiting for the cloud, this batch included (not quarantined)")
    oldest_pending_at: AwareDatetime | None = Field(default=None, description="When the oldest waiting record happened")
    quarantined: int = Field(default=0, ge=0, description="Records set aside in the edge's quarantine")
    last_error: str | None = Field(default=None, max_length=500, description="The edge's last failed attempt")
    last_error_at: AwareDatetime | None = Field(default=None, description="When that attempt failed")


class SyncBatch(WireModel):
    """A batch of records posted by one site, gzip JSON, HMAC-signed.

    `nonce` is unique per POST (a retry gets a new one) and, being in the signed body, covered by the HMAC:
    the cloud refuses a nonce it has seen within the signature's time window (409 `replayed`).
    """

    site_id: str = Field(min_length=1, max_length=64, description="Site identity from enrollment")
    sent_at: AwareDatetime = Field(description="When the edge sent the batch (timezone-aware)")
    nonce: str = Field(pattern=NONCE_PATTERN, description="Unique per request; see `new_nonce`")
    records: list[SyncRecord] = Field(max_length=5000, description="Records in ascending seq order")
    software_version: str | None = Field(
        default=None, max_length=64, pattern=r"^[\x21-\x7e]*$", description="The edge's installed software version"
    )
    status: SyncStatus | None = Field(default=None, description="The edge's backlog and last error")

    @model_validator(mode="after")
    def _seqs_ascending_and_unique(self) -> SyncBatch:
        seqs = [r.seq for r in self.records]
        if seqs != sorted(set(seqs)):
            raise ValueError("records must have unique seq values in ascending order")
        return self


class SyncAck(WireModel):
    """The cloud's answer: every record with seq <= acked_seq in the batch is stored."""

    acked_seq: int = Field(ge=0, le=MAX_SEQ, description="Highest seq of the batch now stored (0 for an empty batch)")
    stored: int = Field(ge=0, description="Records newly stored by this request")
    duplicates: int = Field(ge=0, description="Records already stored before (replays)")


class EnrollRequest(WireModel):
    """Sent by `outpost-provision enroll` to claim a site."""

    code: str = Field(min_length=4, max_length=128, description="One-time enrollment code")
    hostname: str = Field(
        default="", max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$", description="The box's hostname, for the portal"
    )


class EnrollResponse(WireModel):
    """What a successful enrollment returns: the site identity and its sync secret."""

    site_id: str = Field(description="Site identity")
    site_name: str = Field(description="Human name of the site")
    tenant_id: str = Field(description="Owning tenant")
    secret: str = Field(description="Site HMAC secret (hex); store with mode 0600")
    timezone: TimeZoneName = Field(default="UTC", description="IANA time zone of the site")


class ErrorBody(WireModel):
    """Error answer of the cloud API."""

    error: str = Field(description="Short machine-readable code")
    detail: str = Field(default="", description="Human-readable explanation")


class RecordRejection(WireModel):
    """One record of a batch the cloud will not store, and why (see `BadRecordsBody`)."""

    seq: int = Field(ge=1, le=MAX_SEQ, description="The refused record's seq")
    error: str = Field(description="Short machine-readable code, e.g. invalid_record or unstorable")
    detail: str = Field(default="", description="Human-readable reason")


class BadRecordsBody(ErrorBody):
    """The 422 answer to a batch with records the cloud refuses: it names them and stores nothing of the batch.

    A batch is all or nothing, so `SyncAck.acked_seq` keeps one meaning ("everything up to here is stored").
    The sender sets the named records aside (the edge quarantines them) and sends the rest again at once;
    one bad record therefore costs one round trip and never blocks the records behind it. Faults that leave
    a record without a usable identity (no seq, a seq out of range, seqs out of order) cannot be named and
    refuse the whole batch with 400 `bad_batch`; the edge's own outbox cannot produce them.
    """

    rejected: list[RecordRejection] = Field(description="The refused records, in seq order")
