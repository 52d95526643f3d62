"""The pipelined intake books what plain booking books, batch by batch, also when its guesses go stale.

Each test runs on every reachable database: batches are prepared while the previous one commits, exactly as
the intake consumer drives them, and the result is compared with booking the same batches one at a time.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
from ledger_fakes import NOON
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from test_ledger_concurrency import MIGRATIONS, found_hamburg, random_contributions

from kehrwasser_ledger.adapters.tables import accounts, contributions, messaging
from kehrwasser_ledger.adapters.unit_of_work import SqlLedgerUnitOfWork
from kehrwasser_ledger.domain.model import GENESIS_HASH
from kehrwasser_ledger.service_layer import handlers
from kehrwasser_ledger.service_layer.booking import BookingSession, Outcome
from kehrwasser_ledger.service_layer.intake import BatchCommit, PipelinedIntake
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async

pytestmark = pytest.mark.integration
Batch = list[contracts.RecordContribution]


@dataclass
class Books:
    engine: AsyncEngine

    def uow(self) -> SqlLedgerUnitOfWork:
        return SqlLedgerUnitOfWork(self.engine, messaging, source="/ledger")

    async def rows(self) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        async with self.engine.connect() as connection:
            booked = (await connection.execute(select(contributions).order_by("contribution_id"))).all()
            held = (await connection.execute(select(accounts).order_by("alliance_id", "owner_id"))).all()
        return [tuple(row) for row in booked], [tuple(row) for row in held]

    async def verified(self) -> contracts.LedgerVerification:
        return await handlers.verify(contracts.VerifyLedger(), self.uow())


@pytest.fixture
async def books(database_url: str) -> AsyncIterator[Books]:
    await upgrade_to_head_async(MIGRATIONS, database_url)
    engine = create_engine(database_url)
    books = Books(engine)
    await found_hamburg(books.uow)
    try:
        yield books
    finally:
        await engine.dispose()


def batches() -> list[Batch]:
    """Five batches with retries of earlier ones (same fields), a conflict, and strangers to reject."""
    fresh = random_contributions(150, seed=11)
    conflict = fresh[3].model_copy(update={"value": fresh[3].value + 1})
    stranger = fresh[4].model_copy(update={"contribution_id": "from-a-stranger", "giver_id": "mallory"})
    return [
        fresh[0:40],
        fresh[40:70] + fresh[30:40],  # retries of the batch still committing
        [*fresh[70:100], conflict, stranger],
        fresh[100:130] + fresh[0:5],
        fresh[130:150],
    ]


async def run_pipelined(
    intake: PipelinedIntake, work: list[Batch], between: Callable[[int], Awaitable[None]] | None = None
) -> list[list[Outcome]]:
    """Drive the intake as the consumer does: prepare a batch, then wait for the previous commit, then commit."""
    outcomes: list[list[Outcome]] = []
    committing: asyncio.Future[list[Outcome]] | None = None
    for number, batch in enumerate(work):
        commit: BatchCommit = await intake.prepare(batch, [False] * len(batch))
        if between is not None:
            await between(number)
        if committing is not None:
            outcomes.append(await committing)
        committing = asyncio.ensure_future(commit())
    assert committing is not None
    outcomes.append(await committing)
    return outcomes


async def run_plainly(books: Books, work: list[Batch]) -> list[list[Outcome]]:
    return [
        await handlers.record_contributions(batch, books.uow(), lambda: NOON, announce_rejections=True)
        for batch in work
    ]


def statuses(outcomes: list[list[Outcome]]) -> list[list[str]]:
    return [[outcome.status for outcome in batch] for batch in outcomes]


async def test_batches_prepared_while_the_previous_commits_book_what_plain_booking_books(books: Books) -> None:
    work = batches()
    intake = PipelinedIntake(books.uow, lambda: NOON)

    async def sessions_alive(number: int) -> None:
        if number == len(work) - 1:
            gc.collect()
            # This batch's and the one committing: not every batch booked so far.
            assert sum(isinstance(o, BookingSession) for o in gc.get_objects()) <= 2

    pipelined = await run_pipelined(intake, work, sessions_alive)
    booked, held = await books.rows()
    # The same batches booked one at a time, on the same database emptied of bookings.
    async with books.engine.begin() as connection:
        for table in ("entries", "contributions", "outbox"):
            await connection.execute(text(f"DELETE FROM {table}"))
        await connection.execute(
            text(
                "UPDATE accounts SET balance_cents = 0, given_cents = 0, received_cents = 0, version = 0,"
                " light = 'green', last_given_at = NULL"
            )
        )
        await connection.execute(
            text("UPDATE ledger_alliances SET chain_length = 0, chain_head = :genesis"), {"genesis": GENESIS_HASH}
        )
    plain = await run_plainly(books, work)
    assert statuses(pipelined) == statuses(plain)
    assert await books.rows() == (booked, held)
    assert statuses(pipelined)[1][-10:] == ["exists"] * 10
    assert statuses(pipelined)[2][-2:] == ["rejected", "rejected"]
    verification = await books.verified()
    assert verification.ok, verification.problems


async def test_a_command_booking_meanwhile_makes_the_batch_book_again_from_the_database(books: Books) -> None:
    intake = PipelinedIntake(books.uow, lambda: NOON)
    work = batches()[:2]

    async def another_writer(number: int) -> None:
        if number == 0:  # between prepare and commit of the first batch: its chain head is no longer the head
            command = random_contributions(1, seed=99)[0].model_copy(update={"contribution_id": "by-command"})
            await handlers.record_contribution(command, books.uow(), lambda: NOON)

    outcomes = await run_pipelined(intake, work, another_writer)
    assert statuses(outcomes) == [["created"] * 40, ["created"] * 30 + ["exists"] * 10]
    assert intake.misses == 1  # the second batch, prepared on the first, was booked plainly without trying
    verification = await books.verified()
    assert verification.ok, verification.problems
    assert verification.contributions_checked == 1 + 70


async def test_a_light_changed_meanwhile_is_caught_by_the_account_update_and_nothing_is_lost(books: Books) -> None:
    intake = PipelinedIntake(books.uow, lambda: NOON)
    work = batches()

    async def maintenance(number: int) -> None:
        if number == 1:  # batch 2 was prepared on batch 1's accounts; a light changes under both
            async with books.engine.begin() as connection:
                await connection.execute(text("UPDATE accounts SET light = 'yellow' WHERE owner_id = 'ada'"))

    outcomes = await run_pipelined(intake, work, maintenance)
    assert [len(batch) for batch in outcomes] == [len(batch) for batch in work]
    booked, _ = await books.rows()
    assert len(booked) == 150
    assert intake.misses == 1
    async with books.engine.connect() as connection:
        assert await connection.scalar(select(func.sum(accounts.c.balance_cents))) == 0
    verification = await books.verified()
    assert verification.ok, verification.problems
