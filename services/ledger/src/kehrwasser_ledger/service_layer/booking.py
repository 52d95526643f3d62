"""A booking session: post many contributions in one transaction with a handful of round trips.

Everything a batch needs (alliances, memberships, accounts, earlier contributions with the same ids) is
loaded up front in bulk; the postings then happen in memory, in order, and are written back in bulk. One
contribution on its own goes through the same path as a batch of thousands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from ..domain import model
from ..domain.errors import ContributionConflict, LedgerError, UnknownAlliance
from .unit_of_work import LedgerUnitOfWork


@dataclass(frozen=True)
class Submission:
    contribution_id: str
    alliance_id: str
    giver_id: str
    receiver_id: str
    kind: str
    value: Decimal
    note: str


@dataclass(frozen=True)
class Outcome:
    status: str  # created, exists or rejected
    contribution: model.Contribution | None = None
    error: LedgerError | None = None


@dataclass
class BookingSession:
    books: dict[str, model.AllianceBooks]
    members: set[tuple[str, str]]
    accounts: dict[tuple[str, str], model.Account]
    existing: dict[str, model.Contribution]
    new_accounts: set[tuple[str, str]] = field(default_factory=set)
    loaded_versions: dict[tuple[str, str], int] = field(default_factory=dict)
    postings: list[model.Posting] = field(default_factory=list)

    @classmethod
    async def open(cls, uow: LedgerUnitOfWork, submissions: list[Submission]) -> BookingSession:
        parties = {(s.alliance_id, p) for s in submissions for p in (s.giver_id, s.receiver_id)}
        books = await uow.alliances.get_many(sorted({s.alliance_id for s in submissions}))
        return cls(
            books=books,
            members=await uow.alliances.memberships(parties),
            accounts=await uow.accounts.get_pairs(parties),
            existing=await uow.contributions.get_many([s.contribution_id for s in submissions]),
        )

    def submit(self, submission: Submission, now: datetime) -> Outcome:
        try:
            value = model.check_value(submission.value)
            model.check_kind(submission.kind)
            existing = self.existing.get(submission.contribution_id)
            if existing is not None:
                return Outcome("exists", _same_or_conflict(existing, submission, value))
            books = self._books(submission.alliance_id)
            members = {
                p for p in (submission.giver_id, submission.receiver_id) if (submission.alliance_id, p) in self.members
            }
            model.check_parties(submission.alliance_id, members, submission.giver_id, submission.receiver_id)
        except LedgerError as error:
            return Outcome("rejected", error=error)
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
        return Outcome("created", contribution)

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
        giver, receiver = self._account(books.alliance_id, giver_id), self._account(books.alliance_id, receiver_id)
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
                self.loaded_versions.setdefault(key, self.accounts[key].version)
            self.accounts[key] = account
        self.books[books.alliance_id] = model.AllianceBooks(
            books.alliance_id, books.policy, books.moderators, posting.contribution.sequence, posting.contribution.hash
        )
        self.existing[contribution_id] = posting.contribution
        self.postings.append(posting)
        return posting.contribution

    async def write(self, uow: LedgerUnitOfWork) -> None:
        if not self.postings:
            return
        await uow.accounts.save([self.accounts[k] for k in sorted(self.new_accounts)], new=True)
        await uow.accounts.update([(self.accounts[k], v) for k, v in sorted(self.loaded_versions.items())])
        await uow.contributions.add(
            [p.contribution for p in self.postings], [e for p in self.postings for e in p.entries]
        )
        touched = {p.contribution.alliance_id for p in self.postings}
        await uow.alliances.advance_chains({a: (self.books[a].chain_length, self.books[a].chain_head) for a in touched})

    def _books(self, alliance_id: str) -> model.AllianceBooks:
        books = self.books.get(alliance_id)
        if books is None:
            raise UnknownAlliance(alliance_id)
        return books

    def _account(self, alliance_id: str, owner_id: str) -> model.Account:
        key = (alliance_id, owner_id)
        if key not in self.accounts:
            # A member's account opens with their first contribution (and at joining).
            self.accounts[key] = model.Account(alliance_id, owner_id)
            self.new_accounts.add(key)
        return self.accounts[key]


def _same_or_conflict(existing: model.Contribution, submission: Submission, value: Decimal) -> model.Contribution:
    differences = model.differences(
        existing,
        alliance_id=submission.alliance_id,
        giver_id=submission.giver_id,
        receiver_id=submission.receiver_id,
        kind=submission.kind,
        value=value,
        note=submission.note,
        reverses=None,
    )
    if differences:
        raise ContributionConflict(submission.contribution_id, differences)
    return existing
