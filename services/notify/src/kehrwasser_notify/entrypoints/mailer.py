"""The mailer loop: sends due deliveries, woken by every commit that queued mail, else polling."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from ..service_layer import handlers
from ..service_layer.unit_of_work import MailSender, NotifyUnitOfWork

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
        self._sender = sender
        self._clock = clock
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                sent = await handlers.deliver_due(self._uow_factory, self._sender, self._clock)
            except Exception:
                log.exception("mailer round failed; retrying")
                sent = 0
            if sent:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
            self._wake.clear()
