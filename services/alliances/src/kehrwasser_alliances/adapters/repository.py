"""SQLAlchemy implementations of the alliances repositories."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.model import Alliance, Meeting, Membership
from ..service_layer.unit_of_work import AllianceRepository, KnownMembers
from .tables import alliances, known_members, meetings, memberships


class SqlAllianceRepository(AllianceRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, alliance: Alliance) -> None:
        await self._connection.execute(
            insert(alliances).values(
                alliance_id=alliance.alliance_id,
                name=alliance.name,
                purpose=alliance.purpose,
                focus=list(alliance.focus),
                warning_threshold=alliance.warning_threshold,
                founder_id=alliance.founder_id,
                created_at=alliance.created_at,
            )
        )
        for membership in alliance.members.values():
            await self.add_membership(alliance.alliance_id, membership)

    async def get(self, alliance_id: str) -> Alliance | None:
        row = (await self._connection.execute(select(alliances).where(alliances.c.alliance_id == alliance_id))).first()
        if row is None:
            return None
        rows = await self._connection.execute(
            select(memberships).where(memberships.c.alliance_id == alliance_id).order_by(memberships.c.joined_at)
        )
        return Alliance(
            alliance_id=row.alliance_id,
            name=row.name,
            purpose=row.purpose,
            focus=tuple(row.focus),
            warning_threshold=Decimal(row.warning_threshold),
            founder_id=row.founder_id,
            created_at=row.created_at,
            members={m.member_id: Membership(m.member_id, m.role, m.joined_at) for m in rows},
        )

    async def add_membership(self, alliance_id: str, membership: Membership) -> None:
        await self._connection.execute(
            insert(memberships).values(
                alliance_id=alliance_id,
                member_id=membership.member_id,
                role=membership.role,
                joined_at=membership.joined_at,
            )
        )

    async def add_meeting(self, meeting: Meeting) -> None:
        await self._connection.execute(
            insert(meetings).values(
                meeting_id=meeting.meeting_id,
                alliance_id=meeting.alliance_id,
                title=meeting.title,
                starts_at=meeting.starts_at,
                timezone=meeting.timezone,
                duration_minutes=meeting.duration_minutes,
                location=meeting.location,
                organizer_id=meeting.organizer_id,
                attendee_ids=list(meeting.attendee_ids),
                sequence=meeting.sequence,
            )
        )


class SqlKnownMembers(KnownMembers):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, member_id: str, name: str) -> None:
        if not await self.exists(member_id):
            await self._connection.execute(insert(known_members).values(member_id=member_id, name=name))

    async def exists(self, member_id: str) -> bool:
        found = await self._connection.scalar(
            select(known_members.c.member_id).where(known_members.c.member_id == member_id)
        )
        return found is not None
