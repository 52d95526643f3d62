"""Read-your-writes across services: a command's reply names the events it published (``events``), and a later
command to another service may name them in ``after``; that service acts only once it has consumed them.

Services learn of each other's entities from events, so a member registered a moment ago is not yet known to
the alliances service for a few milliseconds (longer under load, or while it restarts). Rather than every client
retrying on ``unknown-member``, the client passes the registration's event id along, and the alliances service
waits, a bounded time, until its inbox records the event as consumed. A service that has not consumed them
within the bound answers ``not-caught-up`` and does nothing; the command may be sent again as it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from ..contracts.common import EventRef
from ..contracts.subjects import type_of_subject

_published: ContextVar[list[EventRef] | None] = ContextVar("kehrwasser_published_events", default=None)

FIRST_POLL_SECONDS = 0.01
LONGEST_POLL_SECONDS = 0.2


@contextmanager
def collecting_published() -> Iterator[list[EventRef]]:
    """Collect the events committed while the block runs (in this task), for a command's reply."""
    ids: list[EventRef] = []
    token = _published.set(ids)
    try:
        yield ids
    finally:
        _published.reset(token)


def note_published(events: Iterable[tuple[str, str]]) -> None:
    """Called by a unit of work after it committed events (their ids and subjects); outside a command nobody
    collects them."""
    collected = _published.get()
    if collected is not None:
        collected.extend(EventRef(id=event_id, type=type_of_subject(subject)) for event_id, subject in events)


class InboxWatch:
    """Whether a service has consumed events, by its inbox: each consumer records the events it processed
    there in the transaction of their effects, so a recorded event's effects are visible."""

    def __init__(self, engine: AsyncEngine, inbox: Table, consumers: Sequence[str], consumed: Iterable[str]) -> None:
        self._engine = engine
        self._inbox = inbox
        self._consumers = list(consumers)
        self._consumed = frozenset(consumed)
        """The event types the service consumes: only those it can have seen."""

    def awaited(self, events: Iterable[EventRef]) -> list[str]:
        """The ids of those ``events`` the service consumes (the others it never waits for)."""
        return sorted({event.id for event in events if event.type in self._consumed})

    async def missing(self, event_ids: Sequence[str]) -> int:
        """How many of ``event_ids`` no consumer of the service has processed yet."""
        wanted = set(event_ids)
        if not self._consumers:
            return len(wanted)
        inbox = self._inbox
        query = select(func.count(func.distinct(inbox.c.event_id))).where(
            inbox.c.consumer.in_(self._consumers), inbox.c.event_id.in_(wanted)
        )
        async with self._engine.connect() as connection:
            consumed = int(await connection.scalar(query) or 0)
        return len(wanted) - consumed

    async def wait_for(self, event_ids: Sequence[str], timeout: float) -> int:
        """Wait until every event is consumed or ``timeout`` passed; how many are still missing (0: all in)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pause = FIRST_POLL_SECONDS
        while (missing := await self.missing(event_ids)) and loop.time() < deadline:
            await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
            pause = min(pause * 2, LONGEST_POLL_SECONDS)
        return missing
