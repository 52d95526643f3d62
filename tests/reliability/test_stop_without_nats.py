"""A service told to stop while NATS is away stops cleanly: nothing to drain, so its connection is closed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kehrwasser_members.bootstrap import bootstrap
from kehrwasser_members.config import MembersSettings
from kehrwasser_shared.embedded.nats_server import NatsServer
from kehrwasser_shared.runtime import serve

pytestmark = pytest.mark.integration


async def test_a_service_stops_cleanly_when_nats_went_away_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = NatsServer(tmp_path / "nats").start()
    parts = bootstrap(MembersSettings(nats_url=server.url, data_dir=tmp_path))
    stop, ready = asyncio.Event(), asyncio.Event()
    service = asyncio.create_task(serve(parts, stop, ready))
    await asyncio.wait_for(ready.wait(), 30)
    await asyncio.to_thread(server.stop)
    connection = parts.broker._connection  # the premise: the client noticed NATS is gone
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while connection is not None and connection.is_connected:
        assert loop.time() < deadline, "the client never noticed that NATS went away"
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(service, 30)  # re-raises whatever the stop raised
    assert any("NATS unavailable while stopping" in record.getMessage() for record in caplog.records)
