"""Ports the handlers depend on; adapters implement them, tests fake them."""

from __future__ import annotations

import abc

from kehrwasser_shared.messaging.ports import UnitOfWork

from ..domain.model import Alliance, Meeting, Membership


class AllianceRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, alliance: Alliance) -> None:
        """Store a new alliance with its founding memberships."""

    @abc.abstractmethod
    async def get(self, alliance_id: str) -> Alliance | None: ...

    @abc.abstractmethod
    async def add_membership(self, alliance_id: str, membership: Membership) -> None: ...

    @abc.abstractmethod
    async def add_meeting(self, meeting: Meeting) -> None: ...


class KnownMembers(abc.ABC):
    """The members this service has learned of from member-registered events."""

    @abc.abstractmethod
    async def add(self, member_id: str, name: str) -> None: ...

    @abc.abstractmethod
    async def exists(self, member_id: str) -> bool: ...


class AlliancesUnitOfWork(UnitOfWork):
    alliances: AllianceRepository
    known_members: KnownMembers
