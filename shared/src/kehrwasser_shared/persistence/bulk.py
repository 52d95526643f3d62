"""Statements over many rows at once that cost a handful of bind parameters, not one per value.

On PostgreSQL a batch travels as one typed array per column and is unpacked by ``unnest``: thousands of rows
then cost one parameter per column, no per-row parameter processing in SQLAlchemy, and one round trip.
Inserts go further and use binary ``COPY`` inside the open transaction, which also spares asyncpg's check of
every array element (two ``isinstance`` calls against abstract base classes per value, measurable at these
volumes). SQLite has no arrays; it gets the same statements as an executemany or an ``IN`` list.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, Table, any_, bindparam, cast, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

Columns = dict[str, Sequence[Any]]
"""A batch of rows by column: every sequence holds one value per row, in the same row order."""


def uses_arrays(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"


def one_of(connection: AsyncConnection, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL one array parameter (``= ANY``) instead of one per value."""
    if uses_arrays(connection):
        element_type = String() if isinstance(column.type, String) else column.type
        among: ColumnElement[bool] = column == any_(bindparam(None, list(values), type_=ARRAY(element_type)))
        return among
    listed: ColumnElement[bool] = column.in_(list(values))
    return listed


def rows_of(columns: Columns) -> list[dict[str, Any]]:
    """The same batch row by row, as an executemany takes it."""
    _row_count(columns)
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def as_arrays(table: Table, columns: Columns, types: dict[str, TypeEngine[Any]] | None = None) -> TableValuedAlias:
    """``unnest`` of one typed array per column (PostgreSQL): the batch as a derived table to select from.

    Columns not in ``table`` need their type in ``types``.
    """
    typed = {name: (types or {}).get(name) or table.c[name].type for name in columns}
    arrays = [
        cast(bindparam(f"a_{name}", list(values), type_=ARRAY(typed[name])), ARRAY(typed[name]))
        for name, values in columns.items()
    ]
    return func.unnest(*arrays).table_valued(*typed).render_derived()


async def insert_columns(connection: AsyncConnection, table: Table, columns: Columns) -> None:
    """Insert a batch given by column: binary ``COPY`` on PostgreSQL, else executemany.

    The values go to the database as they are, without the column types' bind processing: they must already
    be what the driver takes (aware datetimes, bytes, ints), as every caller's values are.
    """
    if not _row_count(columns):
        return
    if not uses_arrays(connection):
        await connection.execute(insert(table), rows_of(columns))
        return
    driver = (await connection.get_raw_connection()).driver_connection
    if driver is None or not driver.is_in_transaction():
        # COPY on the driver would run outside the transaction SQLAlchemy begins at its first statement.
        source = as_arrays(table, columns)
        await connection.execute(insert(table).from_select(list(columns), select(*source.c)))
        return
    await driver.copy_records_to_table(
        table.name, records=list(zip(*columns.values(), strict=True)), columns=list(columns), schema_name=table.schema
    )


def _row_count(columns: Columns) -> int:
    lengths: Collection[int] = {len(values) for values in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of one batch differ in length: {sorted(lengths)}")
    return next(iter(lengths), 0)
