"""SQLAlchemy implementations of the notify repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.model import CATEGORIES, Contact, Delivery, DeliveryRecord, LeasedDelivery, MailPreferences
from ..service_layer.member_changes import ERASED_ADDRESS, ERASED_REASON
from ..service_layer.unit_of_work import (
    AllianceNames,
    ContactRepository,
    DeliveryRepository,
    ModeratorRepository,
    PreferenceRepository,
)
from .tables import alliance_moderators, alliance_names, contacts, deliveries, mail_preferences


class SqlContacts(ContactRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def save(self, contact: Contact) -> None:
        values = {
            "name": contact.name,
            "email": contact.email,
            "language": contact.language,
            "timezone": contact.timezone,
        }
        updated = await self._connection.execute(
            update(contacts).where(contacts.c.member_id == contact.member_id).values(values)
        )
        if updated.rowcount == 0:
            await self._connection.execute(insert(contacts).values(member_id=contact.member_id, **values))

    async def get_many(self, member_ids: list[str]) -> dict[str, Contact]:
        rows = await self._connection.execute(select(contacts).where(contacts.c.member_id.in_(member_ids)))
        return {row.member_id: Contact(row.member_id, row.name, row.email, row.language, row.timezone) for row in rows}


class SqlAllianceNames(AllianceNames):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def save(self, alliance_id: str, name: str, founded_at: datetime | None = None) -> None:
        if await self.get(alliance_id) is None:
            await self._connection.execute(
                insert(alliance_names).values(alliance_id=alliance_id, name=name, founded_at=founded_at)
            )

    async def get(self, alliance_id: str) -> str | None:
        return await self._connection.scalar(
            select(alliance_names.c.name).where(alliance_names.c.alliance_id == alliance_id)
        )


class SqlModerators(ModeratorRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def appoint(self, alliance_id: str, member_ids: list[str]) -> None:
        known = set(await self.of(alliance_id))
        new = [{"alliance_id": alliance_id, "member_id": m} for m in dict.fromkeys(member_ids) if m not in known]
        if new:
            await self._connection.execute(insert(alliance_moderators), new)

    async def dismiss(self, alliance_id: str, member_id: str) -> None:
        await self._connection.execute(
            delete(alliance_moderators).where(
                alliance_moderators.c.alliance_id == alliance_id, alliance_moderators.c.member_id == member_id
            )
        )

    async def of(self, alliance_id: str) -> list[str]:
        query = select(alliance_moderators.c.member_id).where(alliance_moderators.c.alliance_id == alliance_id)
        return sorted(await self._connection.scalars(query))


class SqlPreferences(PreferenceRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def save(self, preferences: MailPreferences) -> None:
        values: dict[str, object] = {c: c not in preferences.turned_off for c in CATEGORIES}
        values["unsubscribe_token"] = preferences.unsubscribe_token
        updated = await self._connection.execute(
            update(mail_preferences).where(mail_preferences.c.member_id == preferences.member_id).values(values)
        )
        if updated.rowcount == 0:
            await self._connection.execute(insert(mail_preferences).values(member_id=preferences.member_id, **values))

    async def get_many(self, member_ids: list[str]) -> dict[str, MailPreferences]:
        rows = await self._connection.execute(
            select(mail_preferences).where(mail_preferences.c.member_id.in_(member_ids))
        )
        return {
            row.member_id: MailPreferences(
                row.member_id,
                frozenset(c for c in CATEGORIES if not getattr(row, c)),
                row.unsubscribe_token,
            )
            for row in rows
        }


class SqlDeliveries(DeliveryRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self.queued = 0
        """Deliveries this transaction queued for the mailer so far."""

    async def add(self, new: list[Delivery], *, due: datetime) -> None:
        if not new:
            return
        known = set(
            await self._connection.scalars(
                select(deliveries.c.delivery_id).where(deliveries.c.delivery_id.in_([d.delivery_id for d in new]))
            )
        )
        rows = [
            {
                "delivery_id": d.delivery_id,
                "kind": d.kind,
                "member_id": d.member_id,
                "recipient": d.recipient,
                # An erased member's contact has no address (service_layer.member_changes): never sent, kept empty.
                "message": b"" if d.recipient == ERASED_ADDRESS else d.message,
                "status": _status_of(d),
                "attempts": 0,
                "next_attempt_at": d.not_before or due,  # held until the end of the member's quiet hours
                "last_error": ERASED_REASON if d.recipient == ERASED_ADDRESS else d.problem or d.suppressed,
                "created_at": d.created_at,
                "caused_by": d.caused_by,
            }
            for d in new
            if d.delivery_id not in known
        ]
        if rows:
            await self._connection.execute(insert(deliveries), rows)
            self.queued += sum(row["status"] == "pending" for row in rows)

    async def lease_due(self, now: datetime, until: datetime, limit: int) -> list[LeasedDelivery]:
        # FOR UPDATE SKIP LOCKED on PostgreSQL: two instances leasing at once take different rows. SQLite
        # ignores it; there every write transaction begins IMMEDIATE, so leases never interleave.
        rows = (
            await self._connection.execute(
                select(deliveries)
                .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
                .order_by(deliveries.c.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if rows:
            await self._connection.execute(
                update(deliveries)
                .where(deliveries.c.delivery_id.in_([r.delivery_id for r in rows]))
                .values(next_attempt_at=until)
            )
        return [
            LeasedDelivery(
                Delivery(
                    r.delivery_id,
                    r.kind,
                    r.member_id,
                    r.recipient,
                    bytes(r.message),
                    r.created_at,
                    caused_by=r.caused_by,
                ),
                r.attempts,
                r.requeued_at or r.created_at,
            )
            for r in rows
        ]

    async def release(self, delivery_ids: list[str], now: datetime) -> None:
        if delivery_ids:
            await self._connection.execute(
                update(deliveries)
                .where(deliveries.c.delivery_id.in_(delivery_ids), deliveries.c.status == "pending")
                .values(next_attempt_at=now)
            )

    async def mark_sent(self, delivery_ids: list[str], now: datetime) -> None:
        if delivery_ids:
            await self._connection.execute(
                update(deliveries)
                .where(deliveries.c.delivery_id.in_(delivery_ids))
                .values(status="sent", sent_at=now, attempts=deliveries.c.attempts + 1)
            )

    async def mark_retry(self, delivery_id: str, error: str, retry_at: datetime) -> None:
        await self._connection.execute(
            update(deliveries)
            .where(deliveries.c.delivery_id == delivery_id)
            .values(attempts=deliveries.c.attempts + 1, last_error=error, next_attempt_at=retry_at)
        )

    async def mark_failed(self, delivery_id: str, error: str, now: datetime) -> None:
        await self._connection.execute(
            update(deliveries)
            .where(deliveries.c.delivery_id == delivery_id)
            .values(attempts=deliveries.c.attempts + 1, last_error=error, status="failed", next_attempt_at=now)
        )

    async def get(self, delivery_id: str) -> DeliveryRecord | None:
        row = (await self._connection.execute(_record_columns().where(deliveries.c.delivery_id == delivery_id))).first()
        return None if row is None else DeliveryRecord(*row)

    async def log(
        self, *, member_id: str | None, status: str | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[DeliveryRecord]:
        query = _record_columns()
        if member_id is not None:
            query = query.where(deliveries.c.member_id == member_id)
        if status in ("queued", "retrying"):
            attempted = deliveries.c.attempts > 0 if status == "retrying" else deliveries.c.attempts == 0
            query = query.where(deliveries.c.status == "pending", attempted)
        elif status is not None:
            query = query.where(deliveries.c.status == status)
        if after is not None:
            created_at, delivery_id = after
            query = query.where(
                or_(
                    deliveries.c.created_at < created_at,
                    and_(deliveries.c.created_at == created_at, deliveries.c.delivery_id < delivery_id),
                )
            )
        query = query.order_by(deliveries.c.created_at.desc(), deliveries.c.delivery_id.desc()).limit(limit)
        return [DeliveryRecord(*row) for row in await self._connection.execute(query)]

    async def requeue(self, delivery_id: str, now: datetime) -> None:
        await self._connection.execute(
            update(deliveries)
            .where(deliveries.c.delivery_id == delivery_id, deliveries.c.status == "failed")
            .values(status="pending", attempts=0, next_attempt_at=now, requeued_at=now)
        )
        self.queued += 1


def _status_of(new: Delivery) -> str:
    if new.recipient == ERASED_ADDRESS or new.suppressed is not None:
        return "suppressed"
    return "pending" if new.problem is None else "failed"


def _record_columns() -> Select[Any]:
    return select(
        deliveries.c.delivery_id,
        deliveries.c.kind,
        deliveries.c.member_id,
        deliveries.c.recipient,
        deliveries.c.status,
        deliveries.c.attempts,
        deliveries.c.created_at,
        deliveries.c.next_attempt_at,
        deliveries.c.sent_at,
        deliveries.c.last_error,
        deliveries.c.caused_by,
    )
