"""Durable JetStream pull consumers with explicit acks, bounded redelivery with backoff, and dead letters.

An `EventConsumer` is a FastStream pull subscriber per durable (one message at a time, in stream order, acked
by hand); what FastStream lacks is this module's, wrapped around it: every message is parsed as a CloudEvent,
matched to a contract by its ``type`` and validated against the contract's data model before a handler sees
it. A message that cannot be parsed or validated, has a type this consumer does not know, or keeps failing,
is moved to the dead-letter stream with the reason and the original payload; the consumer then acknowledges
it and keeps going. A handler that fails is retried with backoff (a nak with a delay).

The ledger's intake books whole batches (`BatchEventConsumer`) on our own `BatchPuller`, which a benchmark
keeps (docs/performance.md: "The intake's puller").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, cast

import nats.errors
import nats.js.errors
from faststream import AckPolicy
from faststream.nats import JStream, NatsRouter, PullSub
from faststream.nats.annotations import NatsMessage
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import INBOX_PREFIX
from pydantic import BaseModel, ValidationError, create_model

from ..contracts.envelope import CloudEvent
from ..contracts.registry import EventContract
from ..contracts.subjects import PARTITIONS, deadletter_subject, stream_name
from ..observability import logs, metrics, tracing
from .pull import BatchPuller
from .streams import ensure_consumer

log = logging.getLogger(__name__)

EventHandler = Callable[[CloudEvent, Any], Awaitable[None]]

DEFAULT_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
DEFAULT_MAX_ATTEMPTS = 7

# Headers on a dead letter; the payload is the original message, byte for byte.
REASON_HEADER = "Kehrwasser-Deadletter-Reason"
CONSUMER_HEADER = "Kehrwasser-Deadletter-Consumer"
ORIGINAL_SUBJECT_HEADER = "Kehrwasser-Original-Subject"
ORIGINAL_SEQUENCE_HEADER = "Kehrwasser-Original-Stream-Sequence"
ATTEMPTS_HEADER = "Kehrwasser-Deadletter-Attempts"


@dataclass(frozen=True)
class Subscription:
    contract: EventContract[Any]
    handler: EventHandler


class DeadLetter(Exception):
    """Raised inside a consumer for a message that must not be retried."""


class EventConsumer:
    """One durable consumer of one service's stream, dispatching by CloudEvents type."""

    def __init__(
        self,
        *,
        durable: str,
        source_service: str,
        subscriptions: Sequence[Subscription],
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_seconds: Sequence[float] = DEFAULT_BACKOFF_SECONDS,
        batch_size: int = 100,
        fetch_timeout: float = 1.0,
        partitions: Collection[int] | None = None,
    ) -> None:
        self.durable = durable
        self.stream = stream_name(source_service)
        self._by_type = {s.contract.type: s for s in subscriptions}
        self._typed = {
            subject: (s, typed_envelope(s.contract)) for s in subscriptions for subject in s.contract.subjects
        }
        self.sources = consumer_sources(durable, [s.contract for s in subscriptions], partitions)
        self._max_attempts = max_attempts
        self._backoff = tuple(backoff_seconds)
        self._batch_size = batch_size
        self._fetch_timeout = fetch_timeout
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._subscribers: list[Any] = []
        self._meters: metrics.ConsumerMeters | None = None

    @property
    def meters(self) -> metrics.ConsumerMeters:
        """This consumer's metrics in the service that runs it (bound on first use, in `serve`'s tasks)."""
        if self._meters is None:
            self._meters = metrics.current().consumer(self.durable)
        return self._meters

    @property
    def contracts(self) -> list[EventContract[Any]]:
        """The events this consumer takes."""
        return [subscription.contract for subscription in self._by_type.values()]

    async def declare(self, nc: Client) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        for source in self.sources:
            await ensure_consumer(
                self._js, stream=self.stream, durable=source.durable, filter_subjects=source.filter_subjects
            )

    def subscribe(self, router: NatsRouter, inbox_prefix: bytes = INBOX_PREFIX) -> None:
        """Register a FastStream pull subscriber on each of this consumer's durables (`declare` creates them
        before the broker starts): FastStream fetches one message at a time, `process` settles it.

        FastStream's pull subscriber takes its inbox from ``inbox_prefix``, not from the connection; a service
        signed in as itself may read only its own (security/permissions.py)."""
        for source in self.sources:
            subscriber = self._pull_subscriber(
                router,
                source,
                inbox_prefix,
                PullSub(batch_size=1, timeout=self._fetch_timeout),
                decoder=_undecoded,
                description=f"{', '.join(source.filter_subjects)} from {self.stream}",
            )
            subscriber(self._on_message)
            self._subscribers.append(subscriber)

    def _pull_subscriber(
        self, router: NatsRouter, source: ConsumerSource, inbox_prefix: bytes, pull_sub: PullSub[Any], **options: Any
    ) -> Any:
        """A FastStream pull subscriber bound to one of this consumer's durables, acking by hand."""
        return router.subscriber(
            source.filter_subjects[0],
            stream=JStream(self.stream, declare=False),
            durable=source.durable,
            inbox_prefix=inbox_prefix,
            pull_sub=pull_sub,
            ack_policy=AckPolicy.MANUAL,
            title=source.durable,
            **options,
        )

    async def _on_message(self, body: bytes, message: NatsMessage) -> None:
        await self.process(message.raw_message)

    async def stop(self) -> None:
        """Stop fetching; a message in hand is finished first (within the broker's graceful timeout)."""
        for subscriber in self._subscribers:
            await subscriber.stop()

    async def process(self, msg: Msg) -> None:
        """Handle one message and settle it: ack, nak with backoff, or dead-letter and ack."""
        started = time.perf_counter()
        attempts = delivery_count(msg)
        try:
            subscription, event, data = self._decode(msg)
        except DeadLetter as reason:
            await self._dead_letter(msg, str(reason), attempts)
            return
        handling = logs.handle(event.id, event.id)
        try:
            if tracing.enabled:
                parent = tracing.event_parent(event.model_extra, msg.headers)
                with tracing.consuming(f"{self.durable} {event.type}", event.id, parent):
                    await subscription.handler(event, data)
            else:
                await subscription.handler(event, data)
        except DeadLetter as reason:
            await self._dead_letter(msg, str(reason), attempts)
            return
        except Exception as exc:
            await self._retry_or_give_up(msg, event, exc)
            return
        finally:
            logs.done(handling)
        await msg.ack()
        meters = self.meters
        meters.consumed.inc()
        meters.handler_seconds.observe(time.perf_counter() - started)

    async def _retry_or_give_up(self, msg: Msg, event: CloudEvent, exc: Exception) -> None:
        self.meters.failed.inc()
        attempts = delivery_count(msg)
        if attempts >= self._max_attempts:
            log.error("%s: event %s failed %d times; dead-lettering: %r", self.durable, event.id, attempts, exc)
            await self._dead_letter(msg, f"handler failed {attempts} times: {exc!r}", attempts)
            return
        delay = self._backoff_for(attempts)
        log.warning(
            "%s: event %s (%s) failed (attempt %d/%d), retrying in %.1fs: %r",
            self.durable,
            event.id,
            event.type,
            attempts,
            self._max_attempts,
            delay,
            exc,
        )
        await msg.nak(delay=delay)

    def _backoff_for(self, attempts: int) -> float:
        return self._backoff[min(attempts, len(self._backoff)) - 1]

    async def decode_or_dead_letter(self, msg: Msg) -> tuple[Subscription, CloudEvent, BaseModel] | None:
        try:
            return self._decode(msg)
        except DeadLetter as reason:
            await self._dead_letter(msg, str(reason), delivery_count(msg))
            return None

    def _decode(self, msg: Msg) -> tuple[Subscription, CloudEvent, BaseModel]:
        typed = self._typed.get(msg.subject)
        if typed is not None:
            # The common case in one pass: envelope and data parsed and validated together. Anything that
            # does not pass is decoded again step by step below, which names what is wrong with it.
            subscription, envelope = typed
            with contextlib.suppress(ValidationError):
                event = envelope.model_validate_json(msg.data)
                data = cast(BaseModel, event.data)  # typed_envelope's model
                if event.type == subscription.contract.type and _on_its_subject(msg, data, subscription.contract):
                    return subscription, event, data
        return self._decode_in_steps(msg)

    def _decode_in_steps(self, msg: Msg) -> tuple[Subscription, CloudEvent, BaseModel]:
        try:
            # pydantic parses and validates in one pass: about 40 % cheaper than json.loads + model_validate.
            event = CloudEvent.model_validate_json(msg.data)
        except ValidationError as exc:
            if any(error["type"] == "json_invalid" for error in exc.errors()):
                raise DeadLetter(f"malformed JSON: {_summarise(exc)}") from exc
            raise DeadLetter(f"not a valid CloudEvent: {_summarise(exc)}") from exc
        subscription = self._by_type.get(event.type)
        if subscription is None:
            raise DeadLetter(f"unknown event type {event.type!r} for consumer {self.durable}")
        if msg.subject not in subscription.contract.subjects:
            raise DeadLetter(f"event type {event.type!r} arrived on the wrong subject {msg.subject!r}")
        try:
            data = subscription.contract.data.model_validate(event.data)
        except ValidationError as exc:
            raise DeadLetter(f"data does not match {event.type}: {_summarise(exc)}") from exc
        if not _on_its_subject(msg, data, subscription.contract):
            raise DeadLetter(
                f"event {event.id} arrived on {msg.subject!r}, but its {subscription.contract.partition_key} "
                f"belongs on {subscription.contract.subject_for(data)!r}"
            )
        return subscription, event, data

    async def _dead_letter(self, msg: Msg, reason: str, attempts: int) -> None:
        assert self._js is not None, "declare() must run before messages are processed"
        sequence = msg.metadata.sequence.stream if msg.metadata else 0
        headers = {
            REASON_HEADER: _header_safe(reason),
            CONSUMER_HEADER: self.durable,
            ORIGINAL_SUBJECT_HEADER: msg.subject,
            ORIGINAL_SEQUENCE_HEADER: str(sequence),
            ATTEMPTS_HEADER: str(attempts),
            # The same message dead-lettered twice (a crash before the ack) is stored once.
            "Nats-Msg-Id": f"{self.durable}:{self.stream}:{sequence}",
        }
        log.error("%s: dead-lettering stream sequence %s: %s", self.durable, sequence, reason)
        self.meters.dead_lettered.inc()
        await self._js.publish(deadletter_subject(self.durable), msg.data, headers=headers)
        await msg.ack()


