"""SQLAlchemy implementation of the contact changes that follow members (`service_layer.member_changes`)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kehrwasser_shared.contracts import privacy

from ..service_layer.member_changes import ERASED_ADDRESS, ERASED_REASON, ContactChanges, MemberChangesUnitOfWork
from .tables import contacts, deliveries
from .unit_of_work import SqlNotifyUnitOfWork


class SqlContactChanges(ContactChanges):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def follow_address(self, member_id: str, email: str) -> None:
        await self._connection.execute(update(contacts).where(contacts.c.member_id == member_id).values(email=email))

    async def follow_profile(self, member_id: str, name: str, language: str, timezone: str) -> None:
        await self._connection.execute(
            update(contacts)
            .where(contacts.c.member_id == member_id, contacts.c.email != ERASED_ADDRESS)
            .values(name=name, language=language, timezone=timezone)
        )

    async def forget(self, member_id: str) -> None:
        await self._connection.execute(
            update(contacts).where(contacts.c.member_id == member_id).values(name="", email=ERASED_ADDRESS)
        )
        mine = deliveries.c.member_id == member_id
        await self._connection.execute(
            update(deliveries)
            .where(mine, deliveries.c.status == "pending")
            .values(status="suppressed", last_error=ERASED_REASON)
        )
        await self._connection.execute(update(deliveries).where(mine).values(recipient=ERASED_ADDRESS, message=b""))

    async def export(self, member_id: str) -> privacy.NotifyPart:
        contact = (await self._connection.execute(select(contacts).where(contacts.c.member_id == member_id))).first()
        mail = await self._connection.execute(
            select(deliveries).where(deliveries.c.member_id == member_id).order_by(deliveries.c.created_at)
        )
        return privacy.NotifyPart(
            contact=privacy.Contact(name=contact.name, email=contact.email, language=contact.language)
            if contact is not None
            else None,
            mail=[
                privacy.MailRecord(
                    delivery_id=row.delivery_id,
                    kind=row.kind,
                    recipient=row.recipient,
                    status=row.status,
                    created_at=row.created_at,
                    sent_at=row.sent_at,
                )
                for row in mail
            ],
        )


class SqlMemberChangesUnitOfWork(SqlNotifyUnitOfWork, MemberChangesUnitOfWork):
    def _open(self, connection: AsyncConnection) -> None:
        super()._open(connection)
        self.contact_changes = SqlContactChanges(connection)
