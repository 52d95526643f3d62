"""Every event and command of the network, keyed by type/subject, with its pydantic model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from .errors import ALWAYS, ERROR_CODES
from .subjects import PARTITIONS, command_subject, event_subject, event_type, partition_of, partition_subject

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
    partition_key: str | None = None
    """For a partitioned event, the field of its data whose value picks the partition (see `subjects`)."""
    consumed_by: tuple[str, ...] = ()
    """The services of the network that consume it (a test checks this against their consumers)."""
    external: bool = False
    """Published by producers outside the network (another team's service), not by the owning service."""

    def __post_init__(self) -> None:
        if self.partition_key is not None and self.partition_key not in self.data.model_fields:
            raise ValueError(f"{self.name}: partition key {self.partition_key!r} is not a field of its data")

    @property
    def type(self) -> str:
        return event_type(self.service, self.name, self.version)

    @property
    def subject(self) -> str:
        """The subject of an unpartitioned event; for a partitioned one, the stem its partitions extend."""
        return event_subject(self.type)

    @property
    def subjects(self) -> list[str]:
        """Every subject an event of this contract may be published on."""
        if self.partition_key is None:
            return [self.subject]
        return [partition_subject(self.subject, partition) for partition in range(PARTITIONS)]

    def subject_for(self, data: BaseModel) -> str:
        """The subject this event's data is published on."""
        if self.partition_key is None:
            return self.subject
        return partition_subject(self.subject, partition_of(str(getattr(data, self.partition_key))))


@dataclass(frozen=True)
class CommandContract(Generic[RequestT, ResultT]):
    service: str
    name: str
    request: type[RequestT]
    result: type[ResultT]
    description: str
    errors: tuple[str, ...] = ()
    """The error codes this command may answer besides those every command may (`errors.ALWAYS`)."""

    def __post_init__(self) -> None:
        unknown = [code for code in self.errors if code not in ERROR_CODES]
        if unknown:
            raise ValueError(f"{self.name}: error codes {unknown} are not in contracts.errors.ERROR_CODES")

    @property
    def error_codes(self) -> tuple[str, ...]:
        """Every code a reply to this command may carry."""
        return (*ALWAYS, *self.errors)

    @property
    def subject(self) -> str:
        return command_subject(self.service, self.name)


def all_events() -> list[EventContract[Any]]:
    from . import alliances, ledger, members, notify

    return [*members.EVENTS, *alliances.EVENTS, *ledger.EVENTS, *notify.EVENTS]


def all_commands() -> list[CommandContract[Any, Any]]:
    from . import alliances, ledger, members, notify, privacy

    return [*members.COMMANDS, *alliances.COMMANDS, *ledger.COMMANDS, *notify.COMMANDS, *privacy.COMMANDS]


def event_contract(type_: str) -> EventContract[Any] | None:
    return next((c for c in all_events() if c.type == type_), None)
