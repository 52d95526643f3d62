"""A service killed with SIGKILL between commit and publish loses nothing and publishes the event once.

Each test asserts its premise (the killed process left the event's row in the outbox, and had or had not
published it yet) and waits for the survivor to empty the outbox: from then on nothing can publish the event
again, so what the stream holds is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
from sqlalchemy import text
from test_ledger_over_nats import found_hamburg  # the ledger tests' alliance (on the pythonpath)

from kehrwasser_shared.contracts import ledger as ledger_contracts
from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.contracts.registry import EventContract
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.failpoints import OUTBOX_AFTER_COMMIT, OUTBOX_AFTER_PUBLISH
from kehrwasser_shared.failpoints import VARIABLE as FAILPOINTS
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.testing import fetch_exactly
from kehrwasser_shared.testing.processes import ServiceProcess, service_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


async def events_in_stream(nats_url: str, contract: EventContract[Any] = contracts.MEMBER_REGISTERED) -> list[Any]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(contract.subject, stream=stream_name(contract.service), durable=None)
        stored = (await sub.consumer_info()).num_pending or 0  # every message of the subject, duplicates included
        return [json.loads(m.data) for m in await fetch_exactly(sub, stored)]
    finally:
        await nc.close()


async def unsent_rows(database_url: str) -> int:
    """Rows in a service's outbox: events committed and not yet known to be in their stream."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT count(*) FROM outbox"))).scalar_one())
    finally:
        await engine.dispose()


async def until_outbox_empty(database_url: str, timeout: float = 20.0) -> None:
    """Wait until the service has published every event it committed (the recovery round deletes the rows)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while left := await unsent_rows(database_url):
        assert loop.time() < deadline, f"{left} events still unpublished after {timeout}s"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("failpoint", [OUTBOX_AFTER_COMMIT, OUTBOX_AFTER_PUBLISH])
async def test_killed_members_service_publishes_the_registration_exactly_once_after_restart(
    failpoint: str, nats_url: str, database_url: str, tmp_path: Path
) -> None:
    env = service_env(
        "members", nats_url=nats_url, data_dir=tmp_path, database_url=database_url, outbox_poll_seconds=0.2
    )
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
    # The premise: the row is left, and the event was published (after publish) or not (after commit).
    # A registration writes two events: member-registered and the member's first member-preferences-changed.
    assert await unsent_rows(database_url) == 2
    already_published = 1 if failpoint == OUTBOX_AFTER_PUBLISH else 0
    assert len(await events_in_stream(nats_url)) == already_published

    survivor = ServiceProcess("members", env, tmp_path / "logs-2")
    survivor.start()
    try:
        await asyncio.to_thread(survivor.wait_ready)
        await until_outbox_empty(database_url)
        events = await events_in_stream(nats_url)
        assert [e["data"]["email"] for e in events] == ["ada@example.org"]
    finally:
        survivor.stop()


async def test_killed_ledger_publishes_the_contribution_once_and_a_retry_finds_it_booked(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    env = service_env(
        "ledger", nats_url=nats_url, data_dir=tmp_path, database_url=database_url, outbox_poll_seconds=0.2
    )
    # Learning the alliance writes no event, so the first commit with one is the contribution's.
    doomed = ServiceProcess("ledger", {**env, FAILPOINTS: OUTBOX_AFTER_COMMIT}, tmp_path / "logs-1")
    doomed.start()
    await asyncio.to_thread(doomed.wait_ready)
    gift = ledger_contracts.RecordContribution(
        contribution_id="pricing-review",
        alliance_id="hamburg",
        giver_id="ada",
        receiver_id="linus",
        kind=ledger_contracts.ContributionKind.ADVICE,
        value=Decimal("3"),
    )
    nc = await nats.connect(nats_url)
    try:
        await found_hamburg(nc.jetstream())
        with contextlib.suppress(nats.errors.TimeoutError):
            await CommandClient(nc, timeout=3).send_when_known(ledger_contracts.RECORD_CONTRIBUTION, gift)
        assert await asyncio.to_thread(doomed.wait_exit) == -9, doomed.log()
        # The premise: the contribution was committed (its events wait in the outbox) and not published.
        assert await unsent_rows(database_url) >= 1
        assert await events_in_stream(nats_url, ledger_contracts.CONTRIBUTION_RECORDED) == []

        survivor = ServiceProcess("ledger", env, tmp_path / "logs-2")
        survivor.start()
        try:
            await asyncio.to_thread(survivor.wait_ready)
            retried = await CommandClient(nc).send(ledger_contracts.RECORD_CONTRIBUTION, gift)
            assert retried.status == "exists"
            await until_outbox_empty(database_url)
            recorded = await events_in_stream(nats_url, ledger_contracts.CONTRIBUTION_RECORDED)
            assert [e["data"]["contribution_id"] for e in recorded] == ["pricing-review"]
        finally:
            survivor.stop()
    finally:
        await nc.close()
