"""The outbox relay on every database with a real nats-server: direct publication after commit, recovery, failure."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from sqlalchemy import MetaData, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.messaging.outbox_relay import RECOVERY_DELAY, OutboxRelay
from kehrwasser_shared.messaging.streams import ensure_streams
from kehrwasser_shared.messaging.tables import MessagingTables, define_messaging_tables
from kehrwasser_shared.messaging.unit_of_work import SqlUnitOfWork
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.testing import fetch_exactly
from kehrwasser_shared.testing.examples import member_registered

pytestmark = pytest.mark.integration


@pytest.fixture
async def tables_and_engine(database_url: str) -> AsyncIterator[tuple[MessagingTables, AsyncEngine]]:
    metadata = MetaData()
    tables = define_messaging_tables(metadata)
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield tables, engine
    await engine.dispose()


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_url)
    await ensure_streams(connection.jetstream())
    yield connection
    await connection.close()


async def published(nc: Client, count: int) -> list[dict[str, Any]]:
    js = nc.jetstream()
    subscription = await js.pull_subscribe(
        contracts.MEMBER_REGISTERED.subject, stream=stream_name("members"), durable=None
    )
    return [json.loads(m.data) for m in await fetch_exactly(subscription, count)]


async def unsent(engine: AsyncEngine, tables: MessagingTables) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.scalars(select(tables.outbox.c.event_id).order_by(tables.outbox.c.seq))
        return list(rows)


async def until_unsent(engine: AsyncEngine, tables: MessagingTables, expected: list[str]) -> None:
    """Wait (up to five seconds) until exactly ``expected`` are the unsent rows, then check that they are."""
    for _ in range(100):
        if await unsent(engine, tables) == expected:
            break
        await asyncio.sleep(0.05)
    assert await unsent(engine, tables) == expected


@asynccontextmanager
async def running(relay: OutboxRelay, nc: Client) -> AsyncIterator[OutboxRelay]:
    """The relay's task for the duration of the block."""
    task = asyncio.create_task(relay.run(nc))
    try:
        yield relay
    finally:
        relay.stop()
        await task


async def test_a_commits_events_are_published_from_memory_and_their_rows_deleted(
    tables_and_engine: tuple[MessagingTables, AsyncEngine], nc: Client
) -> None:
    tables, engine = tables_and_engine
    # Polling only every minute: no recovery round would find the rows in time.
    async with running(OutboxRelay(engine, tables, poll_interval=60.0), nc) as relay:
        async with SqlUnitOfWork(engine, tables, source="/members", on_events_committed=relay.hand_over) as uow:
            ada = uow.emit(contracts.MEMBER_REGISTERED, member_registered("Ada"))
            grace = uow.emit(contracts.MEMBER_REGISTERED, member_registered("Grace"))
            await uow.commit()
        events = await published(nc, 2)
        assert [e["id"] for e in events] == [ada, grace]
        assert [e["data"]["name"] for e in events] == ["Ada", "Grace"]
        await until_unsent(engine, tables, [])


async def test_a_row_left_unsent_is_recovered_once_old_enough_and_a_fresh_one_is_left_alone(
    tables_and_engine: tuple[MessagingTables, AsyncEngine], nc: Client
) -> None:
    tables, engine = tables_and_engine
    now = datetime.now(UTC)
    payload = b'{"specversion":"1.0"}'
    async with engine.begin() as connection:
        await connection.execute(
            insert(tables.outbox),
            [
                # Left by a crash between commit and publish, a while ago.
                {"event_id": "crashed", "subject": contracts.MEMBER_REGISTERED.subject, "payload": payload,
                 "created_at": now - RECOVERY_DELAY - timedelta(seconds=5)},
                # Committed a moment ago: its own process is publishing it right now.
                {"event_id": "in-flight", "subject": contracts.MEMBER_REGISTERED.subject, "payload": payload,
                 "created_at": now},
            ],
        )  # fmt: skip
    async with running(OutboxRelay(engine, tables), nc):
        await until_unsent(engine, tables, ["in-flight"])
        assert len(await published(nc, 1)) == 1


async def until_logged(caplog: pytest.LogCaptureFixture, fragment: str, timeout: float = 10.0) -> None:
    """Wait until a record containing ``fragment`` has been logged (the relay runs in this event loop)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not any(fragment in record.getMessage() for record in caplog.records):
        assert loop.time() < deadline, f"nothing logged {fragment!r} within {timeout}s: {caplog.messages}"
        await asyncio.sleep(0.05)


async def test_events_whose_publication_failed_stay_in_the_outbox_for_the_recovery_round(
    tables_and_engine: tuple[MessagingTables, AsyncEngine], nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    tables, engine = tables_and_engine
    caplog.set_level(logging.WARNING, logger=OutboxRelay.__module__)
    nc = await nats.connect(nats_url)  # no streams declared: JetStream stores nothing and says so
    try:
        async with running(OutboxRelay(engine, tables, poll_interval=60.0), nc) as relay:
            async with SqlUnitOfWork(engine, tables, source="/members", on_events_committed=relay.hand_over) as uow:
                ada = uow.emit(contracts.MEMBER_REGISTERED, member_registered("Ada"))
                await uow.commit()
            # The premise: the relay did try to publish the committed event, and failed.
            await until_logged(caplog, "publishing 1 committed events failed")
            assert await relay.publish_handed_over() == 0  # it holds nothing more: the row is all that is left
            assert await unsent(engine, tables) == [ada]
    finally:
        await nc.close()
