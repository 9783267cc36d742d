"""`outpost-provision rotate-secret`: replace the site's sync secret, coordinated with the cloud.

1. A new random secret is written to `<secret file>.new` (0600) first, so an interrupted rotation can be finished.
2. The cloud is asked to install it (`sync.rotation.ROTATE_PATH`), signed with the current secret; the current one
   keeps verifying for the grace window.
3. The secret file is replaced atomically (0600, same owner); a config that held the secret inline is rewritten to
   name the file instead. A running edge re-reads the file at its next request (`edge.secret_file`).
4. A signed status request with the new secret proves the cloud accepts it; then `.new` is removed.
After the grace window the cloud refuses the old secret.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import tomli_w
from pydantic import ValidationError

from edge.config import EdgeConfig
from sync.rotation import (
    ROTATE_PATH,
    SITE_STATUS_PATH,
    RotateSecretRequest,
    RotateSecretResponse,
    SiteKeyStatus,
)
from sync.signing import SITE_HEADER, request_target_bytes, sign
from sync.wire import ErrorBody

Progress = Callable[[str], None]
DEFAULT_GRACE_S = 3600


class RotationError(Exception):
    """The rotation did not complete; the message says where it stopped and what to do."""


@dataclass(frozen=True)
class Rotated:
    """The outcome of a rotation."""

    secret_file: Path
    previous_valid_until: datetime
    config_rewritten: bool


def secret_file_for(config_path: Path, config: EdgeConfig) -> Path:
    """The file that holds (or will hold) the secret: `cloud.secret_file`, else `<config dir>/secrets/sync-secret`."""
    return config.cloud.secret_file or config_path.parent / "secrets" / "sync-secret"


def _write_private(path: Path, text: str, like: Path) -> None:
    """Write `text` to `path` atomically, mode 0600 from the first byte, owned like `like` (when we may)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    owner = like.stat()
    if os.geteuid() == 0:
        os.chown(part, owner.st_uid, owner.st_gid)
        os.chown(path.parent, owner.st_uid, owner.st_gid)
    os.replace(part, path)


def _refusal(response: httpx.Response) -> str:
    try:
        error = ErrorBody.model_validate_json(response.content)
        return f"HTTP {response.status_code} {error.error}: {error.detail}"
    except ValidationError:
        return f"HTTP {response.status_code}: {response.text[:200]}"


def _status(client: httpx.Client, base: str, site_id: str, secret: str) -> SiteKeyStatus:
    headers = {SITE_HEADER: site_id, **sign(secret, request_target_bytes("GET", SITE_STATUS_PATH))}
    response = client.get(base + SITE_STATUS_PATH, headers=headers)
    if response.status_code != 200:
        raise RotationError(f"the cloud refused a request signed with the new secret ({_refusal(response)})")
    return SiteKeyStatus.model_validate_json(response.content)


def rotate_secret(
    config_path: Path,
    config: EdgeConfig,
    grace_s: int = DEFAULT_GRACE_S,
    progress: Progress = lambda _m: None,
    timeout_s: float = 15.0,
) -> Rotated:
    """Rotate the site's secret (see the module docstring); raise RotationError naming the step that failed."""
    current = config.cloud.read_secret()
    if not config.cloud.url or not current:
        raise RotationError(f"{config_path} has no cloud.url and secret: enroll the box first")
    base = config.cloud.url.rstrip("/")
    target = secret_file_for(config_path, config)
    pending = target.with_name(target.name + ".new")
    if pending.exists():
        new = pending.read_text().strip()
        progress(f"finishing the interrupted rotation in {pending}")
    else:
        new = secrets.token_hex(32)
        _write_private(pending, new + "\n", config_path)
        progress(f"new secret generated ({pending}, mode 0600)")
    body = RotateSecretRequest(new_secret=new, grace_s=grace_s).model_dump_json().encode()
    with httpx.Client(timeout=timeout_s) as client:
        progress(f"asking {base} to install it (signed with the current secret)")
        try:
            response = client.post(
                base + ROTATE_PATH,
                content=body,
                headers={"Content-Type": "application/json", SITE_HEADER: config.site.id, **sign(current, body)},
            )
        except httpx.HTTPError as err:
            raise RotationError(f"cannot reach the cloud at {base} ({err}); nothing changed, try again") from err
        if response.status_code != 200:
            raise RotationError(
                f"the cloud refused the rotation ({_refusal(response)}); the current secret stays in force"
            )
        accepted = RotateSecretResponse.model_validate_json(response.content)
        progress(
            f"the cloud accepts the new secret; the old one until {accepted.previous_valid_until:%Y-%m-%d %H:%M:%S} UTC"
        )
        _write_private(target, new + "\n", config_path)
        progress(f"wrote {target} (mode 0600)")
        rewritten = _point_config_at(config_path, target)
        if rewritten:
            progress(f"{config_path} now names {target} instead of holding the secret")
        status = _status(client, base, config.site.id, new)
    if status.signed_with != "current":
        raise RotationError("the cloud did not take the new secret as current; run rotate-secret again")
    pending.unlink(missing_ok=True)
    return Rotated(target, accepted.previous_valid_until, rewritten)


def _point_config_at(config_path: Path, secret_file: Path) -> bool:
    """Make the config name `secret_file` (dropping an inline secret); True if it changed.

    An offline enrollment's claim goes too: the cloud would take a claim whose derived secret is no longer the
    site's for another box's (409 enrollment_used). The site was claimed already, or the rotation, signed with
    the claimed secret, could not have been accepted.
    """
    data: dict[str, Any] = tomllib.loads(config_path.read_text())
    cloud = data.setdefault("cloud", {})
    if cloud.get("secret_file") == str(secret_file) and "secret" not in cloud and "enrollment_claim" not in cloud:
        return False
    cloud.pop("secret", None)
    cloud.pop("enrollment_claim", None)
    cloud["secret_file"] = str(secret_file)
    _write_private(config_path, tomli_w.dumps(data), config_path)
    return True
