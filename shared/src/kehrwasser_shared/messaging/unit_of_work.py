"""A unit of work over one database transaction that also carries the outbox and the inbox.

State changes, outgoing events and the record of processed incoming events commit together, or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Self

from pydantic import BaseModel
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .. import failpoints
from ..contracts.envelope import SerializedData, encode_event, utcnow
from ..contracts.registry import EventContract
from ..observability import tracing
from ..persistence.bulk import insert_columns
from ..persistence.database import is_unique_violation
from .causality import note_published
from .outbox_relay import OutgoingEvent
from .ports import DataT, DuplicateEvent, UnitOfWork
from .tables import MessagingTables


class EventBuffer:
    """Events encoded for the outbox as they are emitted, until a unit of work writes them at commit.

    Data may come as its contract's model or as `SerializedData` that the emitter wrote itself (a hot path's
    choice, which that emitter's own port offers; see the ledger's ``LedgerUnitOfWork.emit``).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.events: list[OutgoingEvent] = []

    def emit(
        self,
        contract: EventContract[Any],
        data: BaseModel | SerializedData,
        subject: str | None = None,
        *,
        event_id: str | None = None,
    ) -> str:
        # One flag read when tracing is off (the ledger emits an event per contribution).
        trace_context = tracing.current_context() if tracing.enabled else None
        event_id, payload = encode_event(
            type_=contract.type,
            source=self.source,
            data=data,
            subject=subject,
            id_=event_id,
            trace_context=trace_context,
        )
        traceparent = trace_context[0] if trace_context is not None else None
        self.events.append(OutgoingEvent(event_id, _nats_subject(contract, data), payload, traceparent))
        return event_id


def _nats_subject(contract: EventContract[Any], data: BaseModel | SerializedData) -> str:
    if isinstance(data, SerializedData):
        if contract.partition_key is not None:
            raise ValueError(f"{contract.type} is partitioned: emit it as its model, whose key picks the partition")
        return contract.subject
    return contract.subject_for(data)


class SqlUnitOfWork(UnitOfWork):
    """Base for each service's unit of work; subclasses add their repositories in ``_open``.

    The events emitted so far wait in ``_pending``, an `EventBuffer` of this unit of work's ``_source``.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        tables: MessagingTables,
        *,
        source: str,
        on_events_committed: Callable[[Sequence[OutgoingEvent]], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._tables = tables
        self._source = source
        self._on_events_committed = on_events_committed
        self._pending = EventBuffer(source)
        self._connection: AsyncConnection | None = None

    @property
    def connection(self) -> AsyncConnection:
        assert self._connection is not None, "unit of work used outside 'async with'"
        return self._connection

    async def __aenter__(self) -> Self:
        self._connection = await self._engine.connect()
        await self._connection.begin()
        self._pending = EventBuffer(self._source)
        self._open(self._connection)
        return self

    def _open(self, connection: AsyncConnection) -> None:
        """Build the repositories on the open connection."""

    async def __aexit__(self, *exc: object) -> None:
        assert self._connection is not None
        try:
            if self._connection.in_transaction():
                await self._connection.rollback()
        finally:
            await self._connection.close()
            self._connection = None

    def emit(self, contract: EventContract[DataT], data: DataT, *, event_id: str | None = None) -> str:
        """Queue an event; it is written to the outbox in this transaction and published after commit.

        Returns the event's id.
        """
        return self._pending.emit(contract, data, event_id=event_id)

    async def commit(self) -> None:
        """Commit, then hand the events over for publication (see `OutboxRelay.hand_over`)."""
        connection = self.connection
        events, self._pending = self._pending.events, EventBuffer(self._source)
        if events:
            try:
                await insert_columns(
                    connection,
                    self._tables.outbox,
                    {
                        "event_id": [event.event_id for event in events],
                        "subject": [event.subject for event in events],
                        "payload": [event.payload for event in events],
                        "created_at": [utcnow()] * len(events),
                    },
                )
            except Exception as error:
                if is_unique_violation(error):  # the outbox's only unique key besides its sequence: the event id
                    raise DuplicateEvent(f"an event id is already in the outbox: {error}") from error
                raise
        await connection.commit()
        if events:
            note_published((event.event_id, event.subject) for event in events)
            failpoints.reached(failpoints.OUTBOX_AFTER_COMMIT)
            if self._on_events_committed is not None:
                await self._on_events_committed(events)

    async def rollback(self) -> None:
        self._pending = EventBuffer(self._source)
        await self.connection.rollback()

    async def claim_event(self, consumer: str, event_id: str) -> bool:
        """Record that ``consumer`` processes ``event_id`` now; False if it already has (a redelivery).

        The record commits with the handler's effects, so a crash before commit leaves the event unclaimed.
        """
        inbox = self._tables.inbox
        seen = await self.connection.scalar(
            select(inbox.c.event_id).where(inbox.c.consumer == consumer, inbox.c.event_id == event_id)
        )
        if seen is not None:
            return False
        # A concurrent claim of the same event fails this insert at the primary key; the transaction rolls
        # back and the message is redelivered, to find the claim recorded.
        await self.connection.execute(insert(inbox).values(consumer=consumer, event_id=event_id, processed_at=utcnow()))
        return True
