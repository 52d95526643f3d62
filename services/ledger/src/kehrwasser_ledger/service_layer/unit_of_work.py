"""Ports the handlers depend on; adapters implement them, tests fake them."""

from __future__ import annotations

import abc
from datetime import datetime

from kehrwasser_shared.messaging.ports import UnitOfWork

from ..domain.confirmation import PendingContribution, PendingStatus
from ..domain.model import Account, AllianceBooks, BalancePolicy, Contribution, Entry


class AccountChanged(Exception):
    """An account was not at the version and light it was read with when the booking stored it."""


class AllianceBooksRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, alliance_id: str, policy: BalancePolicy) -> None: ...

    @abc.abstractmethod
    async def get(self, alliance_id: str, *, for_update: bool = False) -> AllianceBooks | None:
        """With ``for_update``, hold the alliance until commit: its chain head admits one writer at a time."""

    @abc.abstractmethod
    async def get_many(self, alliance_ids: list[str], *, for_update: bool = True) -> dict[str, AllianceBooks]:
        """Hold the alliances until commit, in a stable order so two batches never deadlock (or, without
        ``for_update``, just read them)."""

    @abc.abstractmethod
    async def memberships(self, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of the (alliance, member) pairs are memberships."""

    @abc.abstractmethod
    async def add_member(self, alliance_id: str, member_id: str, role: str) -> None: ...

    @abc.abstractmethod
    async def members_among(self, alliance_id: str, candidates: list[str]) -> set[str]: ...

    @abc.abstractmethod
    async def advance_chains(self, heads: dict[str, tuple[int, str]]) -> None:
        """Store each alliance's new chain length and head hash."""

    @abc.abstractmethod
    async def all_ids(self) -> list[str]: ...

    @abc.abstractmethod
    async def set_policy(self, alliance_id: str, policy: BalancePolicy) -> None: ...

    @abc.abstractmethod
    async def with_inactivity_window(self) -> list[str]:
        """Alliances whose lights change with time alone, so a periodic review has work there."""


class AccountRepository(abc.ABC):
    @abc.abstractmethod
    async def get_many(self, alliance_id: str, owner_ids: list[str]) -> dict[str, Account]: ...

    @abc.abstractmethod
    async def get_pairs(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Account]: ...

    @abc.abstractmethod
    async def save(self, accounts: list[Account], *, new: bool = False) -> None:
        """Insert new accounts (``new``) or overwrite existing ones whatever their version."""

    @abc.abstractmethod
    async def update(self, changes: list[tuple[Account, Account]]) -> None:
        """Store each (new, loaded) account if it is still at the version and light it was loaded with; raise
        `AccountChanged` if one is not."""

    @abc.abstractmethod
    async def all_of(self, alliance_id: str) -> list[Account]: ...


class ContributionRepository(abc.ABC):
    @abc.abstractmethod
    async def get(self, contribution_id: str) -> Contribution | None: ...

    @abc.abstractmethod
    async def get_many(self, contribution_ids: list[str]) -> dict[str, Contribution]: ...

    @abc.abstractmethod
    async def add(self, contributions: list[Contribution], entries: list[Entry]) -> None: ...

    @abc.abstractmethod
    async def reversal_of(self, contribution_id: str) -> str | None: ...

    @abc.abstractmethod
    async def of_alliance(self, alliance_id: str) -> list[Contribution]: ...

    @abc.abstractmethod
    async def entries_of(self, alliance_id: str) -> list[Entry]: ...


class PendingRepository(abc.ABC):
    """Contributions waiting for confirmation, and what became of them."""

    @abc.abstractmethod
    async def get(self, contribution_id: str, *, for_update: bool = False) -> PendingContribution | None: ...

    @abc.abstractmethod
    async def get_many(self, contribution_ids: list[str]) -> dict[str, PendingContribution]: ...

    @abc.abstractmethod
    async def add(self, held: list[PendingContribution]) -> None: ...

    @abc.abstractmethod
    async def decide(self, decided: list[PendingContribution]) -> None:
        """Store the new status, decider, time and reason of each."""

    @abc.abstractmethod
    async def due(self, now: datetime, limit: int) -> list[PendingContribution]:
        """Pending past their expiry, held until commit (skipping those another instance holds)."""

    @abc.abstractmethod
    async def of_alliance(self, alliance_id: str, statuses: list[PendingStatus]) -> list[PendingContribution]: ...


class LedgerUnitOfWork(UnitOfWork):
    alliances: AllianceBooksRepository
    accounts: AccountRepository
    contributions: ContributionRepository
    pending: PendingRepository
