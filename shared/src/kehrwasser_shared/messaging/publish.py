"""Publish a batch to JetStream and wait for every acknowledgement, without a future per message.

nats-py's ``publish_async`` gives each message a future, an ``asyncio.wait_for`` on a semaphore and a random
token from the operating system, and parses each acknowledgement into an object: a tenth of the ledger's
processor time at its intake rate. Here each message of a batch is an ordinary publish whose reply subject
names the batch and the message; one subscription callback counts the acknowledgements and keeps the
errors. JetStream semantics are unchanged: a message counts as stored when the stream acknowledged it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

MSG_ID_HEADER = "Nats-Msg-Id"
TRACEPARENT_HEADER = "traceparent"  # W3C trace context, as FastStream's telemetry middleware reads it


class PublishFailed(Exception):
    """Some messages of a batch were refused by JetStream or not acknowledged in time."""


class BatchPublisher:
    """One batch in flight at a time, on one connection: callers must not publish concurrently."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._inbox = nc.new_inbox()
        self._subscription: Subscription | None = None
        self._batches = itertools.count()
        self._batch = ""
        self._awaited = 0
        self._errors: list[str] = []
        self._complete = asyncio.Event()

    async def start(self) -> None:
        self._subscription = await self._nc.subscribe(f"{self._inbox}.*.*", cb=self._on_ack)

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def publish(self, messages: Sequence[tuple[str, bytes, str, str | None]], *, timeout: float = 10.0) -> None:
        """Publish ``(subject, payload, message id, traceparent or None)``; returns once the stream stored every one.

        Raises `PublishFailed` if JetStream refused one or an acknowledgement did not come within ``timeout``.
        """
        if not messages:
            return
        self._batch = str(next(self._batches))
        self._awaited, self._errors = len(messages), []
        self._complete.clear()
        for position, (subject, payload, message_id, traceparent) in enumerate(messages):
            reply = f"{self._inbox}.{self._batch}.{position}"
            headers = {MSG_ID_HEADER: message_id}
            if traceparent is not None:
                headers[TRACEPARENT_HEADER] = traceparent
            await self._nc.publish(subject, payload, reply=reply, headers=headers)
        try:
            await asyncio.wait_for(self._complete.wait(), timeout)
        except TimeoutError:
            raise PublishFailed(f"{self._awaited} of {len(messages)} messages not acknowledged in {timeout}s") from None
        if self._errors:
            raise PublishFailed(f"{len(self._errors)} of {len(messages)} refused, e.g. {self._errors[0]}")

    async def _on_ack(self, msg: Msg) -> None:
        if msg.subject.split(".")[-2] != self._batch:
            return  # an acknowledgement of an earlier batch that timed out
        status = msg.headers.get("Status") if msg.headers else None
        if status is not None:
            self._errors.append(f"status {status} {msg.headers.get('Description', '') if msg.headers else ''}")
        elif b'"error"' in msg.data:
            self._errors.append(msg.data.decode(errors="replace"))
        self._awaited -= 1
        if self._awaited <= 0:
            self._complete.set()
