"""The mailer sends what a commit queued and then rests: its own lease and mark commits never wake it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_notify.adapters.tables import deliveries, messaging
from kehrwasser_notify.adapters.unit_of_work import SqlNotifyUnitOfWork
from kehrwasser_notify.bootstrap import MIGRATIONS, mail_delivery
from kehrwasser_notify.domain.model import Contact
from kehrwasser_notify.service_layer import handlers
from kehrwasser_notify.service_layer.unit_of_work import MailSender, NotifyUnitOfWork
from kehrwasser_shared.contracts import ledger, make_event
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SENDER = "Kehrwasser <noreply@kehrwasser.local>"
# Far longer than any test: a round the mailer runs is one a commit woke it for, never the poll.
NEVER = 3600.0


class RecordingSender(MailSender):
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.arrived = asyncio.Event()

    async def send(self, recipient: str, message: bytes) -> None:
        self.sent.append(recipient)
        self.arrived.set()


def clock() -> datetime:
    return NOW


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_to_head_async(MIGRATIONS, database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


def red_warning(member_id: str) -> ledger.BalanceWarningV2:
    return ledger.BalanceWarningV2(
        alliance_id="hamburg",
        member_id=member_id,
        light=ledger.TrafficLight.RED,
        previous_light=ledger.TrafficLight.GREEN,
        reason=ledger.LightReason.BALANCE,
        balance=Decimal("-7"),
        threshold=Decimal("-5"),
        occurred_at=NOW,
    )


async def queue_a_warning_for_linus(uow: Callable[[], NotifyUnitOfWork]) -> None:
    async with uow() as unit:
        await unit.contacts.save(Contact("linus", "Linus Torvalds", "linus@example.org", "en"))
        await unit.alliances.save("hamburg", "Hamburg Founders")
        await unit.commit()
    warning = red_warning("linus")
    event = make_event(type_=ledger.BALANCE_WARNING.type, source="/test", data=warning)
    await handlers.warn_about_balance(event, warning, uow(), SENDER, clock)


async def test_the_mailer_rests_once_it_has_sent_what_a_commit_queued(engine: AsyncEngine) -> None:
    sender = RecordingSender()
    uow, mailer = mail_delivery(engine, sender, clock, poll_seconds=NEVER)
    stop = asyncio.Event()
    running = asyncio.create_task(mailer.run(stop))
    try:
        await asyncio.wait_for(mailer.resting.wait(), 10)
        assert mailer.rounds == 1  # nothing due at the start

        await queue_a_warning_for_linus(uow)
        await asyncio.wait_for(sender.arrived.wait(), 10)
        # Woken by the commit that queued the warning, it sends it, looks once more, finds nothing and rests:
        # the commits of its own lease and of marking the warning sent do not start another round.
        await asyncio.wait_for(mailer.resting.wait(), 10)
        assert mailer.rounds == 3
        assert sender.sent == ["linus@example.org"]
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


async def test_a_mailer_told_to_stop_while_resting_stops_at_once(engine: AsyncEngine) -> None:
    _, mailer = mail_delivery(engine, RecordingSender(), clock, poll_seconds=NEVER)
    stop = asyncio.Event()
    running = asyncio.create_task(mailer.run(stop))
    await asyncio.wait_for(mailer.resting.wait(), 10)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert mailer.rounds == 1


class RefusingSender(MailSender):
    async def send(self, recipient: str, message: bytes) -> None:
        raise ConnectionRefusedError("the mail server is away")


async def test_only_a_commit_that_queued_deliveries_wakes_the_mailer(engine: AsyncEngine) -> None:
    wake_ups: list[str] = []

    def uow() -> NotifyUnitOfWork:
        return SqlNotifyUnitOfWork(
            engine, messaging, source="/notify", on_deliveries_queued=lambda: wake_ups.append("queued")
        )

    await queue_a_warning_for_linus(uow)
    assert wake_ups == ["queued"]
    # The mailer's own commits: a lease and a failed attempt, then a lease and the mark as sent.
    assert await handlers.deliver_due(uow, RefusingSender(), clock) == 0
    assert await handlers.deliver_due(uow, RecordingSender(), lambda: NOW + timedelta(hours=1)) == 1
    # A commit that only records a message that could not be built: there is nothing to send.
    async with uow() as unit:
        await unit.contacts.save(Contact("eve", "Eve\r\nBcc: x@y.z", "eve@example.org", "en"))
        await unit.commit()
    await handlers.warn_about_balance(
        make_event(type_=ledger.BALANCE_WARNING.type, source="/test", data=red_warning("eve")),
        red_warning("eve"),
        uow(),
        SENDER,
        clock,
    )
    async with engine.connect() as connection:
        statuses = dict((await connection.execute(select(deliveries.c.member_id, deliveries.c.status))).all())
    assert statuses == {"linus": "sent", "eve": "failed"}
    assert wake_ups == ["queued"]
