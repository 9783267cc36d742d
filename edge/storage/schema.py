"""Tables of the edge database (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

people = Table(
    "people",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(120), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
    Column("number", String(128), nullable=False, unique=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("valid_from", DateTime(timezone=True)),
    Column("valid_until", DateTime(timezone=True)),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("source", String(64), nullable=False, default=""),
    Column("summary", Text, nullable=False, default=""),
    Column("payload", JSON, nullable=False),
    Index("ix_events_occurred_at", "occurred_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("acked", Boolean, nullable=False, default=False),
    Index("ix_outbox_pending", "acked", "seq"),
    sqlite_autoincrement=True,
)

device_state = Table(
    "device_state",
    metadata,
    Column("device_id", String(64), primary_key=True),
    Column("online", Boolean, nullable=False, default=False),
    Column("last_seen", DateTime(timezone=True)),
    Column("state", JSON, nullable=False, default=dict),
)

mqtt_client_bindings = Table(
    "mqtt_client_bindings",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("username", String(64), nullable=False),
)

# As release 1 created it (migration 1); migration 13 added `role`. Use `console_users` below.
console_users_release_1 = Table(
    "console_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# As release 1 created it (migration 1); migration 7 dropped csrf_token. Use `console_sessions` below.
console_sessions_release_1 = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


# Tables added after migration 1. They live in their own MetaData because migration 1 is
# `metadata.create_all`: a table added to `metadata` would silently change what migration 1 creates.
# Each is created by explicit DDL in a numbered migration (edge/storage/database.py); keep both in step.
access_metadata = MetaData()

person_access = Table(
    "person_access",
    access_metadata,
    Column("person_id", Integer, primary_key=True),  # FK people.id ON DELETE CASCADE (in the DDL)
    Column("external_id", String(64), unique=True),
    Column("role", String(64)),
    Column("valid_from", DateTime(timezone=True)),
    Column("valid_until", DateTime(timezone=True)),
    Column("pin_hash", String(160)),
    Column("duress_pin_hash", String(160)),  # migration 4
)

person_levels = Table(
    "person_levels",
    access_metadata,
    Column("person_id", Integer, primary_key=True),  # FK people.id ON DELETE CASCADE (in the DDL)
    Column("level_id", String(64), primary_key=True),
)

access_snapshot = Table(
    "access_snapshot",
    access_metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

lockdowns = Table(
    "lockdowns",
    access_metadata,
    Column("scope", String(80), primary_key=True),
    Column("since", DateTime(timezone=True), nullable=False),
    Column("set_by", String(64), nullable=False),
    Column("reason", Text, nullable=False),
)

passback_presence = Table(
    "passback_presence",
    access_metadata,
    Column("person_id", Integer, primary_key=True),  # FK people.id ON DELETE CASCADE (in the DDL)
    Column("zone_id", String(64), primary_key=True),
    Column("inside", Boolean, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

credential_changes = Table(
    "credential_changes",
    access_metadata,
    Column("id", Integer, primary_key=True),  # CHECK (id = 1): one row
    # Bumped by triggers on every change to people, credentials, person_access and person_levels (migration 3),
    # whoever makes it (this process, `outpost-edge add-person`, a restore): the in-memory credential index
    # reloads when it differs from the generation it was loaded at.
    Column("generation", Integer, nullable=False),
)

door_alarms = Table(
    "door_alarms",
    access_metadata,
    # The latching alarm list (migration 5, edge.access.alarms): listed until cleared and acknowledged, then
    # closed (closed_at set) and kept. At most one listed row per door and alarm (a partial unique index).
    Column("id", Integer, primary_key=True),  # AUTOINCREMENT (in the DDL): ids are never reused
    Column("door_id", String(64), nullable=False),
    Column("alarm", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("raised_at", DateTime(timezone=True), nullable=False),
    Column("last_raised_at", DateTime(timezone=True), nullable=False),
    Column("occurrences", Integer, nullable=False),
    Column("cleared_at", DateTime(timezone=True)),
    Column("acknowledged_by", String(64)),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("acknowledged_comment", Text),
    Column("closed_at", DateTime(timezone=True)),
)

pin_lockouts = Table(
    "pin_lockouts",
    access_metadata,
    # Migration 4. One row per credential with recent wrong PINs or an active lockout (edge.access.pin_lockout);
    # no foreign key: a lockout outlives a credential removed meanwhile until it expires or is cleared.
    Column("credential", String(128), primary_key=True),
    Column("person_id", Integer),
    Column("person", String(120)),
    Column("failures", JSON, nullable=False),  # ISO times of the wrong PINs in the current window
    Column("door_id", String(64)),  # where the lockout started
    Column("locked_since", DateTime(timezone=True)),
    Column("locked_until", DateTime(timezone=True)),
)

outbox_quarantine = Table(
    "outbox_quarantine",
    access_metadata,  # the metadata of tables added after migration 1, whatever their area
    # Migration 6. Outbox records set aside so they no longer block the records behind them (edge.storage.journal,
    # sync.agent): refused by the cloud by name, or unreadable or unencodable here. A quarantined record stays
    # unacknowledged in `outbox`; releasing it (deleting its row here) queues it again.
    Column("seq", Integer, primary_key=True),  # FK outbox.seq ON DELETE CASCADE (in the DDL)
    Column("quarantined_at", DateTime(timezone=True), nullable=False),
    Column("error", String(64), nullable=False),
    Column("detail", Text, nullable=False),
)

media_uploads = Table(
    "media_uploads",
    access_metadata,
    # Migration 9. Snapshots and clips waiting for the cloud (edge.storage.media, sync.media_uploader): a file is
    # offered once every outbox record up to `after_seq` (the outbox head when it was registered) is delivered.
    Column("media_id", String(32), primary_key=True),
    Column("path", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("after_seq", Integer, nullable=False),
    Column("sent_offset", Integer, nullable=False),  # how much the cloud holds, as last answered
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("error", Text),
)

console_users = Table(
    "console_users",
    access_metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Migration 13. What the user may do in the console: admin, guard or viewer (edge.web.roles).
    Column("role", String(16), nullable=False, default="admin"),
)

console_sessions = Table(
    "console_sessions",
    access_metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 of the cookie token
    Column("user_id", Integer, nullable=False),  # FK console_users.id ON DELETE CASCADE (migration 1)
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

site_config = Table(
    "site_config",
    access_metadata,
    # Migration 8. The last configuration document applied from the cloud (edge.access.site_config): its version
    # and its policy part (access levels, schedules, holidays, door policies) as JSON; one row. Its people are in
    # people/credentials/person_access like every credential snapshot's.
    Column("id", Integer, primary_key=True),  # CHECK (id = 1)
    Column("version", Integer, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
    Column("policy", JSON, nullable=False),
)

local_policy = Table(
    "local_policy",
    access_metadata,
    # Migration 14. Door settings, schedules and holiday calendars edited in the console (edge.access.policy_edits):
    # overlaid on the box's TOML config, under the cloud's policy (HQ's values win); one row.
    Column("id", Integer, primary_key=True),  # CHECK (id = 1)
    Column("policy", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(64), nullable=False),
)

person_local_edits = Table(
    "person_local_edits",
    access_metadata,
    # Migration 8. Cloud-managed people edited on the box (console/API) since the last document that reflects the
    # edit: the reconciliation state (docs/SYNC.md "Downlink"). `revoked`: credential numbers revoked here and not
    # yet inactive in a document; `suspended`: suspended here, not yet in a document.
    Column("person_id", Integer, primary_key=True),  # FK people.id ON DELETE CASCADE (in the DDL)
    Column("edited_at", DateTime(timezone=True), nullable=False),
    Column("base_version", Integer, nullable=False),
    Column("revoked", JSON, nullable=False),
    Column("suspended", Boolean, nullable=False),
)

ha_discovery = Table(
    "ha_discovery",
    access_metadata,
    # Migration 12. Discovery configs published to Home Assistant (edge.homeassistant.store); payload NULL: the
    # entity was removed and its topic is cleared (empty retained) again whenever Home Assistant comes online.
    Column("topic", Text, primary_key=True),
    Column("payload", JSON, nullable=True),
)
