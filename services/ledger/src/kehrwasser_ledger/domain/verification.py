"""Recompute the books from the entries: the hash chain, per-account versions and balances, the zero sum.

The entries table has no foreign keys (their row-by-row checks cost the intake more than half of its
largest statement), so this check also proves what they would have guarded, and more: every contribution
has exactly its two entries, the giver's and the receiver's, with its value and the balances it recorded,
and every entry belongs to a contribution and an account of this alliance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from .model import GENESIS_HASH, Account, Contribution, Entry, chain_hash


def verify_alliance(
    alliance_id: str,
    contributions: Iterable[Contribution],
    entries: Iterable[Entry],
    accounts: Iterable[Account],
) -> list[str]:
    """Every difference between the stored books and their recomputation, as readable sentences."""
    chain = sorted(contributions, key=lambda c: c.sequence)
    posted, held = list(entries), list(accounts)
    return (
        _chain_problems(alliance_id, chain)
        + _pairing_problems(alliance_id, chain, posted, {a.owner_id for a in held})
        + _balance_problems(alliance_id, posted, held)
    )


def _chain_problems(alliance_id: str, contributions: list[Contribution]) -> list[str]:
    problems: list[str] = []
    previous = GENESIS_HASH
    for expected_sequence, contribution in enumerate(contributions, start=1):
        if contribution.sequence != expected_sequence:
            problems.append(
                f"{alliance_id}: contribution sequence {contribution.sequence}, expected {expected_sequence}"
            )
        if contribution.prev_hash != previous:
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
            problems.append(f"{alliance_id}: contribution {contribution.contribution_id} was altered (hash mismatch)")
        previous = contribution.hash
    return problems


def _pairing_problems(
    alliance_id: str, contributions: list[Contribution], entries: list[Entry], account_owners: set[str]
) -> list[str]:
    """Each contribution posts value to its giver and takes it from its receiver (a reversal the other way)."""
    problems: list[str] = []
    by_contribution: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_contribution[entry.contribution_id].append(entry)
        if entry.owner_id not in account_owners:
            problems.append(f"{alliance_id}/{entry.owner_id}: entry {entry.version} has no account")
    for contribution in contributions:
        posted = by_contribution.pop(contribution.contribution_id, [])
        amount = -contribution.value if contribution.reverses else contribution.value
        expected = {
            (contribution.giver_id, amount, contribution.giver_balance),
            (contribution.receiver_id, -amount, contribution.receiver_balance),
        }
        if len(posted) != 2 or {(e.owner_id, e.amount, e.balance_after) for e in posted} != expected:
            problems.append(
                f"{alliance_id}: contribution {contribution.contribution_id} is not posted as its two entries"
            )
    for contribution_id in sorted(by_contribution):
        problems.append(f"{alliance_id}: entries for {contribution_id}, which is no contribution of this alliance")
    return problems


def _balance_problems(alliance_id: str, entries: list[Entry], accounts: list[Account]) -> list[str]:
    problems: list[str] = []
    by_account: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_account[entry.owner_id].append(entry)
    recomputed_balances: dict[str, Decimal] = {}
    for owner, owner_entries in by_account.items():
        balance = Decimal("0.00")
        for expected_version, entry in enumerate(sorted(owner_entries, key=lambda e: e.version), start=1):
            if entry.version != expected_version:
                problems.append(f"{alliance_id}/{owner}: entry version {entry.version}, expected {expected_version}")
            if entry.balance_before != balance or entry.balance_after != balance + entry.amount:
                problems.append(f"{alliance_id}/{owner}: entry {entry.version} does not continue the balance")
            balance += entry.amount
        recomputed_balances[owner] = balance

    total = Decimal("0.00")
    for account in accounts:
        total += account.balance
        from_entries = recomputed_balances.get(account.owner_id, Decimal("0.00"))
        if account.balance != from_entries:
            problems.append(
                f"{alliance_id}/{account.owner_id}: stored balance {account.balance}, entries give {from_entries}"
            )
    if total != 0:
        problems.append(f"{alliance_id}: balances sum to {total}, not zero")
    return problems
