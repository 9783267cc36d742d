"""PostgreSQL: a bulk insert or upsert of one table as one statement, its rows bound as one JSON array.

An executemany of N rows costs per row: SQLAlchemy's parameter dictionary and bind processors, and asyncpg's
Bind/Execute messages (profiled: about a quarter of a batch's worker CPU for the facts and state of 500
records, docs/PERFORMANCE.md); column arrays (unnest) still cost asyncpg a type check and an encoding per value.
Here the rows, already mappings of column values, are encoded by orjson in one call and sent as one ``json``
parameter, which PostgreSQL turns back into rows of the table's own column types (``json_populate_recordset``);
the ``ON CONFLICT`` clause is the one SQLAlchemy compiles for the same upsert, so both paths share the rule.
Rows of one statement must not share a key the clause updates (PostgreSQL refuses to update a row twice in one
command): the derivation keys its rows uniquely (`cloud.analytics.derive`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_QUOTE = _DIALECT.identifier_preparer


class JsonInsert:
    """`statement` (a PostgreSQL ``INSERT ... ON CONFLICT`` into `table`), sent with its rows as one JSON array."""

    def __init__(self, statement: Any, table: Table) -> None:
        compiled = str(statement.compile(dialect=_DIALECT))
        self._conflict = compiled[compiled.index(" ON CONFLICT ") :]
        self._table = _QUOTE.format_table(table)
        self._sql: dict[tuple[str, ...], str] = {}

    def sql(self, columns: tuple[str, ...]) -> str:
        """The statement inserting `columns` from the rows of a JSON array ($1)."""
        found = self._sql.get(columns)
        if found is None:
            names = ", ".join(_QUOTE.quote(name) for name in columns)
            found = self._sql[columns] = (
                f"INSERT INTO {self._table} ({names}) "
                f"SELECT {names} FROM json_populate_recordset(NULL::{self._table}, $1::json){self._conflict}"
            )
        return found

    async def execute(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert `rows`: mappings with the same keys (column names), as an executemany takes them."""
        await conn.exec_driver_sql(self.sql(tuple(rows[0])), (orjson.dumps(rows).decode(),))
