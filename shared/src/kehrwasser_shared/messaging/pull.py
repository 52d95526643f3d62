"""Batches from durable JetStream pull consumers, without a task per message.

nats-py's ``PullSubscription.fetch`` collects a batch by calling ``next_msg`` once per message, and each call
creates a task, an ``asyncio.wait_for`` and a ``uuid4`` (a system call): about 50 microseconds per message on
the benchmark machine, a fifth of the ledger intake's processor time. This puller sends the same pull
request (``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``) and receives the messages in the callback of one
core subscription on its own inbox, appending them to a list; the messages are ordinary nats-py ``Msg``
objects, acknowledged as usual.

One puller may read several durable consumers of a stream (the partitions of a partitioned event that one
process owns): it asks them in turn, so that a backlog in one partition does not starve the others, and
while all are idle it keeps a long poll open on each, so that the first message of any partition ends the
wait.

Under load the next batch is asked for as soon as a full one is handed out: it streams in, and the client
parses it, while the caller is still busy with the current batch (for the ledger, while it waits for the
database). The prefetched messages count as delivered from then on; messages still held when the puller
stops are handed back (nak) so that they are redelivered at once instead of after the ack wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

DEFAULT_API_PREFIX = "$JS.API"
STATUS_HEADER = "Status"
HEARTBEAT = "100"

LONG_POLL_SECONDS = 1.0
"""How long a pull request of an idle consumer stays open. A fetch returns after its own timeout, but the
request goes on delivering what arrives: the server is asked once a second per idle consumer, not at every
fetch (twenty times a second at the ledger's 50 ms). A poll still open when the puller stops costs nothing: the
server drops a request whose inbox has no subscriber left (tested)."""

LOST_REQUEST_GRACE = 1.0
"""A request still unanswered this long after it should have ended was lost (a reconnect): ask again."""


class _Source:
    """One durable consumer and its own inbox, so that a status reply says which request it ends."""

    def __init__(self, nc: Client, next_subject: str, received: list[Msg], arrived: asyncio.Event) -> None:
        self._nc = nc
        self._next = next_subject
        self._inbox = nc.new_inbox()
        self._received = received
        self._arrived = arrived
        self.subscription: Subscription | None = None
        self._remaining = 0  # messages the open request may still deliver
        self._ends_at = 0.0  # loop time by which the open request has surely ended
        self.polling = False  # the open request waits for messages (expires) rather than answering at once
        self.answered = asyncio.Event()
        self.answered.set()  # no request open

    async def start(self) -> None:
        self.subscription = await self._nc.subscribe(self._inbox, cb=self._on_message)

    @property
    def open(self) -> bool:
        if self.answered.is_set():
            return False
        if asyncio.get_running_loop().time() > self._ends_at:
            self.answered.set()  # lost in a reconnect: never answered
            return False
        return True

    async def ask_now(self, batch: int, timeout: float) -> None:
        """What the consumer has now, up to ``batch`` (answered at once, possibly with nothing)."""
        await self._send({"batch": batch, "no_wait": True}, batch, timeout, polling=False)

    async def poll(self, batch: int, seconds: float) -> None:
        """Up to ``batch`` messages as they arrive within ``seconds``."""
        await self._send({"batch": batch, "expires": int(seconds * 1e9)}, batch, seconds, polling=True)

    async def _send(self, request: dict[str, object], batch: int, seconds: float, *, polling: bool) -> None:
        self._remaining = batch
        self._ends_at = asyncio.get_running_loop().time() + seconds + LOST_REQUEST_GRACE
        self.polling = polling
        self.answered.clear()
        await self._nc.publish(self._next, json.dumps(request).encode(), reply=self._inbox)

    async def wait(self) -> None:
        if self.open:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.answered.wait(), self._ends_at - asyncio.get_running_loop().time())
            self.answered.set()

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get(STATUS_HEADER) if msg.headers else None
        if status is None:
            self._received.append(msg)
            self._arrived.set()
            self._remaining -= 1
            if self._remaining <= 0:
                self.answered.set()
        elif status != HEARTBEAT:
            # 404 no messages, 408 request expired, 409 a limit or the consumer changed: this request is over.
            self.answered.set()
            self._arrived.set()  # a long poll ended: the fetch waiting on it should return and poll again


class BatchPuller:
    """Pulls batches of one stream's durable consumers on one connection; one fetch at a time."""

    def __init__(
        self, nc: Client, *, stream: str, durables: Sequence[str], api_prefix: str = DEFAULT_API_PREFIX
    ) -> None:
        if not durables:
            raise ValueError("a puller needs at least one durable consumer")
        self._received: list[Msg] = []
        self._arrived = asyncio.Event()
        self._sources = [
            _Source(nc, f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}", self._received, self._arrived)
            for durable in durables
        ]
        self._turn = 0  # the source asked first by the next fetch

    async def start(self) -> None:
        for source in self._sources:
            await source.start()

    @property
    def held(self) -> int:
        """Messages received and not handed out yet."""
        return len(self._received)

    async def stop(self) -> None:
        held = self._received[:]
        self._received.clear()
        for msg in held:
            with contextlib.suppress(Exception):
                await msg.nak()
        for source in self._sources:
            if source.subscription is not None:
                with contextlib.suppress(Exception):
                    await source.subscription.unsubscribe()
                source.subscription = None

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to ``batch`` messages: what the consumers have now, else the first to arrive within ``timeout``
        (an empty list if none does).

        Asking first with ``no_wait`` keeps batches full under load without holding back a message while a
        batch fills. Messages of an earlier request that arrive late are kept for the next fetch.
        """
        for source in self._sources:
            if not source.polling:
                await source.wait()  # a request sent ahead with the previous batch: answered at once
        for source in self._in_turn():
            if len(self._received) >= batch:
                break
            if not source.open:
                await source.ask_now(batch - len(self._received), timeout)
                await source.wait()
        if not self._received:
            await self._first_to_arrive(batch, timeout)
        messages = self._received[:batch]
        del self._received[:batch]
        if len(messages) == batch and not self._received:
            source = self._sources[self._turn]
            if not source.open:
                await source.ask_now(batch, timeout)
        return messages

    def _in_turn(self) -> list[_Source]:
        """Every source once, starting with the one after the source asked first last time."""
        first = self._turn
        self._turn = (first + 1) % len(self._sources)
        return self._sources[first:] + self._sources[:first]

    async def _first_to_arrive(self, batch: int, timeout: float) -> None:
        self._arrived.clear()
        for source in self._sources:
            if not source.open:
                await source.poll(batch, max(timeout, LONG_POLL_SECONDS))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._arrived.wait(), timeout)
