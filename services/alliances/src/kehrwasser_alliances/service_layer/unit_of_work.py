"""Ports the handlers depend on; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from kehrwasser_shared.messaging.ports import UnitOfWork

from ..domain.model import Alliance, Attendance, Meeting, Membership
from .member_records import MemberRecords


@dataclass(frozen=True)
class KnownMember:
    member_id: str
    name: str
    focus: tuple[str, ...]


class AllianceRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, alliance: Alliance) -> None:
        """Store a new alliance with its founding memberships."""

    @abc.abstractmethod
    async def get(self, alliance_id: str) -> Alliance | None:
        """The alliance with its whole roster (members, pending, former)."""

    @abc.abstractmethod
    async def save(self, alliance: Alliance) -> None:
        """Store the alliance's own details (name, purpose, focus, limits, archive), not its roster."""

    @abc.abstractmethod
    async def save_membership(self, alliance_id: str, membership: Membership) -> None:
        """Store where a member stands now, replacing what stood there."""

    @abc.abstractmethod
    async def add_meeting(self, meeting: Meeting) -> None: ...

    @abc.abstractmethod
    async def get_meeting(self, meeting_id: str) -> Meeting | None:
        """The meeting with its moved and cancelled occurrences."""

    @abc.abstractmethod
    async def save_meeting(self, meeting: Meeting) -> None:
        """Store the meeting as it is now, its exceptions included."""

    @abc.abstractmethod
    async def meetings_of(
        self, alliance_id: str, *, include_cancelled: bool, after: str | None, limit: int
    ) -> list[Meeting]:
        """An alliance's meetings by id after ``after``."""

    @abc.abstractmethod
    async def save_attendance(self, meeting_id: str, attendance: Attendance) -> None:
        """Store who attended an occurrence, replacing what was recorded for it before."""

    @abc.abstractmethod
    async def attendance_of(self, meeting_id: str) -> list[Attendance]: ...

    @abc.abstractmethod
    async def page(
        self, *, member_id: str | None, focus: str | None, include_archived: bool, after: str | None, limit: int
    ) -> list[Alliance]:
        """Alliances by id after ``after``: those ``member_id`` belongs to, with the ``focus`` tag."""

    @abc.abstractmethod
    async def memberships_of(self, member_id: str, after: str | None, limit: int) -> list[tuple[str, Membership]]:
        """(alliance id, standing) of a member, by alliance id after ``after``."""


class KnownMembers(abc.ABC):
    """The members this service has learned of from member-registered events."""

    @abc.abstractmethod
    async def add(self, member_id: str, name: str, focus: list[str]) -> None: ...

    @abc.abstractmethod
    async def exists(self, member_id: str) -> bool: ...

    @abc.abstractmethod
    async def get_many(self, member_ids: list[str]) -> dict[str, KnownMember]: ...


class AlliancesUnitOfWork(UnitOfWork):
    alliances: AllianceRepository
    known_members: KnownMembers
    member_records: MemberRecords
