"""The mailer: sends due deliveries over several connections at a capped rate, retries what the mail server
refuses for now, gives up what it refuses for good; woken by every commit that queued mail, else polling.

Exactly once per delivery, as far as a mail server can be told: a round claims a batch of due deliveries until
a time that covers every send it may start (`DeliverySettings.claim`), and never starts a send that could
outlast its claim (`DeliverySettings.claim_margin` before the end, plus the send's timeout), so no other
instance can take a delivery while it is being sent. A send is marked right after the server accepted it (the
marks of a round are committed in groups as they come). A crash between the server's acceptance and that
commit leaves the delivery claimed; once the claim has run out it is sent again, with the same Message-ID:
the safe side is a rare repeat that mail programs can recognise, never a lost email.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kehrwasser_shared.contracts import notify as notify_contracts
from kehrwasser_shared.observability import metrics, tracing

from ..domain.model import LONGEST_ERROR, LeasedDelivery, RetryPolicy, SendFailed
from .unit_of_work import MailSender, NotifyUnitOfWork

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
UnitOfWorkFactory = Callable[[], NotifyUnitOfWork]


@dataclass(frozen=True)
class DeliverySettings:
    connections: int = 4
    """Sends in flight at once (the SMTP sender keeps as many connections)."""
    per_second: float = 500.0
    """The most sends started per second (0: no cap)."""
    send_timeout: float = 30.0
    """The longest one send may take, connecting included; then it counts as a temporary failure."""
    per_connection: int = 8
    """A round claims this many deliveries per connection."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    claim_margin: timedelta = timedelta(seconds=30)
    """Left between the end of the last send a claim covers and the end of the claim: time to mark it sent,
    and for the instances' clocks to disagree."""

    @property
    def batch(self) -> int:
        return self.connections * self.per_connection

    @property
    def claim(self) -> timedelta:
        """How long a round claims its batch: every connection's share sent one after another, each taking its
        whole timeout, at the capped rate, plus the margin."""
        pacing = self.batch / self.per_second if self.per_second else 0.0
        return timedelta(seconds=self.per_connection * self.send_timeout + pacing) + self.claim_margin


class Pace:
    """Spaces the starts of sends so that at most ``per_second`` start in any second (0: no cap)."""

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        if not self._interval:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        start = max(self._next, now)
        self._next = start + self._interval
        if start > now:
            await asyncio.sleep(start - now)


async def deliver_due(
    uow_factory: UnitOfWorkFactory,
    mail: MailSender,
    clock: Clock,
    settings: DeliverySettings = DeliverySettings(),
    *,
    pace: Pace | None = None,
    jitter: Callable[[], float] = random.random,
) -> int:
    """One round: send over ``settings.connections`` connections until nothing is due; returns the attempts.

    The connections share a queue that the first of them to find it empty refills with a newly claimed batch,
    so a connection stuck on a hanging send holds up only that send: the others go on claiming and sending.
    """
    waiting: deque[tuple[LeasedDelivery, datetime]] = deque()
    refilling = asyncio.Lock()
    marks = _Marks(uow_factory, clock, settings.retry, jitter)
    unstarted: list[str] = []
    attempted = 0
    exhausted = False

    async def refill() -> None:
        nonlocal exhausted
        async with refilling:
            # One claim that found nothing ends the round for every connection: the others, queued on the lock
            # behind it, would each claim again in a transaction of their own (contending for SQLite's one
            # writer with the handlers queueing new mail). What fell due meanwhile is the next round's.
            if waiting or exhausted:
                return
            now = clock()
            claimed_until = now + settings.claim
            async with uow_factory() as uow:
                due = await uow.deliveries.lease_due(now, claimed_until, settings.batch)
                await uow.commit()
            exhausted = not due
            # No send starts unless it can end, timeout and margin included, before its claim does.
            last_start = claimed_until - timedelta(seconds=settings.send_timeout) - settings.claim_margin
            waiting.extend((leased, last_start) for leased in due)

    async def connection() -> None:
        nonlocal attempted
        while True:
            if not waiting:
                await refill()
                if not waiting:
                    return
            leased, last_start = waiting.popleft()
            if pace is not None:
                await pace.wait()
            if clock() > last_start:
                unstarted.append(leased.delivery.delivery_id)
                continue
            attempted += 1
            marks.record(leased, await _attempt(mail, leased, settings.send_timeout))

    try:
        await asyncio.gather(*(connection() for _ in range(settings.connections)))
    finally:
        await marks.settle()
        if unstarted:
            log.warning("%d claimed deliveries not attempted within their claim; due again now", len(unstarted))
            async with uow_factory() as uow:
                await uow.deliveries.release(unstarted, clock())
                await uow.commit()
    return attempted


async def _attempt(mail: MailSender, leased: LeasedDelivery, timeout: float) -> SendFailed | None:
    delivery = leased.delivery
    if not delivery.message:
        return SendFailed("the message could not be built", permanent=True)
    try:
        # In the trace of the event the mail was written for, if this process handled it (tracing on).
        with tracing.following_event("notify send-mail", delivery.caused_by, kind=delivery.kind):
            await asyncio.wait_for(mail.send(delivery.recipient, delivery.message), timeout)
    except SendFailed as failure:
        return failure
    except TimeoutError:
        return SendFailed(f"no answer from the mail server within {timeout:g} s", permanent=False)
    except Exception as error:
        return SendFailed(f"{type(error).__name__}: {error}", permanent=False)
    return None


