"""BatchPuller against a real nats-server: full batches from a backlog, the first message when idle, nothing lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig

from kehrwasser_shared.messaging.consumer import delivery_count
from kehrwasser_shared.messaging.pull import BatchPuller

pytestmark = pytest.mark.integration

STREAM = "PULLER_TEST"
SUBJECT = "puller.test"


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    connection = await nats.connect(nats_url)
    js = connection.jetstream()
    await js.add_stream(StreamConfig(name=STREAM, subjects=[SUBJECT]))
    await js.add_consumer(STREAM, ConsumerConfig(durable_name="reader", ack_policy=AckPolicy.EXPLICIT))
    yield connection
    await connection.close()


@pytest.fixture
async def puller(nc: Client) -> AsyncIterator[BatchPuller]:
    reader = BatchPuller(nc, stream=STREAM, durables=["reader"])
    await reader.start()
    yield reader
    await reader.stop()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def publish(nc: Client, count: int, start: int = 0) -> None:
    js = nc.jetstream()
    for n in range(start, start + count):
        await js.publish(SUBJECT, f"gift {n}".encode())


async def test_a_backlog_comes_in_full_batches_in_stream_order(nc: Client, puller: BatchPuller) -> None:
    await publish(nc, 250)
    batches = [await puller.fetch(100, timeout=5.0) for _ in range(3)]
    assert [len(b) for b in batches] == [100, 100, 50]
    assert [m.data.decode() for b in batches for m in b] == [f"gift {n}" for n in range(250)]


async def test_an_idle_fetch_returns_the_first_message_without_waiting_for_a_full_batch(
    nc: Client, puller: BatchPuller
) -> None:
    async def publish_later() -> None:
        await asyncio.sleep(0.3)
        await publish(nc, 1)

    late = asyncio.create_task(publish_later())
    started = time.monotonic()
    messages = await puller.fetch(100, timeout=30.0)
    await late
    assert [m.data for m in messages] == [b"gift 0"]
    assert time.monotonic() - started < 15.0, "the fetch waited for its timeout instead of the first message"


async def test_an_idle_fetch_ends_empty_when_its_time_is_up(puller: BatchPuller) -> None:
    assert await puller.fetch(10, timeout=0.3) == []


async def test_acknowledged_messages_are_not_delivered_again_and_the_rest_are(nc: Client, puller: BatchPuller) -> None:
    await publish(nc, 3)
    first = await puller.fetch(2, timeout=5.0)
    for msg in first:
        await msg.ack()
    rest = await puller.fetch(10, timeout=1.0)
    assert [m.data for m in rest] == [b"gift 2"]
    assert await puller.fetch(10, timeout=0.3) == []


async def test_under_load_the_next_batch_streams_in_while_the_caller_handles_this_one(
    nc: Client, puller: BatchPuller
) -> None:
    await publish(nc, 250)
    first = await puller.fetch(100, timeout=5.0)
    # The caller's work: meanwhile the next batch arrives, asked for ahead without another fetch.
    await until(lambda: puller.held == 100)
    rest = first + await puller.fetch(100, timeout=5.0) + await puller.fetch(100, timeout=5.0)
    assert [m.data.decode() for m in rest] == [f"gift {n}" for n in range(250)]
    assert await puller.fetch(100, timeout=0.3) == []


async def test_messages_held_when_the_puller_stops_are_handed_back_at_once(nc: Client) -> None:
    """Redelivered now to whoever pulls next, not after the consumer's ack wait (30 s by default)."""
    await publish(nc, 20)
    first = BatchPuller(nc, stream=STREAM, durables=["reader"])
    await first.start()
    taken = await first.fetch(10, timeout=5.0)
    await until(lambda: first.held == 10)  # the prefetched second batch arrived
    for msg in taken:
        await msg.ack()
    await first.stop()
    second = BatchPuller(nc, stream=STREAM, durables=["reader"])
    await second.start()
    again: list[Msg] = []
    try:
        # Well within the 30 s ack wait: handed back, not redelivered after it.
        deadline = asyncio.get_running_loop().time() + 10.0
        while len(again) < 10 and asyncio.get_running_loop().time() < deadline:
            again += await second.fetch(10 - len(again), timeout=1.0)
    finally:
        await second.stop()
    assert [m.data.decode() for m in again] == [f"gift {n}" for n in range(10, 20)]


