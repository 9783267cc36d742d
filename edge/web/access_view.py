"""The console's JSON view of access state the API shows: active lockdowns and PIN lockouts."""

from __future__ import annotations

from edge.access.service import AccessService


def lockdowns_json(access: AccessService) -> list[dict[str, object]]:
    """Active lockdowns of the site and its zones."""
    return [lock.as_json() for lock in access.lockdowns.active()]


def pin_lockouts_json(access: AccessService) -> list[dict[str, object]]:
    """Credentials locked out after wrong PINs, as of now."""
    return [lockout.as_json() for lockout in access.pin_lockouts.active()]
