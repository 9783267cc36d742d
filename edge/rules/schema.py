"""Tables of the rules engine (edge migration 11): rules, their run history, durable timers, notifications."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Text, text
from sqlalchemy.ext.asyncio import AsyncConnection

# Created by explicit DDL in the migration below; this MetaData only describes them for queries.
rules_metadata = MetaData()

rules = Table(
    "rules",
    rules_metadata,
    Column("id", String(64), primary_key=True),
    Column("source", String(16), nullable=False),  # 'local' (console/API) or 'cloud' (configuration document)
    Column("document", JSON, nullable=False),  # a sync.rules.Rule
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(64), nullable=False),
)

rule_runs = Table(
    "rule_runs",
    rules_metadata,
    Column("id", Integer, primary_key=True),
    Column("rule_id", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(16), nullable=False),  # ran, failed, suppressed, missed, cancelled
    Column("trigger", Text, nullable=False),  # what fired it, one line
    Column("journal_id", Integer),  # the event that fired it, if any
    Column("detail", Text, nullable=False),
)

rule_timers = Table(
    "rule_timers",
    rules_metadata,
    Column("rule_id", String(64), primary_key=True),
    Column("key", String(64), primary_key=True),  # 'for' (a waiting run), 'absence', 'relay-off:<device>'
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSON, nullable=False),
)

notifications = Table(
    "notifications",
    rules_metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(64), nullable=False, unique=True),  # webhook-id, Message-ID
    Column("rule_id", String(64), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),  # pending, sent, failed (gave up)
    Column("last_error", Text, nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)

_M011_RULES = (
    """CREATE TABLE rules (
        id VARCHAR(64) NOT NULL PRIMARY KEY,
        source VARCHAR(16) NOT NULL,
        document JSON NOT NULL,
        updated_at DATETIME NOT NULL,
        updated_by VARCHAR(64) NOT NULL
    )""",
    """CREATE TABLE rule_runs (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        rule_id VARCHAR(64) NOT NULL,
        at DATETIME NOT NULL,
        outcome VARCHAR(16) NOT NULL,
        "trigger" TEXT NOT NULL,
        journal_id INTEGER,
        detail TEXT NOT NULL
    )""",
    "CREATE INDEX ix_rule_runs_rule ON rule_runs (rule_id, id)",
    """CREATE TABLE rule_timers (
        rule_id VARCHAR(64) NOT NULL,
        "key" VARCHAR(64) NOT NULL,
        due_at DATETIME NOT NULL,
        payload JSON NOT NULL,
        PRIMARY KEY (rule_id, "key")
    )""",
    """CREATE TABLE notifications (
        id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
        message_id VARCHAR(64) NOT NULL UNIQUE,
        rule_id VARCHAR(64) NOT NULL,
        channel VARCHAR(64) NOT NULL,
        body JSON NOT NULL,
        created_at DATETIME NOT NULL,
        attempts INTEGER NOT NULL,
        next_at DATETIME NOT NULL,
        status VARCHAR(16) NOT NULL,
        last_error TEXT NOT NULL,
        finished_at DATETIME
    )""",
    "CREATE INDEX ix_notifications_due ON notifications (status, next_at)",
)


async def m011_rules(conn: AsyncConnection) -> None:
    """Edge migration 11: the rules engine's tables."""
    for statement in _M011_RULES:
        await conn.execute(text(statement))
