"""Property-based test of the handlers against a reference: random contributions, reversals, retries and
conflicting reuses of ids, each answered as a plain model of the books says it must be, refusals included.

The reference knows nothing of entries, chains or sessions: balances are sums, a light is red below the
threshold until the balance clears it by the hysteresis. The handlers run on the in-memory unit of work, which
`test_ledger_ports` holds to the SQL unit of work's contract.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from ledger_fakes import HAMBURG, FakeLedgerUnitOfWork, clock, contribution, founded_alliance

from kehrwasser_ledger.domain import errors
from kehrwasser_ledger.domain.model import ALLIANCE_ACCOUNT
from kehrwasser_ledger.domain.policy import DEFAULT_HYSTERESIS, Light
from kehrwasser_ledger.domain.verification import verify_alliance
from kehrwasser_ledger.service_layer import handlers, policies
from kehrwasser_shared.contracts import ledger as contracts

MODERATOR = "ada"
MEMBERS = [MODERATOR, "grace", "linus"]
RED_BELOW = Decimal("-20")
FLOOR = Decimal("-30")


class Record(NamedTuple):
    number: int  # small, so that retries and conflicting reuses of an id happen
    giver: str
    receiver: str
    value: Decimal


class Reverse(NamedTuple):
    number: int  # of the contribution to reverse
    attempt: int  # part of the reversal's id: a second id for one contribution is refused
    requested_by: str


Operation = Record | Reverse
Expected = str | type[errors.LedgerError]  # a status, or the refusal

operations = st.lists(
    st.one_of(
        st.builds(
            Record,
            st.integers(0, 7),
            st.sampled_from(MEMBERS),
            st.sampled_from([*MEMBERS, ALLIANCE_ACCOUNT]),
            st.decimals(min_value=Decimal("0.01"), max_value=Decimal("40"), places=2),
        ),
        st.builds(Reverse, st.integers(0, 7), st.integers(0, 1), st.sampled_from(MEMBERS)),
    ),
    max_size=50,
)


@dataclass
class Reference:
    """The books as sums: what each operation must answer and what it leaves behind."""

    balances: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    recorded: dict[str, tuple[str, str, Decimal]] = field(default_factory=dict)
    reversals: dict[str, str] = field(default_factory=dict)  # reversal id: the contribution it reverses
    lights: dict[str, Light] = field(default_factory=lambda: dict.fromkeys(MEMBERS, Light.GREEN))
    warnings: Counter[str] = field(default_factory=Counter)
    recoveries: Counter[str] = field(default_factory=Counter)

    def record(self, op: Record) -> Expected:
        cid = f"c{op.number}"
        if cid in self.recorded:
            return "exists" if self.recorded[cid] == (op.giver, op.receiver, op.value) else errors.ContributionConflict
        if op.giver == op.receiver:
            return errors.InvalidContribution
        if op.receiver != ALLIANCE_ACCOUNT and self.balances[op.receiver] - op.value < FLOOR:
            return errors.BelowFloor
        self.recorded[cid] = (op.giver, op.receiver, op.value)
        self._move(op.giver, op.receiver, op.value)
        return "created"

    def reverse(self, op: Reverse) -> Expected:
        cid, rid = f"c{op.number}", f"r{op.number}-{op.attempt}"
        if cid not in self.recorded:
            return errors.UnknownContribution
        if rid in self.reversals:
            return "exists"
        if cid in self.reversals.values():
            return errors.AlreadyReversed
        giver, receiver, value = self.recorded[cid]
        if op.requested_by not in (MODERATOR, giver):
            return errors.NotAllowed
        self.reversals[rid] = cid
        self._move(receiver, giver, value)  # a reversal is never refused
        return "created"

    def _move(self, giver: str, receiver: str, value: Decimal) -> None:
        self.balances[giver] += value
        self.balances[receiver] -= value
        for member in (giver, receiver):
            if member != ALLIANCE_ACCOUNT:
                self._relight(member)

    def _relight(self, member: str) -> None:
        balance, light = self.balances[member], self.lights[member]
        if balance < RED_BELOW and light is Light.GREEN:
            self.lights[member] = Light.RED
            self.warnings[member] += 1
        elif balance - DEFAULT_HYSTERESIS >= RED_BELOW and light is Light.RED:
            self.lights[member] = Light.GREEN
            self.recoveries[member] += 1


@settings(max_examples=150, deadline=None)
@given(operations)
@example(
    [
        Record(0, "ada", "grace", Decimal("10")),  # created
        Record(0, "ada", "grace", Decimal("11")),  # the same id, another value: conflict
        Record(0, "ada", "grace", Decimal("10.00")),  # a retry: exists
        Record(1, "linus", "linus", Decimal("1")),  # giver and receiver the same
        Record(2, "linus", "grace", Decimal("25")),  # grace would fall to -35, below the floor
        Record(3, "linus", "grace", Decimal("15")),  # grace at -25: red
        Reverse(7, 0, "ada"),  # nothing to reverse
        Reverse(0, 0, "linus"),  # neither moderator nor giver
        Reverse(0, 0, "ada"),  # created: grace back at -15, clear of the threshold by the hysteresis
        Reverse(0, 1, "ada"),  # a second reversal of c0
        Reverse(0, 0, "grace"),  # a retry of the first: exists
    ]
)
def test_every_operation_is_answered_and_booked_as_the_reference_says(ops: list[Operation]) -> None:
    asyncio.run(_run(ops))


async def _run(ops: list[Operation]) -> None:
    uow = await founded_alliance(*MEMBERS, threshold=str(RED_BELOW))
    await policies.set_policy(contracts.SetPolicy(alliance_id=HAMBURG, requested_by=MODERATOR, floor=FLOOR), uow, clock)
    reference = Reference()
    for op in ops:
        expected = reference.record(op) if isinstance(op, Record) else reference.reverse(op)
        event(f"answered {expected if isinstance(expected, str) else expected.__name__}")
        if isinstance(expected, str):
            assert (await _apply(op, uow)).status == expected, op
        else:
            with pytest.raises(expected):  # refused, and (below) nothing of it booked
                await _apply(op, uow)
    event(f"lights changed: {bool(reference.warnings)}")
    await _assert_books_are(reference, uow)
    posted = len(reference.recorded) + len(reference.reversals)
    assert uow.emitted_types().count(contracts.CONTRIBUTION_RECORDED.type) == posted


async def _apply(op: Operation, uow: FakeLedgerUnitOfWork) -> contracts.ContributionResult:
    if isinstance(op, Record):
        booking = contribution(f"c{op.number}", op.giver, op.receiver, str(op.value))
        return await handlers.record_contribution(booking, uow, clock)
    reversal = contracts.ReverseContribution(
        reversal_id=f"r{op.number}-{op.attempt}", contribution_id=f"c{op.number}", requested_by=op.requested_by
    )
    return await handlers.reverse_contribution(reversal, uow, clock)


async def _assert_books_are(reference: Reference, uow: FakeLedgerUnitOfWork) -> None:
    accounts = {a.owner_id: a for a in await uow.accounts.all_of(HAMBURG)}
    assert {owner: a.balance for owner, a in accounts.items() if a.balance} == {
        owner: balance for owner, balance in reference.balances.items() if balance
    }
    assert {m: accounts[m].light for m in MEMBERS} == reference.lights
    booked = await uow.contributions.of_alliance(HAMBURG)
    assert {c.contribution_id: (c.giver_id, c.receiver_id, c.value) for c in booked if not c.reverses} == (
        reference.recorded
    )
    assert {c.contribution_id: c.reverses for c in booked if c.reverses} == reference.reversals
    entries = await uow.contributions.entries_of(HAMBURG)
    assert verify_alliance(HAMBURG, booked, entries, accounts.values()) == []
    warned = Counter(e.member_id for _, e in uow.emitted if isinstance(e, contracts.BalanceWarningV2))
    recovered = Counter(e.member_id for _, e in uow.emitted if isinstance(e, contracts.BalanceRecoveredV2))
    assert (warned, recovered) == (reference.warnings, reference.recoveries)
