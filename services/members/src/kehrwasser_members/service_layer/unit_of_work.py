"""Ports the handlers depend on; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from kehrwasser_shared.messaging.ports import UnitOfWork

from ..domain.model import Member


@dataclass(frozen=True)
class MemberFilter:
    """What a list asks for; prefixes are compared in the members' `name_key` form and lower-cased emails."""

    status: str | None = None
    language: str | None = None
    focus: str | None = None
    name_prefix: str | None = None
    email_prefix: str | None = None


class MemberRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, member: Member) -> None: ...

    @abc.abstractmethod
    async def save(self, member: Member) -> None:
        """Store the member's new state; raises `EmailTaken` if their address is another member's."""

    @abc.abstractmethod
    async def get(self, member_id: str) -> Member | None: ...

    @abc.abstractmethod
    async def get_by_email(self, email: str) -> Member | None: ...

    @abc.abstractmethod
    async def get_by_unsubscribe_token(self, token: str) -> Member | None: ...

    @abc.abstractmethod
    async def get_by_email_token_hash(self, token_hash: str) -> Member | None: ...

    @abc.abstractmethod
    async def list(self, where: MemberFilter, *, after: tuple[str, str] | None, limit: int) -> list[Member]:
        """Up to ``limit`` members in order of (name key, id), past the position ``after``."""


class MembersUnitOfWork(UnitOfWork):
    members: MemberRepository
