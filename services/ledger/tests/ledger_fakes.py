"""In-memory ledger unit of work for handler and property tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from kehrwasser_ledger.domain.analytics import Flow
from kehrwasser_ledger.domain.confirmation import PendingContribution, PendingStatus
from kehrwasser_ledger.domain.model import GENESIS_HASH, Account, AllianceBooks, Contribution, Entry
from kehrwasser_ledger.domain.policy import BalancePolicy
from kehrwasser_ledger.service_layer import handlers
from kehrwasser_ledger.service_layer.read_model import BalanceMark, LedgerReadModel, StatementLine
from kehrwasser_ledger.service_layer.unit_of_work import (
    AccountRepository,
    AllianceBooksRepository,
    ContributionRepository,
    LedgerUnitOfWork,
    PendingRepository,
)
from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.messaging.ports import FakeUnitOfWorkMixin


class FakeBooks(AllianceBooksRepository):
    def __init__(self) -> None:
        self.books: dict[str, AllianceBooks] = {}
        self.roles: dict[tuple[str, str], str] = {}

    async def add(self, alliance_id: str, policy: BalancePolicy) -> None:
        self.books[alliance_id] = AllianceBooks(alliance_id, policy, frozenset(), 0, GENESIS_HASH)

    async def get(self, alliance_id: str, *, for_update: bool = False) -> AllianceBooks | None:
        books = self.books.get(alliance_id)
        if books is None:
            return None
        moderators = frozenset(m for (a, m), r in self.roles.items() if a == alliance_id and r == "moderator")
        return books._replace(moderators=moderators)

    async def get_many(self, alliance_ids: list[str], *, for_update: bool = True) -> dict[str, AllianceBooks]:
        found = {a: await self.get(a) for a in alliance_ids}
        return {a: b for a, b in found.items() if b is not None}

    async def memberships(self, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        return {pair for pair in pairs if pair in self.roles}

    async def add_member(self, alliance_id: str, member_id: str, role: str) -> None:
        self.roles[(alliance_id, member_id)] = role

    async def members_among(self, alliance_id: str, candidates: list[str]) -> set[str]:
        return {c for c in candidates if (alliance_id, c) in self.roles}

    async def advance_chains(self, heads: dict[str, tuple[int, str]]) -> None:
        for alliance_id, (length, head) in heads.items():
            self.books[alliance_id] = self.books[alliance_id]._replace(chain_length=length, chain_head=head)

    async def all_ids(self) -> list[str]:
        return sorted(self.books)

    async def set_policy(self, alliance_id: str, policy: BalancePolicy) -> None:
        self.books[alliance_id] = self.books[alliance_id]._replace(policy=policy)

    async def with_inactivity_window(self) -> list[str]:
        return sorted(a for a, b in self.books.items() if b.policy.inactivity_window is not None)


class FakeAccounts(AccountRepository):
    def __init__(self) -> None:
        self.accounts: dict[tuple[str, str], Account] = {}

    async def get_many(self, alliance_id: str, owner_ids: list[str]) -> dict[str, Account]:
        return {o: self.accounts[(alliance_id, o)] for o in owner_ids if (alliance_id, o) in self.accounts}

    async def get_pairs(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Account]:
        return {pair: self.accounts[pair] for pair in pairs if pair in self.accounts}

    async def save(self, accounts: list[Account], *, new: bool = False) -> None:
        for account in accounts:
            key = (account.alliance_id, account.owner_id)
            assert (key in self.accounts) != new, f"save(new={new}) of {key}"
            self.accounts[key] = account

    async def update(self, changes: list[tuple[Account, Account]]) -> None:
        for account, loaded in changes:
            key = (account.alliance_id, account.owner_id)
            stored = self.accounts[key]
            assert (stored.version, stored.light) == (loaded.version, loaded.light), f"{key} changed since loaded"
            self.accounts[key] = account

    async def all_of(self, alliance_id: str) -> list[Account]:
        return [a for (alliance, _), a in self.accounts.items() if alliance == alliance_id]


class FakeContributions(ContributionRepository):
    def __init__(self) -> None:
        self.contributions: dict[str, Contribution] = {}
        self.entries: list[Entry] = []

    async def get(self, contribution_id: str) -> Contribution | None:
        return self.contributions.get(contribution_id)

    async def get_many(self, contribution_ids: list[str]) -> dict[str, Contribution]:
        return {c: self.contributions[c] for c in contribution_ids if c in self.contributions}

    async def add(self, contributions: list[Contribution], entries: list[Entry]) -> None:
        for contribution in contributions:
            assert contribution.contribution_id not in self.contributions
            self.contributions[contribution.contribution_id] = contribution
        self.entries += entries

    async def reversal_of(self, contribution_id: str) -> str | None:
        return next((c.contribution_id for c in self.contributions.values() if c.reverses == contribution_id), None)

    async def of_alliance(self, alliance_id: str) -> list[Contribution]:
        return sorted(
            (c for c in self.contributions.values() if c.alliance_id == alliance_id), key=lambda c: c.sequence
        )

    async def entries_of(self, alliance_id: str) -> list[Entry]:
        return [e for e in self.entries if e.alliance_id == alliance_id]


class FakePending(PendingRepository):
    def __init__(self) -> None:
        self.held: dict[str, PendingContribution] = {}

    async def get(self, contribution_id: str, *, for_update: bool = False) -> PendingContribution | None:
        return self.held.get(contribution_id)

    async def get_many(self, contribution_ids: list[str]) -> dict[str, PendingContribution]:
        return {c: self.held[c] for c in contribution_ids if c in self.held}

    async def add(self, held: list[PendingContribution]) -> None:
        for pending in held:
            assert pending.contribution_id not in self.held
            self.held[pending.contribution_id] = pending

    async def decide(self, decided: list[PendingContribution]) -> None:
        for pending in decided:
            self.held[pending.contribution_id] = pending

    async def due(self, now: datetime, limit: int) -> list[PendingContribution]:
        due = [p for p in self.held.values() if p.status is PendingStatus.PENDING and p.expires_at <= now]
        return sorted(due, key=lambda p: p.expires_at)[:limit]

    async def of_alliance(self, alliance_id: str, statuses: list[PendingStatus]) -> list[PendingContribution]:
        return [p for p in self.held.values() if p.alliance_id == alliance_id and p.status in statuses]


class FakeLedgerUnitOfWork(FakeUnitOfWorkMixin, LedgerUnitOfWork):
    """Commits are immediate in memory; handlers that raise before commit leave no trace only because they
    validate before they write, which the property tests check through the books' invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.alliances = FakeBooks()
        self.accounts = FakeAccounts()
        self.contributions = FakeContributions()
        self.pending = FakePending()


NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HAMBURG = "hamburg"


def clock() -> datetime:
    return NOON


async def founded_alliance(*members: str, threshold: str = "-5") -> FakeLedgerUnitOfWork:
    uow = FakeLedgerUnitOfWork()
    created = alliance_contracts.AllianceCreatedV1(
        alliance_id=HAMBURG,
        name="Hamburg Founders",
        purpose="",
        focus=[],
        warning_threshold=Decimal(threshold),
        moderator_id=members[0],
        created_at=NOON,
    )
    await handlers.learn_alliance(
        make_event(type_=alliance_contracts.ALLIANCE_CREATED.type, source="/t", data=created), created, uow
    )
    for index, member in enumerate(members):
        joined = alliance_contracts.MemberJoinedV1(
            alliance_id=HAMBURG, member_id=member, role="moderator" if index == 0 else "member", joined_at=NOON
        )
        await handlers.learn_membership(
            make_event(type_=alliance_contracts.MEMBER_JOINED.type, source="/t", data=joined), joined, uow
        )
    return uow


def contribution(
    cid: str, giver: str, receiver: str, value: str, kind: str = "advice", note: str = ""
) -> contracts.RecordContribution:
    return contracts.RecordContribution(
        contribution_id=cid,
        alliance_id=HAMBURG,
        giver_id=giver,
        receiver_id=receiver,
        kind=contracts.ContributionKind(kind),
        value=Decimal(value),
        note=note,
    )


