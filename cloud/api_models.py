"""Pydantic models of the portal's JSON API (the edge-facing wire models live in `sync.wire`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloud.enrollment import DEFAULT_TTL, MAX_TTL
from cloud.offline_enrollment import DEFAULT_FILE_TTL, MAX_FILE_TTL
from sync.timezones import TimeZoneName

# Text that a database column can hold and a page can show: no NUL (PostgreSQL refuses it) nor other controls.
PLAIN_TEXT = r"^[^\x00-\x1f\x7f]*$"


class ApiModel(BaseModel):
    """Base of the API models: unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid")


class LoginRequest(ApiModel):
    """Credentials for `POST /api/v1/login`."""

    email: str = Field(min_length=3, max_length=320, pattern=PLAIN_TEXT, description="Login e-mail address")
    password: str = Field(min_length=1, max_length=1024, description="Password")


class SessionInfo(ApiModel):
    """The logged-in user, with the CSRF token every write must send as `X-CSRF-Token`."""

    email: str = Field(description="Login e-mail address")
    role: str = Field(description="admin or viewer")
    tenant_id: str = Field(description="The user's tenant")
    csrf_token: str = Field(description="Send as X-CSRF-Token on POST requests")


class KindCountOut(ApiModel):
    """Record counts of one kind."""

    total: int = Field(description="All records of this kind")
    last_24h: int = Field(description="Records of this kind that occurred in the last 24 hours")


# The portal warns past this skew; the cloud refuses batches past sync.signing.MAX_CLOCK_SKEW_S (300 s).
CLOCK_SKEW_WARN_S = 60.0


class SyncStateOut(ApiModel):
    """A site's uplink as the cloud sees it: the edge's reported backlog, last success and errors, clock skew."""

    last_batch_at: datetime | None = Field(default=None, description="When the last batch was accepted")
    backlog: int | None = Field(default=None, description="Records waiting at the site when it last reported")
    oldest_pending_at: datetime | None = Field(default=None, description="When the oldest waiting record happened")
    quarantined: int | None = Field(default=None, description="Records set aside in the site's quarantine")
    edge_error: str | None = Field(default=None, description="The last error the site reported")
    edge_error_at: datetime | None = Field(default=None, description="When the site met that error")
    refusal: str | None = Field(default=None, description="The cloud's last refusal of a signed batch of the site")
    refusal_at: datetime | None = Field(default=None, description="When the cloud refused it")
    clock_skew_s: float | None = Field(default=None, description="Site clock minus cloud clock, seconds")
    clock_checked_at: datetime | None = Field(default=None, description="When the skew was measured")
    clock_warning: bool = Field(default=False, description=f"|clock_skew_s| > {CLOCK_SKEW_WARN_S:.0f} s")
    software_version: str | None = Field(default=None, description="Software version of the site's last batch")


class SiteOut(ApiModel):
    """One site of the tenant, with its sync state and record counts."""

    id: str = Field(description="Site identity")
    name: str = Field(description="Human name")
    hostname: str = Field(description="Hostname the box reported at enrollment")
    timezone: str = Field(description="IANA time zone")
    enrolled_at: datetime = Field(description="When the site enrolled")
    last_sync_at: datetime | None = Field(description="When the last batch arrived")
    last_seq: int = Field(description="Highest record seq received")
    status: Literal["active", "revoked", "awaiting_box"] = Field(
        description="revoked: the site can no longer sync; awaiting_box: its enrollment file is not claimed yet"
    )
    enrollment_file_expires_at: datetime | None = Field(
        default=None, description="awaiting_box: when its enrollment file expires unless a box has synced"
    )
    revoked_at: datetime | None = Field(default=None, description="When the site was revoked")
    revoked_by: str | None = Field(default=None, description="Who revoked it (admin e-mail or cli:<name>)")
    secret_rotated_at: datetime | None = Field(
        default=None, description="When the box last rotated its sync secret (outpost-provision rotate-secret)"
    )
    previous_secret_until: datetime | None = Field(
        default=None, description="The secret replaced by that rotation is accepted until then (null once past)"
    )
    counts: dict[str, KindCountOut] = Field(description="Record counts per kind")
    sync: SyncStateOut | None = Field(default=None, description="Uplink state; null before the first batch")


class SiteList(ApiModel):
    """`GET /api/v1/sites`."""

    sites: list[SiteOut] = Field(description="The tenant's sites")


class RecordOut(ApiModel):
    """One stored record."""

    seq: int = Field(description="Per-site sequence number")
    kind: str = Field(description="Record kind")
    occurred_at: datetime = Field(description="When it happened at the site")
    received_at: datetime = Field(description="When the cloud stored it")
    payload: dict[str, Any] = Field(description="Kind-specific body")


class RecordList(ApiModel):
    """`GET /api/v1/sites/{id}/records`: newest first."""

    site_id: str = Field(description="Site identity")
    records: list[RecordOut] = Field(description="Latest records, newest first")


class EnrollmentCodeRequest(ApiModel):
    """`POST /api/v1/enrollment-codes`."""

    site_name: str = Field(
        min_length=1, max_length=200, pattern=PLAIN_TEXT, description="Name of the site the code will create"
    )
    ttl_hours: int = Field(
        default=int(DEFAULT_TTL.total_seconds() // 3600),
        ge=1,
        le=int(MAX_TTL.total_seconds() // 3600),
        description="Hours until the code expires",
    )
    timezone: TimeZoneName = Field(default="UTC", description="IANA time zone of the new site")

    @field_validator("site_name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("site_name must not be blank")
        return value


class EnrollmentCodeOut(ApiModel):
    """A new one-time enrollment code (shown once; only its hash is stored)."""

    code: str = Field(description="The code to type on the box")
    site_name: str = Field(description="Name of the site it will create")
    timezone: str = Field(description="IANA time zone of the new site")
    expires_at: datetime = Field(description="When the code stops working")


class EnrollmentFileRequest(ApiModel):
    """`POST /api/v1/enrollment-files`: a signed enrollment file for a site without internet."""

    site_name: str = Field(
        min_length=1, max_length=200, pattern=PLAIN_TEXT, description="Name of the site the file will create"
    )
    ttl_days: int = Field(
        default=DEFAULT_FILE_TTL.days,
        ge=1,
        le=MAX_FILE_TTL.days,
        description="Days within which a box must apply the file and sync once",
    )
    timezone: TimeZoneName = Field(default="UTC", description="IANA time zone of the new site")

    @field_validator("site_name")
    @classmethod
    def _site_name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("site_name must not be blank")
        return value.strip()


class EnrollmentKeyOut(ApiModel):
    """`GET /api/v1/enrollment-key`: the key enrollment files are signed with."""

    public_key: str = Field(description="Ed25519 public key (hex)")
    fingerprint: str = Field(description="What `outpost-provision enroll --file` prints and `--cloud-key` pins")
