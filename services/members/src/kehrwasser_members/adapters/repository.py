"""SQLAlchemy implementation of the member repository."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from kehrwasser_shared.persistence.database import is_unique_violation

from ..domain.model import CATEGORIES, EmailChange, EmailTaken, Member, Status, StatusChange, name_key
from ..service_layer.unit_of_work import MemberFilter, MemberRepository
from .tables import member_focus, members

ERASED_ADDRESS_DOMAIN = "erased.invalid"
"""Erased members have no address; their rows hold a placeholder in a domain no address may be registered in
(`.invalid` is reserved, RFC 2606, and the contracts refuse it), unique by the id: the column stays NOT NULL and
unique without a migration that SQLite could only do by rebuilding a table others refer to."""


def erased_address(member_id: str) -> str:
    return f"{member_id}@{ERASED_ADDRESS_DOMAIN}"


class SqlMemberRepository(MemberRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, member: Member) -> None:
        await self._write(
            member, insert(members).values(member_id=member.member_id, registered_at=member.registered_at)
        )
        await self._write_focus(member)

    async def save(self, member: Member) -> None:
        await self._write(member, update(members).where(members.c.member_id == member.member_id))
        await self._connection.execute(delete(member_focus).where(member_focus.c.member_id == member.member_id))
        await self._write_focus(member)

    async def _write_focus(self, member: Member) -> None:
        if member.focus:
            await self._connection.execute(
                insert(member_focus), [{"member_id": member.member_id, "tag": tag} for tag in member.focus]
            )

    async def _write(self, member: Member, statement: Any) -> None:
        change, status = member.email_change, member.last_status_change
        try:
            await self._connection.execute(
                statement.values(
                    name=member.name,
                    name_key=name_key(member.name),
                    email=member.email if member.email is not None else erased_address(member.member_id),
                    company=member.company,
                    language=member.language,
                    timezone=member.timezone,
                    focus=list(member.focus),
                    status=member.status.value,
                    status_changed_by=status.by if status else None,
                    status_reason=status.reason if status else None,
                    status_changed_at=status.at if status else None,
                    unsubscribe_token=member.unsubscribe_token,
                    pending_email=change.new_email if change else None,
                    email_token_hash=change.token_hash if change else None,
                    email_token_expires_at=change.expires_at if change else None,
                    updated_at=member.updated_at or member.registered_at,
                    **{f"wants_{category}": member.preferences[category] for category in CATEGORIES},
                )
            )
        except IntegrityError as error:
            # The handler looked first; this is the race of two members taking one address at the same time.
            if is_unique_violation(error):
                raise EmailTaken(member.email or "") from error
            raise

    async def get(self, member_id: str) -> Member | None:
        return await self._one(members.c.member_id == member_id)

    async def get_by_email(self, email: str) -> Member | None:
        return await self._one(members.c.email == email)

    async def get_by_unsubscribe_token(self, token: str) -> Member | None:
        return await self._one(members.c.unsubscribe_token == token)

    async def get_by_email_token_hash(self, token_hash: str) -> Member | None:
        return await self._one(members.c.email_token_hash == token_hash)

    async def _one(self, condition: Any) -> Member | None:
        row = (await self._connection.execute(select(members).where(condition))).first()
        return _to_member(row) if row else None

    async def list(self, where: MemberFilter, *, after: tuple[str, str] | None, limit: int) -> list[Member]:
        query = select(members).order_by(members.c.name_key, members.c.member_id).limit(limit)
        if where.status is not None:
            query = query.where(members.c.status == where.status)
        if where.language is not None:
            query = query.where(members.c.language == where.language)
        if where.focus is not None:
            tagged = select(member_focus.c.member_id).where(member_focus.c.tag == where.focus)
            query = query.where(members.c.member_id.in_(tagged))
        if where.name_prefix is not None:
            query = query.where(members.c.name_key.startswith(where.name_prefix, autoescape=True))
        if where.email_prefix is not None:
            query = query.where(members.c.email.startswith(where.email_prefix, autoescape=True))
        if after is not None:
            key, member_id = after
            query = query.where(
                or_(members.c.name_key > key, and_(members.c.name_key == key, members.c.member_id > member_id))
            )
        return [_to_member(row) for row in await self._connection.execute(query)]


def _to_member(row: Any) -> Member:
    return Member(
        member_id=row.member_id,
        name=row.name,
        email=None if row.status == Status.ERASED else row.email,
        company=row.company,
        language=row.language,
        focus=tuple(row.focus),
        registered_at=row.registered_at,
        unsubscribe_token=row.unsubscribe_token,
        timezone=row.timezone,
        status=Status(row.status),
        preferences={category: bool(getattr(row, f"wants_{category}")) for category in CATEGORIES},
        email_change=EmailChange(row.pending_email, row.email_token_hash, row.email_token_expires_at)
        if row.pending_email is not None
        else None,
        last_status_change=StatusChange(row.status_changed_by, row.status_reason or "", row.status_changed_at)
        if row.status_changed_by is not None
        else None,
        updated_at=row.updated_at,
    )
