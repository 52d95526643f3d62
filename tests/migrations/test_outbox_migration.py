"""Every service's migrations run up, down a step and up again, on every reachable database; the outbox step
keeps the rows still to be published and drops the published ones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import alembic_config

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("members", "alliances", "ledger", "notify")


async def run(database_url: str, service: str, action: str, target: str) -> None:
    # Alembic's env.py runs an event loop of its own, so it runs outside this one.
    config = alembic_config(ROOT / "services" / service / "migrations", database_url)
    await asyncio.to_thread(getattr(command, action), config, target)


async def outbox_rows(database_url: str) -> list[tuple[object, ...]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            columns = "event_id, sent_at" if await has_sent_at(connection) else "event_id"
            return [
                tuple(row) for row in await connection.execute(sa.text(f"SELECT {columns} FROM outbox ORDER BY seq"))
            ]
    finally:
        await engine.dispose()


async def has_sent_at(connection: AsyncConnection) -> bool:
    columns = await connection.run_sync(lambda sync: sa.inspect(sync).get_columns("outbox"))
    return "sent_at" in {column["name"] for column in columns}


async def add_rows(database_url: str) -> None:
    engine = create_engine(database_url)
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    try:
        async with engine.begin() as connection:
            for event_id, sent_at in (("published", now), ("waiting", None)):
                await connection.execute(
                    sa.text(
                        "INSERT INTO outbox (event_id, subject, payload, created_at, sent_at) "
                        "VALUES (:event_id, 'kehrwasser.evt.x.y.v1', :payload, :now, :sent_at)"
                    ),
                    {"event_id": event_id, "payload": b"{}", "now": now, "sent_at": sent_at},
                )
    finally:
        await engine.dispose()


def revision_before_outbox_step(service: str) -> str:
    """Services add migrations after the outbox step, so the test goes down to just before it, not one step."""
    scripts = ScriptDirectory(str(ROOT / "services" / service / "migrations"))
    step = next(rev for rev in scripts.walk_revisions() if "outbox_keeps_only_unsent_rows" in (rev.path or ""))
    assert isinstance(step.down_revision, str)
    return step.down_revision


@pytest.mark.parametrize("service", SERVICES)
async def test_the_outbox_keeps_what_is_still_to_be_published_and_migrates_both_ways(
    database_url: str, service: str
) -> None:
    before_outbox_step = revision_before_outbox_step(service)
    await run(database_url, service, "upgrade", "head")
    await run(database_url, service, "downgrade", before_outbox_step)  # sent_at is back
    await add_rows(database_url)
    await run(database_url, service, "upgrade", "head")
    assert await outbox_rows(database_url) == [("waiting",)]
    await run(database_url, service, "downgrade", before_outbox_step)
    assert await outbox_rows(database_url) == [("waiting", None)]
    await run(database_url, service, "upgrade", "head")
