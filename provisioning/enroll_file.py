"""`outpost-provision enroll --file`: configure a box from a signed enrollment file, without reaching the cloud."""

from __future__ import annotations

from pathlib import Path

import tomli_w
from pydantic import BaseModel, ConfigDict, Field

from provisioning.enroll import EnrollmentError, adopt_site, already_enrolled, read_config, write_private
from sync.enrollment_file import (
    EnrollmentFileError,
    OfflineEnrollment,
    derive_site_secret,
    new_claim,
    read_enrollment_file,
)

MAX_FILE_BYTES = 64 * 1024


class EnrollFileArgs(BaseModel):
    """Arguments of `enroll --file`."""

    model_config = ConfigDict(extra="forbid")

    file: Path = Field(description="The enrollment file downloaded from the HQ portal")
    cloud_key: str | None = Field(
        default=None,
        pattern=r"^\s*([0-9a-fA-F]{4}\s*){8}$",
        description="Fingerprint of the cloud's signing key as the portal shows it (8 groups of 4 hex digits)",
    )
    config: Path = Field(description="Edge config to write")


def enroll_from_file(
    args: EnrollFileArgs, force: bool = False, owner: str | None = None
) -> tuple[OfflineEnrollment, str]:
    """Check the file and write the site identity, cloud URL, derived secret and claim into the edge config.

    Returns the enrollment and the fingerprint of the key that signed it. Nothing is written when the file is
    refused. The box claims the site with its first sync (`sync.enrollment_file`).
    """
    try:
        size = args.file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise EnrollmentError(f"{args.file} is {size} bytes: not an enrollment file (they are about 1 kB)")
        raw = args.file.read_bytes()
    except OSError as err:
        raise EnrollmentError(f"cannot read {args.file}: {err.strerror}; is the USB stick mounted?") from err
    try:
        enrollment, signer = read_enrollment_file(raw, expected_key=args.cloud_key)
    except EnrollmentFileError as err:
        raise EnrollmentError(str(err)) from err
    if not force:
        already_enrolled(args.config)
    data = read_config(args.config)
    adopt_site(data, enrollment.site_id, enrollment.site_name, enrollment.timezone)
    claim = new_claim()
    cloud = data.setdefault("cloud", {})
    cloud.pop("secret_file", None)
    cloud.update(
        {
            "url": enrollment.cloud_url,
            "secret": derive_site_secret(enrollment.enrollment_secret, claim),
            "enrollment_claim": claim,
        }
    )
    write_private(args.config, tomli_w.dumps(data), owner)
    return enrollment, signer
