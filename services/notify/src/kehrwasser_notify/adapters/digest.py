"""SQLAlchemy implementation of the facts the weekly digest shows (`service_layer.digest.DigestFacts`)."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, exists, insert, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.calendars import Occurrence
from ..domain.digest import HealthFigure, MeetingPlan, MemberLight, MembershipRequest
from ..service_layer.digest import DigestFacts, DigestUnitOfWork
from .tables import (
    alliance_moderators,
    alliance_names,
    archived_alliances,
    digest_health,
    digest_lights,
    digest_meetings,
    digest_requests,
)
from .unit_of_work import SqlNotifyUnitOfWork


class SqlDigestFacts(DigestFacts):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def note_light(self, alliance_id: str, light: MemberLight) -> None:
        key = {"alliance_id": alliance_id, "member_id": light.member_id}
        values = {"light": light.light, "as_of": light.as_of}
        await self._upsert(digest_lights, key, values, newer=digest_lights.c.as_of <= light.as_of)

    async def lights(self, alliance_id: str) -> list[MemberLight]:
        rows = await self._connection.execute(
            select(digest_lights).where(digest_lights.c.alliance_id == alliance_id, digest_lights.c.light != "green")
        )
        return [MemberLight(row.member_id, row.light, row.as_of) for row in rows]

    async def note_health(self, alliance_id: str, figure: HealthFigure) -> None:
        values = {"period_start": figure.period_start, "figure": _health_json(figure)}
        newer = digest_health.c.period_start <= figure.period_start
        await self._upsert(digest_health, {"alliance_id": alliance_id}, values, newer=newer)

    async def health(self, alliance_id: str) -> HealthFigure | None:
        row = (
            await self._connection.execute(select(digest_health).where(digest_health.c.alliance_id == alliance_id))
        ).first()
        return None if row is None else _health(row.period_start, json.loads(row.figure))

    async def note_request(self, alliance_id: str, member_id: str, at: datetime) -> None:
        key = {"alliance_id": alliance_id, "member_id": member_id}
        await self._upsert(digest_requests, key, {"requested_at": at}, newer=digest_requests.c.requested_at <= at)

    async def close_request(self, alliance_id: str, member_id: str, at: datetime) -> None:
        key = {"alliance_id": alliance_id, "member_id": member_id}
        closed = digest_requests.c.closed_at
        # A closing that overtook its request is kept too (requested and closed at once), so that the request
        # arriving after it, being older, does not reopen what was answered.
        updated = await self._connection.execute(
            update(digest_requests)
            .where(*_matching(digest_requests, key), or_(closed.is_(None), closed <= at))
            .values(closed_at=at)
        )
        if updated.rowcount == 0 and not await self._has(digest_requests, key):
            await self._connection.execute(insert(digest_requests).values(**key, requested_at=at, closed_at=at))

    async def open_requests(self, alliance_id: str) -> list[MembershipRequest]:
        table = digest_requests
        rows = await self._connection.execute(
            select(table.c.member_id, table.c.requested_at).where(
                table.c.alliance_id == alliance_id,
                or_(table.c.closed_at.is_(None), table.c.closed_at < table.c.requested_at),
            )
        )
        return [MembershipRequest(row.member_id, row.requested_at) for row in rows]

    async def note_meeting(self, plan: MeetingPlan) -> None:
        values = {
            "alliance_id": plan.alliance_id,
            "sequence": plan.sequence,
            "cancelled": plan.cancelled,
            "plan": _plan_json(plan),
        }
        newer = digest_meetings.c.sequence <= plan.sequence
        await self._upsert(digest_meetings, {"meeting_id": plan.meeting_id}, values, newer=newer)

    async def meetings(self, alliance_id: str) -> list[MeetingPlan]:
        rows = await self._connection.execute(
            select(digest_meetings).where(
                digest_meetings.c.alliance_id == alliance_id, digest_meetings.c.cancelled.is_(False)
            )
        )
        return [_plan(row.meeting_id, row.alliance_id, row.sequence, json.loads(row.plan)) for row in rows]

    async def archive(self, alliance_id: str, at: datetime) -> None:
        if not await self._has(archived_alliances, {"alliance_id": alliance_id}):
            await self._connection.execute(insert(archived_alliances).values(alliance_id=alliance_id, archived_at=at))

    async def alliances_to_digest(self, due: datetime) -> list[str]:
        archived = exists().where(archived_alliances.c.alliance_id == alliance_names.c.alliance_id)
        moderated = exists().where(alliance_moderators.c.alliance_id == alliance_names.c.alliance_id)
        founded = or_(alliance_names.c.founded_at.is_(None), alliance_names.c.founded_at <= due)
        query = (
            select(alliance_names.c.alliance_id)
            .where(founded, moderated, ~archived)
            .order_by(alliance_names.c.alliance_id)
        )
        return list(await self._connection.scalars(query))

    async def _upsert(self, table: Table, key: dict[str, Any], values: dict[str, Any], *, newer: Any) -> None:
        """Update the row of ``key`` where ``newer`` holds, or insert it when there is none."""
        updated = await self._connection.execute(update(table).where(*_matching(table, key), newer).values(values))
        if updated.rowcount == 0 and not await self._has(table, key):
            await self._connection.execute(insert(table).values(**key, **values))

    async def _has(self, table: Table, key: dict[str, Any]) -> bool:
        found = await self._connection.scalar(select(literal(1)).select_from(table).where(*_matching(table, key)))
        return found is not None


def _matching(table: Table, key: dict[str, Any]) -> list[Any]:
    return [table.c[name] == value for name, value in key.items()]


def _health_json(figure: HealthFigure) -> str:
    return json.dumps(
        {
            "members": figure.members,
            "active_givers": figure.active_givers,
            "total_given": str(figure.total_given),
            "gini": str(figure.gini),
            "one_way_count": figure.one_way_count,
            "one_way_members": list(figure.one_way_members),
            "one_way_floor": str(figure.one_way_floor),
            "computed_at": figure.computed_at.isoformat(),
        }
    )


def _health(period_start: datetime, kept: dict[str, Any]) -> HealthFigure:
    return HealthFigure(
        period_start=period_start,
        members=kept["members"],
        active_givers=kept["active_givers"],
        total_given=Decimal(kept["total_given"]),
        gini=Decimal(kept["gini"]),
        one_way_count=kept["one_way_count"],
        one_way_members=tuple(kept["one_way_members"]),
        one_way_floor=Decimal(kept["one_way_floor"]),
        computed_at=datetime.fromisoformat(kept["computed_at"]),
    )


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parsed(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _plan_json(plan: MeetingPlan) -> str:
    return json.dumps(
        {
            "title": plan.title,
            "starts_at": plan.starts_at.isoformat(),
            "timezone": plan.timezone,
            "duration_minutes": plan.duration_minutes,
            "location": plan.location,
            "rrule": plan.rrule,
            "exceptions": [
                {
                    "recurrence_id": o.recurrence_id.isoformat(),
                    "cancelled": o.cancelled,
                    "starts_at": _moment(o.starts_at),
                    "duration_minutes": o.duration_minutes,
                    "location": o.location,
                }
                for o in plan.exceptions
            ],
        }
    )


def _plan(meeting_id: str, alliance_id: str, sequence: int, kept: dict[str, Any]) -> MeetingPlan:
    return MeetingPlan(
        meeting_id=meeting_id,
        alliance_id=alliance_id,
        sequence=sequence,
        title=kept["title"],
        starts_at=datetime.fromisoformat(kept["starts_at"]),
        timezone=kept["timezone"],
        duration_minutes=kept["duration_minutes"],
        location=kept["location"],
        rrule=kept["rrule"],
        exceptions=tuple(
            Occurrence(
                datetime.fromisoformat(o["recurrence_id"]),
                o["cancelled"],
                _parsed(o["starts_at"]),
                o["duration_minutes"],
                o["location"],
            )
            for o in kept["exceptions"]
        ),
    )


class SqlDigestUnitOfWork(SqlNotifyUnitOfWork, DigestUnitOfWork):
    def _open(self, connection: AsyncConnection) -> None:
        super()._open(connection)
        self.digest = SqlDigestFacts(connection)
