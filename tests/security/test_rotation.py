"""Rotating one identity: its old seed is locked out once the server reloads, every other identity carries on."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from pathlib import Path

import nats
import pytest

from kehrwasser_shared.embedded.nats_server import NatsServer
from kehrwasser_shared.security import identities
from kehrwasser_shared.security.connection import connect_options
from kehrwasser_shared.security.permissions import IDENTITIES

pytestmark = pytest.mark.integration


async def can_sign_in(server: NatsServer, identity: str, seed: Path) -> bool:
    async def quiet(error: Exception) -> None:
        return None

    try:
        nc = await nats.connect(
            server.url,
            allow_reconnect=False,
            max_reconnect_attempts=1,
            connect_timeout=2,
            error_cb=quiet,
            **connect_options(identity, seed_file=seed),
        )
    except Exception:  # refused: nats-py reports it as one of several errors
        return False
    await nc.close()
    return True


async def test_rotating_the_producer_locks_its_old_seed_out_and_leaves_everyone_else(
    secured_nats: NatsServer, identities_dir: Path, tmp_path: Path
) -> None:
    seeds_before = {name: identities.seed_file(identities_dir, name).read_bytes() for name in IDENTITIES}
    old_producer = tmp_path / "old-producer.nk"
    old_producer.write_bytes(seeds_before["producer"])
    assert await can_sign_in(secured_nats, "producer", old_producer), "premise: the old seed worked"
    reader = await nats.connect(
        secured_nats.url, **connect_options("reader", seed_file=identities.seed_file(identities_dir, "reader"))
    )
    try:
        identities.rotate(identities_dir, "producer")
        seeds_after = {name: identities.seed_file(identities_dir, name).read_bytes() for name in IDENTITIES}
        assert seeds_after["producer"] != seeds_before["producer"]
        assert {n: s for n, s in seeds_after.items() if n != "producer"} == {
            n: s for n, s in seeds_before.items() if n != "producer"
        }
        assert stat.S_IMODE(identities.seed_file(identities_dir, "producer").stat().st_mode) == 0o600

        assert secured_nats.pid is not None
        os.kill(secured_nats.pid, signal.SIGHUP)  # nats-server reloads its configuration
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while await can_sign_in(secured_nats, "producer", old_producer):
            assert loop.time() < deadline, "the old seed still signs in after the reload"
            await asyncio.sleep(0.1)
        assert await can_sign_in(secured_nats, "producer", identities.seed_file(identities_dir, "producer"))
        assert reader.is_connected, "another identity's connection outlived the reload"
        await reader.flush(timeout=5)
    finally:
        await reader.close()
