"""SQLAlchemy implementation of the member repository."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.model import Member
from ..service_layer.unit_of_work import MemberRepository
from .tables import members


class SqlMemberRepository(MemberRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, member: Member) -> None:
        await self._connection.execute(
            insert(members).values(
                member_id=member.member_id,
                name=member.name,
                email=member.email,
                company=member.company,
                language=member.language,
                focus=list(member.focus),
                registered_at=member.registered_at,
            )
        )

    async def get(self, member_id: str) -> Member | None:
        row = (await self._connection.execute(select(members).where(members.c.member_id == member_id))).first()
        return _to_member(row) if row else None

    async def get_by_email(self, email: str) -> Member | None:
        row = (await self._connection.execute(select(members).where(members.c.email == email))).first()
        return _to_member(row) if row else None


def _to_member(row: Any) -> Member:
    return Member(
        member_id=row.member_id,
        name=row.name,
        email=row.email,
        company=row.company,
        language=row.language,
        focus=tuple(row.focus),
        registered_at=row.registered_at,
    )
