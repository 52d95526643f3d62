"""Migration 0007 on every reachable database: members learned before it are active, an erased one (the empty
name that marked erasure before) is erased."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import command

from kehrwasser_alliances.bootstrap import MIGRATIONS
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import alembic_config


async def test_known_members_get_their_standing_and_an_erased_one_stays_erased(database_url: str) -> None:
    config = alembic_config(MIGRATIONS, database_url)
    await asyncio.to_thread(command.upgrade, config, "0006")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO known_members (member_id, name, focus) VALUES ('ada', 'Ada', NULL), ('eve', '', NULL)"
                )
            )
        await asyncio.to_thread(command.upgrade, config, "head")
        async with engine.connect() as connection:
            rows = await connection.execute(sa.text("SELECT member_id, standing FROM known_members ORDER BY member_id"))
            assert [tuple(row) for row in rows] == [("ada", "active"), ("eve", "erased")]
    finally:
        await engine.dispose()
