"""A booking session: post many contributions in one transaction with a handful of round trips.

Everything a batch needs (alliances, memberships, accounts, earlier contributions with the same ids) is
loaded up front in bulk; the postings then happen in memory, in order, and are written back in bulk. One
contribution on its own goes through the same path as a batch of thousands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, TypeVar

from ..domain import confirmation, model
from ..domain.confirmation import PendingContribution
from ..domain.errors import AllianceArchived, ContributionConflict, LedgerError, UnknownAlliance
from .unit_of_work import LedgerUnitOfWork

T = TypeVar("T", model.Contribution, PendingContribution)


# Submission and Outcome are NamedTuples for the reason the model's types are (see `model`): one of each per
# contribution booked.
class Submission(NamedTuple):
    """A contribution as submitted: the fields of `RecordContribution`, which `confirmation.hold` takes and a
    `PendingContribution` keeps under the same names."""

    contribution_id: str
    alliance_id: str
    giver_id: str
    receiver_id: str
    kind: str
    value: Decimal
    note: str
    recorded_by: str | None = None  # the giver when not given

    @property
    def recorder(self) -> str:
        return self.recorded_by or self.giver_id


class Booked(StrEnum):
    """What became of a submission."""

    CREATED = "created"
    EXISTS = "exists"  # the same id with the same terms was booked before: the earlier record answers
    PENDING = "pending"  # waits for the receiver's confirmation (or did already: a retry of it)
    REJECTED = "rejected"
    DEFERRED = "deferred"  # names an alliance or member not known yet: to be submitted again later


class Outcome(NamedTuple):
    status: Booked
    contribution: model.Contribution | None = None
    pending: PendingContribution | None = None
    error: LedgerError | None = None


class StaleBooks(Exception):
    """An alliance is no longer as the booking found it: its state came from known books that went stale."""


@dataclass
class KnownBooks:
    """What the intake has learned of the books from the batches it prepared, so that the next batch need
    not read it again: alliances, accounts and memberships, as the last prepared batch leaves them.

    Not authoritative: another writer (a command, the maintenance, another ledger process) may have changed
    the database since. A batch booked on known books is therefore confirmed at commit (`confirm` and the
    accounts' version predicate), and falls back to a booking from the database if it cannot be.
    """

    books: dict[str, model.AllianceBooks] = field(default_factory=dict)
    accounts: dict[tuple[str, str], model.Account] = field(default_factory=dict)
    members: set[tuple[str, str]] = field(default_factory=set)

    def learn(self, session: BookingSession, max_accounts: int) -> None:
        if len(self.accounts) + len(session.accounts) > max_accounts:
            self.clear()  # simpler than evicting by use, and rare: the working set outgrew the bound
        self.books.update(session.books)
        self.accounts.update(session.accounts)
        self.members |= session.members

    def clear(self) -> None:
        self.books.clear()
        self.accounts.clear()
        self.members.clear()


@dataclass
class BookingSession:
    books: dict[str, model.AllianceBooks]
    members: set[tuple[str, str]]
    accounts: dict[tuple[str, str], model.Account]
    existing: dict[str, model.Contribution]
    pending: dict[str, PendingContribution]
    base_books: dict[str, model.AllianceBooks] = field(default_factory=dict)
    new_pending: list[PendingContribution] = field(default_factory=list)
    new_accounts: set[tuple[str, str]] = field(default_factory=set)
    loaded: dict[tuple[str, str], model.Account] = field(default_factory=dict)
    postings: list[model.Posting] = field(default_factory=list)

    @classmethod
    async def open(
        cls,
        uow: LedgerUnitOfWork,
        submissions: list[Submission],
        known: KnownBooks | None = None,
        in_flight: BookingSession | None = None,
    ) -> BookingSession:
        """Load what the batch needs. Without ``known``, everything from the database, holding the alliances
        until commit. With it, only what it lacks, without holding anything: `confirm` checks at commit.

        ``in_flight`` is the batch committing meanwhile: what it books counts as booked already.
        """
        parties = {(s.alliance_id, p) for s in submissions for p in (s.giver_id, s.receiver_id)}
        alliance_ids = sorted({s.alliance_id for s in submissions})
        if known is None:
            books = await uow.alliances.lock_many(alliance_ids)
            members = await uow.alliances.memberships(parties)
            accounts = await uow.accounts.get_pairs(parties)
        else:
            books = {a: known.books[a] for a in alliance_ids if a in known.books}
            if missing := [a for a in alliance_ids if a not in books]:
                books.update(await uow.alliances.read_many(missing))
            members = parties & known.members
            if strangers := parties - members:
                members |= await uow.alliances.memberships(strangers)
            accounts = {p: known.accounts[p] for p in parties if p in known.accounts}
            if unread := parties - accounts.keys():
                accounts.update(await uow.accounts.get_pairs(unread))
        ids = [s.contribution_id for s in submissions]
        existing = await uow.contributions.get_many(ids)
        pending = await uow.pending.read_many(ids)
        if in_flight is not None:
            existing.update((p.contribution.contribution_id, p.contribution) for p in in_flight.postings)
            pending.update((held.contribution_id, held) for held in in_flight.new_pending)
        return cls(
            books=books, members=members, accounts=accounts, existing=existing, pending=pending, base_books=dict(books)
        )

    async def confirm(self, uow: LedgerUnitOfWork) -> None:
        """Hold the batch's alliances until commit and check that they are as the booking found them."""
        if await uow.alliances.lock_many(sorted(self.base_books)) != self.base_books:
            raise StaleBooks(sorted(self.base_books))

    def submit(self, submission: Submission, now: datetime) -> Outcome:
        """Post, hold for confirmation, answer with the earlier result of the same id, or reject."""
        try:
            value = model.check_value(submission.value)
            model.check_kind(submission.kind)
            existing = self.existing.get(submission.contribution_id)
            if existing is not None:
                return Outcome(Booked.EXISTS, _same_or_conflict(existing, submission, value))
            held = self.pending.get(submission.contribution_id)
            if held is not None:
                return Outcome(Booked.PENDING, pending=_same_or_conflict(held, submission, value))
            books = self._books(submission.alliance_id)
            if books.archived:
                raise AllianceArchived(books.alliance_id)
            members = {
                p for p in (submission.giver_id, submission.receiver_id) if (submission.alliance_id, p) in self.members
            }
            model.check_parties(submission.alliance_id, members, submission.giver_id, submission.receiver_id)
            confirmation.check_recorder(
                books.moderators, submission.giver_id, submission.receiver_id, submission.recorder
            )
            if confirmation.needs_confirmation(
                books.policy, books.moderators, submission.giver_id, submission.recorder
            ):
                return Outcome(Booked.PENDING, pending=self._hold(books, submission, value, now))
            contribution = self.post(
                books,
                submission.contribution_id,
                submission.giver_id,
                submission.receiver_id,
                submission.kind,
                value,
                submission.note,
                now,
            )
        except LedgerError as error:
            # Without its traceback: the frames in it would keep this whole session alive with the outcome.
            return Outcome(Booked.REJECTED, error=error.with_traceback(None))
        return Outcome(Booked.CREATED, contribution)

    def _hold(
        self, books: model.AllianceBooks, submission: Submission, value: Decimal, now: datetime
    ) -> PendingContribution:
        requested = submission._replace(value=value, recorded_by=submission.recorder)
        held = confirmation.hold(books.policy, **requested._asdict(), now=now)
        self.pending[held.contribution_id] = held
        self.new_pending.append(held)
        return held

    def post(
        self,
        books: model.AllianceBooks,
        contribution_id: str,
        giver_id: str,
        receiver_id: str,
        kind: str,
        value: Decimal,
        note: str,
        now: datetime,
        reverses: str | None = None,
    ) -> model.Contribution:
        giver = self._account(books.alliance_id, giver_id, now)
        receiver = self._account(books.alliance_id, receiver_id, now)
        posting = model.post(
            policy=books.policy,
            giver=giver,
            receiver=receiver,
            contribution_id=contribution_id,
            kind=kind,
            value=value,
            note=note,
            recorded_at=now,
            sequence=books.chain_length + 1,
            prev_hash=books.chain_head,
            reverses=reverses,
        )
        for account in posting.accounts:
            key = (account.alliance_id, account.owner_id)
            if key not in self.new_accounts:
                self.loaded.setdefault(key, self.accounts[key])
            self.accounts[key] = account
        self.books[books.alliance_id] = books._replace(
            chain_length=posting.contribution.sequence, chain_head=posting.contribution.hash
        )
        self.existing[contribution_id] = posting.contribution
        self.postings.append(posting)
        return posting.contribution

    async def write(self, uow: LedgerUnitOfWork) -> None:
        await uow.pending.add(self.new_pending)
        if not self.postings:
            return
        # No order needed: the alliances' locks, taken in order, already keep other writers off these accounts.
        await uow.accounts.save([self.accounts[k] for k in self.new_accounts], new=True)
        await uow.contributions.add(
            [p.contribution for p in self.postings], [e for p in self.postings for e in p.entries]
        )
        await uow.accounts.update([(self.accounts[k], loaded) for k, loaded in self.loaded.items()])
        touched = {p.contribution.alliance_id for p in self.postings}
        await uow.alliances.advance_chains({a: (self.books[a].chain_length, self.books[a].chain_head) for a in touched})

    def _books(self, alliance_id: str) -> model.AllianceBooks:
        books = self.books.get(alliance_id)
        if books is None:
            raise UnknownAlliance(alliance_id)
        return books

    def _account(self, alliance_id: str, owner_id: str, now: datetime) -> model.Account:
        key = (alliance_id, owner_id)
        if key not in self.accounts:
            # A member's account opens at joining, or else with their first contribution.
            self.accounts[key] = model.Account(alliance_id, owner_id, opened_at=now)
            self.new_accounts.add(key)
        return self.accounts[key]


def _same_or_conflict(existing: T, submission: Submission, value: Decimal) -> T:
    """The earlier record of this id if the retry asks for the same thing; a conflict otherwise.

    A pending contribution also keeps who recorded it; a posted one must not be a reversal.
    """
    if isinstance(existing, PendingContribution):
        requested = submission._replace(value=value, recorded_by=submission.recorder)
        differences = model.differences(existing, requested, (*model.TERMS, "recorded_by"))
    else:
        differences = model.differences(existing, submission._replace(value=value), model.TERMS)
        if existing.reverses is not None:
            differences.append("reverses")
    if differences:
        raise ContributionConflict(submission.contribution_id, differences)
    return existing
