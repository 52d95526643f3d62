"""EventConsumer against a real nats-server: dispatch, retries with backoff, and the dead-letter path."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import nats
import pytest
from faststream.nats import NatsBroker, NatsRouter

from kehrwasser_shared.contracts import ledger, make_event
from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.contracts.envelope import CloudEvent
from kehrwasser_shared.contracts.subjects import DEADLETTER_STREAM, deadletter_subject
from kehrwasser_shared.messaging.consumer import (
    REASON_HEADER,
    BatchEventConsumer,
    Delivery,
    EventConsumer,
    Subscription,
)
from kehrwasser_shared.messaging.streams import ensure_streams
from kehrwasser_shared.testing import examples

pytestmark = pytest.mark.integration


def member_registered(name: str) -> CloudEvent:
    return make_event(type_=contracts.MEMBER_REGISTERED.type, source="/test", data=examples.member_registered(name))


class Recorder:
    def __init__(self, failures_before_success: int = 0) -> None:
        self.seen: list[str] = []
        self.attempts: dict[str, int] = {}
        self.failures_before_success = failures_before_success

    async def __call__(self, event: CloudEvent, data: Any) -> None:
        self.attempts[event.id] = self.attempts.get(event.id, 0) + 1
        if self.attempts[event.id] <= self.failures_before_success:
            raise RuntimeError("the database is briefly away")
        self.seen.append(data.name)


class RunningConsumer:
    def __init__(
        self, broker: NatsBroker, consumer: EventConsumer, stop: asyncio.Event, task: asyncio.Task[None] | None
    ):
        self._broker, self._consumer, self._stop, self._task = broker, consumer, stop, task

    async def stop(self) -> None:
        self._stop.set()
        await self._consumer.stop()
        if self._task is not None:
            await self._task
        await self._broker.stop()


async def start_consumer(nats_url: str, consumer: EventConsumer) -> tuple[RunningConsumer, Any]:
    """The consumer as a service runs it: on a FastStream broker, a batch consumer with its own puller."""
    broker = NatsBroker(nats_url)
    subscribers = NatsRouter()
    consumer.subscribe(subscribers)
    broker.include_router(subscribers)
    nc = await broker.connect()
    js = nc.jetstream()
    await ensure_streams(js)
    await consumer.declare(nc)
    await broker.start()
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop)) if isinstance(consumer, BatchEventConsumer) else None
    return RunningConsumer(broker, consumer, stop, task), js


async def publish(js: Any, subject: str, payload: bytes, msg_id: str) -> None:
    await js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id})


async def wait_until(predicate: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def dead_letters(nats_url: str, consumer: str, expected: int) -> list[Any]:
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().pull_subscribe(deadletter_subject(consumer), stream=DEADLETTER_STREAM)
        letters: list[Any] = []
        while len(letters) < expected:
            letters += await sub.fetch(expected - len(letters), timeout=10)
        return letters
    finally:
        await nc.close()


async def test_poison_messages_land_in_the_dead_letter_stream_while_valid_events_keep_flowing(
    nats_url: str,
) -> None:
    recorder = Recorder()
    consumer = EventConsumer(
        durable="test-from-members",
        source_service="members",
        subscriptions=[Subscription(contracts.MEMBER_REGISTERED, recorder)],
    )
    broker, js = await start_consumer(nats_url, consumer)
    subject = contracts.MEMBER_REGISTERED.subject
    try:
        ada = member_registered("Ada")
        await publish(js, subject, ada.model_dump_json().encode(), ada.id)
        await publish(js, subject, b"{this is not json", "poison-1")
        wrong_schema = member_registered("Bad").model_dump(mode="json")
        wrong_schema["data"]["email"] = "not an email"
        await publish(js, subject, json.dumps(wrong_schema).encode(), "poison-2")
        unknown = member_registered("Unknown").model_dump(mode="json")
        unknown["type"] = "kehrwasser.members.member-teleported.v1"
        await publish(js, subject, json.dumps(unknown).encode(), "poison-3")
        grace = member_registered("Grace")
        await publish(js, subject, grace.model_dump_json().encode(), grace.id)

        await wait_until(lambda: recorder.seen == ["Ada", "Grace"])
        letters = await dead_letters(nats_url, "test-from-members", 3)
        reasons = [letter.headers[REASON_HEADER] for letter in letters]
        assert reasons[0].startswith("malformed JSON")
        assert reasons[1].startswith("data does not match kehrwasser.members.member-registered.v1: email")
        assert reasons[2].startswith("unknown event type 'kehrwasser.members.member-teleported.v1'")
        assert letters[0].data == b"{this is not json"
        assert all(letter.headers["Kehrwasser-Original-Subject"] == subject for letter in letters)
    finally:
        await broker.stop()


async def test_a_failing_handler_is_retried_with_backoff_and_then_succeeds(nats_url: str) -> None:
    recorder = Recorder(failures_before_success=2)
    consumer = EventConsumer(
        durable="test-retry",
        source_service="members",
        subscriptions=[Subscription(contracts.MEMBER_REGISTERED, recorder)],
        backoff_seconds=(0.1, 0.2),
    )
    broker, js = await start_consumer(nats_url, consumer)
    try:
        ada = member_registered("Ada")
        await publish(js, contracts.MEMBER_REGISTERED.subject, ada.model_dump_json().encode(), ada.id)
        await wait_until(lambda: recorder.seen == ["Ada"])
        assert recorder.attempts[ada.id] == 3
    finally:
        await broker.stop()


async def test_an_event_that_keeps_failing_is_dead_lettered_after_the_last_attempt(nats_url: str) -> None:
    recorder = Recorder(failures_before_success=100)
    consumer = EventConsumer(
        durable="test-give-up",
        source_service="members",
        subscriptions=[Subscription(contracts.MEMBER_REGISTERED, recorder)],
        backoff_seconds=(0.05,),
        max_attempts=3,
    )
    broker, js = await start_consumer(nats_url, consumer)
    try:
        ada = member_registered("Ada")
        await publish(js, contracts.MEMBER_REGISTERED.subject, ada.model_dump_json().encode(), ada.id)
        [letter] = await dead_letters(nats_url, "test-give-up", 1)
        assert letter.headers[REASON_HEADER].startswith("handler failed 3 times")
        assert recorder.attempts[ada.id] == 3
    finally:
        await broker.stop()


async def test_a_partitioned_event_on_another_partition_is_dead_lettered_with_where_it_belongs(
    nats_url: str,
) -> None:
    """A producer that computes the partition wrongly would split an alliance across ledger processes."""
    seen: list[str] = []

    async def handle(event: CloudEvent, data: Any) -> None:
        seen.append(data.contribution_id)

    submitted = ledger.CONTRIBUTION_SUBMITTED
    consumer = EventConsumer(
        durable="test-partitioned", source_service="ledger", subscriptions=[Subscription(submitted, handle)]
    )
    broker, js = await start_consumer(nats_url, consumer)
    try:
        right, wrong = (
            ledger.RecordContribution(
                contribution_id=name,
                alliance_id="hamburg",  # partition 3
                giver_id="ada",
                receiver_id="grace",
                kind=ledger.ContributionKind.ADVICE,
                value=Decimal("1"),
            )
            for name in ("right", "wrong")
        )
        for data, subject in ((wrong, f"{submitted.subject}.4"), (right, submitted.subject_for(right))):
            event = make_event(type_=submitted.type, source="/test", data=data)
            await publish(js, subject, event.model_dump_json().encode(), event.id)
        await wait_until(lambda: seen == ["right"])
        [letter] = await dead_letters(nats_url, "test-partitioned", 1)
        assert letter.headers[REASON_HEADER].endswith(
            f"arrived on '{submitted.subject}.4', but its alliance_id belongs on '{submitted.subject}.3'"
        )
    finally:
        await broker.stop()


class PickyBatchHandler:
    """Books batches of member events in one go, but cannot take one of them (say, a NUL its database
    refuses): whole batches holding it fail, as a database transaction would."""

    def __init__(self, culprit: str) -> None:
        self.culprit = culprit
        self.booked: list[str] = []
        self.batch_sizes: list[int] = []

    async def __call__(self, batch: list[Delivery]) -> list[int]:
        self.batch_sizes.append(len(batch))
        names = [delivery.data.name for delivery in batch]
        if self.culprit in names:
            raise ValueError(f"{self.culprit} cannot be stored")
        self.booked += names
        return []


async def test_a_batch_that_fails_is_split_until_its_culprit_fails_alone(nats_url: str) -> None:
    handler = PickyBatchHandler(culprit="Mallory")
    consumer = BatchEventConsumer(
        durable="test-batch-from-members",
        source_service="members",
        subscriptions=[Subscription(contracts.MEMBER_REGISTERED, _not_called)],
        batch_handler=handler,
        batch_size=300,
        fetch_timeout=2.0,
        max_attempts=2,
        backoff_seconds=[0.1],
    )
    names = [f"Founder{n:03d}" for n in range(299)]
    names.insert(150, "Mallory")
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    for name in names:  # published before the consumer starts, so that they arrive as one batch
        event = member_registered(name)
        await publish(js, contracts.MEMBER_REGISTERED.subject, event.model_dump_json().encode(), event.id)
    await nc.close()
    broker, _ = await start_consumer(nats_url, consumer)
    try:
        letters = await dead_letters(nats_url, "test-batch-from-members", 1)
        await wait_until(lambda: len(handler.booked) == 299)
    finally:
        await broker.stop()
    assert handler.batch_sizes[0] == 300, "premise: all 300 came in one batch"
    assert sorted(handler.booked) == sorted(n for n in names if n != "Mallory"), "every other event booked once"
    assert json.loads(letters[0].data)["data"]["name"] == "Mallory"
    assert "Mallory cannot be stored" in letters[0].headers[REASON_HEADER]
    assert letters[0].headers["Kehrwasser-Deadletter-Attempts"] == "2"


async def test_a_batch_failing_for_an_unavailable_dependency_is_retried_whole(nats_url: str) -> None:
    calls: list[list[int]] = []  # the delivery attempts of each batch handed over
    booked: list[str] = []

    async def flaky(batch: list[Delivery]) -> list[int]:
        calls.append([delivery.attempt for delivery in batch])
        if len(calls) == 1:
            raise ConnectionRefusedError("the database is down")
        booked.extend(delivery.data.name for delivery in batch)
        return []

    consumer = BatchEventConsumer(
        durable="test-flaky-from-members",
        source_service="members",
        subscriptions=[Subscription(contracts.MEMBER_REGISTERED, _not_called)],
        batch_handler=flaky,
        is_unavailable=lambda exc: isinstance(exc, ConnectionError),
        batch_size=10,
        fetch_timeout=2.0,
        backoff_seconds=[0.1],
    )
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    for n in range(4):
        event = member_registered(f"Founder{n}")
        await publish(js, contracts.MEMBER_REGISTERED.subject, event.model_dump_json().encode(), event.id)
    await nc.close()
    broker, _ = await start_consumer(nats_url, consumer)
    try:
        await wait_until(lambda: len(booked) == 4)
    finally:
        await broker.stop()
    assert calls[0] == [1, 1, 1, 1], "premise: the four came in one batch"
    assert all(attempt >= 2 for later in calls[1:] for attempt in later), "redelivered, never split at once"
    assert sorted(booked) == [f"Founder{n}" for n in range(4)]


async def _not_called(event: CloudEvent, data: Any) -> None:
    raise AssertionError("batch consumers hand whole batches to their batch handler")
