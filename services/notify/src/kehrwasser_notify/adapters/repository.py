"""SQLAlchemy implementations of the notify repositories."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.model import Contact, Delivery
from ..service_layer.unit_of_work import AllianceNames, ContactRepository, DeliveryRepository
from .tables import alliance_names, contacts, deliveries


class SqlContacts(ContactRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def save(self, contact: Contact) -> None:
        values = {"name": contact.name, "email": contact.email, "language": contact.language}
        updated = await self._connection.execute(
            update(contacts).where(contacts.c.member_id == contact.member_id).values(values)
        )
        if updated.rowcount == 0:
            await self._connection.execute(insert(contacts).values(member_id=contact.member_id, **values))

    async def get_many(self, member_ids: list[str]) -> dict[str, Contact]:
        rows = await self._connection.execute(select(contacts).where(contacts.c.member_id.in_(member_ids)))
        return {row.member_id: Contact(row.member_id, row.name, row.email, row.language) for row in rows}


class SqlAllianceNames(AllianceNames):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def save(self, alliance_id: str, name: str) -> None:
        if await self.get(alliance_id) is None:
            await self._connection.execute(insert(alliance_names).values(alliance_id=alliance_id, name=name))

    async def get(self, alliance_id: str) -> str | None:
        return await self._connection.scalar(
            select(alliance_names.c.name).where(alliance_names.c.alliance_id == alliance_id)
        )


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
                "message": d.message,
                "status": "pending" if d.problem is None else "failed",
                "attempts": 0,
                "next_attempt_at": due,
                "last_error": d.problem,
                "created_at": d.created_at,
            }
            for d in new
            if d.delivery_id not in known
        ]
        if rows:
            await self._connection.execute(insert(deliveries), rows)
            self.queued += sum(row["status"] == "pending" for row in rows)

    async def lease_due(self, now: datetime, until: datetime, limit: int) -> list[tuple[Delivery, int]]:
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
            (Delivery(r.delivery_id, r.kind, r.member_id, r.recipient, bytes(r.message), r.created_at), r.attempts)
            for r in rows
        ]

    async def mark_sent(self, delivery_id: str, now: datetime) -> None:
        await self._connection.execute(
            update(deliveries)
            .where(deliveries.c.delivery_id == delivery_id)
            .values(status="sent", sent_at=now, attempts=deliveries.c.attempts + 1)
        )

    async def mark_failed(self, delivery_id: str, error: str, retry_at: datetime | None) -> None:
        values: dict[str, object] = {"attempts": deliveries.c.attempts + 1, "last_error": error}
        if retry_at is None:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = retry_at
        await self._connection.execute(update(deliveries).where(deliveries.c.delivery_id == delivery_id).values(values))
