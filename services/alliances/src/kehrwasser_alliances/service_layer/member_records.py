"""The port through which the alliances service follows member changes and answers exports."""

from __future__ import annotations

import abc

from ..domain.model import Membership


class MemberRecords(abc.ABC):
    @abc.abstractmethod
    async def follow_profile(self, member_id: str, name: str, focus: list[str]) -> None:
        """Replace the name and focus of a known member (one not known yet is left for member-registered)."""

    @abc.abstractmethod
    async def forget(self, member_id: str) -> None:
        """Erasure: the known member keeps the id without name or focus (and is no longer `exists`)."""

    @abc.abstractmethod
    async def decisions_by(self, member_id: str) -> list[tuple[str, Membership]]:
        """(alliance id, standing) of others whose last transition names ``member_id`` as ``decided_by``."""

    @abc.abstractmethod
    async def alliance_names(self, alliance_ids: list[str]) -> dict[str, str]: ...
