"""What each role may see and do: the one table, and how a route declares what it needs.

Every route handler carries an `Access` (set by the decorators below); `cloud.auth.access_middleware` checks it
before the handler runs, and a route without one is refused (and fails tests/cloud/test_permissions.py).
docs/CLOUD.md shows the same table (`markdown_table`; a test checks the two match).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar

Role = Literal["owner", "admin", "security", "hr", "fleet", "viewer"]
ROLES: tuple[Role, ...] = ("owner", "admin", "security", "hr", "fleet", "viewer")

# Every permission, with what it allows (the doc's wording).
PERMISSIONS: dict[str, str] = {
    "sites.read": "See sites, their sync state and health",
    "sites.write": "Issue enrollment codes, revoke sites",
    "records.read": "Read sites' synced records and events, snapshots and clips",
    "people.read": "See people, badges, site policies and conflicts",
    "people.write": "Add, edit and remove people and badges; edit site policies",
    "analytics.read": "Read analytics: occupancy, traffic, access stats, device health",
    "alarms.read": "See alarms across sites",
    "alarms.write": "Acknowledge alarms (the box applies it with its next document)",
    "fleet.read": "See devices, firmware and box software versions; vehicles, gate log and maintenance",
    "fleet.write": "Manage devices and box software; vehicles, gate directions, maintenance and work orders",
    "hr.read": "See HR reports (attendance, who was on site)",
    "hr.write": "Edit HR data (people's roles, validity)",
    "hr.approve": "Approve or reject leave requests and timesheets",
    "billing.read": "See the plan, usage and invoices",
    "billing.write": "Change the plan and payment details",
    "users.admin": "Invite users, change their roles and sites, disable them",
    "apikeys.admin": "Create and revoke API keys",
    "audit.read": "Read the audit log",
}

_ALL = frozenset(PERMISSIONS)

# THE table: role -> permissions.
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    "owner": _ALL,
    "admin": _ALL,
    "security": frozenset(
        {
            "sites.read",
            "records.read",
            "people.read",
            "people.write",
            "analytics.read",
            "alarms.read",
            "alarms.write",
            "audit.read",
        }
    ),
    "hr": frozenset(
        {"sites.read", "people.read", "people.write", "hr.read", "hr.write", "hr.approve", "analytics.read"}
    ),
    "fleet": frozenset(
        {"sites.read", "sites.write", "records.read", "fleet.read", "fleet.write", "analytics.read", "alarms.read"}
    ),
    "viewer": frozenset({"sites.read", "records.read", "people.read", "analytics.read", "alarms.read"}),
}

ROLE_DESCRIPTIONS: dict[Role, str] = {
    "owner": "Everything, including making other owners",
    "admin": "Everything, except granting, changing or removing the owner role",
    "security": "Access control: people, badges, policies, alarms, events, audit log",
    "hr": "People and HR reports",
    "fleet": "Sites, boxes and devices (enrollment, revocation, software); vehicles, gate log, maintenance",
    "viewer": "Read-only view of sites, events, people and analytics",
}


def permissions_of(role: str) -> frozenset[str]:
    """Return the permissions of `role` (none for an unknown role)."""
    return ROLE_PERMISSIONS[role] if role in ROLES else frozenset()


def may_grant(granter_role: str, role: str) -> bool:
    """Whether a user with `granter_role` may give (or take away) `role`: only owners touch owners."""
    return role in ROLES and (role != "owner" or granter_role == "owner")


# --- route declarations --------------------------------------------------------------------------------------

AccessKind = Literal["public", "machine", "login", "permission"]


@dataclass(frozen=True)
class Access:
    """What a route needs: nothing (`public`), a box's signature (`machine`, checked by the handler), any
    logged-in user or API key (`login`), or one permission."""

    kind: AccessKind
    permission: str | None = None


ACCESS_ATTR = "__outpost_access__"
H = TypeVar("H", bound=Callable[..., object])


def _mark(access: Access) -> Callable[[H], H]:
    def mark(handler: H) -> H:
        setattr(handler, ACCESS_ATTR, access)
        return handler

    return mark


def requires(permission: str) -> Callable[[H], H]:
    """Declare that a route needs `permission` (one of PERMISSIONS)."""
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    return _mark(Access("permission", permission))


public = _mark(Access("public"))
"""Declare a route open to anyone (login form, health)."""
machine = _mark(Access("machine"))
"""Declare a route that boxes call; the handler checks the site's signature or one-time code."""
logged_in = _mark(Access("login"))
"""Declare a route any logged-in user may call (logout, the portal's start page)."""


def access_of(handler: object) -> Access | None:
    """Return the route handler's declared access, or None when it declares none."""
    access = getattr(handler, ACCESS_ATTR, None)
    return access if isinstance(access, Access) else None


def markdown_table(roles: Iterable[Role] = ROLES) -> str:
    """The role table as Markdown (docs/CLOUD.md carries this text verbatim)."""
    roles = list(roles)
    lines = [
        "| Permission | What it allows | " + " | ".join(roles) + " |",
        "|---|---|" + "---|" * len(roles),
    ]
    for name, text in PERMISSIONS.items():
        marks = " | ".join("yes" if name in ROLE_PERMISSIONS[r] else "" for r in roles)
        lines.append(f"| `{name}` | {text} | {marks} |")
    return "\n".join(lines) + "\n"
