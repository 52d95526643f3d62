"""Ports the handlers depend on; adapters implement them, tests fake them (and `test_ledger_ports` holds the
fakes and the SQL adapters to the same contract).

Reads never hold what they return. A method whose name says ``lock`` holds the rows it returns until the unit
of work ends, so that no other writer changes them meanwhile.
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from kehrwasser_shared.contracts.envelope import SerializedData
from kehrwasser_shared.contracts.registry import EventContract
from kehrwasser_shared.messaging.ports import DataT, UnitOfWork

from ..domain.confirmation import PendingContribution, PendingStatus
from ..domain.model import Account, AllianceBooks, Contribution, Entry
from ..domain.policy import BalancePolicy
from ..domain.verification import Checkpoint


class AccountChanged(Exception):
    """An account was not at the version and light it was read with when the booking stored it."""


class ConcurrentInsert(Exception):
    """Another transaction stored a record under the same new key first (two requests racing with one new id).

    Nothing of this unit of work is committed; running the use case again finds the record and answers as a
    retry does (`retried_on_concurrent_insert`).
    """


class AllianceBooksRepository(abc.ABC):
    @abc.abstractmethod
    async def add(self, alliance_id: str, policy: BalancePolicy) -> None:
        """Open an alliance's books, its hash chain at `GENESIS_HASH`; `ConcurrentInsert` if it has books."""

    @abc.abstractmethod
    async def read(self, alliance_id: str) -> AllianceBooks | None: ...

    @abc.abstractmethod
    async def read_many(self, alliance_ids: list[str]) -> dict[str, AllianceBooks]:
        """The books of those alliances that have books."""

    @abc.abstractmethod
    async def lock_many(self, alliance_ids: list[str]) -> dict[str, AllianceBooks]:
        """As `read_many`, holding the alliances until commit (their chain heads admit one writer at a time),
        taken in a stable order so that two writers never deadlock."""

    @abc.abstractmethod
    async def memberships(self, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of the (alliance, member) pairs are memberships."""

    @abc.abstractmethod
    async def add_member(self, alliance_id: str, member_id: str, role: str) -> None:
        """Record a membership; `ConcurrentInsert` if the member is in the alliance already."""

    @abc.abstractmethod
    async def members_among(self, alliance_id: str, candidates: list[str]) -> set[str]: ...

    @abc.abstractmethod
    async def end_membership(self, alliance_id: str, member_id: str) -> None:
        """Forget a membership (the member left or was removed) and count the departure in the books; their
        account and entries stay."""

    @abc.abstractmethod
    async def set_role(self, alliance_id: str, member_id: str, role: str) -> None: ...

    @abc.abstractmethod
    async def archive(self, alliance_id: str) -> None:
        """Close the books to new contributions."""

    @abc.abstractmethod
    async def advance_chains(self, heads: dict[str, tuple[int, str]]) -> None:
        """Store each alliance's new chain length and head hash."""

    @abc.abstractmethod
    async def all_ids(self) -> list[str]:
        """Every alliance with books, in order."""

    @abc.abstractmethod
    async def set_policy(self, alliance_id: str, policy: BalancePolicy) -> None: ...

    @abc.abstractmethod
    async def with_inactivity_window(self) -> list[str]:
        """Alliances whose lights change with time alone (in order), so a periodic review has work there."""


class AccountRepository(abc.ABC):
    @abc.abstractmethod
    async def get_many(self, alliance_id: str, owner_ids: list[str]) -> dict[str, Account]: ...

    @abc.abstractmethod
    async def get_pairs(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Account]: ...

    @abc.abstractmethod
    async def save(self, accounts: list[Account], *, new: bool = False) -> None:
        """Insert new accounts (``new``: `ConcurrentInsert` if one exists) or overwrite existing ones whatever
        their version (`AccountChanged` if one does not exist)."""

    @abc.abstractmethod
    async def update(self, changes: list[tuple[Account, Account]]) -> None:
        """Store each (new, loaded) account if it is still at the version and light it was loaded with; raise
        `AccountChanged` if one is not."""

    @abc.abstractmethod
    async def all_of(self, alliance_id: str) -> list[Account]: ...

    @abc.abstractmethod
    async def all_of_many(self, alliance_ids: Collection[str]) -> dict[str, list[Account]]:
        """`all_of` for each of these alliances (an empty list for one without accounts), in one read."""

    @abc.abstractmethod
    async def turning_inactive(self, now: datetime, limit: int) -> list[Account]:
        """Up to ``limit`` green members' accounts in alliances with an inactivity window whose last gift (or,
        without one, opening) is at least that window before ``now``: the lights time alone changes. Read
        through an index, so the cost follows their number, not the number of accounts."""


class ContributionRepository(abc.ABC):
    @abc.abstractmethod
    async def get(self, contribution_id: str) -> Contribution | None: ...

    @abc.abstractmethod
    async def get_many(self, contribution_ids: list[str]) -> dict[str, Contribution]: ...

    @abc.abstractmethod
    async def add(self, contributions: list[Contribution], entries: list[Entry]) -> None:
        """Store contributions and their entries; `ConcurrentInsert` if one's id, sequence in its alliance or
        reversed contribution is taken, or an entry's account version."""

    @abc.abstractmethod
    async def reversal_of(self, contribution_id: str) -> str | None: ...

    @abc.abstractmethod
    async def of_alliance(self, alliance_id: str) -> list[Contribution]:
        """In chain order."""

    @abc.abstractmethod
    async def entries_of(self, alliance_id: str) -> list[Entry]:
        """By owner, then version."""

    @abc.abstractmethod
    async def chain_slice(self, alliance_id: str, after_sequence: int, limit: int | None) -> list[Contribution]:
        """Up to ``limit`` (all without one) of the alliance's contributions after ``after_sequence``, in chain
        order."""

    @abc.abstractmethod
    async def entries_for(self, alliance_id: str, first_sequence: int, last_sequence: int) -> list[Entry]:
        """The entries posted for the alliance's contributions with a sequence in that range."""

    @abc.abstractmethod
    async def entries_past(self, alliance_id: str, versions: dict[str, int]) -> list[Entry]:
        """The entries of these accounts after these versions (of other owners: none)."""

    @abc.abstractmethod
    async def chain_tails(self, after: Mapping[str, int]) -> dict[str, list[Contribution]]:
        """Each alliance's contributions after its sequence, in chain order (`chain_slice` without a limit for
        many alliances in one read; an empty list for one with nothing after it)."""

    @abc.abstractmethod
    async def entries_posted_for(self, chain: Sequence[Contribution]) -> dict[str, list[Entry]]:
        """By alliance, the entries it posted for these of its contributions (as `entries_for` over a range)."""

    @abc.abstractmethod
    async def entries_past_many(self, versions: Mapping[str, Mapping[str, int]]) -> dict[str, list[Entry]]:
        """`entries_past` for each alliance's accounts, in one read."""


@dataclass(frozen=True)
class RunAlliance:
    """One alliance of a verification run and its walk so far."""

    alliance_id: str
    walked: Checkpoint
    contributions: int
    entries: int
    problems: list[str]
    done: bool


@dataclass(frozen=True)
class VerifyRun:
    run_id: str
    full: bool
    running: bool
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    alliances: list[RunAlliance]


class VerificationRepository(abc.ABC):
    """Verification runs, their alliances' walks, and each alliance's last verified checkpoint."""

    @abc.abstractmethod
    async def checkpoints(self, alliance_ids: list[str]) -> dict[str, Checkpoint]:
        """The checkpoints of those alliances that have one."""

    @abc.abstractmethod
    async def save_checkpoint(self, checkpoint: Checkpoint, now: datetime) -> None: ...

    @abc.abstractmethod
    async def drop_checkpoint(self, alliance_id: str) -> None: ...

    @abc.abstractmethod
    async def save_checkpoints(self, checkpoints: Sequence[Checkpoint], now: datetime) -> None:
        """`save_checkpoint` for many alliances at once."""

    @abc.abstractmethod
    async def drop_checkpoints(self, alliance_ids: Collection[str]) -> None: ...

    @abc.abstractmethod
    async def add_run(
        self,
        run_id: str,
        full: bool,
        starts: list[Checkpoint],
        now: datetime,
        lease_until: datetime,
        settled: Collection[str] = (),
    ) -> None:
        """A run over the alliances of ``starts``, each walked from its start; those ``settled`` are done."""

    @abc.abstractmethod
    async def run(self, run_id: str) -> VerifyRun | None: ...

    @abc.abstractmethod
    async def save_walk(self, run_id: str, walked: RunAlliance, now: datetime, lease_until: datetime) -> None:
        """Store an alliance's walk so far (a restart resumes it there) and extend the run's lease."""

    @abc.abstractmethod
    async def save_walks(
        self, run_id: str, walked: Sequence[RunAlliance], now: datetime, lease_until: datetime
    ) -> None:
        """`save_walk` for many alliances of the run at once."""

    @abc.abstractmethod
    async def claim_abandoned(self, now: datetime, lease_until: datetime) -> list[str]:
        """Running runs whose lease lapsed (their process stopped), now leased to the caller."""

    @abc.abstractmethod
    async def finish(self, run_id: str, now: datetime) -> None: ...


class PendingRepository(abc.ABC):
    """Contributions waiting for confirmation, and what became of them."""

    @abc.abstractmethod
    async def lock(self, contribution_id: str) -> PendingContribution | None:
        """The pending contribution, held until commit: one decision at a time."""

    @abc.abstractmethod
    async def read_many(self, contribution_ids: list[str]) -> dict[str, PendingContribution]: ...

    @abc.abstractmethod
    async def add(self, held: list[PendingContribution]) -> None:
        """`ConcurrentInsert` if one's id is taken."""

    @abc.abstractmethod
    async def decide(self, decided: list[PendingContribution]) -> None:
        """Store the new status, decider, time and reason of each."""

    @abc.abstractmethod
    async def lock_due(self, now: datetime, limit: int) -> list[PendingContribution]:
        """Pending past their expiry, soonest first, held until commit (skipping those another writer holds)."""

    @abc.abstractmethod
    async def of_alliance(self, alliance_id: str, statuses: list[PendingStatus]) -> list[PendingContribution]:
        """In the order they were submitted."""


class Emitter(Protocol):
    """Where the ledger's events go: a unit of work, or events prepared for a later one."""

    def emit(
        self, contract: EventContract[DataT], data: DataT | SerializedData, *, event_id: str | None = None
    ) -> str: ...


class LedgerUnitOfWork(UnitOfWork):
    alliances: AllianceBooksRepository
    accounts: AccountRepository
    contributions: ContributionRepository
    pending: PendingRepository
    verification: VerificationRepository

    @abc.abstractmethod
    def emit(self, contract: EventContract[DataT], data: DataT | SerializedData, *, event_id: str | None = None) -> str:
        """As `UnitOfWork.emit`; the data may also be JSON the ledger wrote itself (`handlers.recorded_data`,
        once per contribution, where building the contract's model would cost three times as much)."""


class PreparedEvents(abc.ABC):
    """Events emitted ahead of the unit of work that will commit them (`IntakeUnitOfWork.event_buffer`)."""

    @abc.abstractmethod
    def emit(
        self, contract: EventContract[DataT], data: DataT | SerializedData, *, event_id: str | None = None
    ) -> str: ...


class IntakeUnitOfWork(LedgerUnitOfWork):
    """The ledger's unit of work as the pipelined intake uses it: a batch's events are emitted (and encoded)
    while the batch before it commits, and handed to the unit of work that commits the batch later."""

    @abc.abstractmethod
    def event_buffer(self) -> PreparedEvents:
        """An empty place to emit events into, outside any transaction."""

    @abc.abstractmethod
    def adopt(self, events: PreparedEvents) -> None:
        """Queue the events of this kind of unit of work's `event_buffer` as if emitted here, in their order."""