class _Marks:
    """Outcomes of a round's sends, committed in groups while the sends go on (one commit in flight)."""

    def __init__(
        self, uow_factory: UnitOfWorkFactory, clock: Clock, retry: RetryPolicy, jitter: Callable[[], float]
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._retry = retry
        self._jitter = jitter
        self._sent: list[str] = []
        self._failed: list[tuple[LeasedDelivery, SendFailed]] = []
        self._committing: asyncio.Task[None] | None = None

    def record(self, leased: LeasedDelivery, failure: SendFailed | None) -> None:
        if failure is None:
            self._sent.append(leased.delivery.delivery_id)
        else:
            self._failed.append((leased, failure))
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_while_any())

    async def settle(self) -> None:
        """Wait until every outcome recorded so far is committed (raises what a commit raised)."""
        while self._committing is not None:
            committing = self._committing
            await committing
            if committing is self._committing:
                self._committing = None

    async def _commit_while_any(self) -> None:
        while self._sent or self._failed:
            sent, self._sent = self._sent, []
            failed, self._failed = self._failed, []
            now = self._clock()
            async with self._uow_factory() as uow:
                await uow.deliveries.mark_sent(sent, now)
                for leased, failure in failed:
                    await self._record_failure(uow, leased, failure, now)
                await uow.commit()

    async def _record_failure(
        self, uow: NotifyUnitOfWork, leased: LeasedDelivery, failure: SendFailed, now: datetime
    ) -> None:
        delivery, attempts = leased.delivery, leased.attempts + 1
        reason = failure.reason[:LONGEST_ERROR]
        retry_at = (
            None if failure.permanent else self._retry.next_attempt(attempts, leased.queued_at, now, self._jitter())
        )
        if retry_at is not None:
            log.warning(
                "delivery %s (%s to member %s) failed, attempt %d, retrying at %s: %s",
                delivery.delivery_id, delivery.kind, delivery.member_id, attempts, retry_at.isoformat(), reason,
            )  # fmt: skip
            await uow.deliveries.mark_retry(delivery.delivery_id, reason, retry_at)
            return
        log.error(
            "delivery %s (%s to member %s) given up after %d attempt(s)%s: %s",
            delivery.delivery_id, delivery.kind, delivery.member_id, attempts,
            " (refused for good)" if failure.permanent else " (retry horizon passed)", reason,
        )  # fmt: skip
        await uow.deliveries.mark_failed(delivery.delivery_id, reason, now)
        uow.emit(
            notify_contracts.NOTIFICATION_FAILED,
            notification_failed(delivery.delivery_id, delivery.kind, delivery.member_id, reason, failure.permanent,
                                attempts, delivery.caused_by, leased.queued_at, now),
        )  # fmt: skip


def notification_failed(
    delivery_id: str,
    kind: str,
    member_id: str,
    reason: str,
    permanent: bool,
    attempts: int,
    caused_by: str | None,
    queued_at: datetime,
    failed_at: datetime,
) -> notify_contracts.NotificationFailedV1:
    return notify_contracts.NotificationFailedV1(
        delivery_id=delivery_id,
        kind=kind,
        member_id=member_id,
        reason=reason,
        permanent=permanent,
        attempts=attempts,
        caused_by=caused_by,
        queued_at=queued_at,
        failed_at=failed_at,
    )


class Mailer:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        sender: MailSender,
        clock: Clock,
        poll_seconds: float,
        settings: DeliverySettings = DeliverySettings(),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._uow_factory = uow_factory
        self._sender = _CountedSender(sender)
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._settings = settings
        self._jitter = jitter
        self._pace = Pace(settings.per_second)
        self._wake = asyncio.Event()
        self.rounds = 0
        """Rounds of `deliver_due` so far."""
        self.resting = asyncio.Event()
        """Set while the mailer waits with nothing due and no wake-up pending (what idle means)."""

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        # Stopping wakes the mailer too, so a long poll interval does not hold up the shutdown.
        waker = asyncio.create_task(self._wake_when_set(stop))
        try:
            while not stop.is_set():
                self.rounds += 1
                try:
                    attempted = await deliver_due(
                        self._uow_factory, self._sender, self._clock, self._settings, pace=self._pace,
                        jitter=self._jitter,
                    )  # fmt: skip
                except Exception:
                    log.exception("mailer round failed; retrying")
                    attempted = 0
                if attempted:
                    continue
                if not self._wake.is_set():
                    self.resting.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
                self.resting.clear()
                self._wake.clear()
        finally:
            waker.cancel()
            await self._sender.aclose()

    async def _wake_when_set(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake()


class _CountedSender(MailSender):
    """The mailer's sender, counting emails sent and failed for the service's metrics."""

    def __init__(self, sender: MailSender) -> None:
        self._sender = sender

    async def send(self, recipient: str, message: bytes) -> None:
        try:
            await self._sender.send(recipient, message)
        except BaseException:
            metrics.current().emails_failed.inc()
            raise
        metrics.current().emails_sent.inc()

    async def aclose(self) -> None:
        await self._sender.aclose()
