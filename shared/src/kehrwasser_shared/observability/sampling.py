"""Gauges sampled every few seconds: the outbox backlog and each durable consumer's lag."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from nats.js import JetStreamContext

from ..messaging.consumer import EventConsumer
from .metrics import ServiceMetrics

log = logging.getLogger(__name__)

SAMPLE_SECONDS = 5.0
SAMPLE_TIMEOUT = 2.0


async def sample_once(
    metrics: ServiceMetrics,
    outbox_backlog: Callable[[], Awaitable[int]],
    js: JetStreamContext,
    consumers: Sequence[EventConsumer],
) -> None:
    """Read the outbox backlog and every durable's pending counts; what cannot be read now keeps its last value."""
    try:
        metrics.outbox_backlog.set(await asyncio.wait_for(outbox_backlog(), SAMPLE_TIMEOUT))
    except Exception as exc:
        log.debug("outbox backlog not sampled: %r", exc)
    for consumer in consumers:
        for source in consumer.sources:
            try:
                info = await js.consumer_info(consumer.stream, source.durable, timeout=SAMPLE_TIMEOUT)
            except Exception as exc:
                log.debug("lag of %s not sampled: %r", source.durable, exc)
                continue
            metrics.consumer_pending.labels(source.durable).set(info.num_pending or 0)
            metrics.consumer_ack_pending.labels(source.durable).set(info.num_ack_pending or 0)


async def sample_until_stopped(
    stop: asyncio.Event,
    metrics: ServiceMetrics,
    outbox_backlog: Callable[[], Awaitable[int]],
    js: JetStreamContext,
    consumers: Sequence[EventConsumer],
    seconds: float = SAMPLE_SECONDS,
) -> None:
    while not stop.is_set():
        await sample_once(metrics, outbox_backlog, js, consumers)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
