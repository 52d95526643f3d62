"""Ports the handlers depend on; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
from datetime import datetime

from kehrwasser_shared.messaging.ports import UnitOfWork

from ..domain.model import Contact, Delivery


class ContactRepository(abc.ABC):
    @abc.abstractmethod
    async def save(self, contact: Contact) -> None: ...

    @abc.abstractmethod
    async def get_many(self, member_ids: list[str]) -> dict[str, Contact]: ...


class AllianceNames(abc.ABC):
    @abc.abstractmethod
    async def save(self, alliance_id: str, name: str) -> None: ...

    @abc.abstractmethod
    async def get(self, alliance_id: str) -> str | None: ...


class DeliveryRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, deliveries: list[Delivery], *, due: datetime) -> None:
        """Queue deliveries (one with a `Delivery.problem` is recorded failed instead); one whose id is already
        queued is left as it is."""

    @abc.abstractmethod
    async def lease_due(self, now: datetime, until: datetime, limit: int) -> list[tuple[Delivery, int]]:
        """Pending deliveries due by ``now`` with their attempts so far, leased to this sender ``until``."""

    @abc.abstractmethod
    async def mark_sent(self, delivery_id: str, now: datetime) -> None: ...

    @abc.abstractmethod
    async def mark_failed(self, delivery_id: str, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt; ``retry_at`` None gives the delivery up."""


class NotifyUnitOfWork(UnitOfWork):
    contacts: ContactRepository
    alliances: AllianceNames
    deliveries: DeliveryRepository


class MailSender(abc.ABC):
    @abc.abstractmethod
    async def send(self, recipient: str, message: bytes) -> None:
        """Hand the message to the mail server; raises when it is not accepted."""
