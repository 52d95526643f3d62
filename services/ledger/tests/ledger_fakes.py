"""In-memory ledger unit of work for handler and property tests; `test_ledger_ports` holds it to the contract of
the SQL unit of work."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Self

from kehrwasser_ledger.domain.analytics import Flow, flows_of
from kehrwasser_ledger.domain.confirmation import PendingContribution, PendingStatus
from kehrwasser_ledger.domain.model import ALLIANCE_ACCOUNT, GENESIS_HASH, Account, AllianceBooks, Contribution, Entry
from kehrwasser_ledger.domain.policy import BalancePolicy, Light
from kehrwasser_ledger.service_layer import handlers
from kehrwasser_ledger.service_layer.read_model import BalanceMark, LedgerReadModel, StatementLine
from kehrwasser_ledger.service_layer.unit_of_work import (
    AccountChanged,
    AccountRepository,
    AllianceBooksRepository,
    ConcurrentInsert,
    ContributionRepository,
    IntakeUnitOfWork,
    PendingRepository,
    PreparedEvents,
)
from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts.envelope import SerializedData, new_event_id
from kehrwasser_shared.contracts.registry import EventContract
from kehrwasser_shared.messaging.ports import DataT, FakeUnitOfWorkMixin


class FakeBooks(AllianceBooksRepository):
    def __init__(self) -> None:
        self.books: dict[str, AllianceBooks] = {}
        self.roles: dict[tuple[str, str], str] = {}

    async def add(self, alliance_id: str, policy: BalancePolicy) -> None:
        if alliance_id in self.books:
            raise ConcurrentInsert(f"alliance {alliance_id}")
        self.books[alliance_id] = AllianceBooks(alliance_id, policy, frozenset(), 0, GENESIS_HASH)

    async def read(self, alliance_id: str) -> AllianceBooks | None:
        books = self.books.get(alliance_id)
        if books is None:
            return None
        moderators = frozenset(m for (a, m), r in self.roles.items() if a == alliance_id and r == "moderator")
        return books._replace(moderators=moderators)

    async def read_many(self, alliance_ids: list[str]) -> dict[str, AllianceBooks]:
        found = {a: await self.read(a) for a in alliance_ids}
        return {a: b for a, b in found.items() if b is not None}

    async def lock_many(self, alliance_ids: list[str]) -> dict[str, AllianceBooks]:
        return await self.read_many(alliance_ids)  # one writer at a time: nothing to hold

    async def memberships(self, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        return {pair for pair in pairs if pair in self.roles}

    async def add_member(self, alliance_id: str, member_id: str, role: str) -> None:
        if (alliance_id, member_id) in self.roles:
            raise ConcurrentInsert(f"member {member_id} of {alliance_id}")
        self.roles[(alliance_id, member_id)] = role

    async def members_among(self, alliance_id: str, candidates: list[str]) -> set[str]:
        return {c for c in candidates if (alliance_id, c) in self.roles}

    async def end_membership(self, alliance_id: str, member_id: str) -> None:
        self.roles.pop((alliance_id, member_id), None)
        books = self.books[alliance_id]
        self.books[alliance_id] = books._replace(departures=books.departures + 1)

    async def set_role(self, alliance_id: str, member_id: str, role: str) -> None:
        if (alliance_id, member_id) in self.roles:
            self.roles[(alliance_id, member_id)] = role

    async def archive(self, alliance_id: str) -> None:
        self.books[alliance_id] = self.books[alliance_id]._replace(archived=True)

    async def advance_chains(self, heads: dict[str, tuple[int, str]]) -> None:
        for alliance_id, (length, head) in heads.items():
            if alliance_id in self.books:
                self.books[alliance_id] = self.books[alliance_id]._replace(chain_length=length, chain_head=head)

    async def all_ids(self) -> list[str]:
        return sorted(self.books)

    async def set_policy(self, alliance_id: str, policy: BalancePolicy) -> None:
        if alliance_id in self.books:
            self.books[alliance_id] = self.books[alliance_id]._replace(policy=policy)

    async def with_inactivity_window(self) -> list[str]:
        return sorted(a for a, b in self.books.items() if b.policy.inactivity_window is not None)


class FakeAccounts(AccountRepository):
    def __init__(self, books: FakeBooks | None = None) -> None:
        self.accounts: dict[tuple[str, str], Account] = {}
        # A function, not the repository: a rollback restores this one's attributes by copy.
        known = books or FakeBooks()
        self._windows: Callable[[], dict[str, timedelta | None]] = lambda: {
            a: b.policy.inactivity_window for a, b in known.books.items()
        }

    async def get_many(self, alliance_id: str, owner_ids: list[str]) -> dict[str, Account]:
        return {o: self.accounts[(alliance_id, o)] for o in owner_ids if (alliance_id, o) in self.accounts}

    async def get_pairs(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Account]:
        return {pair: self.accounts[pair] for pair in pairs if pair in self.accounts}

    async def save(self, accounts: list[Account], *, new: bool = False) -> None:
        keys = [(account.alliance_id, account.owner_id) for account in accounts]
        if new and (taken := [k for k, n in Counter(keys).items() if n > 1 or k in self.accounts]):
            raise ConcurrentInsert(f"accounts {taken}")
        if not new and any(key not in self.accounts for key in keys):
            raise AccountChanged("an account to overwrite does not exist")
        self.accounts.update(zip(keys, accounts, strict=True))

    async def update(self, changes: list[tuple[Account, Account]]) -> None:
        for _, loaded in changes:
            stored = self.accounts.get((loaded.alliance_id, loaded.owner_id))
            if stored is None or (stored.version, stored.light) != (loaded.version, loaded.light):
                raise AccountChanged("an account changed while it was being booked")
        self.accounts.update(((account.alliance_id, account.owner_id), account) for account, _ in changes)

    async def all_of(self, alliance_id: str) -> list[Account]:
        return [a for (alliance, _), a in self.accounts.items() if alliance == alliance_id]

    async def all_of_many(self, alliance_ids: Collection[str]) -> dict[str, list[Account]]:
        return {alliance_id: await self.all_of(alliance_id) for alliance_id in alliance_ids}

    async def turning_inactive(self, now: datetime, limit: int) -> list[Account]:
        windows = self._windows()
        return [
            account
            for (alliance_id, owner_id), account in sorted(self.accounts.items())
            if (window := windows.get(alliance_id)) is not None
            and owner_id != ALLIANCE_ACCOUNT
            and account.light is Light.GREEN
            and (activity := account.last_given_at or account.opened_at) is not None
            and activity <= now - window
        ][:limit]


class FakeContributions(ContributionRepository):
    def __init__(self) -> None:
        self.contributions: dict[str, Contribution] = {}
        self.entries: list[Entry] = []

    async def get(self, contribution_id: str) -> Contribution | None:
        return self.contributions.get(contribution_id)

    async def get_many(self, contribution_ids: list[str]) -> dict[str, Contribution]:
        return {c: self.contributions[c] for c in contribution_ids if c in self.contributions}

    async def add(self, contributions: list[Contribution], entries: list[Entry]) -> None:
        # The keys the tables hold unique: a contribution's id, its place in the chain and what it reverses;
        # an entry's account version.
        stored = self.contributions.values()
        for key, known in (
            (lambda c: c.contribution_id, {c.contribution_id for c in stored}),
            (lambda c: (c.alliance_id, c.sequence), {(c.alliance_id, c.sequence) for c in stored}),
            (lambda c: c.reverses, {c.reverses for c in stored if c.reverses is not None}),
        ):
            keys = [key(c) for c in contributions if key(c) is not None]
            if taken := [k for k, n in Counter(keys).items() if n > 1 or k in known]:
                raise ConcurrentInsert(f"contributions {taken}")
        posted = {_entry_key(e) for e in self.entries}
        if taken := [k for k, n in Counter(map(_entry_key, entries)).items() if n > 1 or k in posted]:
            raise ConcurrentInsert(f"entries {taken}")
        self.contributions.update((c.contribution_id, c) for c in contributions)
        self.entries += entries

    async def reversal_of(self, contribution_id: str) -> str | None:
        return next((c.contribution_id for c in self.contributions.values() if c.reverses == contribution_id), None)

    async def of_alliance(self, alliance_id: str) -> list[Contribution]:
        return sorted(
            (c for c in self.contributions.values() if c.alliance_id == alliance_id), key=lambda c: c.sequence
        )

    async def entries_of(self, alliance_id: str) -> list[Entry]:
        return sorted((e for e in self.entries if e.alliance_id == alliance_id), key=_entry_key)

    async def chain_slice(self, alliance_id: str, after_sequence: int, limit: int | None) -> list[Contribution]:
        chain = [c for c in await self.of_alliance(alliance_id) if c.sequence > after_sequence]
        return chain if limit is None else chain[:limit]

    async def entries_for(self, alliance_id: str, first_sequence: int, last_sequence: int) -> list[Entry]:
        ids = {
            c.contribution_id
            for c in await self.of_alliance(alliance_id)
            if first_sequence <= c.sequence <= last_sequence
        }
        return [e for e in self.entries if e.alliance_id == alliance_id and e.contribution_id in ids]

    async def entries_past(self, alliance_id: str, versions: dict[str, int]) -> list[Entry]:
        return [
            e
            for e in self.entries
            if e.alliance_id == alliance_id and e.owner_id in versions and e.version > versions[e.owner_id]
        ]

    async def chain_tails(self, after: Mapping[str, int]) -> dict[str, list[Contribution]]:
        return {
            alliance_id: await self.chain_slice(alliance_id, sequence, None) for alliance_id, sequence in after.items()
        }

    async def entries_posted_for(self, chain: Sequence[Contribution]) -> dict[str, list[Entry]]:
        alliance_of = {c.contribution_id: c.alliance_id for c in chain}
        found: dict[str, list[Entry]] = {}
        for e in self.entries:
            if alliance_of.get(e.contribution_id) == e.alliance_id:
                found.setdefault(e.alliance_id, []).append(e)
        return found

    async def entries_past_many(self, versions: Mapping[str, Mapping[str, int]]) -> dict[str, list[Entry]]:
        return {alliance_id: await self.entries_past(alliance_id, dict(of)) for alliance_id, of in versions.items()}


def _entry_key(entry: Entry) -> tuple[str, str, int]:
    return entry.alliance_id, entry.owner_id, entry.version


class FakePending(PendingRepository):
    def __init__(self) -> None:
        self.held: dict[str, PendingContribution] = {}

    async def lock(self, contribution_id: str) -> PendingContribution | None:
        return self.held.get(contribution_id)

    async def read_many(self, contribution_ids: list[str]) -> dict[str, PendingContribution]:
        return {c: self.held[c] for c in contribution_ids if c in self.held}

    async def add(self, held: list[PendingContribution]) -> None:
        ids = [pending.contribution_id for pending in held]
        if taken := [i for i, n in Counter(ids).items() if n > 1 or i in self.held]:
            raise ConcurrentInsert(f"pending contributions {taken}")
        self.held.update(zip(ids, held, strict=True))

    async def decide(self, decided: list[PendingContribution]) -> None:
        for pending in decided:
            if pending.contribution_id in self.held:
                self.held[pending.contribution_id] = pending

    async def lock_due(self, now: datetime, limit: int) -> list[PendingContribution]:
        due = [p for p in self.held.values() if p.status is PendingStatus.PENDING and p.expires_at <= now]
        return sorted(due, key=lambda p: p.expires_at)[:limit]

    async def of_alliance(self, alliance_id: str, statuses: list[PendingStatus]) -> list[PendingContribution]:
        found = [p for p in self.held.values() if p.alliance_id == alliance_id and p.status in statuses]
        return sorted(found, key=lambda p: (p.submitted_at, p.contribution_id))


class FakePreparedEvents(PreparedEvents):
    def __init__(self) -> None:
        self.events: list[tuple[EventContract[Any], Any, str]] = []

    def emit(self, contract: EventContract[DataT], data: DataT | SerializedData, *, event_id: str | None = None) -> str:
        event_id = event_id or new_event_id()
        self.events.append((contract, data, event_id))
        return event_id


class FakeLedgerUnitOfWork(FakeUnitOfWorkMixin, IntakeUnitOfWork):
    """A transaction in memory: what the repositories held when it began comes back on rollback.

    Changes made outside ``async with`` count as committed (the fake has no other connection to make them on).
    """

    alliances: FakeBooks
    accounts: FakeAccounts
    contributions: FakeContributions
    pending: FakePending

    def __init__(self) -> None:
        super().__init__()
        self.alliances = FakeBooks()
        self.accounts = FakeAccounts(self.alliances)
        self.contributions = FakeContributions()
        self.pending = FakePending()
        self._began = self._state()

    async def __aenter__(self) -> Self:
        self._began = self._state()
        return self

    def emit(self, contract: EventContract[DataT], data: DataT | SerializedData, *, event_id: str | None = None) -> str:
        # Recorded as the contract's model whatever the emitter passed: tests look at the fields.
        model = contract.data.model_validate_json(data.json) if isinstance(data, SerializedData) else data
        return super().emit(contract, model, event_id=event_id)

    def event_buffer(self) -> FakePreparedEvents:
        return FakePreparedEvents()

    def adopt(self, events: PreparedEvents) -> None:
        if not isinstance(events, FakePreparedEvents):
            raise TypeError(f"{type(events).__name__} was not prepared by a fake unit of work")
        for contract, data, event_id in events.events:
            self.emit(contract, data, event_id=event_id)

    async def commit(self) -> None:
        await super().commit()
        self._began = self._state()

    async def rollback(self) -> None:
        await super().rollback()
        for repository, state in zip(self._repositories(), self._began, strict=True):
            vars(repository).update({name: copy.copy(held) for name, held in state.items()})

    def _repositories(self) -> list[object]:
        return [self.alliances, self.accounts, self.contributions, self.pending]

    def _state(self) -> list[dict[str, Any]]:
        # The records are immutable: copies of the containers that hold them are a snapshot.
        return [{name: copy.copy(held) for name, held in vars(r).items()} for r in self._repositories()]


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
        return await self._uow.alliances.read(alliance_id) is not None

    async def current_balance(self, alliance_id: str, member_id: str) -> tuple[Decimal, Account | None] | None:
        books = await self._uow.alliances.read(alliance_id)
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

    async def chain_length(self, alliance_id: str) -> int | None:
        books = await self._uow.alliances.read(alliance_id)
        return None if books is None else books.chain_length

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
        booked = await self._uow.contributions.of_alliance(alliance_id)
        return [f for f in flows_of(booked) if (kind is None or f.kind == kind) and f.value != 0]

    async def member_totals(self, alliance_id: str) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        given: dict[str, Decimal] = {}
        received: dict[str, Decimal] = {}
        for f in await self.flows(alliance_id):
            given[f.giver_id] = given.get(f.giver_id, Decimal("0.00")) + f.value
            received[f.receiver_id] = received.get(f.receiver_id, Decimal("0.00")) + f.value
        return given, received

    async def chain_slice(self, alliance_id: str, after_sequence: int, limit: int) -> list[Contribution]:
        return await self._uow.contributions.chain_slice(alliance_id, after_sequence, limit)

    async def chain_tails(self, after: Mapping[str, int]) -> dict[str, list[Contribution]]:
        return await self._uow.contributions.chain_tails(after)

    async def entries_posted_for(self, chain: Sequence[Contribution]) -> dict[str, list[Entry]]:
        return await self._uow.contributions.entries_posted_for(chain)

    async def entries_for(self, alliance_id: str, first_sequence: int, last_sequence: int) -> list[Entry]:
        return await self._uow.contributions.entries_for(alliance_id, first_sequence, last_sequence)


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