def delivery_count(msg: Msg) -> int:
    """How often JetStream has delivered the message (1 on the first delivery).

    Read from the reply subject ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.
    <pending>``; nats-py's ``metadata`` parses all of it into objects, a timestamp included, four times as
    slow on every message. Other forms (with a domain and account) are left to nats-py.
    """
    tokens = (msg.reply or "").split(".")
    if len(tokens) == ACK_TOKENS and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[4])
    return msg.metadata.num_delivered if msg.metadata else 1


ACK_TOKENS = 9


def typed_envelope(contract: EventContract[Any]) -> type[CloudEvent]:
    """A CloudEvent whose ``data`` is the contract's model, so that one pass validates both."""
    return create_model(f"{contract.data.__name__}Event", __base__=CloudEvent, data=(contract.data, ...))


def _on_its_subject(msg: Msg, data: BaseModel, contract: EventContract[Any]) -> bool:
    """A partitioned event must arrive on its key's partition, or a consumer split by key would see the key
    in two processes; a producer that gets this wrong learns of it from the dead letter."""
    return msg.subject == contract.subject_for(data)


@dataclass(frozen=True)
class ConsumerSource:
    """One JetStream durable consumer that an `EventConsumer` reads."""

    durable: str
    filter_subjects: list[str]


def consumer_sources(
    durable: str, contracts: Sequence[EventContract[Any]], partitions: Collection[int] | None = None
) -> list[ConsumerSource]:
    """The durable consumers behind one logical consumer.

    Unpartitioned events: the durable itself. Partitioned events: one durable per partition, named
    ``<durable>-<partition>``, of which this process reads ``partitions`` (default: all). A durable per
    partition, rather than per process, keeps each partition's position when partitions move between
    processes: a process that takes one over goes on where the last one stopped.
    """
    partitioned = [contract.partition_key is not None for contract in contracts]
    if not any(partitioned):
        if partitions is not None:
            raise ValueError(f"{durable}: partitions given, but none of its events is partitioned")
        return [ConsumerSource(durable, sorted({contract.subject for contract in contracts}))]
    if not all(partitioned):
        raise ValueError(f"{durable}: partitioned and unpartitioned events need consumers of their own")
    chosen = sorted(set(range(PARTITIONS) if partitions is None else partitions))
    if not chosen or not set(chosen) <= set(range(PARTITIONS)):
        raise ValueError(f"{durable}: partitions must be a non-empty subset of 0..{PARTITIONS - 1}, not {chosen}")
    return [
        ConsumerSource(f"{durable}-{partition:02d}", sorted(contract.subjects[partition] for contract in contracts))
        for partition in chosen
    ]


