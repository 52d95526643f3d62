"""The mailer loop: sends due deliveries, woken by every commit that queued mail, else polling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from kehrwasser_shared.observability import metrics

from . import handlers
from .unit_of_work import MailSender, NotifyUnitOfWork

log = logging.getLogger(__name__)


class Mailer:
    def __init__(
        self,
        uow_factory: Callable[[], NotifyUnitOfWork],
        sender: MailSender,
        clock: handlers.Clock,
        poll_seconds: float,
    ) -> None:
        self._uow_factory = uow_factory
        self._sender = _CountedSender(sender)
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self.rounds = 0
        """Rounds of `handlers.deliver_due` so far."""
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
                    sent = await handlers.deliver_due(self._uow_factory, self._sender, self._clock)
                except Exception:
                    log.exception("mailer round failed; retrying")
                    sent = 0
                if sent:
                    continue
                if not self._wake.is_set():
                    self.resting.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
                self.resting.clear()
                self._wake.clear()
        finally:
            waker.cancel()

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
        except Exception:
            metrics.current().emails_failed.inc()
            raise
        metrics.current().emails_sent.inc()
