"""Double-entry books of contribution: accounts, immutable entries, hash-chained contributions.

A member's balance in an alliance is what they gave minus what they received. Every contribution moves
``value`` from the receiver's side to the giver's side of the same alliance, so the balances of an alliance
(the alliance's own account included) always sum to zero.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

import orjson

from .errors import InvalidContribution, NotAMember
from .policy import BalancePolicy, Light, check_may_take

ALLIANCE_ACCOUNT = "alliance"
"""The owner id of the alliance's own account, a receiver like any member (the contracts name it too)."""
CENT = Decimal("0.01")
GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of an alliance's first contribution."""
KINDS = ("advice", "introduction", "referral", "resource", "knowledge", "hosting", "attendance")
TERMS = ("alliance_id", "giver_id", "receiver_id", "kind", "value", "note")
"""What a contribution asks for: a retry under its id asks for the same, or conflicts (`differences`)."""


# Account, Entry, Contribution, Posting and AllianceBooks are NamedTuples rather than frozen dataclasses: just
# as immutable, and built four times faster (a frozen dataclass sets each field through object.__setattr__). The intake
# builds several of them per contribution, thousands per batch.


class Account(NamedTuple):
    alliance_id: str
    owner_id: str
    balance: Decimal = Decimal("0.00")
    given: Decimal = Decimal("0.00")
    received: Decimal = Decimal("0.00")
    version: int = 0
    light: Light = Light.GREEN
    opened_at: datetime | None = None
    last_given_at: datetime | None = None


class Entry(NamedTuple):
    """One side of a contribution on one account; ``version`` is gapless per account."""

    alliance_id: str
    owner_id: str
    version: int
    contribution_id: str
    amount: Decimal
    balance_before: Decimal
    balance_after: Decimal


class Contribution(NamedTuple):
    contribution_id: str
    alliance_id: str
    giver_id: str
    receiver_id: str
    kind: str
    value: Decimal
    note: str
    recorded_at: datetime
    sequence: int
    prev_hash: str
    hash: str
    giver_balance: Decimal
    receiver_balance: Decimal
    reverses: str | None = None

    @property
    def sign(self) -> int:
        """+1 for a contribution, -1 for a reversal: a reversal undoes the original on the same accounts."""
        return -1 if self.reverses else 1


class LightReason(StrEnum):
    """Why a light is not green."""

    BALANCE = "balance"
    INACTIVITY = "inactivity"  # nothing given within the window is all that is wrong


@dataclass(frozen=True)
class LightChange:
    """A member's traffic light changed: a warning when it worsened, a recovery when it improved."""

    owner_id: str
    before: Light
    after: Light
    balance: Decimal
    reason: LightReason
    threshold: Decimal | None = None  # the threshold of the new light, for a balance that fell below one

    @property
    def worsened(self) -> bool:
        return self.after.severity > self.before.severity


class Posting(NamedTuple):
    contribution: Contribution
    entries: tuple[Entry, Entry]
    accounts: tuple[Account, Account]
    signals: tuple[LightChange, ...]


def check_value(value: Decimal) -> Decimal:
    if value <= 0:
        raise InvalidContribution("a contribution's value must be positive")
    quantized = value.quantize(CENT)
    if quantized != value:
        raise InvalidContribution("values have at most two decimal places")
    return quantized


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidContribution(f"kind must be one of {', '.join(KINDS)}")


def check_parties(alliance_id: str, members: set[str], giver_id: str, receiver_id: str) -> None:
    if giver_id == receiver_id:
        raise InvalidContribution("giver and receiver must differ")
    if giver_id == ALLIANCE_ACCOUNT:
        raise InvalidContribution("the alliance itself is never the giver; record who gave on its behalf")
    for party in (giver_id, receiver_id):
        if party != ALLIANCE_ACCOUNT and party not in members:
            raise NotAMember(party, alliance_id)