def _summarise(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()[:10])


def _header_safe(text: str) -> str:
    return " ".join(text.split())[:1024]


class Delivery(NamedTuple):  # one per message of a batch: a NamedTuple is built four times faster
    """One decoded event of a batch, and how often it has been delivered."""

    event: CloudEvent
    data: Any
    attempt: int
    last_attempt: bool


BatchHandler = Callable[[list[Delivery]], Awaitable[Collection[int]]]
"""Handles a batch; returns the positions of the deliveries to hand over again later, with backoff."""

BatchCommit = Callable[[], Awaitable[Collection[int]]]
BatchPreparer = Callable[[list[Delivery]], Awaitable[BatchCommit]]
"""Prepares a batch (reads and computes) and returns its commit, which returns what a `BatchHandler` does."""


class BatchEventConsumer(EventConsumer):
    """Hands a whole fetched batch to one handler (one transaction for thousands of events).

    Messages that do not decode are dead-lettered first. If the handler raises, the batch is split in halves
    and each half handled again, down to single events, so that one event the handler cannot take (bad data
    that passed the contract) fails alone: it alone is retried with backoff and dead-lettered after the last
    attempt, while the rest of its batch is handled once. An error that says a dependency is unavailable
    (``is_unavailable``: the database is down) would only fail every half again, so it retries the whole
    batch with backoff instead. The handler may also ask for single events again later (say, ones that refer
    to something this service has not learned of yet); on their last attempt it has to decide. It must be
    idempotent per event, since a batch may be redelivered after its commit.

    A handler in two phases (``batch_preparer``) is pipelined: the next batch is fetched, decoded and
    prepared while the previous one commits, and a batch's commit starts only when the previous commit has
    ended, so commits stay in order and one at a time. A batch is acknowledged right after its own commit.
    The halves of a failed batch are handled by ``batch_handler``, one after another, outside the pipeline.
    """

    def __init__(
        self,
        *,
        batch_handler: BatchHandler,
        batch_preparer: BatchPreparer | None = None,
        is_unavailable: Callable[[BaseException], bool] = lambda exc: False,
        puller: Literal["own", "faststream"] = "own",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._handle = batch_handler
        self._prepare = batch_preparer or _in_one_phase(batch_handler)
        self._is_unavailable = is_unavailable
        self._puller = puller
        self._turn = asyncio.Lock()  # one batch at a time, whichever partition it came from
        self._committing: asyncio.Task[None] | None = None

    async def process_batch(self, messages: list[Msg]) -> None:
        started = time.perf_counter()
        batch = []
        for msg in messages:
            decoded = await self.decode_or_dead_letter(msg)
            if decoded is not None:
                _, event, data = decoded
                batch.append(_Fetched(msg, event, self._delivery(msg, event, data)))
        if not batch:
            return
        if tracing.enabled:
            parents = [
                parent
                for fetched in batch
                if (parent := tracing.event_parent(fetched.event.model_extra, fetched.msg.headers)) is not None
            ]
            with tracing.consuming_batch(f"{self.durable} batch", parents, len(batch)):
                await self._book(batch, started)  # the commit's task inherits the span as its context
        else:
            await self._book(batch, started)

    async def _book(self, batch: list[_Fetched], started: float) -> None:
        try:
            commit = await self._prepare([fetched.delivery for fetched in batch])
        except Exception as exc:
            await self.drain()
            await self._failed(batch, exc)
            return
        try:
            await self.drain()
        finally:
            # Even when the previous batch's settling failed: a prepared batch that never commits would leave
            # a pipelined handler waiting for it.
            self._committing = asyncio.create_task(self._commit(commit, batch, started))

    def subscribe(self, router: NatsRouter, inbox_prefix: bytes = INBOX_PREFIX) -> None:
        """With ``puller="faststream"``, a FastStream batch pull subscriber per durable; by default nothing: the
        consumer fetches with its own puller (`run`), which the benchmark in docs/performance.md keeps."""
        if self._puller != "faststream":
            return
        for source in self.sources:
            subscriber = self._pull_subscriber(
                router,
                source,
                inbox_prefix,
                PullSub(batch_size=self._batch_size, timeout=self._fetch_timeout, batch=True),
            )
            subscriber(self._on_batch)
            self._subscribers.append(subscriber)

    async def _on_batch(self, message: NatsMessage) -> None:
        async with self._turn:
            await self.process_batch(cast(list[Msg], message.raw_message))  # a batch subscriber hands a list

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and settle batches until ``stop`` is set; a batch in flight is finished first."""
        assert self._nc is not None, "declare() binds the consumer before it runs"
        if self._puller == "faststream":
            await stop.wait()
            async with self._turn:
                await self.drain()
            return
        puller = BatchPuller(self._nc, stream=self.stream, durables=[source.durable for source in self.sources])
        await puller.start()
        try:
            await self._pull(puller, stop)
        finally:
            # Messages fetched but not handled are redelivered after the ack wait; dropping the subscription
            # here lets the connection drain instead of waiting for them.
            await puller.stop()

    async def _pull(self, puller: BatchPuller, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                messages = await puller.fetch(self._batch_size, timeout=self._fetch_timeout)
            except (
                nats.errors.ConnectionClosedError,
                nats.errors.ConnectionReconnectingError,
                nats.js.errors.ServiceUnavailableError,
            ) as exc:
                log.warning("%s: NATS unavailable (%r); fetching again shortly", self.durable, exc)
                await asyncio.sleep(1.0)
                continue
            if messages:
                await self.process_batch(messages)
        await self.drain()

    def _delivery(self, msg: Msg, event: CloudEvent, data: BaseModel) -> Delivery:
        attempt = delivery_count(msg)
        return Delivery(event, data, attempt, last_attempt=attempt >= self._max_attempts)

    async def drain(self) -> None:
        if self._committing is not None:
            committing, self._committing = self._committing, None
            await committing

    async def _commit(self, commit: BatchCommit, batch: list[_Fetched], started: float) -> None:
        try:
            later = await commit()
        except Exception as exc:
            await self._failed(batch, exc)
            return
        await self._settle(batch, later)
        self.meters.batch_seconds.observe(time.perf_counter() - started)

    async def _settle(self, batch: list[_Fetched], later: Collection[int]) -> None:
        # An ack is a plain publish into the client's buffer: awaiting them in turn avoids a task per message.
        again = set(later)
        for position, fetched in enumerate(batch):
            if position in again:
                await fetched.msg.nak(delay=self._backoff_for(fetched.delivery.attempt))
            else:
                await fetched.msg.ack()
        self.meters.consumed.inc(len(batch) - len(again))

    async def _failed(self, batch: list[_Fetched], exc: Exception) -> None:
        if len(batch) == 1 or self._is_unavailable(exc):
            for fetched in batch:
                await self._retry_or_give_up(fetched.msg, fetched.event, exc)
            return
        log.warning("%s: a batch of %d failed (%r); handling its halves apart", self.durable, len(batch), exc)
        middle = len(batch) // 2
        for half in (batch[:middle], batch[middle:]):
            try:
                later = await self._handle([fetched.delivery for fetched in half])
            except Exception as half_exc:
                await self._failed(half, half_exc)
            else:
                await self._settle(half, later)


class _Fetched(NamedTuple):
    msg: Msg
    event: CloudEvent
    delivery: Delivery


async def _undecoded(message: Any) -> bytes:
    # The consumer parses and validates the payload itself, and dead-letters what does not parse; FastStream's
    # own JSON decoding would fail first on some of it (a deeply nested document).
    return bytes(message.body)


def _in_one_phase(handler: BatchHandler) -> BatchPreparer:
    async def prepare(deliveries: list[Delivery]) -> BatchCommit:
        return lambda: handler(deliveries)

    return prepare