async def test_the_delivery_count_read_from_the_reply_subject_is_what_nats_py_parses(
    nc: Client, puller: BatchPuller
) -> None:
    await publish(nc, 3)
    first = await puller.fetch(3, timeout=5.0)
    for msg in first:
        await msg.nak()
    again = await puller.fetch(3, timeout=5.0)
    assert [delivery_count(m) for m in first + again] == [1, 1, 1, 2, 2, 2]
    assert [delivery_count(m) for m in first + again] == [m.metadata.num_delivered for m in first + again]


PARTITIONED = "PULLER_PARTS"


@pytest.fixture
async def partitions(nc: Client) -> AsyncIterator[BatchPuller]:
    """A puller over two durables of one stream, one per partition subject."""
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=PARTITIONED, subjects=["parts.*"]))
    for partition in (0, 1):
        await js.add_consumer(
            PARTITIONED,
            ConsumerConfig(
                durable_name=f"part-{partition}", filter_subject=f"parts.{partition}", ack_policy=AckPolicy.EXPLICIT
            ),
        )
    reader = BatchPuller(nc, stream=PARTITIONED, durables=["part-0", "part-1"])
    await reader.start()
    yield reader
    await reader.stop()


async def test_a_backlog_in_one_partition_does_not_starve_another(nc: Client, partitions: BatchPuller) -> None:
    js = nc.jetstream()
    for n in range(300):
        await js.publish("parts.0", f"busy {n}".encode())
    for n in range(30):
        await js.publish("parts.1", f"quiet {n}".encode())
    first = await partitions.fetch(100, timeout=5.0)
    second = await partitions.fetch(100, timeout=5.0)
    assert {m.subject for m in first} == {"parts.0"}
    assert [m.data.decode() for m in second if m.subject == "parts.1"] == [f"quiet {n}" for n in range(30)]
    batches = [first, second]
    while batch := await partitions.fetch(100, timeout=0.5):
        batches.append(batch)
    assert all(len(batch) <= 100 for batch in batches)
    received = [m.data.decode() for batch in batches for m in batch]
    assert sorted(received) == sorted([f"busy {n}" for n in range(300)] + [f"quiet {n}" for n in range(30)])
    busy = [text for text in received if text.startswith("busy")]
    assert busy == [f"busy {n}" for n in range(300)], "one partition's messages came out of order"


async def test_an_idle_fetch_ends_with_the_first_message_of_any_partition(nc: Client, partitions: BatchPuller) -> None:
    assert await partitions.fetch(10, timeout=0.2) == []  # both idle: long polls open on each

    async def publish_later() -> None:
        await asyncio.sleep(0.3)
        await nc.jetstream().publish("parts.1", b"late")

    late = asyncio.create_task(publish_later())
    started = time.monotonic()
    messages: list[Msg] = []
    while not messages and time.monotonic() - started < 10.0:
        messages = await partitions.fetch(10, timeout=0.2)
    await late
    assert [m.data for m in messages] == [b"late"]
    assert time.monotonic() - started < 2.0, "the message waited for a poll instead of ending the open one"


async def test_a_long_poll_left_open_by_an_idle_fetch_loses_nothing(nc: Client, partitions: BatchPuller) -> None:
    assert await partitions.fetch(10, timeout=0.1) == []
    js = nc.jetstream()
    for n in range(25):
        await js.publish(f"parts.{n % 2}", f"gift {n}".encode())
    received: list[Msg] = []
    deadline = time.monotonic() + 10.0
    while len(received) < 25 and time.monotonic() < deadline:
        batch = await partitions.fetch(10, timeout=0.2)
        for msg in batch:
            await msg.ack()
        received += batch
    assert sorted(m.data.decode() for m in received) == sorted(f"gift {n}" for n in range(25))


async def test_a_poll_left_open_by_a_stopped_puller_does_not_swallow_the_next_message(nc: Client) -> None:
    """The server drops a pull request whose inbox nobody listens to any more, instead of delivering into it
    (which would hold the message until the consumer's ack wait, 30 s by default)."""
    first = BatchPuller(nc, stream=STREAM, durables=["reader"])
    await first.start()
    assert await first.fetch(10, timeout=0.1) == []  # leaves a long poll open
    await first.stop()
    await publish(nc, 1)
    second = BatchPuller(nc, stream=STREAM, durables=["reader"])
    await second.start()
    try:
        started = time.monotonic()
        messages: list[Msg] = []
        while not messages and time.monotonic() - started < 10.0:
            messages = await second.fetch(10, timeout=0.2)
    finally:
        await second.stop()
    assert [m.data for m in messages] == [b"gift 0"]
    assert time.monotonic() - started < 5.0, "the message went to the stopped puller's open poll"
