"""Test support shared by every service's tests: real NATS, real SMTP, every reachable database."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from ..runtime import ServiceParts, serve


@asynccontextmanager
async def running(parts: ServiceParts, timeout: float = 30.0) -> AsyncIterator[ServiceParts]:
    """Run a service in this event loop for the duration of the block (in-process integration tests)."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(parts, stop, ready))
    waiter = asyncio.create_task(ready.wait())
    done, _ = await asyncio.wait([task, waiter], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()  # re-raises why the service could not start
    if waiter not in done:
        task.cancel()
        raise TimeoutError(f"{parts.name} did not start within {timeout}s")
    try:
        yield parts
    finally:
        stop.set()
        await task


async def fetch_exactly(subscription: Any, count: int, timeout: float = 10.0) -> list[Any]:
    """Fetch ``count`` messages from a pull subscription, waiting up to ``timeout`` for stragglers.

    One nats-py fetch returns early with what is there (its first pull is no-wait), so a test that needs
    several events published moments apart pulls until it has them all.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    messages: list[Any] = []
    while len(messages) < count:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"{len(messages)} of {count} messages within {timeout}s")
        with contextlib.suppress(TimeoutError):
            messages += await subscription.fetch(count - len(messages), timeout=min(remaining, 1.0))
    return messages


async def service_events(js: Any, service: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` events a service published, decoded, in stream order (an ephemeral consumer)."""
    from ..contracts.subjects import stream_name

    subscription = await js.pull_subscribe(f"kehrwasser.evt.{service}.>", stream=stream_name(service))
    return [json.loads(m.data) for m in await fetch_exactly(subscription, count)]
