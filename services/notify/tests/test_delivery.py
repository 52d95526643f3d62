"""Delivery against a real SMTP server (aiosmtpd) that misbehaves: deferring, refusing, away, hanging; one and
two mailers on every reachable database. Every test waits for a condition, never for a time."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from notify_examples import NOW
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_notify.adapters.smtp import SmtpMailSender
from kehrwasser_notify.adapters.tables import deliveries, messaging
from kehrwasser_notify.bootstrap import MIGRATIONS, mail_delivery
from kehrwasser_notify.domain.model import Delivery, RetryPolicy
from kehrwasser_notify.service_layer import handlers
from kehrwasser_notify.service_layer.mailer import DeliverySettings, Mailer
from kehrwasser_notify.service_layer.unit_of_work import NotifyUnitOfWork
from kehrwasser_shared.contracts import notify as notify_contracts
from kehrwasser_shared.embedded.nats_server import free_port
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async

pytestmark = pytest.mark.integration
SENDER = "Kehrwasser <noreply@kehrwasser.local>"
# Retries come quickly here, so that a test sees several rounds of them; the rule itself is test_emails.py's.
QUICK = RetryPolicy(first=timedelta(milliseconds=50), longest=timedelta(milliseconds=200), jitter_share=0.5)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Misbehaving:
    """An aiosmtpd handler that answers each message as ``answer(recipient, attempt)`` says: a reply line, or
    None to accept; recipients listed in ``hang_for`` get no answer until ``release`` (then 451)."""

    def __init__(self, answer: Callable[[str, int], str | None] = lambda r, a: None) -> None:
        self._answer = answer
        self._lock = threading.Lock()
        self.attempts: Counter[str] = Counter()
        self.accepted: list[email.message.EmailMessage] = []
        self.hang_for: set[str] = set()
        self.hanging: Counter[str] = Counter()
        self._release = threading.Event()

    def release(self) -> None:
        self._release.set()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        [recipient] = envelope.rcpt_tos
        with self._lock:
            self.attempts[recipient] += 1
            attempt = self.attempts[recipient]
            hang = recipient in self.hang_for and not self._release.is_set()
            if hang:
                self.hanging[recipient] += 1
        if hang:
            await asyncio.get_running_loop().run_in_executor(None, self._release.wait)
            return "451 4.4.2 Timeout waiting for data"
        reply = self._answer(recipient, attempt)
        if reply is not None:
            return reply
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        with self._lock:
            self.accepted.append(message)
        return "250 Message accepted for delivery"

    def accepted_ids(self) -> Counter[str]:
        with self._lock:
            return Counter(str(m["Message-ID"]) for m in self.accepted)


class Server:
    def __init__(self, handler: Misbehaving, port: int | None = None) -> None:
        self.handler = handler
        self.port = port or free_port()
        self._controller = Controller(handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> Server:
        self._controller.start()
        return self

    def stop(self) -> None:
        self.handler.release()
        self._controller.stop()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def serve(servers: list[Server], handler: Misbehaving, port: int | None = None) -> Server:
    server = Server(handler, port).start()
    servers.append(server)
    return server


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_to_head_async(MIGRATIONS, database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


def sender_to(port: int, *, timeout: float = 10.0, connections: int = 4) -> SmtpMailSender:
    return SmtpMailSender(host="127.0.0.1", port=port, sender=SENDER, timeout=timeout, connections=connections)


async def queue_mail(uow: Callable[[], NotifyUnitOfWork], recipients: list[str]) -> None:
    """One small message to each recipient, as a handler queues them."""
    now = utc_now()
    queued = []
    for index, recipient in enumerate(recipients):
        delivery_id = f"d{index:04d}"
        message = (
            f"From: {SENDER}\r\nTo: {recipient}\r\nSubject: Hello {index}\r\nMessage-ID: <{delivery_id}@kehrwasser>"
            f"\r\n\r\nHello.\r\n"
        ).encode()
        member_id = recipient.split("@")[0]
        queued.append(Delivery(delivery_id, "test", member_id, recipient, message, now, caused_by=f"e{index}"))
    async with uow() as unit:
        await unit.deliveries.add(queued, due=now)
        await unit.commit()


async def statuses(engine: AsyncEngine) -> dict[str, tuple[str, int]]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(deliveries.c.recipient, deliveries.c.status, deliveries.c.attempts))
        return {row.recipient: (row.status, row.attempts) for row in rows}


async def outbox_types(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list(await connection.scalars(select(messaging.outbox.c.subject)))


async def until(condition: Callable[[], Awaitable[bool] | bool], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        assert loop.time() < deadline, f"not within {timeout}s"
        await asyncio.sleep(0.02)


class Running:
    def __init__(self, *mailers: Mailer) -> None:
        self._mailers = mailers
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Running:
        self._tasks = [asyncio.create_task(m.run(self._stop)) for m in self._mailers]
        return self

    async def __aexit__(self, *_: object) -> None:
        self._stop.set()
        await asyncio.wait_for(asyncio.gather(*self._tasks), 30)


def recipients(count: int, prefix: str = "founder") -> list[str]:
    return [f"{prefix}{n:03d}@example.org" for n in range(count)]


async def test_mail_deferred_with_451_for_a_while_reaches_everyone_once(
    engine: AsyncEngine, servers: list[Server]
) -> None:
    # The first two attempts of every message are deferred: the server recovers for each on its third.
    server = serve(servers, Misbehaving(lambda r, attempt: "451 4.3.0 Try again later" if attempt <= 2 else None))
    settings = DeliverySettings(retry=QUICK)
    uow, mailer = mail_delivery(engine, sender_to(server.port), utc_now, 0.05, settings)
    everyone = recipients(30)
    async with Running(mailer):
        await queue_mail(uow, everyone)
        await until(lambda: len(server.handler.accepted) >= 30)
        await until(lambda: _all_sent(engine))
    assert set(server.handler.accepted_ids().values()) == {1}
    assert sorted(str(m["To"]) for m in server.handler.accepted) == everyone
    assert all(server.handler.attempts[r] == 3 for r in everyone)


async def _all_sent(engine: AsyncEngine) -> bool:
    return all(status == "sent" for status, _ in (await statuses(engine)).values())


async def test_a_550_is_tried_once_marked_failed_and_announced(engine: AsyncEngine, servers: list[Server]) -> None:
    server = serve(servers, Misbehaving(lambda r, a: "550 5.1.1 No such user" if r.startswith("gone") else None))
    uow, mailer = mail_delivery(engine, sender_to(server.port), utc_now, 0.05, DeliverySettings(retry=QUICK))
    async with Running(mailer):
        await queue_mail(uow, ["ada@example.org", "gone@example.org", "grace@example.org"])
        await until(lambda: _settled(engine, 3))
    recorded = await statuses(engine)
    assert recorded == {
        "ada@example.org": ("sent", 1),
        "gone@example.org": ("failed", 1),
        "grace@example.org": ("sent", 1),
    }
    assert server.handler.attempts["gone@example.org"] == 1
    assert await outbox_types(engine) == [notify_contracts.NOTIFICATION_FAILED.subject]
    async with uow() as unit:
        [failed] = await unit.deliveries.log(member_id="gone", status="failed", limit=10, after=None)
    assert failed.last_error is not None
    assert "550" in failed.last_error


async def _settled(engine: AsyncEngine, count: int) -> bool:
    recorded = await statuses(engine)
    return len(recorded) == count and all(status in ("sent", "failed") for status, _ in recorded.values())


async def test_a_temporary_failure_past_the_horizon_is_given_up_and_announced(
    engine: AsyncEngine, servers: list[Server]
) -> None:
    server = serve(servers, Misbehaving(lambda r, a: "421 4.3.2 System not accepting network messages"))
    short = RetryPolicy(first=timedelta(milliseconds=20), longest=timedelta(milliseconds=40), horizon=timedelta(0))
    uow, mailer = mail_delivery(engine, sender_to(server.port), utc_now, 0.05, DeliverySettings(retry=short))
    async with Running(mailer):
        await queue_mail(uow, ["ada@example.org"])
        await until(lambda: _settled(engine, 1))
    assert await statuses(engine) == {"ada@example.org": ("failed", 1)}
    assert await outbox_types(engine) == [notify_contracts.NOTIFICATION_FAILED.subject]


async def test_mail_queued_while_the_smtp_server_is_down_goes_out_once_it_is_up(
    engine: AsyncEngine, servers: list[Server]
) -> None:
    port = free_port()  # nothing listens there yet
    uow, mailer = mail_delivery(engine, sender_to(port), utc_now, 0.05, DeliverySettings(retry=QUICK))
    everyone = recipients(10)
    async with Running(mailer):
        await queue_mail(uow, everyone)

        async def refused_twice() -> bool:
            return all(attempts >= 2 for _, attempts in (await statuses(engine)).values())

        await until(refused_twice)
        server = serve(servers, Misbehaving(), port)
        await until(lambda: _all_sent(engine))
    assert sorted(server.handler.accepted_ids()) == sorted(f"<d{n:04d}@kehrwasser>" for n in range(10))
    assert set(server.handler.accepted_ids().values()) == {1}


async def test_a_hanging_send_holds_up_no_other_mail(engine: AsyncEngine, servers: list[Server]) -> None:
    handler = Misbehaving()
    handler.hang_for = {"slow@example.org"}
    server = serve(servers, handler)
    # A timeout far longer than the test: the other mail must flow while the hanging send waits.
    uow, mailer = mail_delivery(
        engine, sender_to(server.port, timeout=600), utc_now, 0.05, DeliverySettings(retry=QUICK, send_timeout=600)
    )
    others = recipients(40)
    async with Running(mailer):
        await queue_mail(uow, ["slow@example.org", *others])
        await until(lambda: len(handler.accepted) == 40)
        assert handler.hanging["slow@example.org"] == 1
        assert (await statuses(engine))["slow@example.org"] == ("pending", 0)
        handler.release()  # the server answers 451 at last; the retry is accepted
        await until(lambda: _all_sent(engine))
    assert set(handler.accepted_ids().values()) == {1}
    assert len(handler.accepted) == 41


async def test_a_send_that_hangs_past_its_timeout_is_retried(engine: AsyncEngine, servers: list[Server]) -> None:
    handler = Misbehaving()
    handler.hang_for = {"slow@example.org"}
    server = serve(servers, handler)
    settings = DeliverySettings(retry=QUICK, send_timeout=0.5)
    uow, mailer = mail_delivery(engine, sender_to(server.port), utc_now, 0.05, settings)
    async with Running(mailer):
        await queue_mail(uow, ["slow@example.org", "ada@example.org"])

        async def timed_out() -> bool:
            status, attempts = (await statuses(engine))["slow@example.org"]
            return status == "pending" and attempts >= 1

        await until(timed_out)
        handler.release()
        await until(lambda: _all_sent(engine))
    async with uow() as unit:
        [slow] = await unit.deliveries.log(member_id="slow", status=None, limit=1, after=None)
    assert slow.status == "sent"
    assert handler.accepted_ids()["<d0000@kehrwasser>"] == 1


async def test_two_mailers_under_a_hanging_server_send_everything_once(
    engine: AsyncEngine, database_url: str, servers: list[Server]
) -> None:
    handler = Misbehaving(lambda r, attempt: "451 4.3.0 Busy" if attempt == 1 and r.endswith("7@example.org") else None)
    handler.hang_for = {"founder003@example.org", "founder011@example.org"}
    server = serve(servers, handler)
    # A timeout that a busy machine does not reach by accident: a send timed out after the server accepted it
    # would be sent again (SMTP cannot tell), which is not what this test is about.
    settings = DeliverySettings(retry=QUICK, send_timeout=3, connections=3, per_connection=4)
    uow, first = mail_delivery(engine, sender_to(server.port, connections=3), utc_now, 0.05, settings)
    second_engine = create_engine(database_url)  # the second instance: its own engine, sender and mailer
    try:
        _, second = mail_delivery(second_engine, sender_to(server.port, connections=3), utc_now, 0.05, settings)
        everyone = recipients(120)
        async with Running(first, second):
            await queue_mail(uow, everyone)
            await until(lambda: len(handler.accepted) >= 118)
            handler.release()
            await until(lambda: _all_sent(engine))
        assert first.rounds > 1
        assert second.rounds > 1
    finally:
        await second_engine.dispose()
    counted = handler.accepted_ids()
    assert sorted(counted) == sorted(f"<d{n:04d}@kehrwasser>" for n in range(120))
    assert set(counted.values()) == {1}


async def test_the_delivery_log_pages_newest_first_and_a_failed_delivery_can_be_retried(
    engine: AsyncEngine, servers: list[Server]
) -> None:
    server = serve(servers, Misbehaving(lambda r, a: "550 5.1.1 No such user" if a == 1 else None))
    uow, mailer = mail_delivery(engine, sender_to(server.port), utc_now, 0.05, DeliverySettings(retry=QUICK))
    async with Running(mailer):
        await queue_mail(uow, ["ada@example.org"])
        await until(lambda: _settled(engine, 1))
        page = await handlers.mail_log(notify_contracts.MailLog(status="failed"), uow())
        [failed] = page.deliveries
        assert (failed.member_id, failed.status, failed.attempts) == ("ada", "failed", 1)
        retried = await handlers.retry_delivery(
            notify_contracts.RetryDelivery(delivery_id=failed.delivery_id, requested_by="operator"), uow(), utc_now
        )
        assert (retried.status, retried.attempts) == ("queued", 0)
        await until(lambda: _all_sent(engine))
    with pytest.raises(Exception, match="not failed"):
        await handlers.retry_delivery(
            notify_contracts.RetryDelivery(delivery_id=failed.delivery_id, requested_by="operator"), uow(), utc_now
        )

    async with uow() as unit:
        await unit.deliveries.add(
            [
                Delivery(f"x{n}", "test", "grace", "grace@example.org", b"x", NOW + timedelta(seconds=n))
                for n in range(5)
            ],
            due=NOW,
        )
        await unit.commit()
    first = await handlers.mail_log(notify_contracts.MailLog(member_id="grace", limit=2), uow())
    assert [d.delivery_id for d in first.deliveries] == ["x4", "x3"]
    assert first.next_cursor is not None
    second = await handlers.mail_log(
        notify_contracts.MailLog(member_id="grace", limit=2, cursor=first.next_cursor), uow()
    )
    third = await handlers.mail_log(
        notify_contracts.MailLog(member_id="grace", limit=2, cursor=second.next_cursor), uow()
    )
    assert [d.delivery_id for d in second.deliveries + third.deliveries] == ["x2", "x1", "x0"]
    assert third.next_cursor is None
    assert {d.status for d in first.deliveries} == {"queued"}
