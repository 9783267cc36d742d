"""Console roles and the one place that says which role may make which request.

- ``viewer``: sees every operating page and the JSON reads (cameras with their zones and lines, System, the events
  timeline with its pictures and CSV); changes nothing.
- ``guard``: also opens and locks doors, acknowledges alarms, starts or lifts a lockdown and clears PIN lockouts —
  the work at the gate; cannot edit people, rules, sync, users or camera zones (the people pages ``/people...``
  are read-only for guards and viewers; adding, editing, badges, enrolment by tap, visitors and the CSV import need
  ``admin``).
- ``admin``: everything, including console users and the audit of console actions, door settings, schedules and
  holiday calendars (the POSTs of /doors, /schedules and /holidays are not listed below, so they stay admin-only),
  and drawing a camera's zones and lines (``PUT /api/v1/cameras/{id}/regions``, which writes the config file:
  listed nowhere below, so admin only).

The security middleware (edge.web.server) calls `allowed` for every logged-in request before any handler runs, so
a handler never checks a role itself. A request not listed here needs ``admin``: a new route is closed to guards
and viewers until it is added to a list below.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

Role = Literal["admin", "guard", "viewer"]
ROLES: tuple[Role, ...] = get_args(Role)
_RANK: dict[str, int] = {"viewer": 0, "guard": 1, "admin": 2}
_SAFE = {"GET", "HEAD", "OPTIONS"}

# Reads only an admin may make (method GET/HEAD).
_ADMIN_READS = re.compile(
    r"^/(users|audit)(/|$)|^/people/import(/|$)|^/api/v1/(console-users|console-audit)(/|$)"
    r"|^/devices/pair$"  # pairing creates a device account (edge.web.pairing_view)
)
# Changes a guard may make: doors, alarms, lockdown, PIN lockouts (method POST/PUT).
_GUARD_CHANGES = re.compile(
    r"^/api/v1/doors/[^/]+/(unlock|lock)$"
    r"|^/api/v1/alarms/[^/]+/ack$"
    r"|^/api/v1/access/lockdown$"
    r"|^/api/v1/access/pin-lockouts/.+/clear$"
    r"|^/devices/pin-lockouts/clear$"
)
# Changes anyone logged in may make.
_ANYONE_CHANGES = frozenset({"/logout"})


def required_role(method: str, path: str) -> Role:
    """The least role that may make `method` on `path`."""
    if method in _SAFE:
        return "admin" if _ADMIN_READS.match(path) else "viewer"
    if path in _ANYONE_CHANGES:
        return "viewer"
    if _GUARD_CHANGES.match(path):
        return "guard"
    return "admin"


def allowed(role: str, method: str, path: str) -> bool:
    """True if a user with `role` may make this request (an unknown role may make none)."""
    rank = _RANK.get(role)
    return rank is not None and rank >= _RANK[required_role(method, path)]


def can(role: str, needed: Role) -> bool:
    """True if `role` is at least `needed` (for templates: show a button only to who may press it)."""
    rank = _RANK.get(role)
    return rank is not None and rank >= _RANK[needed]
