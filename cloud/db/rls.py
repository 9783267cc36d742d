"""PostgreSQL row-level security for tenant-owned tables: the statements a migration runs for each table.

A policy shows a transaction only the rows of the tenant in its `app.tenant_id` setting (set per transaction by
`cloud.db.tenant_context`), or every row in a system context ('*'); with no setting, nothing. FORCE applies it
to the table's owner too; only a superuser or a BYPASSRLS role skips it, so the cloud should connect as neither.
A table without a tenant_id column is tied to its tenant through a parent row (records -> sites).
A new tenant-owned table calls `enable_statements` in its migration (tests/cloud/test_rls.py checks every
table with a tenant_id column has a policy).
"""

from __future__ import annotations

POLICY = "tenant_isolation"
_SETTING = "current_setting('app.tenant_id', true)"
SYSTEM_OR = f"{_SETTING} = '*'"


def tenant_condition(column: str = "tenant_id") -> str:
    """The policy condition of a table whose `column` holds the tenant id."""
    return f"({column} = {_SETTING} OR {SYSTEM_OR})"


def parent_condition(table: str, column: str, parent: str, parent_key: str = "id") -> str:
    """The policy condition of a table tied to its tenant through `parent` (itself under a policy)."""
    return f"EXISTS (SELECT 1 FROM {parent} p WHERE p.{parent_key} = {table}.{column})"


def enable_statements(table: str, condition: str) -> list[str]:
    """SQL that puts `table` under a tenant policy with `condition` (run on PostgreSQL only)."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY {POLICY} ON {table} USING ({condition}) WITH CHECK ({condition})",
    ]


def disable_statements(table: str) -> list[str]:
    """SQL that undoes `enable_statements`."""
    return [
        f"DROP POLICY IF EXISTS {POLICY} ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
