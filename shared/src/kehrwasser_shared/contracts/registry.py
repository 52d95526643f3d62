"""Every event and command of the network, keyed by type/subject, with its pydantic model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from .subjects import command_subject, event_subject, event_type

DataT = TypeVar("DataT", bound=BaseModel)
RequestT = TypeVar("RequestT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)


@dataclass(frozen=True)
class EventContract(Generic[DataT]):
    service: str
    name: str
    version: int
    data: type[DataT]
    description: str

    @property
    def type(self) -> str:
        return event_type(self.service, self.name, self.version)

    @property
    def subject(self) -> str:
        return event_subject(self.type)


@dataclass(frozen=True)
class CommandContract(Generic[RequestT, ResultT]):
    service: str
    name: str
    request: type[RequestT]
    result: type[ResultT]
    description: str

    @property
    def subject(self) -> str:
        return command_subject(self.service, self.name)


def all_events() -> list[EventContract[Any]]:
    from . import alliances, ledger, members

    return [*members.EVENTS, *alliances.EVENTS, *ledger.EVENTS]


def all_commands() -> list[CommandContract[Any, Any]]:
    from . import alliances, ledger, members

    return [*members.COMMANDS, *alliances.COMMANDS, *ledger.COMMANDS]


def event_contract(type_: str) -> EventContract[Any] | None:
    return next((c for c in all_events() if c.type == type_), None)
