"""Many writers on the same accounts, and two ledger processes sharing the work, keep the books exact."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
from ledger_fakes import NOON
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_ledger.adapters.read_model import SqlLedgerReadModel
from kehrwasser_ledger.adapters.tables import messaging
from kehrwasser_ledger.adapters.unit_of_work import SqlLedgerUnitOfWork
from kehrwasser_ledger.service_layer import handlers, queries
from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts.subjects import PARTITIONS, partition_of
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async
from kehrwasser_shared.testing import examples
from kehrwasser_shared.testing.processes import ServiceProcess, service_env

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
MEMBERS = ["ada", "grace", "linus", "margaret"]


def alliance_events(alliance_id: str = "hamburg") -> list[tuple[Any, Any]]:
    events: list[tuple[Any, Any]] = [
        (
            alliance_contracts.ALLIANCE_CREATED,
            examples.alliance_created(alliance_id, at=NOON),
        )
    ]
    events += [
        (
            alliance_contracts.MEMBER_JOINED,
            alliance_contracts.MemberJoinedV1(
                alliance_id=alliance_id, member_id=m, role="moderator" if m == "ada" else "member", joined_at=NOON
            ),
        )
        for m in MEMBERS
    ]
    return events


async def found_hamburg(uow: Callable[[], SqlLedgerUnitOfWork]) -> None:
    """The alliance and its members, learned from their events as the intake's consumer learns them."""
    for contract, data in alliance_events():
        event = make_event(type_=contract.type, source="/alliances", data=data)
        if contract is alliance_contracts.ALLIANCE_CREATED:
            await handlers.learn_alliance(event, data, uow())
        else:
            await handlers.learn_membership(event, data, uow())


def random_contributions(
    count: int, seed: int, alliances: Sequence[str] = ("hamburg",)
) -> list[contracts.RecordContribution]:
    rng = random.Random(seed)
    result = []
    for number in range(count):
        giver, receiver = rng.sample(MEMBERS, 2)
        result.append(
            contracts.RecordContribution(
                contribution_id=f"c{number}",
                alliance_id=rng.choice(alliances),
                giver_id=giver,
                receiver_id=receiver,
                kind=contracts.ContributionKind.ADVICE,
                value=Decimal(rng.randint(1, 999)) / 100,
            )
        )
    return result


def expected_balances(contributions: list[contracts.RecordContribution]) -> dict[str, Decimal]:
    """Balances by member (the contributions of one alliance)."""
    return {member: balance for (_, member), balance in expected_account_balances(contributions).items()}


def expected_account_balances(contributions: list[contracts.RecordContribution]) -> dict[tuple[str, str], Decimal]:
    """Balances by (alliance, member)."""
    balances: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for c in contributions:
        balances[c.alliance_id, c.giver_id] += c.value
        balances[c.alliance_id, c.receiver_id] -= c.value
    return dict(balances)


@asynccontextmanager
async def hamburg_on(database_url: str) -> AsyncIterator[tuple[AsyncEngine, Callable[[], SqlLedgerUnitOfWork]]]:
    """A migrated ledger database that knows Hamburg Founders, its engine, and units of work on it."""
    await upgrade_to_head_async(MIGRATIONS, database_url)
    engine = create_engine(database_url)
    try:

        def uow() -> SqlLedgerUnitOfWork:
            return SqlLedgerUnitOfWork(engine, messaging, source="/ledger")

        await found_hamburg(uow)
        yield engine, uow
    finally:
        await engine.dispose()


async def test_concurrent_writers_and_duplicate_retries_on_the_same_accounts_book_everything_once(
    database_url: str,
) -> None:
    async with hamburg_on(database_url) as (engine, uow):
        contributions = random_contributions(120, seed=7)
        # Every contribution is sent three times at once: retries racing their originals.
        results = await asyncio.gather(
            *(handlers.record_contribution(c, uow(), lambda: NOON) for c in contributions for _ in range(3))
        )
        assert sum(r.status == "created" for r in results) == len(contributions)
        verification = await handlers.verify(contracts.VerifyLedger(), uow())
        assert verification.ok, verification.problems
        assert verification.entries_checked == 2 * len(contributions)
        for member, balance in expected_balances(contributions).items():
            query = contracts.QueryBalance(alliance_id="hamburg", member_id=member)
            view = await queries.balance(query, SqlLedgerReadModel(engine))
            assert view.balance == balance


async def test_reversals_racing_with_one_reversal_id_book_one_reversal(database_url: str) -> None:
    """Each racer reads that the reversal id is new before it holds the alliance; the losers' inserts are
    refused (`ConcurrentInsert`) and run again, to answer with the reversal booked."""
    async with hamburg_on(database_url) as (engine, uow):
        contributions = random_contributions(20, seed=3)
        for c in contributions:
            await handlers.record_contribution(c, uow(), lambda: NOON)
        reversals = [
            contracts.ReverseContribution(
                reversal_id=f"r-{c.contribution_id}", contribution_id=c.contribution_id, requested_by="ada"
            )
            for c in contributions
        ]
        results = await asyncio.gather(
            *(handlers.reverse_contribution(r, uow(), lambda: NOON) for r in reversals for _ in range(3))
        )
        assert sorted(r.status for r in results) == ["created"] * 20 + ["exists"] * 40
        verification = await handlers.verify(contracts.VerifyLedger(), uow())
        assert verification.ok, verification.problems
        assert verification.contributions_checked == 40
        for member in MEMBERS:
            view = await queries.balance(
                contracts.QueryBalance(alliance_id="hamburg", member_id=member), SqlLedgerReadModel(engine)
            )
            assert view.balance == 0


