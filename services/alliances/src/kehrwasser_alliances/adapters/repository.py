"""SQLAlchemy implementations of the alliances repositories."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.model import BELONGS, Alliance, Meeting, Membership
from ..service_layer.unit_of_work import AllianceRepository, KnownMember, KnownMembers
from .tables import alliance_focus, alliances, known_members, meetings, memberships


class SqlAllianceRepository(AllianceRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, alliance: Alliance) -> None:
        await self._connection.execute(
            insert(alliances).values(
                alliance_id=alliance.alliance_id,
                founder_id=alliance.founder_id,
                created_at=alliance.created_at,
                **_details(alliance),
            )
        )
        await self._save_focus(alliance)
        for membership in alliance.roster.values():
            await self._connection.execute(
                insert(memberships).values(alliance_id=alliance.alliance_id, **_membership_row(membership))
            )

    async def get(self, alliance_id: str) -> Alliance | None:
        row = (await self._connection.execute(select(alliances).where(alliances.c.alliance_id == alliance_id))).first()
        if row is None:
            return None
        return (await self._with_rosters([row]))[0]

    async def save(self, alliance: Alliance) -> None:
        await self._connection.execute(
            update(alliances).where(alliances.c.alliance_id == alliance.alliance_id).values(**_details(alliance))
        )
        await self._connection.execute(
            delete(alliance_focus).where(alliance_focus.c.alliance_id == alliance.alliance_id)
        )
        await self._save_focus(alliance)

    async def save_membership(self, alliance_id: str, membership: Membership) -> None:
        values = _membership_row(membership)
        changed = await self._connection.execute(
            update(memberships)
            .where(memberships.c.alliance_id == alliance_id, memberships.c.member_id == membership.member_id)
            .values(**values)
        )
        if changed.rowcount == 0:
            await self._connection.execute(insert(memberships).values(alliance_id=alliance_id, **values))

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

    async def page(
        self, *, member_id: str | None, focus: str | None, include_archived: bool, after: str | None, limit: int
    ) -> list[Alliance]:
        query = select(alliances).order_by(alliances.c.alliance_id).limit(limit)
        if after is not None:
            query = query.where(alliances.c.alliance_id > after)
        if not include_archived:
            query = query.where(alliances.c.archived_at.is_(None))
        if member_id is not None:
            query = query.where(
                alliances.c.alliance_id.in_(
                    select(memberships.c.alliance_id).where(
                        memberships.c.member_id == member_id, memberships.c.status == BELONGS
                    )
                )
            )
        if focus is not None:
            query = query.where(
                alliances.c.alliance_id.in_(select(alliance_focus.c.alliance_id).where(alliance_focus.c.tag == focus))
            )
        return await self._with_rosters(list((await self._connection.execute(query)).all()))

    async def memberships_of(self, member_id: str, after: str | None, limit: int) -> list[tuple[str, Membership]]:
        query = (
            select(memberships)
            .where(memberships.c.member_id == member_id)
            .order_by(memberships.c.alliance_id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(memberships.c.alliance_id > after)
        return [(row.alliance_id, _membership(row)) for row in await self._connection.execute(query)]

    async def _save_focus(self, alliance: Alliance) -> None:
        if alliance.focus:
            await self._connection.execute(
                insert(alliance_focus), [{"alliance_id": alliance.alliance_id, "tag": tag} for tag in alliance.focus]
            )

    async def _with_rosters(self, rows: list[Row[Any]]) -> list[Alliance]:
        if not rows:
            return []
        found = {row.alliance_id: _alliance(row) for row in rows}
        members = await self._connection.execute(
            select(memberships)
            .where(memberships.c.alliance_id.in_(list(found)))
            .order_by(memberships.c.joined_at, memberships.c.member_id)
        )
        for row in members:
            found[row.alliance_id].roster[row.member_id] = _membership(row)
        return list(found.values())


def _details(alliance: Alliance) -> dict[str, Any]:
    return {
        "name": alliance.name,
        "purpose": alliance.purpose,
        "focus": list(alliance.focus),
        "warning_threshold": alliance.warning_threshold,
        "requires_confirmation": alliance.requires_confirmation,
        "size_limit": alliance.size_limit,
        "alignment_threshold": alliance.alignment_threshold,
        "archived_at": alliance.archived_at,
        "archived_by": alliance.archived_by,
    }


def _alliance(row: Row[Any]) -> Alliance:
    return Alliance(
        alliance_id=row.alliance_id,
        name=row.name,
        purpose=row.purpose,
        focus=tuple(row.focus),
        warning_threshold=Decimal(row.warning_threshold),
        founder_id=row.founder_id,
        created_at=row.created_at,
        requires_confirmation=bool(row.requires_confirmation),
        size_limit=row.size_limit,
        alignment_threshold=row.alignment_threshold,
        archived_at=row.archived_at,
        archived_by=row.archived_by,
    )


def _membership_row(membership: Membership) -> dict[str, Any]:
    return {
        "member_id": membership.member_id,
        "role": membership.role,
        "joined_at": membership.since,
        "status": membership.status,
        "decided_by": membership.decided_by,
        "reason": membership.reason,
        "message": membership.message,
        "admitted_via": membership.admitted_via,
    }


def _membership(row: Row[Any]) -> Membership:
    return Membership(
        member_id=row.member_id,
        role=row.role,
        since=row.joined_at,
        status=row.status,
        decided_by=row.decided_by,
        reason=row.reason,
        message=row.message,
        admitted_via=row.admitted_via,
    )


class SqlKnownMembers(KnownMembers):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, member_id: str, name: str, focus: list[str]) -> None:
        if not await self.exists(member_id):
            await self._connection.execute(
                insert(known_members).values(member_id=member_id, name=name, focus=list(focus))
            )

    async def exists(self, member_id: str) -> bool:
        found = await self._connection.scalar(
            select(known_members.c.member_id).where(known_members.c.member_id == member_id)
        )
        return found is not None

    async def get_many(self, member_ids: list[str]) -> dict[str, KnownMember]:
        if not member_ids:
            return {}
        rows = await self._connection.execute(select(known_members).where(known_members.c.member_id.in_(member_ids)))
        return {row.member_id: KnownMember(row.member_id, row.name, tuple(row.focus or ())) for row in rows}
