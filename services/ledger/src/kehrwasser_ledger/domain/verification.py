"""Recompute the books from the entries: the hash chain, per-account versions and balances, the zero sum.

The entries table has no foreign keys (their row-by-row checks cost the intake more than half of its
largest statement), so this check also proves what they would have guarded, and more: every contribution
has exactly its two entries, the giver's and the receiver's, with its value and the balances it recorded,
and every entry belongs to a contribution and an account of this alliance.

A `ChainWalk` checks an alliance's books a slice at a time, from a `Checkpoint`: genesis for a full check, or
the point an earlier walk verified (sequence, chain head, every account's version and balance there), so a
routine check reads only what was booked after it. What lies before a checkpoint is trusted; a full walk
rechecks it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from .model import GENESIS_HASH, Account, Contribution, Entry, chain_hash

ZERO = Decimal("0.00")


class AccountMark(NamedTuple):
    """An account as its entries leave it at a checkpoint."""

    version: int = 0
    balance: Decimal = ZERO


@dataclass(frozen=True)
class Checkpoint:
    """How far an alliance's books are verified: its first ``sequence`` contributions, ending in ``chain_head``."""

    alliance_id: str
    sequence: int = 0
    chain_head: str = GENESIS_HASH
    accounts: Mapping[str, AccountMark] = field(default_factory=dict)

    @property
    def is_genesis(self) -> bool:
        return self.sequence == 0


class ChainWalk:
    """Checks an alliance's contributions in chain order, slice after slice, from a checkpoint on."""

    def __init__(self, start: Checkpoint) -> None:
        self.alliance_id = start.alliance_id
        self.sequence = start.sequence
        self.head = start.chain_head
        self.marks: dict[str, AccountMark] = dict(start.accounts)
        self.contributions = 0
        self.entries = 0

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.alliance_id, self.sequence, self.head, dict(self.marks))

    def check(self, contributions: Sequence[Contribution], entries: Iterable[Entry]) -> list[str]:
        """The next contributions (in chain order) and the entries posted for them."""
        posted = list(entries)
        problems = self._chain(contributions) + self._pairing(contributions, posted) + self._continuity(posted)
        self.contributions += len(contributions)
        self.entries += len(posted)
        return problems

    def finish(self, accounts: Iterable[Account], unwalked: Iterable[Entry] = ()) -> list[str]:
        """After the last contribution: the stored accounts hold what the entries give, every entry's owner has
        an account, no entry lies past the walk (``unwalked``: entries of the accounts after the versions
        walked, which no contribution posted), and the balances sum to zero."""
        problems = [
            f"{self.alliance_id}/{e.owner_id}: entry {e.version} belongs to no contribution of this alliance"
            for e in unwalked
        ]
        held = list(accounts)
        owners = {account.owner_id for account in held}
        problems += [
            f"{self.alliance_id}/{owner}: entry {mark.version} has no account"
            for owner, mark in sorted(self.marks.items())
            if owner not in owners
        ]
        total = ZERO
        for account in held:
            total += account.balance
            walked = self.marks.get(account.owner_id, AccountMark()).balance
            if account.balance != walked:
                problems.append(
                    f"{self.alliance_id}/{account.owner_id}: stored balance {account.balance}, entries give {walked}"
                )
        if total != 0:
            problems.append(f"{self.alliance_id}: balances sum to {total}, not zero")
        return problems

    def _chain(self, contributions: Sequence[Contribution]) -> list[str]:
        problems: list[str] = []
        alliance_id = self.alliance_id
        for contribution in contributions:
            expected_sequence = self.sequence + 1
            if contribution.sequence != expected_sequence:
                problems.append(
                    f"{alliance_id}: contribution sequence {contribution.sequence}, expected {expected_sequence}"
                )
            if contribution.prev_hash != self.head:
                problems.append(
                    f"{alliance_id}: contribution {contribution.contribution_id} does not link to its predecessor"
                )
            recomputed = chain_hash(
                prev_hash=contribution.prev_hash,
                contribution_id=contribution.contribution_id,
                alliance_id=contribution.alliance_id,
                sequence=contribution.sequence,
                giver_id=contribution.giver_id,
                receiver_id=contribution.receiver_id,
                kind=contribution.kind,
                value=contribution.value,
                note=contribution.note,
                recorded_at=contribution.recorded_at,
                reverses=contribution.reverses,
            )
            if recomputed != contribution.hash:
                problems.append(
                    f"{alliance_id}: contribution {contribution.contribution_id} was altered (hash mismatch)"
                )
            self.sequence = expected_sequence
            self.head = contribution.hash
        return problems

    def _pairing(self, contributions: Sequence[Contribution], entries: list[Entry]) -> list[str]:
        """Each contribution posts value to its giver and takes it from its receiver (a reversal the other way)."""
        problems: list[str] = []
        by_contribution: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            by_contribution[entry.contribution_id].append(entry)
        for contribution in contributions:
            posted = by_contribution.pop(contribution.contribution_id, [])
            amount = -contribution.value if contribution.reverses else contribution.value
            expected = {
                (contribution.giver_id, amount, contribution.giver_balance),
                (contribution.receiver_id, -amount, contribution.receiver_balance),
            }
            if len(posted) != 2 or {(e.owner_id, e.amount, e.balance_after) for e in posted} != expected:
                problems.append(
                    f"{self.alliance_id}: contribution {contribution.contribution_id} is not posted as its two entries"
                )
        for contribution_id in sorted(by_contribution):
            problems.append(
                f"{self.alliance_id}: entries for {contribution_id}, which is no contribution of this alliance"
            )
        return problems

    def _continuity(self, entries: list[Entry]) -> list[str]:
        """Each account's entries continue its versions and balance from where the walk left it."""
        problems: list[str] = []
        for entry in sorted(entries, key=lambda e: (e.owner_id, e.version)):
            owner = entry.owner_id
            version, balance = self.marks.get(owner, AccountMark())
            if entry.version != version + 1:
                problems.append(f"{self.alliance_id}/{owner}: entry version {entry.version}, expected {version + 1}")
            if entry.balance_before != balance or entry.balance_after != balance + entry.amount:
                problems.append(f"{self.alliance_id}/{owner}: entry {entry.version} does not continue the balance")
            self.marks[owner] = AccountMark(version + 1, balance + entry.amount)
        return problems


def verify_alliance(
    alliance_id: str,
    contributions: Iterable[Contribution],
    entries: Iterable[Entry],
    accounts: Iterable[Account],
) -> list[str]:
    """Every difference between an alliance's whole stored books and their recomputation from genesis, as
    readable sentences (the walk in one slice)."""
    walk = ChainWalk(Checkpoint(alliance_id))
    problems = walk.check(sorted(contributions, key=lambda c: c.sequence), entries)
    return problems + walk.finish(accounts)
