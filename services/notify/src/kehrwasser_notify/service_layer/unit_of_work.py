"""Ports the handlers depend on; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
from datetime import datetime

from kehrwasser_shared.messaging.ports import UnitOfWork

from ..domain.model import Contact, Delivery, DeliveryRecord, LeasedDelivery, MailPreferences


class ContactRepository(abc.ABC):
    @abc.abstractmethod
    async def save(self, contact: Contact) -> None: ...

    @abc.abstractmethod
    async def get_many(self, member_ids: list[str]) -> dict[str, Contact]: ...


class AllianceNames(abc.ABC):
    @abc.abstractmethod
    async def save(self, alliance_id: str, name: str, founded_at: datetime | None = None) -> None: ...

    @abc.abstractmethod
    async def get(self, alliance_id: str) -> str | None: ...


class ModeratorRepository(abc.ABC):
    @abc.abstractmethod
    async def appoint(self, alliance_id: str, member_ids: list[str]) -> None: ...

    @abc.abstractmethod
    async def dismiss(self, alliance_id: str, member_id: str) -> None: ...

    @abc.abstractmethod
    async def of(self, alliance_id: str) -> list[str]: ...


class PreferenceRepository(abc.ABC):
    @abc.abstractmethod
    async def save(self, preferences: MailPreferences) -> None: ...

    @abc.abstractmethod
    async def get_many(self, member_ids: list[str]) -> dict[str, MailPreferences]: ...


class DeliveryRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, deliveries: list[Delivery], *, due: datetime) -> None:
        """Queue deliveries (one with a `Delivery.problem` is recorded failed instead); one whose id is already
        queued is left as it is."""

    @abc.abstractmethod
    async def lease_due(self, now: datetime, until: datetime, limit: int) -> list[LeasedDelivery]:
        """Pending deliveries due by ``now``, claimed for this sender ``until``: no one else takes them before."""

    @abc.abstractmethod
    async def release(self, delivery_ids: list[str], now: datetime) -> None:
        """Give back claimed deliveries that were not attempted: due again at ``now``."""

    @abc.abstractmethod
    async def mark_sent(self, delivery_ids: list[str], now: datetime) -> None: ...

    @abc.abstractmethod
    async def mark_retry(self, delivery_id: str, error: str, retry_at: datetime) -> None:
        """Record a failed attempt to be tried again at ``retry_at``."""

    @abc.abstractmethod
    async def mark_failed(self, delivery_id: str, error: str, now: datetime) -> None:
        """Record the last failed attempt: the delivery is given up."""

    @abc.abstractmethod
    async def get(self, delivery_id: str) -> DeliveryRecord | None: ...

    @abc.abstractmethod
    async def log(
        self, *, member_id: str | None, status: str | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[DeliveryRecord]:
        """Deliveries newest first (by queueing time, then id), after the position ``after`` if given; ``status``
        is a log status (queued, retrying, sent, failed, suppressed)."""

    @abc.abstractmethod
    async def requeue(self, delivery_id: str, now: datetime) -> None:
        """Queue a failed delivery again, due ``now``, with its attempts and horizon starting afresh."""


class NotifyUnitOfWork(UnitOfWork):
    contacts: ContactRepository
    alliances: AllianceNames
    deliveries: DeliveryRepository
    preferences: PreferenceRepository
    moderators: ModeratorRepository


class MailSender(abc.ABC):
    @abc.abstractmethod
    async def send(self, recipient: str, message: bytes) -> None:
        """Hand the message to the mail server; raises `SendFailed` (or any error: taken as temporary) when it
        is not accepted."""

    async def aclose(self) -> None:  # noqa: B027 (most senders keep nothing open)
        """Close what the sender keeps open (connections)."""
