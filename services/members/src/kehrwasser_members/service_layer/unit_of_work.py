"""Ports the handlers depend on; adapters implement them, tests fake them."""

from __future__ import annotations

import abc

from kehrwasser_shared.messaging.ports import UnitOfWork

from ..domain.model import Member


class MemberRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, member: Member) -> None: ...

    @abc.abstractmethod
    async def get(self, member_id: str) -> Member | None: ...

    @abc.abstractmethod
    async def get_by_email(self, email: str) -> Member | None: ...


class MembersUnitOfWork(UnitOfWork):
    members: MemberRepository
