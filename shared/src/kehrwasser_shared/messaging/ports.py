"""The unit-of-work port every service layer depends on; SqlUnitOfWork implements it, tests fake it."""

from __future__ import annotations

import abc
from collections import Counter
from typing import Any, Self, TypeVar

from pydantic import BaseModel

from ..contracts.envelope import new_event_id
from ..contracts.registry import EventContract

DataT = TypeVar("DataT", bound=BaseModel)


class DuplicateEvent(Exception):
    """An event id was emitted twice, or is still in the outbox from an earlier commit: nothing was committed."""


class UnitOfWork(abc.ABC):
    """One atomic change: repositories, events to publish and incoming events claimed, committed together."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.rollback()

    @abc.abstractmethod
    def emit(self, contract: EventContract[DataT], data: DataT, *, event_id: str | None = None) -> str:
        """Queue an event to publish if and when this unit of work commits; returns its id.

        A caller-chosen ``event_id`` makes the event unique: `commit` raises `DuplicateEvent` when the id was
        emitted twice or an event with it is still in the outbox (the relay deletes a row once JetStream has
        the event, whose duplicate window then drops a second copy).
        """

    @abc.abstractmethod
    async def claim_event(self, consumer: str, event_id: str) -> bool:
        """False when ``consumer`` has already processed ``event_id`` (a redelivery), or claimed it in this
        unit of work; a claim that is rolled back leaves the event unprocessed."""

    @abc.abstractmethod
    async def commit(self) -> None: ...

    @abc.abstractmethod
    async def rollback(self) -> None: ...


class FakeUnitOfWorkMixin(UnitOfWork):
    """In-memory behaviour of the port for unit tests: records emitted events and claims, and refuses what the
    outbox and the inbox refuse (the ledger's contract tests run it beside `SqlUnitOfWork`)."""

    def __init__(self) -> None:
        self.emitted: list[tuple[EventContract[Any], BaseModel]] = []
        self.event_ids: list[str] = []
        """The id of each event in ``emitted``, caller-chosen or not."""
        self.claimed: set[tuple[str, str]] = set()
        self.committed = False
        self._pending: list[tuple[EventContract[Any], BaseModel, str]] = []
        self._outbox: set[str] = set()  # every id committed: the fake has no relay to empty its outbox
        self._claiming: set[tuple[str, str]] = set()

    def emit(self, contract: EventContract[DataT], data: DataT, *, event_id: str | None = None) -> str:
        event_id = event_id or new_event_id()
        self._pending.append((contract, data, event_id))
        return event_id

    async def claim_event(self, consumer: str, event_id: str) -> bool:
        key = (consumer, event_id)
        if key in self.claimed or key in self._claiming:
            return False
        self._claiming.add(key)
        return True

    async def commit(self) -> None:
        ids = [event_id for _, _, event_id in self._pending]
        if twice := sorted(i for i, count in Counter(ids).items() if count > 1 or i in self._outbox):
            raise DuplicateEvent(f"events already in the outbox: {', '.join(twice)}")
        self.emitted += [(contract, data) for contract, data, _ in self._pending]
        self.event_ids += ids
        self._outbox.update(ids)
        self.claimed |= self._claiming
        self._pending, self._claiming = [], set()
        self.committed = True

    async def rollback(self) -> None:
        self._pending, self._claiming = [], set()

    def emitted_types(self) -> list[str]:
        return [contract.type for contract, _ in self.emitted]
