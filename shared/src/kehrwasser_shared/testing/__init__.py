"""Test support shared by every service's tests: real NATS, real SMTP, every reachable database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
