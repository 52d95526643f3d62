"""A ledger database restored from a dump (pg_dump / pg_restore) verifies clean and keeps its balances, and one
restored to an earlier point than the streams catches up from the stream by the procedure in
docs/operations.md ("Backups and restore"): delete the ledger's durable consumers, start the ledger, and its
idempotency (contribution ids, the inbox) books what the restored database lacks and only that.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy.engine import make_url
from test_ledger_over_nats import found_hamburg, gift, publish_submission  # the ledger tests' helpers

from kehrwasser_ledger.bootstrap import bootstrap
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts.subjects import SERVICES, stream_name
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import running
from kehrwasser_shared.testing.databases import fresh_postgres_database, postgres_url_from_environment

pytestmark = [
    pytest.mark.integration,
    # pg_dump and pg_restore are PostgreSQL's; without a PostgreSQL the plugin reports it loudly as not used,
    # and CI, where the machine has one, sets KEHRWASSER_REQUIRE_POSTGRES=1, which fails the run without it.
    pytest.mark.skipif(
        postgres_url_from_environment() is None, reason="needs PostgreSQL (KEHRWASSER_TEST_DATABASE_URL)"
    ),
]


@pytest.fixture(autouse=True)
def _client_binaries() -> None:
    # PostgreSQL is configured (else the module is skipped, and the run reports it as not used): a missing
    # pg_dump must fail loudly, not pass as skipped.
    missing = [tool for tool in ("pg_dump", "pg_restore") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"PostgreSQL is configured but its client binaries are missing: {', '.join(missing)}")


MEMBERS = ("ada", "grace", "linus")


@pytest.fixture
def ledger_database() -> Iterator[str]:
    with fresh_postgres_database(postgres_url_from_environment() or "") as url:
        yield url


def libpq_url(database_url: str) -> str:
    """The SQLAlchemy URL as pg_dump, pg_restore and asyncpg take it."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def dump(database_url: str, file: Path) -> None:
    subprocess.run(["pg_dump", "--format=custom", f"--file={file}", libpq_url(database_url)], check=True)


async def drop_and_restore(database_url: str, file: Path) -> None:
    """What a restore after losing the database does: an empty database of the same name, then the dump."""
    url = make_url(libpq_url(database_url))
    admin = await asyncpg.connect(url.set(database="postgres").render_as_string(hide_password=False))
    try:
        await admin.execute(f'DROP DATABASE "{url.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{url.database}"')
    finally:
        await admin.close()
    await asyncio.to_thread(
        subprocess.run,
        ["pg_restore", "--exit-on-error", "--no-owner", f"--dbname={libpq_url(database_url)}", str(file)],
        check=True,
    )


@asynccontextmanager
async def ledger_on(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[CommandClient]:
    settings = LedgerSettings(nats_url=nats_url, data_dir=tmp_path, database_url=database_url, outbox_poll_seconds=0.2)
    async with running(bootstrap(settings)):
        nc = await nats.connect(nats_url)
        try:
            yield CommandClient(nc, timeout=60)
        finally:
            await nc.close()


async def balances(client: CommandClient) -> dict[str, Decimal]:
    query = contracts.QueryBalance
    return {
        member: (await client.send(contracts.BALANCE, query(alliance_id="hamburg", member_id=member))).balance
        for member in MEMBERS
    }


async def verified(client: CommandClient) -> int:
    """Run a full verification; it must be clean. Returns the contributions it checked."""
    verification = await client.send(contracts.VERIFY, contracts.VerifyLedger(full=True, wait=True))
    assert verification.ok, verification.problems
    return verification.contributions_checked


async def until_booked(client: CommandClient, contributions: int, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (checked := await verified(client)) < contributions:
        assert loop.time() < deadline, f"{checked} of {contributions} contributions booked within {timeout}s"
        await asyncio.sleep(0.2)
    assert checked == contributions


def ring(first: int, count: int) -> list[contracts.RecordContribution]:
    """Gifts from each member to the next in turn, with values that make every balance distinct."""
    return [
        gift(f"gift-{n:03d}", MEMBERS[n % 3], f"{1 + n % 4}.25", receiver=MEMBERS[(n + 1) % 3])
        for n in range(first, first + count)
    ]


async def test_a_ledger_restored_from_its_dump_verifies_clean_with_the_same_balances(
    nats_url: str, ledger_database: str, tmp_path: Path
) -> None:
    async with ledger_on(ledger_database, nats_url, tmp_path) as client:
        nc = await nats.connect(nats_url)
        await found_hamburg(nc.jetstream())
        await nc.close()
        for contribution in ring(0, 24):
            assert (await client.send_when_known(contracts.RECORD_CONTRIBUTION, contribution)).status == "created"
        assert await verified(client) == 24
        before = await balances(client)
    dump(ledger_database, tmp_path / "ledger.dump")
    await drop_and_restore(ledger_database, tmp_path / "ledger.dump")

    async with ledger_on(ledger_database, nats_url, tmp_path) as client:
        assert await verified(client) == 24
        assert await balances(client) == before
        # The hash chains go on from the restored heads, and what was booked is still known as booked.
        [again] = ring(0, 1)
        assert (await client.send(contracts.RECORD_CONTRIBUTION, again)).status == "exists"
        [next_one] = ring(24, 1)
        assert (await client.send(contracts.RECORD_CONTRIBUTION, next_one)).status == "created"
        assert await verified(client) == 25


async def test_a_ledger_restored_to_before_the_streams_books_what_it_lacks_once_its_consumers_replay(
    nats_url: str, ledger_database: str, tmp_path: Path
) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        async with ledger_on(ledger_database, nats_url, tmp_path) as client:
            await found_hamburg(js)
            for contribution in ring(0, 20):
                await publish_submission(js, contribution, msg_id=contribution.contribution_id)
            await until_booked(client, 20)
        dump(ledger_database, tmp_path / "ledger.dump")  # the backup: 20 contributions

        async with ledger_on(ledger_database, nats_url, tmp_path) as client:
            for contribution in ring(20, 20):  # booked after the backup: only the stream will have them
                await publish_submission(js, contribution, msg_id=contribution.contribution_id)
            await until_booked(client, 40)
            before = await balances(client)
        await drop_and_restore(ledger_database, tmp_path / "ledger.dump")
        assert await contributions_in(ledger_database) == 20  # the premise: the database is behind the stream

        # The procedure: the restored database is behind its durable consumers' positions, so they go; the
        # ledger declares them anew from the start of the streams, and what the database holds is skipped.
        removed = await remove_durable_consumers(js, "ledger")
        assert "ledger-from-alliances" in removed, removed
        assert any(name.startswith("ledger-intake-") for name in removed), removed
        async with ledger_on(ledger_database, nats_url, tmp_path) as client:
            await until_booked(client, 40)
            assert await balances(client) == before
    finally:
        await nc.close()


async def contributions_in(database_url: str) -> int:
    connection = await asyncpg.connect(libpq_url(database_url))
    try:
        return int(await connection.fetchval("SELECT count(*) FROM contributions"))
    finally:
        await connection.close()


async def remove_durable_consumers(js: JetStreamContext, service: str) -> list[str]:
    """Delete a service's durable consumers on every stream (what `nats consumer rm` does, one by one)."""
    removed = []
    for stream in SERVICES:
        for info in await js.consumers_info(stream_name(stream)):
            if info.name.startswith(f"{service}-"):
                await js.delete_consumer(stream_name(stream), info.name)
                removed.append(info.name)
    return removed
