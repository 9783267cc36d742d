"""Claim a site in the cloud with a one-time code and write the edge config (mode 0600)."""

from __future__ import annotations

import os
import pwd
import socket
import tomllib
from pathlib import Path
from typing import Any

import httpx
import tomli_w
from pydantic import ValidationError

from sync.wire import ENROLL_PATH, EnrollRequest, EnrollResponse, ErrorBody


class EnrollmentError(Exception):
    """Enrollment failed; the message says why and what to do."""


def claim_site(cloud_url: str, code: str, hostname: str | None = None, timeout_s: float = 15.0) -> EnrollResponse:
    """Exchange an enrollment code for the site identity and secret."""
    try:
        body = EnrollRequest(code=code.strip(), hostname=hostname or socket.gethostname())
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise EnrollmentError(f"invalid enrollment request ({problems})") from err
    url = cloud_url.rstrip("/") + ENROLL_PATH
    try:
        response = httpx.post(
            url,
            content=body.model_dump_json(),
            timeout=timeout_s,
            headers={"Content-Type": "application/json"},
        )
    except httpx.HTTPError as err:
        raise EnrollmentError(f"cannot reach the cloud at {cloud_url}: {err}") from err
    if response.status_code != 200:
        try:
            error = ErrorBody.model_validate_json(response.content)
            reason = f"{error.detail or error.error} ({error.error})"
        except ValidationError:
            reason = response.text[:200] or response.reason_phrase
        raise EnrollmentError(f"enrollment refused by the cloud (HTTP {response.status_code}): {reason}")
    try:
        return EnrollResponse.model_validate_json(response.content)
    except ValidationError as err:
        raise EnrollmentError(f"the cloud answered something unexpected: {err}") from err


UNENROLLED = "unenrolled"
SERVICE_USER = "outpost"
"""The account systemd/outpost-edge.service runs as (User=): it must be able to read the config it is given."""


def default_owner() -> str | None:
    """The service account when enrolling as root on a box that has it, else None (keep the caller's)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return None
    return SERVICE_USER


def write_private(path: Path, text: str, owner: str | None = None) -> None:
    """Write `text` to `path` atomically with mode 0600 from the first byte, owned by `owner` if given.

    The file holds the site's sync secret, so only its owner may read it; run as root, that owner must be the
    service account, or the service cannot read its own config (the edge refuses a group-readable one).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    if owner is not None:
        try:
            account = pwd.getpwnam(owner)
        except KeyError as err:
            os.unlink(tmp)
            raise EnrollmentError(f"no user {owner!r} to own {path}; create it or pass --owner") from err
        os.chown(tmp, account.pw_uid, account.pw_gid)
    os.replace(tmp, path)


def apply_enrollment(
    config_path: Path, cloud_url: str, enrollment: EnrollResponse, owner: str | None = None
) -> dict[str, Any]:
    """Merge the site identity and cloud secret into the edge config file (created if missing)."""
    data = read_config(config_path)
    adopt_site(data, enrollment.site_id, enrollment.site_name, enrollment.timezone)
    cloud = data.setdefault("cloud", {})
    cloud.pop("secret_file", None)
    cloud.pop("enrollment_claim", None)
    cloud.update({"url": cloud_url.rstrip("/"), "secret": enrollment.secret})
    write_private(config_path, tomli_w.dumps(data), owner)
    return data


def read_config(config_path: Path) -> dict[str, Any]:
    """Return the edge config file as a dict ({} when it does not exist yet); a broken file is a clear error."""
    if not config_path.exists():
        return {}
    try:
        return tomllib.loads(config_path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise EnrollmentError(f"{config_path} is not valid TOML ({err}); fix or remove it first") from err


def adopt_site(data: dict[str, Any], site_id: str, name: str, timezone: str) -> None:
    """Give the config its enrolled identity, keeping the box's earlier id as `site.local_id`.

    People created on the box before keep the HQ ids derived from that earlier id (a box set up with
    `init-local`, or enrolled again), so they do not reach HQ twice; the database and its journal stay as they are
    and go up with the first sync.
    """
    site = data.setdefault("site", {})
    previous = site.get("local_id") or site.get("id")
    site.update({"id": site_id, "name": name, "timezone": timezone})
    if previous and previous not in (site_id, UNENROLLED):  # the default id is shared by every new box
        site["local_id"] = previous


def already_enrolled(config_path: Path) -> None:
    """Raise unless the config is absent or not enrolled yet (no cloud secret)."""
    existing = read_config(config_path)
    if existing.get("cloud", {}).get("secret") or existing.get("cloud", {}).get("secret_file"):
        raise EnrollmentError(
            f"{config_path} is already enrolled as site {existing.get('site', {}).get('id')!r}; "
            "use --force to enroll again"
        )


def enroll(
    cloud_url: str,
    code: str,
    config_path: Path,
    hostname: str | None = None,
    force: bool = False,
    owner: str | None = None,
) -> EnrollResponse:
    """Claim the site and write the config; refuse to overwrite an already enrolled config."""
    if not force:
        already_enrolled(config_path)
    enrollment = claim_site(cloud_url, code, hostname)
    apply_enrollment(config_path, cloud_url, enrollment, owner)
    return enrollment
