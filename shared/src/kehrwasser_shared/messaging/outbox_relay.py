"""Publishes committed outbox rows to JetStream with ``Nats-Msg-Id`` = event id.

Two paths. Right after a commit, the unit of work hands its events over; the relay's task publishes them
from memory, in commit order, and deletes their rows, without reading them back. The committing handler does
not wait for that: it goes on with its next piece of work while the relay publishes during its database
round trips. Everything else (rows whose publication failed, rows left by a crash between commit and
publish) is found by the recovery round, which reads the rows left in order every poll interval, once they
are older than `RECOVERY_DELAY`, so that it does not race another instance's direct publication.

The outbox holds only what is still to be published: a published event is in its stream, and keeping its row
would grow the table by the service's whole event volume. A crash after publish and before the rows are
deleted re-publishes them with the same ids, which JetStream's duplicate window drops, and consumers' inboxes
would drop in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from datetime import timedelta
from typing import NamedTuple

import orjson
from nats.aio.client import Client
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .. import failpoints
from ..contracts.envelope import utcnow
from ..observability import tracing
from ..persistence.bulk import one_of
from .publish import BatchPublisher
from .tables import MessagingTables

log = logging.getLogger(__name__)

HANDOVER_SLICE = 5000

RECOVERY_DELAY = timedelta(seconds=2)
"""How old an unsent row must be before the recovery round publishes it: far longer than a direct publication
takes, so that two instances seldom publish the same row (which the stream would drop as a duplicate)."""


class OutgoingEvent(NamedTuple):  # one per event emitted: a NamedTuple is built four times faster
    """An event as the outbox stores it: serialised when emitted, published as these bytes."""

    event_id: str
    subject: str
    payload: bytes
    traceparent: str | None = None
    """The emitting span's, also in the payload's envelope (CloudEvents Distributed Tracing); None: untraced
    or read back from the outbox."""


def _recovered(event_id: str, subject: str, payload: bytes) -> OutgoingEvent:
    """An event read back from the outbox; while tracing, its envelope gives the ``traceparent`` header."""
    traceparent = None
    if tracing.enabled:
        with contextlib.suppress(ValueError):
            found = orjson.loads(payload).get(tracing.TRACEPARENT)
            traceparent = found if isinstance(found, str) else None
    return OutgoingEvent(event_id, subject, payload, traceparent)


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        tables: MessagingTables,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
    ) -> None:
        self._engine = engine
        self._outbox = tables.outbox
        self._publisher: BatchPublisher | None = None
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._committed: list[OutgoingEvent] = []

    async def run(self, nc: Client) -> None:
        self._publisher = BatchPublisher(nc)
        await self._publisher.start()
        try:
            await self._relay()
        finally:
            await self._publisher.stop()

    async def _relay(self) -> None:
        loop = asyncio.get_running_loop()
        recovered_at = -math.inf
        while not self._stopping:
            await self.publish_handed_over()
            # The recovery round runs every poll interval even while commits keep handing events over.
            if loop.time() - recovered_at >= self._poll_interval:
                recovered_at = loop.time()
                try:
                    await self.drain()
                except Exception:
                    # NATS or the database is away; the rows stay unsent and the next round retries them.
                    log.exception("outbox relay round failed; retrying")
            if not self._committed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
            self._wake.clear()
        await self.publish_handed_over()  # what the last commits before the stop handed over

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def hand_over(self, events: Sequence[OutgoingEvent]) -> None:
        """Take events whose rows were just committed, to publish them from memory as soon as possible."""
        self._committed.extend(events)
        self._wake.set()

    async def publish_handed_over(self) -> int:
        """Publish what commits handed over and delete its rows; returns how many were published.

        A failure leaves the rows unsent for the recovery round; the commits stand whatever happens here.
        Runs in the relay's task: its publisher has one batch in flight at a time.
        """
        events, self._committed = self._committed, []
        published = 0
        # In slices: SQLite binds one parameter per id, and a busy service may hand over many commits at once.
        for start in range(0, len(events), HANDOVER_SLICE):
            chunk = events[start : start + HANDOVER_SLICE]
            try:
                await self._publish(chunk)
                async with self._engine.begin() as connection:
                    ids = one_of(connection, self._outbox.c.event_id, [event.event_id for event in chunk])
                    await self._forget(connection, ids)
            except Exception as exc:
                log.warning("publishing %d committed events failed (%r); the recovery round retries", len(chunk), exc)
                continue
            published += len(chunk)
        return published

    async def drain(self) -> int:
        """Publish every row left that is old enough for recovery; returns how many were published."""
        total = 0
        while True:
            sent = await self._recover_batch()
            total += sent
            if sent < self._batch_size:
                return total

    async def _recover_batch(self) -> int:
        outbox = self._outbox
        async with self._engine.connect() as connection, connection.begin():
            # SKIP LOCKED lets several instances of a service recover side by side without publishing a row
            # twice; SQLite ignores it (its BEGIN IMMEDIATE already serialises the relays).
            rows = (
                await connection.execute(
                    select(outbox.c.seq, outbox.c.event_id, outbox.c.subject, outbox.c.payload)
                    .where(outbox.c.created_at < utcnow() - RECOVERY_DELAY)
                    .order_by(outbox.c.seq)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await self._publish([_recovered(row.event_id, row.subject, bytes(row.payload)) for row in rows])
            await self._forget(connection, one_of(connection, outbox.c.seq, [row.seq for row in rows]))
        return len(rows)

    async def backlog(self) -> int:
        """Rows not yet published (for the outbox backlog metric)."""
        async with self._engine.connect() as connection:
            return int((await connection.execute(select(func.count()).select_from(self._outbox))).scalar_one())

    async def _publish(self, events: Sequence[OutgoingEvent]) -> None:
        assert self._publisher is not None, "run() connects the relay before anything is relayed"
        await self._publisher.publish(
            [(event.subject, event.payload, event.event_id, event.traceparent) for event in events]
        )
        failpoints.reached(failpoints.OUTBOX_AFTER_PUBLISH)

    async def _forget(self, connection: AsyncConnection, published: ColumnElement[bool]) -> None:
        await connection.execute(delete(self._outbox).where(published))
