"""SQLAlchemy implementation of the member records port."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.model import Membership
from ..service_layer.member_records import MemberRecords
from .repository import _membership
from .tables import alliances, known_members, memberships


class SqlMemberRecords(MemberRecords):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def follow_profile(self, member_id: str, name: str, focus: list[str]) -> None:
        await self._connection.execute(
            update(known_members).where(known_members.c.member_id == member_id).values(name=name, focus=list(focus))
        )

    async def forget(self, member_id: str) -> None:
        # Their standing (erased) is set beside this, by `KnownMembers.set_standing`.
        await self._connection.execute(
            update(known_members).where(known_members.c.member_id == member_id).values(name="", focus=[])
        )

    async def decisions_by(self, member_id: str) -> list[tuple[str, Membership]]:
        rows = await self._connection.execute(
            select(memberships)
            .where(memberships.c.decided_by == member_id, memberships.c.member_id != member_id)
            .order_by(memberships.c.alliance_id, memberships.c.member_id)
        )
        return [(row.alliance_id, _membership(row)) for row in rows]

    async def alliance_names(self, alliance_ids: list[str]) -> dict[str, str]:
        if not alliance_ids:
            return {}
        rows = await self._connection.execute(
            select(alliances.c.alliance_id, alliances.c.name).where(alliances.c.alliance_id.in_(alliance_ids))
        )
        return {row.alliance_id: row.name for row in rows}
