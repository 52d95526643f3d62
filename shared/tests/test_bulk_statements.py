"""Bulk statements on every database: inserts by column (COPY on PostgreSQL) that stay inside the transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_shared.persistence.bulk import insert_columns, one_of, rows_of
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.types import UtcDateTime

pytestmark = pytest.mark.integration

metadata = MetaData()
gifts = Table(
    "gifts",
    metadata,
    Column("gift_id", String(64), primary_key=True),
    Column("points", Integer, nullable=False),
    Column("note", String(200), nullable=True),
    Column("given_at", UtcDateTime, nullable=False),
    Column("payload", LargeBinary, nullable=False),
)
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def batch(*ids: str) -> dict[str, Sequence[Any]]:
    return {
        "gift_id": list(ids),
        "points": [len(i) for i in ids],
        "note": [None if n % 2 else f"thanks, {i}" for n, i in enumerate(ids)],
        "given_at": [NOON] * len(ids),
        "payload": [i.encode() for i in ids],
    }


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


async def stored(engine: AsyncEngine) -> list[tuple[object, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(select(gifts).order_by(gifts.c.gift_id))]


async def test_a_batch_given_by_column_is_stored_row_by_row(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(select(1))  # the transaction has begun, as in every unit of work
        await insert_columns(connection, gifts, batch("ada", "grace", "linus"))
    assert await stored(engine) == [
        ("ada", 3, "thanks, ada", NOON, b"ada"),
        ("grace", 5, None, NOON, b"grace"),
        ("linus", 5, "thanks, linus", NOON, b"linus"),
    ]


async def test_a_batch_inserted_first_in_a_transaction_still_rolls_back_with_it(engine: AsyncEngine) -> None:
    async with engine.connect() as connection, connection.begin() as transaction:
        await insert_columns(connection, gifts, batch("ada"))
        await transaction.rollback()
    assert await stored(engine) == []


async def test_a_batch_rolls_back_with_the_transaction_it_was_inserted_in(engine: AsyncEngine) -> None:
    async with engine.connect() as connection, connection.begin() as transaction:
        await connection.execute(select(1))
        await insert_columns(connection, gifts, batch("ada", "grace"))
        await transaction.rollback()
    assert await stored(engine) == []


async def test_one_of_selects_the_rows_among_many_values(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(select(1))
        await insert_columns(connection, gifts, batch(*(f"gift-{n:04d}" for n in range(1500))))
        wanted = [f"gift-{n:04d}" for n in range(0, 1500, 3)] + ["nobody"]
        count = await connection.scalar(
            select(func.count()).select_from(gifts).where(one_of(connection, gifts.c.gift_id, wanted))
        )
    assert count == 500


def test_columns_of_different_lengths_are_refused_not_truncated() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        rows_of({"gift_id": ["ada", "grace"], "points": [1]})