class FakeLedgerReadModel(LedgerReadModel):
    """Reads what a `FakeLedgerUnitOfWork` holds, as the SQL read model reads the ledger's tables."""

    def __init__(self, uow: FakeLedgerUnitOfWork) -> None:
        self._uow = uow

    async def alliance_known(self, alliance_id: str) -> bool:
        return await self._uow.alliances.get(alliance_id) is not None

    async def current_balance(self, alliance_id: str, member_id: str) -> tuple[Decimal, Account | None] | None:
        books = await self._uow.alliances.get(alliance_id)
        if books is None:
            return None
        found = await self._uow.accounts.get_many(alliance_id, [member_id])
        if member_id in found:
            return books.policy.red_below, found[member_id]
        member = (alliance_id, member_id) in self._uow.alliances.roles
        return books.policy.red_below, Account(alliance_id, member_id) if member else None

    async def member_known(self, alliance_id: str, member_id: str) -> bool:
        found = await self._uow.accounts.get_many(alliance_id, [member_id])
        return member_id in found or (alliance_id, member_id) in self._uow.alliances.roles

    async def alliance_ids(self) -> list[str]:
        return await self._uow.alliances.all_ids()

    async def members(self, alliance_id: str) -> list[str]:
        return sorted(m for a, m in self._uow.alliances.roles if a == alliance_id)

    async def statement_lines(
        self, alliance_id: str, member_id: str, *, after_version: int | None, limit: int, newest_first: bool
    ) -> list[StatementLine]:
        mine = sorted(
            (e for e in await self._uow.contributions.entries_of(alliance_id) if e.owner_id == member_id),
            key=lambda e: e.version,
            reverse=newest_first,
        )
        if after_version is not None:
            mine = [e for e in mine if (e.version < after_version if newest_first else e.version > after_version)]
        booked = self._uow.contributions.contributions
        return [_statement_line(e, booked[e.contribution_id]) for e in mine[:limit]]

    async def balance_mark_at(self, alliance_id: str, member_id: str, moment: datetime) -> BalanceMark | None:
        booked = self._uow.contributions.contributions
        before = [
            e
            for e in await self._uow.contributions.entries_of(alliance_id)
            if e.owner_id == member_id and booked[e.contribution_id].recorded_at <= moment
        ]
        last = max(before, key=lambda e: e.version, default=None)
        if last is None:
            return None
        recorded_at = booked[last.contribution_id].recorded_at
        return BalanceMark(last.version, last.balance_after, last.contribution_id, recorded_at)

    async def flows(self, alliance_id: str, kind: str | None = None) -> list[Flow]:
        totals: dict[tuple[str, str, str], tuple[Decimal, int]] = {}
        for c in await self._uow.contributions.of_alliance(alliance_id):
            if kind is None or c.kind == kind:
                value, count = totals.get((c.giver_id, c.receiver_id, c.kind), (Decimal("0.00"), 0))
                totals[(c.giver_id, c.receiver_id, c.kind)] = (value + c.sign * c.value, count + c.sign)
        return [Flow(g, r, k, value, count) for (g, r, k), (value, count) in totals.items()]


def _statement_line(entry: Entry, booked: Contribution) -> StatementLine:
    return StatementLine(
        version=entry.version,
        contribution_id=entry.contribution_id,
        recorded_at=booked.recorded_at,
        giver_id=booked.giver_id,
        receiver_id=booked.receiver_id,
        kind=booked.kind,
        amount=entry.amount,
        balance_before=entry.balance_before,
        balance_after=entry.balance_after,
        note=booked.note,
        reverses=booked.reverses,
    )
