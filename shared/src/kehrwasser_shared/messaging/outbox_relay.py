"""Publishes committed outbox rows to JetStream, in order, with ``Nats-Msg-Id`` = event id.

A crash after commit and before publish leaves the row unsent: the relay publishes it after restart. A crash
after publish and before marking it sent re-publishes it with the same id, which JetStream's duplicate window
drops, and consumers' inboxes would drop in any case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js import JetStreamContext
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from .. import failpoints
from ..contracts.envelope import utcnow
from ..persistence.bulk import one_of
from .tables import MessagingTables

log = logging.getLogger(__name__)


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
        """Called after a commit that wrote events, so they go out without waiting for the next poll."""
        self._wake.set()

    async def run(self, js: JetStreamContext) -> None:
        self._js = js
        while not self._stopping:
            try:
                await self.drain()
            except Exception:
                # NATS or the database is away; the rows stay unsent and the next round retries them.
                log.exception("outbox relay round failed; retrying")
                await asyncio.sleep(self._poll_interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_interval)
            self._wake.clear()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def drain(self) -> int:
        """Publish every unsent row; returns how many were published."""
        total = 0
        while True:
            sent = await self._publish_batch()
            total += sent
            if sent < self._batch_size:
                return total

    async def _publish_batch(self) -> int:
        outbox = self._outbox
        async with self._engine.connect() as connection, connection.begin():
            # SKIP LOCKED lets several instances of a service relay side by side without publishing a row
            # twice; SQLite ignores it (its BEGIN IMMEDIATE already serialises the relays).
            rows = (
                await connection.execute(
                    select(outbox.c.seq, outbox.c.event_id, outbox.c.subject, outbox.c.payload)
                    .where(outbox.c.sent_at.is_(None))
                    .order_by(outbox.c.seq)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            assert self._js is not None, "run() attaches JetStream before anything is relayed"
            acks = [
                await self._js.publish_async(row.subject, bytes(row.payload), headers={"Nats-Msg-Id": row.event_id})
                for row in rows
            ]
            await asyncio.gather(*acks)
            failpoints.reached(failpoints.OUTBOX_AFTER_PUBLISH)
            await connection.execute(
                update(outbox)
                .where(one_of(connection, outbox.c.seq, [row.seq for row in rows]))
                .values(sent_at=utcnow())
            )
        return len(rows)
