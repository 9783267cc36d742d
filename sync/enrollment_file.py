"""Offline enrollment files: what the cloud signs, how a box checks it, and the secret both sides derive.

A site without internet gets a file (JSON) from the HQ portal instead of a code. It holds the site identity, the
cloud URL and an *enrollment secret*, signed with the cloud's Ed25519 key so the box can tell it came from that
cloud and was not edited. The box never syncs with the enrollment secret itself: it picks a random claim and
uses ``HMAC-SHA256(enrollment secret, claim)`` as its site secret. Its first sync batch carries the claim
(`sync.signing.CLAIM_HEADER`); the cloud derives the same secret, checks the batch's signature with it and, the
first time, stores it as the site's secret and marks the file used. A second box with the same file picks another
claim, so its secret differs and the cloud refuses it (409 `enrollment_used`): the file is worth nothing once
claimed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import AwareDatetime, Field, ValidationError

from sync.timezones import TimeZoneName
from sync.wire import WireModel

FORMAT: Literal["outpost-enrollment/1"] = "outpost-enrollment/1"
CLAIM_PATTERN = r"^[0-9a-f]{32}$"
HEX_SECRET = r"^[0-9a-f]{64}$"
MEDIA_TYPE = "application/vnd.outpost.enrollment+json"


class EnrollmentFileError(Exception):
    """An enrollment file is unreadable, tampered with, from another cloud, or expired; the message says which."""


class OfflineEnrollment(WireModel):
    """The signed content of an enrollment file."""

    enrollment_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="Id of this file at the cloud")
    cloud_url: str = Field(min_length=1, max_length=500, description="Base URL the box syncs to once online")
    tenant_id: str = Field(min_length=1, max_length=64, description="Owning tenant")
    site_id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$", description="Site identity")
    site_name: str = Field(min_length=1, max_length=200, description="Human name of the site")
    timezone: TimeZoneName = Field(default="UTC", description="IANA time zone of the site")
    enrollment_secret: str = Field(pattern=HEX_SECRET, description="Key from which the box derives its secret")
    issued_at: AwareDatetime = Field(description="When the cloud issued the file")
    expires_at: AwareDatetime = Field(description="The box must apply the file and sync once before this")


class EnrollmentFile(WireModel):
    """The file as written: the enrollment, the cloud's public key and its signature over the enrollment."""

    format: Literal["outpost-enrollment/1"] = Field(description="File format and version")
    enrollment: dict[str, Any] = Field(description="An `OfflineEnrollment`, exactly as signed")
    public_key: str = Field(pattern=r"^[0-9a-f]{64}$", description="The issuing cloud's Ed25519 public key (hex)")
    signature: str = Field(pattern=r"^[0-9a-f]{128}$", description="Ed25519 signature of the canonical enrollment")


def canonical(document: dict[str, Any]) -> bytes:
    """Return the bytes that are signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signing_key_from_secret(secret: bytes) -> Ed25519PrivateKey:
    """Derive the cloud's enrollment signing key from its long-lived secret (HKDF-SHA256)."""
    seed = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"outpost enrollment signing key").derive(secret)
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_hex(key: Ed25519PrivateKey) -> str:
    """Return the raw public key of `key` as hex."""
    return key.public_key().public_bytes_raw().hex()


def fingerprint(public_key: str) -> str:
    """Return a short human-comparable fingerprint of a hex public key (SHA-256, 8 groups of 4 hex digits)."""
    digest = hashlib.sha256(bytes.fromhex(public_key)).hexdigest()[:32]
    return " ".join(digest[i : i + 4] for i in range(0, 32, 4))


def sign_enrollment(key: Ed25519PrivateKey, enrollment: OfflineEnrollment) -> EnrollmentFile:
    """Return the signed file for `enrollment`."""
    document = enrollment.model_dump(mode="json")
    return EnrollmentFile(
        format=FORMAT,
        enrollment=document,
        public_key=public_key_hex(key),
        signature=key.sign(canonical(document)).hex(),
    )


def read_enrollment_file(
    raw: bytes, expected_key: str | None = None, now: datetime | None = None
) -> tuple[OfflineEnrollment, str]:
    """Check a file's form, signature and expiry; return the enrollment and the signer's fingerprint.

    `expected_key` (a fingerprint as shown by the portal, spaces optional) pins the cloud: a file signed by any
    other key is refused.
    """
    try:
        file = EnrollmentFile.model_validate_json(raw)
    except ValidationError as err:
        raise EnrollmentFileError(
            f"not an Outpost enrollment file ({err.errors()[0]['msg']}); download it again from the HQ portal"
        ) from err
    signer = fingerprint(file.public_key)
    if expected_key is not None and expected_key.replace(" ", "").lower() != signer.replace(" ", ""):
        raise EnrollmentFileError(
            f"the file is signed by cloud key {signer}, not the expected {expected_key}; "
            "use a file from your own HQ portal"
        )
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(file.public_key)).verify(
            bytes.fromhex(file.signature), canonical(file.enrollment)
        )
    except InvalidSignature as err:
        raise EnrollmentFileError(
            "the enrollment file's signature does not verify (edited or damaged); download it again"
        ) from err
    try:
        enrollment = OfflineEnrollment.model_validate(file.enrollment)
    except ValidationError as err:
        raise EnrollmentFileError(f"the enrollment file's content is invalid: {err.errors()[0]['msg']}") from err
    moment = now or datetime.now(UTC)
    if enrollment.expires_at <= moment:
        raise EnrollmentFileError(
            f"the enrollment file expired at {enrollment.expires_at:%Y-%m-%d %H:%M} UTC; "
            "ask your tenant admin for a new one (and check this box's clock)"
        )
    return enrollment, signer


def new_claim() -> str:
    """Return a random claim (128 bits, hex) for one box."""
    return secrets.token_hex(16)


def derive_site_secret(enrollment_secret: str, claim: str) -> str:
    """Return the site secret (hex) a box that applied the file with `claim` syncs with."""
    return hmac.new(bytes.fromhex(enrollment_secret), claim.encode(), hashlib.sha256).hexdigest()
