"""The unit-of-work port every service layer depends on; SqlUnitOfWork implements it, tests fake it."""

from __future__ import annotations

import abc
from typing import Any, Self

from pydantic import BaseModel

from ..contracts.envelope import SerializedData


class UnitOfWork(abc.ABC):
    """One atomic change: repositories, events to publish and incoming events claimed, committed together."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.rollback()

    @abc.abstractmethod
    def emit(self, contract: Any, data: BaseModel | SerializedData, *, event_id: str | None = None) -> Any:
        """Queue an event to publish if and when this unit of work commits.

        A caller-chosen ``event_id`` makes the event unique: the outbox refuses a second one with that id.
        """

    @abc.abstractmethod
    def event_buffer(self) -> Any:
        """An empty buffer with this unit of work's ``emit``, to fill ahead of a later unit of work."""

    @abc.abstractmethod
    def adopt(self, buffer: Any) -> None:
        """Queue the events of a buffer from `event_buffer` as if emitted here."""

    @abc.abstractmethod
    async def claim_event(self, consumer: str, event_id: str) -> bool:
        """False when ``consumer`` has already processed ``event_id`` (a redelivery)."""

    @abc.abstractmethod
    async def commit(self) -> None: ...

    @abc.abstractmethod
    async def rollback(self) -> None: ...


class FakeUnitOfWorkMixin(UnitOfWork):
    """In-memory behaviour of the port for unit tests: records emitted events and claims."""

    def __init__(self) -> None:
        self.emitted: list[tuple[Any, BaseModel]] = []
        self.event_ids: dict[int, str] = {}
        """The caller-chosen id of an emitted event, by its position in ``emitted``."""
        self.claimed: set[tuple[str, str]] = set()
        self.committed = False
        self._pending: list[tuple[Any, BaseModel]] = []

    def emit(self, contract: Any, data: BaseModel | SerializedData, *, event_id: str | None = None) -> Any:
        # Recorded as the contract's model whatever the emitter passed: tests look at the fields.
        model = contract.data.model_validate_json(data.json) if isinstance(data, SerializedData) else data
        if event_id is not None:
            self.event_ids[len(self.emitted) + len(self._pending)] = event_id
        self._pending.append((contract, model))

    def event_buffer(self) -> FakeUnitOfWorkMixin:
        return FakeUnitOfWorkMixin()

    def adopt(self, buffer: Any) -> None:
        for at, (contract, data) in enumerate(buffer._pending):
            self.emit(contract, data, event_id=buffer.event_ids.get(at))

    async def claim_event(self, consumer: str, event_id: str) -> bool:
        if (consumer, event_id) in self.claimed:
            return False
        self.claimed.add((consumer, event_id))
        return True

    async def commit(self) -> None:
        self.emitted += self._pending
        self._pending = []
        self.committed = True

    async def rollback(self) -> None:
        self._pending = []
        self.event_ids = {at: event_id for at, event_id in self.event_ids.items() if at < len(self.emitted)}

    def emitted_types(self) -> list[str]:
        return [contract.type for contract, _ in self.emitted]