@lru_cache(maxsize=64)  # a batch books thousands of contributions at one moment
def canonical_time(moment: datetime) -> str:
    """UTC with microseconds: the same text whichever database stored the time (SQLite drops the zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_hash(
    *,
    prev_hash: str,
    contribution_id: str,
    alliance_id: str,
    sequence: int,
    giver_id: str,
    receiver_id: str,
    kind: str,
    value: Decimal,
    note: str,
    recorded_at: datetime,
    reverses: str | None,
) -> str:
    # Compact JSON in UTF-8, byte for byte what json.dumps(separators=(",", ":"), ensure_ascii=False) writes
    # (which earlier books were hashed with), at a tenth of the cost.
    canonical = orjson.dumps(
        [
            prev_hash,
            contribution_id,
            alliance_id,
            sequence,
            giver_id,
            receiver_id,
            kind,
            str(value.quantize(CENT)),
            note,
            canonical_time(recorded_at),
            reverses,
        ]
    )
    return hashlib.sha256(canonical).hexdigest()


def post(
    *,
    policy: BalancePolicy,
    giver: Account,
    receiver: Account,
    contribution_id: str,
    kind: str,
    value: Decimal,
    note: str,
    recorded_at: datetime,
    sequence: int,
    prev_hash: str,
    reverses: str | None = None,
) -> Posting:
    """Post a contribution (or, with ``reverses``, its reversal) to the two accounts.

    Raises `TakingRefused` when the policy refuses the receiver more; a reversal is never refused.
    """
    sign = -1 if reverses else 1
    giver_after, giver_entry = _apply(
        giver, contribution_id, sign * value, gave=True, at=recorded_at, reversal=bool(reverses)
    )
    receiver_after, receiver_entry = _apply(
        receiver, contribution_id, -sign * value, gave=False, at=recorded_at, reversal=bool(reverses)
    )
    if not reverses and receiver.owner_id != ALLIANCE_ACCOUNT:
        check_may_take(
            policy,
            balance_after=receiver_after.balance,
            given=receiver_after.given,
            received_after=receiver_after.received,
        )
    giver_after, giver_signal = watch(policy, giver_after, recorded_at)
    receiver_after, receiver_signal = watch(policy, receiver_after, recorded_at)
    digest = chain_hash(
        prev_hash=prev_hash,
        contribution_id=contribution_id,
        alliance_id=giver.alliance_id,
        sequence=sequence,
        giver_id=giver.owner_id,
        receiver_id=receiver.owner_id,
        kind=kind,
        value=value,
        note=note,
        recorded_at=recorded_at,
        reverses=reverses,
    )
    contribution = Contribution(
        contribution_id=contribution_id,
        alliance_id=giver.alliance_id,
        giver_id=giver.owner_id,
        receiver_id=receiver.owner_id,
        kind=kind,
        value=value,
        note=note,
        recorded_at=recorded_at,
        sequence=sequence,
        prev_hash=prev_hash,
        hash=digest,
        giver_balance=giver_after.balance,
        receiver_balance=receiver_after.balance,
        reverses=reverses,
    )
    signals = tuple(s for s in (giver_signal, receiver_signal) if s is not None)
    return Posting(contribution, (giver_entry, receiver_entry), (giver_after, receiver_after), signals)


def _apply(
    account: Account, contribution_id: str, amount: Decimal, *, gave: bool, at: datetime, reversal: bool
) -> tuple[Account, Entry]:
    # A reversal posts the opposite amount, which also takes the value back out of given/received; it is not
    # an act of giving, so it leaves the time of the last gift alone.
    magnitude = amount if gave else -amount
    after = Account(
        alliance_id=account.alliance_id,
        owner_id=account.owner_id,
        balance=account.balance + amount,
        given=account.given + magnitude if gave else account.given,
        received=account.received + magnitude if not gave else account.received,
        version=account.version + 1,
        light=account.light,
        opened_at=account.opened_at,
        last_given_at=at if gave and not reversal else account.last_given_at,
    )
    entry = Entry(
        alliance_id=account.alliance_id,
        owner_id=account.owner_id,
        version=after.version,
        contribution_id=contribution_id,
        amount=amount,
        balance_before=account.balance,
        balance_after=after.balance,
    )
    return after, entry


def watch(policy: BalancePolicy, account: Account, now: datetime) -> tuple[Account, LightChange | None]:
    """The account with its light brought up to date, and the change if there was one (once per crossing)."""
    if account.owner_id == ALLIANCE_ACCOUNT:
        return account, None
    inactive = policy.is_inactive(account.opened_at, account.last_given_at, now)
    light = policy.next_light(account.light, account.balance, inactive)
    if light is account.light:
        return account, None
    only_inactive = light is Light.YELLOW and policy.light_for(account.balance, False) is Light.GREEN
    reason = LightReason.INACTIVITY if only_inactive else LightReason.BALANCE
    change = LightChange(account.owner_id, account.light, light, account.balance, reason, policy.threshold_of(light))
    return account._replace(light=light), change


def differences(existing: object, requested: object, names: Iterable[str] = TERMS) -> list[str]:
    """Fields of a retried request that differ from the stored record (posted or pending) with the same id."""
    return [name for name in names if getattr(existing, name) != getattr(requested, name)]


class AllianceBooks(NamedTuple):
    """The ledger's view of an alliance: its policy, moderators and the head of its hash chain."""

    alliance_id: str
    policy: BalancePolicy
    moderators: frozenset[str]
    chain_length: int
    chain_head: str
    archived: bool = False
    departures: int = 0
    """How many memberships ended (left or removed): a batch booked on books that counted fewer may name a
    member who is gone, so it is booked again (the intake compares whole books at commit)."""
