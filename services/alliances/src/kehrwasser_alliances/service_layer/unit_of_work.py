"""Ports the handlers depend on; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from kehrwasser_shared.messaging.ports import UnitOfWork

from ..domain.model import Alliance, Attendance, Meeting, Membership
from ..domain.resources import Resource, ResourceUse
from ..domain.signals import FlowSignals, LightSignal
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
    """The members this service has learned of from member-registered events, with their standing in the network
    (`domain/standing.py`) as the members service's later events left it."""

    @abc.abstractmethod
    async def add(self, member_id: str, name: str, focus: list[str]) -> None:
        """Learn of a newly registered member, active (one known already is left as it is)."""

    @abc.abstractmethod
    async def exists(self, member_id: str) -> bool:
        """Known and not erased."""

    @abc.abstractmethod
    async def standing(self, member_id: str) -> str | None:
        """Their standing; None: not known (yet)."""

    @abc.abstractmethod
    async def set_standing(self, member_id: str, standing: str) -> None:
        """Replace the standing of a known member (one not known yet is left for member-registered)."""

    @abc.abstractmethod
    async def get_many(self, member_ids: list[str]) -> dict[str, KnownMember]: ...


class LedgerSignals(abc.ABC):
    """What the alliances service has learned from the ledger's events: lights, balances, one-way flows."""

    @abc.abstractmethod
    async def lights(self, alliance_id: str) -> dict[str, LightSignal]:
        """Each member's light as the last light event about them left it (none for those never warned)."""

    @abc.abstractmethod
    async def save_light(self, alliance_id: str, signal: LightSignal) -> None: ...

    @abc.abstractmethod
    async def flows(self, alliance_id: str) -> FlowSignals | None: ...

    @abc.abstractmethod
    async def save_flows(self, alliance_id: str, flows: FlowSignals) -> None: ...


class ResourceCatalogue(abc.ABC):
    """The resources members share with their alliances, and their recorded uses."""

    @abc.abstractmethod
    async def add(self, resource: Resource) -> None: ...

    @abc.abstractmethod
    async def get(self, resource_id: str) -> Resource | None:
        """The resource with its number of uses, also when removed."""

    @abc.abstractmethod
    async def save(self, resource: Resource) -> None:
        """Store its details and removal (not its uses)."""

    @abc.abstractmethod
    async def add_use(self, use: ResourceUse) -> None: ...

    @abc.abstractmethod
    async def get_use(self, use_id: str) -> ResourceUse | None: ...

    @abc.abstractmethod
    async def page(self, alliance_id: str, kind: str | None, after: str | None, limit: int) -> list[Resource]:
        """An alliance's resources not removed, by id after ``after``, of ``kind`` if given."""


class AlliancesUnitOfWork(UnitOfWork):
    alliances: AllianceRepository
    known_members: KnownMembers
    member_records: MemberRecords
    signals: LedgerSignals
    resources: ResourceCatalogue
