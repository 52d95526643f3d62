"""The mailer sends what a commit queued and then rests: its own lease and mark commits never wake it; a mail the
SMTP server defers is sent once, on a later round."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from notify_examples import NOW, red_warning
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_notify.adapters.smtp import SmtpMailSender
from kehrwasser_notify.adapters.tables import deliveries, messaging
from kehrwasser_notify.adapters.unit_of_work import SqlNotifyUnitOfWork
from kehrwasser_notify.bootstrap import MIGRATIONS, mail_delivery
from kehrwasser_notify.domain.model import Contact, RetryPolicy
from kehrwasser_notify.service_layer import handlers
from kehrwasser_notify.service_layer.mailer import DeliverySettings, deliver_due
from kehrwasser_notify.service_layer.unit_of_work import MailSender, NotifyUnitOfWork
from kehrwasser_shared.contracts import ledger, make_event
from kehrwasser_shared.embedded.nats_server import free_port
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async

pytestmark = pytest.mark.integration
SENDER = "Kehrwasser <noreply@kehrwasser.local>"
# Far longer than any test: a round the mailer runs is one a commit woke it for, never the poll.
NEVER = 3600.0
WITHOUT_JITTER = DeliverySettings(retry=RetryPolicy(jitter_share=0.0))
FIRST_RETRY = WITHOUT_JITTER.retry.first


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
    assert await deliver_due(uow, RefusingSender(), clock) == 1
    assert await deliver_due(uow, RecordingSender(), lambda: NOW + timedelta(hours=1)) == 1
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


class DefersTheFirstMessage:
    """An SMTP server's handler (aiosmtpd) that answers the first message with 451, try again later, and keeps
    every later one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.deferred = 0
        self.accepted: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            if not self.deferred:
                self.deferred += 1
                return "451 4.3.0 Temporary local problem, try again later"
            assert isinstance(envelope.content, bytes)
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, email.message.EmailMessage)
            self.accepted.append(message)
            return "250 Message accepted for delivery"


@pytest.fixture
def deferring_smtp_server() -> Iterator[tuple[Controller, DefersTheFirstMessage]]:
    handler = DefersTheFirstMessage()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler
    controller.stop()


async def delivery_of(engine: AsyncEngine, member_id: str) -> dict[str, object]:
    async with engine.connect() as connection:
        row = (await connection.execute(select(deliveries).where(deliveries.c.member_id == member_id))).one()
    return dict(row._mapping)


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, f"not within {timeout}s"
        await asyncio.sleep(0.02)


async def test_a_mail_the_smtp_server_defers_is_sent_once_when_its_retry_is_due(
    engine: AsyncEngine, deferring_smtp_server: tuple[Controller, DefersTheFirstMessage]
) -> None:
    controller, server = deferring_smtp_server
    now = NOW
    sender = SmtpMailSender(host=controller.hostname, port=controller.port, sender=SENDER, timeout=10)
    # The mailer polls often, as in production, so it has every chance to retry too early.
    uow, mailer = mail_delivery(engine, sender, lambda: now, poll_seconds=0.02, delivery=WITHOUT_JITTER)
    stop = asyncio.Event()
    running = asyncio.create_task(mailer.run(stop))
    try:
        await queue_a_warning_for_linus(uow)

        async def attempted(times: int) -> bool:
            return (await delivery_of(engine, "linus"))["attempts"] == times

        async def rounds_since(start: int, count: int) -> bool:
            return mailer.rounds >= start + count

        await until(lambda: attempted(1))
        failed = await delivery_of(engine, "linus")
        assert (failed["status"], failed["next_attempt_at"]) == ("pending", NOW + FIRST_RETRY)
        assert "451" in str(failed["last_error"])
        # Rounds go by before the retry is due: none of them tries again.
        rounds = mailer.rounds
        await until(lambda: rounds_since(rounds, 5))
        assert (server.deferred, server.accepted) == (1, [])
        assert await attempted(1)

        now = NOW + FIRST_RETRY
        await until(lambda: attempted(2))
        rounds = mailer.rounds
        await until(lambda: rounds_since(rounds, 5))
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)

    sent = await delivery_of(engine, "linus")
    assert (sent["status"], sent["attempts"], sent["sent_at"]) == ("sent", 2, NOW + FIRST_RETRY)
    [message] = server.accepted
    assert server.deferred == 1
    assert message["To"].addresses[0].addr_spec == "linus@example.org"
    assert message["Subject"] == "Your balance of contribution in Hamburg Founders is red"
