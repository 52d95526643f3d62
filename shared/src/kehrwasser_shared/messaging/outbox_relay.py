"""Publishes committed outbox rows to JetStream with ``Nats-Msg-Id`` = event id.

Two paths. Right after a commit, the unit of work hands its events over and they are published from memory
and marked sent, before the committing handler goes on: an event is out a round trip after its commit, even
while the service is busy. Everything else (rows whose publication failed, rows left by a crash between
commit and publish) is found by the recovery round, which reads unsent rows in order every poll interval,
once they are older than `RECOVERY_DELAY`, so that it does not race another instance's direct publication.

A crash after publish and before marking the rows sent re-publishes them with the same ids, which
JetStream's duplicate window drops, and consumers' inboxes would drop in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from nats.js import JetStreamContext
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .. import failpoints
from ..contracts.envelope import utcnow
from ..persistence.bulk import one_of
from .tables import MessagingTables

log = logging.getLogger(__name__)

RECOVERY_DELAY = timedelta(seconds=2)
"""How old an unsent row must be before the recovery round publishes it: far longer than a direct publication
takes, so that two instances seldom publish the same row (which the stream would drop as a duplicate)."""


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """An event as the outbox stores it: serialised when emitted, published as these bytes."""

    event_id: str
    subject: str
    payload: bytes


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
        self._js: JetStreamContext | None = None
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Start a recovery round now instead of at the next poll."""
        self._wake.set()

    async def run(self, js: JetStreamContext) -> None:
        self._js = js
        while not self._stopping:
            try:
                await self.drain()
            except Exception:
                # NATS or the database is away; the rows stay unsent and the next round retries them.
                log.exception("outbox relay round failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
            self._wake.clear()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def publish_committed(self, events: Sequence[OutgoingEvent]) -> None:
        """Publish events whose rows were just committed and mark them sent.

        Never raises: a failure leaves the rows unsent for the recovery round, and the caller's transaction
        has committed whatever happens here.
        """
        if self._js is None or self._stopping or not events:
            return  # before run() or after stop(): the recovery round of this or the next start sends them
        try:
            await self._publish(events)
            async with self._engine.begin() as connection:
                ids = one_of(connection, self._outbox.c.event_id, [event.event_id for event in events])
                await self._mark_sent(connection, ids)
        except Exception as exc:
            log.warning("publishing %d committed events failed (%r); the recovery round retries", len(events), exc)

    async def drain(self) -> int:
        """Publish every unsent row old enough for recovery; returns how many were published."""
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
                    .where(outbox.c.sent_at.is_(None), outbox.c.created_at < utcnow() - RECOVERY_DELAY)
                    .order_by(outbox.c.seq)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            await self._publish([OutgoingEvent(row.event_id, row.subject, bytes(row.payload)) for row in rows])
            await self._mark_sent(connection, one_of(connection, outbox.c.seq, [row.seq for row in rows]))
        return len(rows)

    async def _publish(self, events: Sequence[OutgoingEvent]) -> None:
        assert self._js is not None, "run() attaches JetStream before anything is relayed"
        acks = [
            await self._js.publish_async(event.subject, event.payload, headers={"Nats-Msg-Id": event.event_id})
            for event in events
        ]
        await asyncio.gather(*acks)
        failpoints.reached(failpoints.OUTBOX_AFTER_PUBLISH)

    async def _mark_sent(self, connection: AsyncConnection, rows: ColumnElement[bool]) -> None:
        await connection.execute(
            update(self._outbox).where(rows, self._outbox.c.sent_at.is_(None)).values(sent_at=utcnow())
        )
