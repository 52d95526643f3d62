"""SQLAlchemy implementations of the alliances repositories."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.model import BELONGS, Alliance, Attendance, Meeting, Membership, OccurrenceChange
from ..domain.standing import ACTIVE, ERASED
from ..service_layer.unit_of_work import AllianceRepository, KnownMember, KnownMembers
from .tables import (
    alliance_focus,
    alliances,
    known_members,
    meeting_attendance,
    meeting_exceptions,
    meetings,
    memberships,
)


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
                meeting_id=meeting.meeting_id, alliance_id=meeting.alliance_id, **_meeting_row(meeting)
            )
        )
        await self._save_exceptions(meeting)

    async def get_meeting(self, meeting_id: str) -> Meeting | None:
        row = (await self._connection.execute(select(meetings).where(meetings.c.meeting_id == meeting_id))).first()
        return None if row is None else (await self._with_exceptions([row]))[0]

    async def save_meeting(self, meeting: Meeting) -> None:
        await self._connection.execute(
            update(meetings).where(meetings.c.meeting_id == meeting.meeting_id).values(**_meeting_row(meeting))
        )
        await self._connection.execute(
            delete(meeting_exceptions).where(meeting_exceptions.c.meeting_id == meeting.meeting_id)
        )
        await self._save_exceptions(meeting)

    async def meetings_of(
        self, alliance_id: str, *, include_cancelled: bool, after: str | None, limit: int
    ) -> list[Meeting]:
        query = (
            select(meetings).where(meetings.c.alliance_id == alliance_id).order_by(meetings.c.meeting_id).limit(limit)
        )
        if after is not None:
            query = query.where(meetings.c.meeting_id > after)
        if not include_cancelled:
            query = query.where(meetings.c.cancelled_at.is_(None))
        return await self._with_exceptions(list((await self._connection.execute(query)).all()))

    async def save_attendance(self, meeting_id: str, attendance: Attendance) -> None:
        await self._connection.execute(
            delete(meeting_attendance).where(
                meeting_attendance.c.meeting_id == meeting_id,
                meeting_attendance.c.recurrence_id == attendance.recurrence_id,
            )
        )
        await self._connection.execute(
            insert(meeting_attendance).values(
                meeting_id=meeting_id,
                recurrence_id=attendance.recurrence_id,
                attended_ids=list(attendance.attended_ids),
                absent_ids=list(attendance.absent_ids),
                recorded_by=attendance.recorded_by,
                recorded_at=attendance.recorded_at,
            )
        )

    async def attendance_of(self, meeting_id: str) -> list[Attendance]:
        rows = await self._connection.execute(
            select(meeting_attendance)
            .where(meeting_attendance.c.meeting_id == meeting_id)
            .order_by(meeting_attendance.c.recurrence_id)
        )
        return [
            Attendance(
                row.recurrence_id, tuple(row.attended_ids), tuple(row.absent_ids), row.recorded_by, row.recorded_at
            )
            for row in rows
        ]

    async def _save_exceptions(self, meeting: Meeting) -> None:
        if meeting.exceptions:
            await self._connection.execute(
                insert(meeting_exceptions),
                [
                    {
                        "meeting_id": meeting.meeting_id,
                        "recurrence_id": change.recurrence_id,
                        "cancelled": change.cancelled,
                        "decided_by": change.decided_by,
                        "starts_at": change.starts_at,
                        "duration_minutes": change.duration_minutes,
                        "location": change.location,
                        "reason": change.reason,
                    }
                    for change in meeting.exceptions.values()
                ],
            )

    async def _with_exceptions(self, rows: list[Row[Any]]) -> list[Meeting]:
        if not rows:
            return []
        found = {row.meeting_id: _meeting(row) for row in rows}
        changes = await self._connection.execute(
            select(meeting_exceptions)
            .where(meeting_exceptions.c.meeting_id.in_(list(found)))
            .order_by(meeting_exceptions.c.recurrence_id)
        )
        for row in changes:
            found[row.meeting_id].exceptions[row.recurrence_id] = OccurrenceChange(
                recurrence_id=row.recurrence_id,
                cancelled=bool(row.cancelled),
                decided_by=row.decided_by,
                starts_at=row.starts_at,
                duration_minutes=row.duration_minutes,
                location=row.location,
                reason=row.reason,
            )
        return list(found.values())

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


def _meeting_row(meeting: Meeting) -> dict[str, Any]:
    return {
        "title": meeting.title,
        "starts_at": meeting.starts_at,
        "timezone": meeting.timezone,
        "duration_minutes": meeting.duration_minutes,
        "location": meeting.location,
        "organizer_id": meeting.organizer_id,
        "attendee_ids": list(meeting.attendee_ids),
        "sequence": meeting.sequence,
        "agenda": meeting.agenda,
        "rrule": meeting.rrule,
        "cancelled_at": meeting.cancelled_at,
        "cancelled_by": meeting.cancelled_by,
        "cancel_reason": meeting.cancel_reason,
    }


def _meeting(row: Row[Any]) -> Meeting:
    return Meeting(
        meeting_id=row.meeting_id,
        alliance_id=row.alliance_id,
        title=row.title,
        starts_at=row.starts_at,
        timezone=row.timezone,
        duration_minutes=row.duration_minutes,
        location=row.location,
        organizer_id=row.organizer_id,
        attendee_ids=tuple(row.attendee_ids),
        sequence=row.sequence,
        agenda=row.agenda,
        rrule=row.rrule,
        cancelled_at=row.cancelled_at,
        cancelled_by=row.cancelled_by,
        cancel_reason=row.cancel_reason,
    )


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
        if await self.standing(member_id) is None:
            await self._connection.execute(
                insert(known_members).values(member_id=member_id, name=name, focus=list(focus), standing=ACTIVE)
            )

    async def exists(self, member_id: str) -> bool:
        # An erased member cannot be invited, ask or found any more.
        return await self.standing(member_id) not in (None, ERASED)

    async def standing(self, member_id: str) -> str | None:
        found: str | None = await self._connection.scalar(
            select(known_members.c.standing).where(known_members.c.member_id == member_id)
        )
        return found

    async def set_standing(self, member_id: str, standing: str) -> None:
        await self._connection.execute(
            update(known_members).where(known_members.c.member_id == member_id).values(standing=standing)
        )

    async def get_many(self, member_ids: list[str]) -> dict[str, KnownMember]:
        if not member_ids:
            return {}
        rows = await self._connection.execute(select(known_members).where(known_members.c.member_id.in_(member_ids)))
        return {row.member_id: KnownMember(row.member_id, row.name, tuple(row.focus or ())) for row in rows}
