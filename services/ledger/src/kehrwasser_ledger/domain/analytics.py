"""Reciprocity analytics of an alliance: who gave to whom, one-way flows, and how evenly giving is spread.

Everything here works on flows already aggregated by (giver, receiver, kind) and net of reversals: a reversal
carries the same giver, receiver and kind as the contribution it undoes and counts negatively, so a fully
reversed contribution leaves nothing behind.

Definitions (the numbers the alliance-health event and the flow-matrix reply carry):

* A member's *given* is the net value they gave to anyone in the alliance, the alliance itself included;
  their *received* is the net value other members gave to them.
* A **one-way flow** is a member who received value from other members but gave back less than
  ``ONE_WAY_FLOOR`` (a tenth) of it. "Received referrals, never gave" is the sharpest case and is always
  caught (given 0 < a tenth of anything positive); the referral value is reported with each finding because
  that is the pattern of someone who joined only to sell.
* The **Gini coefficient of giving** is taken over all members of the alliance, members who gave nothing
  counting as 0: 0 when everyone gave the same, approaching 1 when one member gave everything. It is 0 when
  nobody gave anything (no inequality to measure; ``active_givers`` = 0 tells that case apart). It is
  truncated (never rounded up) to four places, so it stays below 1 as the exact value does.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any

from .model import ALLIANCE_ACCOUNT, Contribution

ZERO = Decimal("0.00")
ONE_WAY_FLOOR = Decimal("0.10")
GINI_PLACES = Decimal("0.0001")
REFERRAL = "referral"


@dataclass(frozen=True)
class Flow:
    """Net value (and net number of contributions) one giver gave one receiver in one kind."""

    giver_id: str
    receiver_id: str
    kind: str
    value: Decimal
    contributions: int
    alliance_id: str = field(default="", compare=False)  # a matrix is one alliance's; a batch's deltas are not


@dataclass(frozen=True)
class FlowMatrix:
    """Who gave to whom, by kind, with each member's totals; cells that reversals emptied are left out."""

    flows: tuple[Flow, ...]
    given: dict[str, Decimal]
    received: dict[str, Decimal]

    @property
    def total(self) -> Decimal:
        return sum((flow.value for flow in self.flows), ZERO)

    @property
    def contributions(self) -> int:
        return sum(flow.contributions for flow in self.flows)


@dataclass(frozen=True)
class OneWayFlow:
    member_id: str
    received: Decimal
    given: Decimal
    referrals_received: Decimal
    sources: int
    """How many distinct members gave to this member."""


@dataclass(frozen=True)
class AllianceHealth:
    members: int
    active_givers: int
    total_given: Decimal
    gini: Decimal
    one_way: tuple[str, ...]
    """The members that are one-way flows, largest takers first."""


def flows_of(contributions: Iterable[Contribution]) -> list[Flow]:
    """The contributions aggregated per (alliance, giver, receiver, kind), a reversal counting against its
    original: what the maintained flows change by when these are booked, and, over a whole history, what
    they hold. Sorted by key, the order the flows are written in."""
    sums: dict[tuple[str, str, str, str], list[Any]] = {}
    for c in contributions:
        key = (c.alliance_id, c.giver_id, c.receiver_id, c.kind)
        sign = -1 if c.reverses else 1
        found = sums.get(key)
        if found is None:
            sums[key] = [sign * c.value, sign]
        else:
            found[0] += sign * c.value
            found[1] += sign
    return [
        Flow(giver_id, receiver_id, kind, value, count, alliance_id)
        for (alliance_id, giver_id, receiver_id, kind), (value, count) in sorted(sums.items())
    ]


def flow_matrix(flows: Iterable[Flow]) -> FlowMatrix:
    kept = tuple(sorted((f for f in flows if f.value != 0), key=lambda f: (f.giver_id, f.receiver_id, f.kind)))
    given: dict[str, Decimal] = defaultdict(lambda: ZERO)
    received: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for flow in kept:
        given[flow.giver_id] += flow.value
        received[flow.receiver_id] += flow.value
    return FlowMatrix(kept, dict(given), dict(received))


def one_way_flows(matrix: FlowMatrix, floor: Decimal = ONE_WAY_FLOOR) -> list[OneWayFlow]:
    """Members who received from others but gave back less than ``floor`` times that; largest takers first."""
    sources: dict[str, set[str]] = defaultdict(set)
    referrals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for flow in matrix.flows:
        sources[flow.receiver_id].add(flow.giver_id)
        if flow.kind == REFERRAL:
            referrals[flow.receiver_id] += flow.value
    return [
        OneWayFlow(member, received, given, referrals[member], len(sources[member]))
        for member, received, given in one_way_members(matrix.given, matrix.received, floor)
    ]


def one_way_members(
    given: Mapping[str, Decimal], received: Mapping[str, Decimal], floor: Decimal = ONE_WAY_FLOOR
) -> list[tuple[str, Decimal, Decimal]]:
    """(member, received, given) of the one-way flows among members' totals, largest takers first."""
    found = [
        (member, taken, gave)
        for member, taken in received.items()
        if taken > 0
        and member != ALLIANCE_ACCOUNT  # the alliance's own account receives but is not a member
        and (gave := given.get(member, ZERO)) < floor * taken
    ]
    return sorted(found, key=lambda f: (-f[1], f[0]))


def gini(amounts: Iterable[Decimal]) -> Decimal:
    """Gini coefficient of non-negative amounts, exact in Decimal, truncated to four places."""
    ordered = sorted(max(amount, ZERO) for amount in amounts)
    n, total = len(ordered), sum(ordered, ZERO)
    if n == 0 or total == 0:
        return Decimal("0.0000")
    # G = 2·Σ i·x_i / (n·Σ x) - (n+1)/n over the amounts in ascending order, i = 1..n.
    weighted = sum((rank * amount for rank, amount in enumerate(ordered, start=1)), ZERO)
    exact = (2 * weighted) / (n * total) - Decimal(n + 1) / n
    return max(exact, Decimal(0)).quantize(GINI_PLACES, rounding=ROUND_DOWN)


def alliance_health(
    members: Iterable[str],
    given: Mapping[str, Decimal],
    received: Mapping[str, Decimal],
    floor: Decimal = ONE_WAY_FLOOR,
) -> AllianceHealth:
    """The health summary over the alliance's members, from what each gave and received (a `FlowMatrix`'s
    totals); givers outside the member list are counted too."""
    everyone = set(members) | set(given)
    giving = [given.get(member, ZERO) for member in everyone]
    return AllianceHealth(
        members=len(everyone),
        active_givers=sum(1 for amount in giving if amount > 0),
        total_given=sum(giving, ZERO),
        gini=gini(giving),
        one_way=tuple(member for member, _, _ in one_way_members(given, received, floor)),
    )


def health_slot(alliance_id: str, period: timedelta) -> timedelta:
    """The alliance's fixed offset into every period at which its health falls due.

    Spread over the period by a hash of the id, so that a large network's figures do not all fall due at the
    top of the hour, as a burst of reads and commits in the middle of the intake.
    """
    spread = int.from_bytes(hashlib.blake2b(alliance_id.encode(), digest_size=8).digest(), "big")
    return timedelta(microseconds=spread % (period // timedelta(microseconds=1)))


def period_start(moment: datetime, period: timedelta) -> datetime:
    """Start of the period containing ``moment``: periods are whole multiples of ``period`` since the epoch."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // period) * period
