"""PostgreSQL: the bulk upserts of several tables as one statement, each table's rows bound as one JSON array.

An executemany of N rows costs per row: SQLAlchemy's parameter dictionary and bind processors, and asyncpg's
Bind/Execute messages (profiled: about a quarter of a batch's worker CPU for the facts and state of 500
records, docs/PERFORMANCE.md); and each statement costs a round trip through SQLAlchemy, asyncpg and the event
loop. Here each table's rows, already mappings of column values, are encoded by orjson in one call and sent as
one ``json`` parameter, which PostgreSQL turns back into rows of the table's own column types
(``json_populate_recordset``); the tables' inserts are data-modifying CTEs of one statement. Each ``ON CONFLICT``
clause is the one SQLAlchemy compiles for the same upsert, so both paths share the rule. Rows of one table must
not share a key its clause updates (PostgreSQL refuses to update a row twice in one command): the derivation
keys its rows uniquely (`cloud.analytics.derive`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_QUOTE = _DIALECT.identifier_preparer


class Upsert(NamedTuple):
    """One table's part: its upsert `statement` (SQLAlchemy, PostgreSQL) and the `columns` its rows carry."""

    statement: Any
    table: Table
    columns: Sequence[str]


def _part(number: int, upsert: Upsert) -> str:
    compiled = str(upsert.statement.compile(dialect=_DIALECT))
    conflict = compiled[compiled.index(" ON CONFLICT ") :]
    table = _QUOTE.format_table(upsert.table)
    names = ", ".join(_QUOTE.quote(name) for name in upsert.columns)
    return (
        f"w{number} AS (INSERT INTO {table} ({names}) "
        f"SELECT {names} FROM json_populate_recordset(NULL::{table}, ${number}::json){conflict})"
    )


class JsonUpserts:
    """Named upserts run as one statement, each with its rows as one JSON array parameter."""

    def __init__(self, upserts: Mapping[str, Upsert]) -> None:
        self.names = tuple(upserts)
        parts = ", ".join(_part(number, upsert) for number, upsert in enumerate(upserts.values(), 1))
        self.sql = f"WITH {parts} SELECT 1"

    async def execute(self, conn: AsyncConnection, rows: Mapping[str, Sequence[dict[str, Any]]]) -> None:
        """Write `rows` by upsert name (mappings of column values; a name left out has none)."""
        await conn.exec_driver_sql(self.sql, tuple(orjson.dumps(rows.get(name, ())).decode() for name in self.names))