@asynccontextmanager
async def two_ledgers(
    nats_url: str, database_url: str, tmp_path: Path, shares: tuple[str, str] = ("all", "all")
) -> AsyncIterator[Client]:
    """Two ledger processes on one database (each booking the intake partitions of its share), and a connection."""
    await upgrade_to_head_async(MIGRATIONS, database_url)  # not twice at once from both processes
    env = service_env("ledger", nats_url=nats_url, data_dir=tmp_path, database_url=database_url)
    ledgers = [
        ServiceProcess("ledger", env | {"KEHRWASSER_INTAKE_PARTITIONS": share}, tmp_path / f"logs-{n}").start()
        for n, share in enumerate(shares)
    ]
    try:
        for process in ledgers:
            await asyncio.to_thread(process.wait_ready)
        nc = await nats.connect(nats_url)
        try:
            yield nc
        finally:
            await nc.close()
    finally:
        for process in ledgers:
            process.stop()


async def publish_alliance(js: Any, alliance_id: str = "hamburg") -> None:
    for contract, data in alliance_events(alliance_id):
        event = make_event(type_=contract.type, source="/alliances", data=data)
        await js.publish(contract.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id})


async def test_two_ledger_processes_give_the_same_books_as_one(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with two_ledgers(nats_url, database_url, tmp_path) as nc:
        await publish_alliance(nc.jetstream())
        client = CommandClient(nc, timeout=30)
        contributions = random_contributions(200, seed=11)
        results = await asyncio.gather(
            *(client.send_when_known(contracts.RECORD_CONTRIBUTION, c) for c in contributions + contributions[:50])
        )
        assert sum(r.status == "created" for r in results) == len(contributions)
        verification = await client.send(contracts.VERIFY, contracts.VerifyLedger(full=True, wait=True))
        assert verification.ok, verification.problems
        assert verification.contributions_checked == len(contributions)
        for member, balance in expected_balances(contributions).items():
            view = await client.send(contracts.BALANCE, contracts.QueryBalance(alliance_id="hamburg", member_id=member))
            assert view.balance == balance


def alliances_in_both_halves() -> list[str]:
    """Six alliances, some in partitions 0-7 and some in 8-15."""
    names = [f"city-{n}" for n in range(6)]
    halves = {partition_of(name) < PARTITIONS // 2 for name in names}
    assert halves == {True, False}, "pick other names: these all fall into one half of the partitions"
    return names


@pytest.mark.parametrize("shares", [("0-7", "8-15"), ("all", "all")], ids=["a-share-each", "both-read-all"])
async def test_two_ledger_processes_booking_the_intake_give_the_same_books_as_one(
    nats_url: str, database_url: str, tmp_path: Path, shares: tuple[str, str]
) -> None:
    """Submissions (with duplicates under fresh message ids) across alliances in every partition, booked by two
    processes that each own half of the partitions, or that both read all of them."""
    async with two_ledgers(nats_url, database_url, tmp_path, shares) as nc:
        js = nc.jetstream()
        alliances = alliances_in_both_halves()
        for alliance in alliances:
            await publish_alliance(js, alliance)
        client = CommandClient(nc, timeout=30)
        for alliance in alliances:  # learned before the first submission, so none waits for a retry
            await client.send_when_known(
                contracts.BALANCE, contracts.QueryBalance(alliance_id=alliance, member_id=MEMBERS[-1])
            )
        contributions = random_contributions(600, seed=5, alliances=alliances)
        submitted = contracts.CONTRIBUTION_SUBMITTED
        for n, c in enumerate(contributions + contributions[::6]):
            event = make_event(type_=submitted.type, source="/producer", data=c)
            message_id = c.contribution_id if n < len(contributions) else f"{c.contribution_id}-again"
            await js.publish(
                submitted.subject_for(c), event.model_dump_json().encode(), headers={"Nats-Msg-Id": message_id}
            )
        deadline = asyncio.get_running_loop().time() + 60
        while (
            verification := await client.send(contracts.VERIFY, contracts.VerifyLedger(full=True, wait=True))
        ).contributions_checked < len(contributions):
            assert asyncio.get_running_loop().time() < deadline, "not every submission was booked in time"
            await asyncio.sleep(0.2)
        assert verification.ok, verification.problems
        assert verification.contributions_checked == len(contributions)
        for (alliance, member), balance in expected_account_balances(contributions).items():
            query = contracts.QueryBalance(alliance_id=alliance, member_id=member)
            assert (await client.send(contracts.BALANCE, query)).balance == balance
