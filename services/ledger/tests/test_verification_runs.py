"""Verification from checkpoints (domain), verification runs as jobs over SQL, and the maintained flows."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_fakes import HAMBURG, clock, contribution, founded_alliance
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_ledger.adapters.read_model import SqlLedgerReadModel
from kehrwasser_ledger.adapters.tables import contributions, entries, messaging
from kehrwasser_ledger.adapters.unit_of_work import SqlLedgerUnitOfWork
from kehrwasser_ledger.domain import analytics
from kehrwasser_ledger.domain.verification import ChainWalk, Checkpoint
from kehrwasser_ledger.service_layer import handlers
from kehrwasser_ledger.service_layer.verification import VerificationRuns
from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
MEMBERS = ("ada", "linus", "grace")


async def walked_to_the_end(uow: object, start: Checkpoint) -> tuple[ChainWalk, list[str]]:
    walk = ChainWalk(start)
    chain = await uow.contributions.chain_slice(HAMBURG, start.sequence, None)  # type: ignore[attr-defined]
    found = walk.check(chain, await uow.contributions.entries_for(HAMBURG, start.sequence + 1, 10**9))  # type: ignore[attr-defined]
    return walk, found + walk.finish(await uow.accounts.all_of(HAMBURG))  # type: ignore[attr-defined]


# --- the domain: a walk from a checkpoint -------------------------------------------------------------------


async def test_a_walk_from_a_checkpoint_finds_an_entry_tampered_with_after_it() -> None:
    uow = await founded_alliance(*MEMBERS)
    for number in range(3):
        await handlers.record_contribution(contribution(f"c{number}", "ada", "linus", "2"), uow, clock)
    walk, found = await walked_to_the_end(uow, Checkpoint(HAMBURG))
    assert found == []
    checkpoint = walk.checkpoint
    assert (checkpoint.sequence, checkpoint.accounts["linus"]) == (3, (3, Decimal("-6.00")))
    await handlers.record_contribution(contribution("c3", "grace", "linus", "1"), uow, clock)
    await handlers.record_contribution(contribution("c4", "linus", "ada", "1"), uow, clock)
    uow.contributions.entries = [
        e._replace(amount=Decimal("5.00")) if (e.contribution_id, e.owner_id) == ("c4", "ada") else e
        for e in uow.contributions.entries
    ]
    since, found = await walked_to_the_end(uow, checkpoint)
    assert since.contributions == 2  # only what came after the checkpoint
    assert f"{HAMBURG}: contribution c4 is not posted as its two entries" in found
    assert f"{HAMBURG}/ada: entry 4 does not continue the balance" in found


async def test_a_full_walk_finds_what_was_altered_before_the_checkpoint_and_a_walk_from_it_does_not() -> None:
    uow = await founded_alliance(*MEMBERS)
    for number in range(3):
        await handlers.record_contribution(contribution(f"c{number}", "ada", "linus", "2"), uow, clock)
    walk, _ = await walked_to_the_end(uow, Checkpoint(HAMBURG))
    stored = uow.contributions.contributions["c1"]
    uow.contributions.contributions["c1"] = stored._replace(note="I gave much more")
    assert (await walked_to_the_end(uow, walk.checkpoint))[1] == []
    assert (await walked_to_the_end(uow, Checkpoint(HAMBURG)))[1] == [
        f"{HAMBURG}: contribution c1 was altered (hash mismatch)"
    ]


async def test_slices_of_any_size_find_what_one_walk_finds() -> None:
    uow = await founded_alliance(*MEMBERS)
    for number, (giver, receiver) in zip(range(12), itertools.cycle(itertools.permutations(MEMBERS, 2)), strict=False):
        await handlers.record_contribution(contribution(f"c{number}", giver, receiver, "1.5"), uow, clock)
    uow.contributions.entries[7] = uow.contributions.entries[7]._replace(balance_after=Decimal("99"))
    _, whole = await walked_to_the_end(uow, Checkpoint(HAMBURG))
    for size in (1, 5):
        walk, found = ChainWalk(Checkpoint(HAMBURG)), []
        while chain := await uow.contributions.chain_slice(HAMBURG, walk.sequence, size):
            found += walk.check(
                chain, await uow.contributions.entries_for(HAMBURG, chain[0].sequence, chain[-1].sequence)
            )
        assert sorted(found + walk.finish(await uow.accounts.all_of(HAMBURG))) == sorted(whole) != []


# --- over SQL: runs as jobs, checkpoints, events, and the maintained flows ------------------------------------


@dataclass
class Ledger:
    engine: AsyncEngine

    def uow(self) -> SqlLedgerUnitOfWork:
        return SqlLedgerUnitOfWork(self.engine, messaging, source="/ledger")

    def read_model(self) -> SqlLedgerReadModel:
        return SqlLedgerReadModel(self.engine)

    def runs(self, slice_size: int = 100) -> VerificationRuns:
        return VerificationRuns(self.uow, self.read_model, clock, parallel=2, slice_size=slice_size)

    async def found(self, alliance_id: str, *members: str) -> None:
        created = alliance_contracts.AllianceCreatedV1(
            alliance_id=alliance_id,
            name=alliance_id,
            purpose="",
            focus=[],
            warning_threshold=Decimal("-1000"),
            moderator_id=members[0],
            created_at=clock(),
        )
        event = make_event(type_=alliance_contracts.ALLIANCE_CREATED.type, source="/t", data=created)
        await handlers.learn_alliance(event, created, self.uow())
        for member in members:
            joined = alliance_contracts.MemberJoinedV1(
                alliance_id=alliance_id, member_id=member, role="member", joined_at=clock()
            )
            event = make_event(type_=alliance_contracts.MEMBER_JOINED.type, source="/t", data=joined)
            await handlers.learn_membership(event, joined, self.uow())

    async def book(self, alliance_id: str, *gifts: tuple[str, str, str, str, str]) -> None:
        commands = [
            contribution(cid, giver, receiver, value, kind).model_copy(update={"alliance_id": alliance_id})
            for cid, giver, receiver, value, kind in gifts
        ]
        await handlers.record_contributions(commands, self.uow(), clock, announce_rejections=True)

    async def inconsistencies(self) -> list[str]:
        async with self.engine.connect() as connection:
            payloads = await connection.scalars(select(messaging.outbox.c.payload))
            events = [orjson.loads(p) for p in payloads]
        return [e["data"]["problem"] for e in events if e["type"] == contracts.LEDGER_INCONSISTENCY.type]


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    await upgrade_to_head_async(MIGRATIONS, database_url)
    engine = create_engine(database_url)
    try:
        yield Ledger(engine)
    finally:
        await engine.dispose()


def gifts(prefix: str, count: int) -> list[tuple[str, str, str, str, str]]:
    pairs = itertools.cycle(itertools.permutations(MEMBERS, 2))
    return [(f"{prefix}{n}", *next(pairs), "1.25", "advice") for n in range(count)]


@pytest.mark.integration
async def test_a_run_checks_from_the_checkpoint_and_a_full_run_from_genesis(ledger: Ledger) -> None:
    await ledger.found(HAMBURG, *MEMBERS)
    await ledger.found("berlin", *MEMBERS)
    await ledger.book(HAMBURG, *gifts("h", 250))
    await ledger.book("berlin", *gifts("b", 30))
    runs = ledger.runs()
    first = await runs.start(contracts.VerifyLedger(wait=True))
    assert (first.ok, first.state, first.alliances_checked, first.contributions_checked) == (True, "done", 2, 280)
    assert first.entries_checked == 560
    await ledger.book(HAMBURG, *gifts("later", 7))
    routine = await runs.start(contracts.VerifyLedger(wait=True))
    assert (routine.ok, routine.contributions_checked, routine.full) == (True, 7, False)
    assert await runs.status(contracts.QueryVerifyRun(run_id=routine.run_id)) == routine

    # An entry altered after the checkpoint: the routine run finds it, and keeps the checkpoint where it was.
    await ledger.book(HAMBURG, *gifts("more", 3))
    async with ledger.engine.begin() as connection:
        await connection.execute(
            update(entries)
            .where(entries.c.contribution_id == "more1", entries.c.amount_cents > 0)
            .values(amount_cents=999)
        )
    found = await runs.start(contracts.VerifyLedger(alliance_id=HAMBURG, wait=True))
    assert (found.ok, found.contributions_checked) == (False, 3)
    assert f"{HAMBURG}: contribution more1 is not posted as its two entries" in found.problems
    again = await runs.start(contracts.VerifyLedger(alliance_id=HAMBURG, wait=True))
    assert again.problems == found.problems
    assert set(found.problems) <= set(await ledger.inconsistencies())

    # Repaired; then a contribution altered before the checkpoint: only a full run sees it.
    async with ledger.engine.begin() as connection:
        await connection.execute(
            update(entries)
            .where(entries.c.contribution_id == "more1", entries.c.amount_cents > 0)
            .values(amount_cents=125)
        )
    assert (await runs.start(contracts.VerifyLedger(wait=True))).ok
    async with ledger.engine.begin() as connection:
        await connection.execute(
            update(contributions).where(contributions.c.contribution_id == "h3").values(note="more")
        )
    assert (await runs.start(contracts.VerifyLedger(wait=True))).ok
    full = await runs.start(contracts.VerifyLedger(full=True, wait=True))
    assert (full.full, full.contributions_checked, full.problems) == (
        True,
        290,
        [f"{HAMBURG}: contribution h3 was altered (hash mismatch)"],
    )
    # The full run dropped Hamburg's checkpoint: routine runs recheck it from genesis until it is repaired.
    assert (await runs.start(contracts.VerifyLedger(wait=True))).problems == full.problems


@pytest.mark.integration
async def test_a_run_started_without_waiting_answers_its_id_and_is_resumed_by_another_process(ledger: Ledger) -> None:
    await ledger.found(HAMBURG, *MEMBERS)
    await ledger.book(HAMBURG, *gifts("h", 120))
    started = await ledger.runs().start(contracts.VerifyLedger())
    assert started.state in ("running", "done")
    with pytest.raises(Exception, match="no verification run"):
        await ledger.runs().status(contracts.QueryVerifyRun(run_id="nope"))
    # A run whose process stopped before it began: its lease lapses, another process takes it over.
    stopped = ledger.runs(slice_size=50)
    async with ledger.uow() as uow:
        await uow.verification.add_run("orphan", True, [Checkpoint(HAMBURG)], clock(), clock())
        await uow.commit()
    later = VerificationRuns(ledger.uow, ledger.read_model, lambda: clock().replace(year=2100), slice_size=50)
    await later.resume_abandoned()
    for _ in range(200):
        view = await stopped.status(contracts.QueryVerifyRun(run_id="orphan"))
        if view.state == "done":
            break
        await asyncio.sleep(0.05)
    assert (view.state, view.ok, view.contributions_checked) == ("done", True, 120)


kinds = st.sampled_from(["advice", "referral", "knowledge"])
bookings = st.lists(
    st.tuples(st.sampled_from(MEMBERS), st.sampled_from(MEMBERS), st.integers(1, 500), kinds, st.booleans()),
    max_size=25,
)
examples = itertools.count()


@pytest.mark.integration
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bookings)
async def test_the_maintained_flows_equal_a_recomputation_from_the_contributions(
    ledger: Ledger, planned: list[tuple[str, str, int, str, bool]]
) -> None:
    alliance_id = f"flows-{next(examples)}"
    await ledger.found(alliance_id, *MEMBERS)
    for number, (giver, receiver, cents, kind, reverse) in enumerate(planned):
        if giver == receiver:
            continue
        await ledger.book(alliance_id, (f"{alliance_id}-{number}", giver, receiver, str(Decimal(cents) / 100), kind))
        if reverse:
            await handlers.reverse_contribution(
                contracts.ReverseContribution(
                    reversal_id=f"{alliance_id}-r{number}",
                    contribution_id=f"{alliance_id}-{number}",
                    requested_by=giver,
                ),
                ledger.uow(),
                clock,
            )
    async with ledger.uow() as uow:
        booked = await uow.contributions.of_alliance(alliance_id)
    recomputed = [f for f in analytics.flows_of(booked) if f.value != 0]
    async with ledger.read_model() as read:
        assert sorted(await read.flows(alliance_id), key=lambda f: (f.giver_id, f.receiver_id, f.kind)) == recomputed
        assert await read.flows(alliance_id, "referral") == [f for f in recomputed if f.kind == "referral"]


@pytest.mark.integration
async def test_alliances_checked_together_find_what_each_walked_alone_finds(ledger: Ledger) -> None:
    for alliance_id in (HAMBURG, "berlin", "bremen"):
        await ledger.found(alliance_id, *MEMBERS)
        await ledger.book(alliance_id, *gifts(f"{alliance_id}-", 6))
    assert (await ledger.runs().start(contracts.VerifyLedger(wait=True))).ok
    for alliance_id in (HAMBURG, "berlin", "bremen"):
        await ledger.book(alliance_id, *gifts(f"{alliance_id}-later-", 4))
    async with ledger.engine.begin() as connection:
        await connection.execute(
            update(entries)
            .where(entries.c.contribution_id == "berlin-later-2", entries.c.amount_cents > 0)
            .values(amount_cents=999)
        )
        await connection.execute(update(contributions).where(contributions.c.sequence == 6, contributions.c.alliance_id == "bremen").values(hash="0" * 64))  # fmt: skip  # noqa: E501
    together = await ledger.runs(slice_size=100).start(contracts.VerifyLedger(wait=True))  # all three in one group
    alone = await ledger.runs(slice_size=1).start(contracts.VerifyLedger(wait=True))  # each walked by itself
    assert sorted(together.problems) == sorted(alone.problems)
    assert "berlin: contribution berlin-later-2 is not posted as its two entries" in together.problems
    assert "bremen: the chain no longer ends in its verified head at 6" in together.problems
    assert (together.contributions_checked, together.alliances_checked) == (12, 3)
    # Hamburg, found clean, moved its checkpoint on: nothing of it is checked again.
    assert (
        await ledger.runs().start(contracts.VerifyLedger(alliance_id=HAMBURG, wait=True))
    ).contributions_checked == 0
    assert set(together.problems) <= set(await ledger.inconsistencies())
