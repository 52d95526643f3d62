"""A service killed with SIGKILL between commit and publish loses nothing and publishes the event once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import nats
import pytest

from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.failpoints import OUTBOX_AFTER_COMMIT, OUTBOX_AFTER_PUBLISH
from kehrwasser_shared.failpoints import VARIABLE as FAILPOINTS
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing.processes import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def events_in_stream(nats_url: str) -> list[dict[str, object]]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream_name("members"))
        sub = await js.pull_subscribe(contracts.MEMBER_REGISTERED.subject, stream=stream_name("members"), durable=None)
        messages = await sub.fetch(info.state.messages, timeout=5) if info.state.messages else []
        return [json.loads(m.data) for m in messages]
    finally:
        await nc.close()


@pytest.mark.parametrize("failpoint", [OUTBOX_AFTER_COMMIT, OUTBOX_AFTER_PUBLISH])
async def test_killed_members_service_publishes_the_registration_exactly_once_after_restart(
    failpoint: str, nats_url: str, database_url: str, tmp_path: Path
) -> None:
    env = {
        "KEHRWASSER_NATS_URL": nats_url,
        "KEHRWASSER_DATA_DIR": str(tmp_path),
        "KEHRWASSER_MEMBERS_DATABASE_URL": database_url,
        "KEHRWASSER_OUTBOX_POLL_SECONDS": "0.2",
    }
    doomed = ServiceProcess("members", {**env, FAILPOINTS: failpoint}, tmp_path / "logs-1")
    doomed.start()
    await asyncio.to_thread(doomed.wait_ready)
    nc = await nats.connect(nats_url)
    try:
        # Killed after commit, the service never replies; killed after publishing, it replied first.
        with contextlib.suppress(nats.errors.TimeoutError):
            await CommandClient(nc, timeout=3).send(
                contracts.REGISTER, contracts.RegisterMember(name="Ada Lovelace", email="ada@example.org")
            )
    finally:
        await nc.close()
    assert await asyncio.to_thread(doomed.wait_exit) == -9, doomed.log()

    survivor = ServiceProcess("members", env, tmp_path / "logs-2")
    survivor.start()
    try:
        await asyncio.to_thread(survivor.wait_ready)
        for _ in range(100):
            events = await events_in_stream(nats_url)
            if events:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # time for a wrong second publication to show up
        events = await events_in_stream(nats_url)
        assert [e["data"]["email"] for e in events] == ["ada@example.org"]  # type: ignore[index]
    finally:
        survivor.stop()
