"""Statements, balances as of a past time, the flow matrix and alliance health: one contract, run against
the in-memory read model and the SQL read model on every reachable database; then the periodic publisher."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ledger_fakes import HAMBURG, NOON, FakeLedgerReadModel, FakeLedgerUnitOfWork, contribution
from pydantic import BaseModel

from kehrwasser_ledger.adapters.read_model import SqlLedgerReadModel
from kehrwasser_ledger.adapters.tables import messaging
from kehrwasser_ledger.adapters.unit_of_work import SqlLedgerUnitOfWork
from kehrwasser_ledger.domain.analytics import health_slot, period_start
from kehrwasser_ledger.domain.errors import UnknownAlliance, UnknownMember
from kehrwasser_ledger.service_layer import handlers, queries
from kehrwasser_ledger.service_layer.health import PeriodicHealth
from kehrwasser_ledger.service_layer.read_model import LedgerReadModel
from kehrwasser_ledger.service_layer.unit_of_work import LedgerUnitOfWork
from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts.envelope import CloudEvent
from kehrwasser_shared.contracts.registry import EventContract
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async
from kehrwasser_shared.testing import examples

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
HOUR = timedelta(hours=1)
StatementPage = tuple[list[int], int | None]


class Ticking:
    """A clock that moves on by ``step`` (an hour) on every reading: each booking gets its own hour after noon."""

    def __init__(self, start: datetime = NOON, step: timedelta = HOUR) -> None:
        self.now, self.step = start, step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now


@dataclass
class Books:
    uow: Callable[[], LedgerUnitOfWork]
    read_model: Callable[[], LedgerReadModel]


async def book_hamburg(books: Books) -> None:
    """Ada gives to everyone, Grace gives a little, Linus only takes referrals, Margaret does nothing.

    Bookings at 13:00 (c1) ... 17:00 (c5), the reversal of c5 at 18:00.
    """
    await found(books, HAMBURG)
    for member in ("ada", "grace", "linus", "margaret"):
        joined = alliance_contracts.MemberJoinedV1(
            alliance_id=HAMBURG, member_id=member, role="moderator" if member == "ada" else "member", joined_at=NOON
        )
        await handlers.learn_membership(_event(alliance_contracts.MEMBER_JOINED, joined), joined, books.uow())
    clock = Ticking()
    for booking in (
        contribution("c1", "ada", "linus", "3", "referral", note="a buyer for Linus"),
        contribution("c2", "grace", "linus", "4", "referral"),
        contribution("c3", "ada", "grace", "2", "advice"),
        contribution("c4", "ada", "alliance", "5", "hosting"),
        contribution("c5", "grace", "linus", "1", "advice"),
    ):
        await handlers.record_contribution(booking, books.uow(), clock)
    reversal = contracts.ReverseContribution(
        reversal_id="r5", contribution_id="c5", requested_by="ada", reason="booked by mistake"
    )
    await handlers.reverse_contribution(reversal, books.uow(), clock)


async def found(books: Books, alliance_id: str) -> None:
    created = examples.alliance_created(alliance_id, threshold="-20", at=NOON)
    await handlers.learn_alliance(_event(alliance_contracts.ALLIANCE_CREATED, created), created, books.uow())


def _event(contract: EventContract[Any], data: BaseModel) -> CloudEvent:
    return make_event(type_=contract.type, source="/alliances", data=data)


def at(hour: int, minute: int = 0) -> datetime:
    return NOON.replace(hour=hour, minute=minute)


class ReadModelContract:
    """Every read model answers the same: subclasses provide the ``books`` fixture."""

    async def page(self, books: Books, **fields: object) -> StatementPage:
        query = contracts.QueryStatement(alliance_id=HAMBURG, member_id="linus", **fields)
        result = await queries.statement(query, books.read_model())
        return [line.version for line in result.items], result.next_after_version

    async def test_a_member_the_alliance_does_not_know_is_unknown_not_a_member_with_zeros(self, books: Books) -> None:
        await book_hamburg(books)
        read = books.read_model
        typo = {"alliance_id": HAMBURG, "member_id": "lnus"}
        with pytest.raises(UnknownMember):
            await queries.balance(contracts.QueryBalance(**typo), read())
        with pytest.raises(UnknownMember):
            await queries.statement(contracts.QueryStatement(**typo), read())
        with pytest.raises(UnknownMember):
            await queries.balance_at(contracts.QueryBalanceAt(**typo, at=at(14)), read())
        # A member without entries, and the alliance's own account, are known.
        assert (
            await queries.balance(contracts.QueryBalance(alliance_id=HAMBURG, member_id="margaret"), read())
        ).balance == 0
        assert (
            await queries.balance(contracts.QueryBalance(alliance_id=HAMBURG, member_id="alliance"), read())
        ).balance == -5
        margaret = contracts.QueryBalanceAt(alliance_id=HAMBURG, member_id="margaret", at=at(14))
        assert (await queries.balance_at(margaret, read())).version == 0

    async def test_a_statement_pages_newest_first_by_account_version(self, books: Books) -> None:
        await book_hamburg(books)
        assert await self.page(books, limit=3) == ([4, 3, 2], 2)
        assert await self.page(books, limit=3, after_version=2) == ([1], None)

    async def test_a_statement_pages_oldest_first_and_ends_without_a_cursor(self, books: Books) -> None:
        await book_hamburg(books)
        assert await self.page(books, limit=2, order="oldest-first") == ([1, 2], 2)
        assert await self.page(books, limit=2, order="oldest-first", after_version=2) == ([3, 4], None)
        assert await self.page(books, limit=2, order="oldest-first", after_version=4) == ([], None)

    async def test_statement_lines_name_the_other_side_and_the_balance_before_and_after(self, books: Books) -> None:
        await book_hamburg(books)
        query = contracts.QueryStatement(alliance_id=HAMBURG, member_id="linus", order="oldest-first")
        first, *_, reversal = (await queries.statement(query, books.read_model())).items
        assert (first.role, first.counterparty_id, first.kind, first.note) == (
            "receiver",
            "ada",
            "referral",
            "a buyer for Linus",
        )
        assert (first.amount, first.balance_before, first.balance_after, first.recorded_at) == (
            Decimal("-3"),
            Decimal("0"),
            Decimal("-3"),
            at(13),
        )
        assert (reversal.contribution_id, reversal.reverses, reversal.amount, reversal.balance_after) == (
            "r5",
            "c5",
            Decimal("1"),
            Decimal("-7"),
        )
        ada = contracts.QueryStatement(alliance_id=HAMBURG, member_id="ada")
        newest = (await queries.statement(ada, books.read_model())).items[0]
        assert (newest.role, newest.counterparty_id, newest.amount) == ("giver", "alliance", Decimal("5"))

    async def test_the_balance_as_of_a_time_is_the_balance_after_the_last_entry_then(self, books: Books) -> None:
        await book_hamburg(books)

        async def linus_at(moment: datetime) -> tuple[Decimal, int, str | None]:
            query = contracts.QueryBalanceAt(alliance_id=HAMBURG, member_id="linus", at=moment)
            view = await queries.balance_at(query, books.read_model())
            return view.balance, view.version, view.contribution_id

        assert await linus_at(at(12, 59)) == (Decimal("0"), 0, None)
        assert await linus_at(at(13)) == (Decimal("-3"), 1, "c1")
        assert await linus_at(at(16, 30)) == (Decimal("-7"), 2, "c2")
        assert await linus_at(at(17)) == (Decimal("-8"), 3, "c5")
        assert await linus_at(at(23)) == (Decimal("-7"), 4, "r5")

    async def test_a_time_without_zone_is_read_as_utc(self, books: Books) -> None:
        await book_hamburg(books)
        query = contracts.QueryBalanceAt(alliance_id=HAMBURG, member_id="linus", at=datetime(2026, 11, 24, 13, 30))
        view = await queries.balance_at(query, books.read_model())
        assert (view.at, view.balance) == (at(13, 30), Decimal("-3"))

    async def test_the_matrix_shows_who_gave_to_whom_by_kind_net_of_reversals(self, books: Books) -> None:
        await book_hamburg(books)
        matrix = await queries.flow_matrix(contracts.QueryFlowMatrix(alliance_id=HAMBURG), books.read_model())
        assert [(c.giver_id, c.receiver_id, c.kind.value, c.value, c.contributions) for c in matrix.cells] == [
            ("ada", "alliance", "hosting", Decimal("5"), 1),
            ("ada", "grace", "advice", Decimal("2"), 1),
            ("ada", "linus", "referral", Decimal("3"), 1),
            ("grace", "linus", "referral", Decimal("4"), 1),
        ]
        assert (matrix.given, matrix.total) == ({"ada": Decimal("10"), "grace": Decimal("4")}, Decimal("14"))
        assert [(o.member_id, o.received, o.referrals_received, o.sources) for o in matrix.one_way] == [
            ("linus", Decimal("7"), Decimal("7"), 2)
        ]

    async def test_the_matrix_of_one_kind_leaves_the_others_out(self, books: Books) -> None:
        await book_hamburg(books)
        query = contracts.QueryFlowMatrix(alliance_id=HAMBURG, kind=contracts.ContributionKind.ADVICE)
        matrix = await queries.flow_matrix(query, books.read_model())
        assert [(c.giver_id, c.receiver_id) for c in matrix.cells] == [("ada", "grace")]

    async def test_health_reports_the_gini_of_giving_active_givers_and_one_way_flows(self, books: Books) -> None:
        await book_hamburg(books)
        query = contracts.QueryAllianceHealth(alliance_id=HAMBURG)
        health = await queries.alliance_health(query, books.read_model(), Ticking())
        assert (health.members, health.active_givers, health.total_given, health.gini) == (
            4,
            2,
            Decimal("14"),
            Decimal("0.6071"),
        )
        assert (health.one_way_count, health.one_way_members) == (1, ["linus"])

    async def test_queries_of_an_unknown_alliance_are_refused(self, books: Books) -> None:
        with pytest.raises(UnknownAlliance):
            await queries.flow_matrix(contracts.QueryFlowMatrix(alliance_id="atlantis"), books.read_model())
        query = contracts.QueryStatement(alliance_id="atlantis", member_id="linus")
        with pytest.raises(UnknownAlliance):
            await queries.statement(query, books.read_model())


class TestInMemoryReadModel(ReadModelContract):
    @pytest.fixture
    def books(self) -> Books:
        uow = FakeLedgerUnitOfWork()
        return Books(uow=lambda: uow, read_model=lambda: FakeLedgerReadModel(uow))


@pytest.mark.integration
class TestSqlReadModel(ReadModelContract):
    @pytest.fixture
    async def books(self, database_url: str) -> AsyncIterator[Books]:
        await upgrade_to_head_async(MIGRATIONS, database_url)
        engine = create_engine(database_url)
        try:
            yield Books(
                uow=lambda: SqlLedgerUnitOfWork(engine, messaging, source="/ledger"),
                read_model=lambda: SqlLedgerReadModel(engine),
            )
        finally:
            await engine.dispose()


class SetClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_the_health_of_each_alliance_is_published_once_per_period_at_its_own_slot() -> None:
    uow = FakeLedgerUnitOfWork()
    books = Books(uow=lambda: uow, read_model=lambda: FakeLedgerReadModel(uow))
    await book_hamburg(books)
    slot = health_slot(HAMBURG, HOUR)
    assert timedelta(seconds=1) <= slot < HOUR - timedelta(seconds=1)
    clock = SetClock(at(18) + slot - timedelta(seconds=1))
    publisher = PeriodicHealth(period=HOUR, read_model=books.read_model, uow=books.uow, clock=clock)
    assert await publisher.publish_due() == 0  # 18:00-19:00, not due yet
    clock.now = at(18) + slot
    assert await publisher.publish_due() == 1
    clock.now = at(19) - timedelta(microseconds=1)
    assert await publisher.publish_due() == 0  # out for 18:00-19:00 already
    clock.now = at(19) + slot
    assert await publisher.publish_due() == 1  # 19:00-20:00
    assert await publisher.publish_due() == 0
    [(_, first), (_, second)] = uow.emitted[-2:]
    assert isinstance(first, contracts.AllianceHealthV1)
    assert isinstance(second, contracts.AllianceHealthV1)
    assert (first.period_start, second.period_start, second.period_seconds) == (at(18), at(19), 3600)
    assert (second.gini, second.one_way_members) == (Decimal("0.6071"), ["linus"])
    assert uow.emitted_types()[-2:] == [contracts.ALLIANCE_HEALTH_PUBLISHED.type] * 2
    emitted = len(uow.emitted)
    assert [uow.event_ids[emitted - 2], uow.event_ids[emitted - 1]] == [
        queries.health_event_id(HAMBURG, at(18)),
        queries.health_event_id(HAMBURG, at(19)),
    ]


def test_the_slots_spread_alliances_over_the_period() -> None:
    slots = [health_slot(f"alliance-{n}", HOUR) for n in range(1000)]
    assert all(timedelta(0) <= slot < HOUR for slot in slots)
    per_quarter = [sum(1 for s in slots if q * HOUR / 4 <= s < (q + 1) * HOUR / 4) for q in range(4)]
    assert min(per_quarter) > 200, per_quarter


async def test_a_ledger_started_late_in_a_period_catches_up_a_few_alliances_per_round() -> None:
    uow = FakeLedgerUnitOfWork()
    books = Books(uow=lambda: uow, read_model=lambda: FakeLedgerReadModel(uow))
    for n in range(10):
        await found(books, f"alliance-{n}")
    period = timedelta(seconds=100)  # ticks of 10 s: one tenth of the alliances due per tick, twice that allowed
    clock = SetClock(period_start(NOON, period) + period - timedelta(microseconds=1))  # every slot has passed
    publisher = PeriodicHealth(period=period, read_model=books.read_model, uow=books.uow, clock=clock)
    assert [await publisher.publish_due() for _ in range(6)] == [2, 2, 2, 2, 2, 0]
    assert len({event_id for event_id in uow.event_ids}) == 10


def test_the_health_event_id_is_the_same_for_the_same_alliance_and_period_only() -> None:
    assert queries.health_event_id(HAMBURG, at(18)) == queries.health_event_id(HAMBURG, at(18))
    assert queries.health_event_id(HAMBURG, at(18)) != queries.health_event_id(HAMBURG, at(19))
    assert queries.health_event_id(HAMBURG, at(18)) != queries.health_event_id("berlin", at(18))
