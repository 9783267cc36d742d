"""Wire models of the site secret rotation and of the signed site status (cloud <-> `outpost-provision`).

``POST ROTATE_PATH`` with a `RotateSecretRequest` (JSON), signed like a sync batch with the site's *current*
secret: the cloud installs `new_secret` as current and keeps the old one verifying for `grace_s` seconds, then
drops it. Sending the same request again (an answer lost) is accepted while the old key is in its grace window.

``GET SITE_STATUS_PATH``, signed over `signing.request_target_bytes`: a `SiteKeyStatus`, which tells the box
which key it signed with.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from sync.wire import WireModel

ROTATE_PATH = "/api/v1/sync/rotate-secret"
SITE_STATUS_PATH = "/api/v1/sync/site"
MIN_GRACE_S = 1
MAX_GRACE_S = 7 * 24 * 3600
SECRET_PATTERN = r"^[0-9a-f]{64}$"


class RotateSecretRequest(WireModel):
    """The box's new secret and how long the cloud should still accept the current one."""

    new_secret: str = Field(pattern=SECRET_PATTERN, description="New HMAC secret, 32 random bytes in hex")
    grace_s: int = Field(
        ge=MIN_GRACE_S, le=MAX_GRACE_S, description="Seconds the current (then old) secret still verifies"
    )


class RotateSecretResponse(WireModel):
    """The rotation took effect."""

    site_id: str = Field(description="The site")
    rotated_at: datetime = Field(description="When the new secret became current")
    previous_valid_until: datetime = Field(description="The old secret verifies until then")


class SiteKeyStatus(WireModel):
    """What the cloud knows of the requesting site's keys and sync."""

    site_id: str = Field(description="The site")
    signed_with: Literal["current", "previous"] = Field(description="Which of the site's keys signed this request")
    rotated_at: datetime | None = Field(description="Last rotation, if any")
    previous_valid_until: datetime | None = Field(description="End of the old key's grace window, if one is open")
    last_seq: int = Field(ge=0, description="Highest record sequence number the cloud holds from the site")
