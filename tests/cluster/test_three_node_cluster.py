"""A 3-node NATS cluster with R3 streams loses one node (SIGKILL) while contributions flow into the ledger:
booking pauses while JetStream elects new leaders, then goes on, and every submitted contribution is booked
exactly once.

Three nats-server processes on loopback ports, each with its own store and the permissions the test plugin
runs (the generated identities plus the harness user); the ledger runs as an OS process with
``KEHRWASSER_STREAM_REPLICAS=3`` and all three URLs. The test plays the alliances service (it publishes
``alliance-created`` and ``member-joined``, as the ledger's own tests do) and a producer that publishes
``contribution-submitted`` at a steady rate, retrying each event under its own id until a server acknowledges
it. The node killed is the leader of the ledger's stream, where the submissions and the outcomes are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import time
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import text

from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts.subjects import DEADLETTER_STREAM, stream_name
from kehrwasser_shared.embedded.nats_server import NatsServer, free_port
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.security import identities
from kehrwasser_shared.testing import examples
from kehrwasser_shared.testing.databases import fresh_postgres_database, postgres_url_from_environment
from kehrwasser_shared.testing.plugin import IDENTITIES_DIR_VARIABLE, secured_with_harness
from kehrwasser_shared.testing.processes import ServiceProcess, service_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(600)]

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CLUSTER = "kehrwasser-test"
ALLIANCES = ("hamburg", "bremen", "kiel", "luebeck")  # four partitions of the intake, four durable consumers
MEMBERS = ("ada", "grace", "linus")
CONTRIBUTIONS = 1500
RATE_PER_SECOND = 50.0  # about 30 s of submissions; the kill falls in the first third
# Generous: a loaded 2-core machine runs three servers, the ledger and PostgreSQL; an election takes seconds.
CLUSTER_FORMED_SECONDS = 60.0
BOOKED_SECONDS = 240.0


@dataclass
class Node:
    name: str
    server: NatsServer
    cluster_port: int

    def health(self) -> bool:
        """True when the node's JetStream is current with the cluster (``/healthz`` answers 200)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.server.monitor_port}/healthz", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False


def cluster_config(node: str, cluster_port: int, routes: list[int], permissions: str) -> str:
    """One node's configuration: the test's permissions and a route to every node (a node ignores the route to
    itself). JetStream and its store come from ``NatsServer``'s ``-js -sd``: nats-server refuses a
    ``store_dir`` given twice."""
    route_urls = ", ".join(f'"nats-route://127.0.0.1:{port}"' for port in routes)
    return (
        f'server_name: "{node}"\n'
        f"{permissions}"
        f'cluster {{\n  name: "{CLUSTER}"\n  listen: "127.0.0.1:{cluster_port}"\n  routes: [{route_urls}]\n}}\n'
    )


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[Node]]:
    """Three nats-server processes forming one JetStream cluster, running the plugin's permissions."""
    directory = tmp_path / "identities"
    identities.init(directory)
    permissions = secured_with_harness(directory).read_text()
    cluster_ports = [free_port() for _ in range(3)]
    nodes: list[Node] = []
    try:
        for index, cluster_port in enumerate(cluster_ports):
            name = f"n{index + 1}"
            store = tmp_path / f"nats-{name}"
            config = tmp_path / f"{name}.conf"
            config.write_text(cluster_config(name, cluster_port, cluster_ports, permissions))
            server = NatsServer(store, config=config, monitor_port=free_port(), log_file=tmp_path / f"{name}.log")
            nodes.append(Node(name, server.start(), cluster_port))
        deadline = time.monotonic() + CLUSTER_FORMED_SECONDS
        while not all(node.health() for node in nodes):
            logs = "\n".join((tmp_path / f"{n.name}.log").read_text()[-2000:] for n in nodes)
            assert time.monotonic() < deadline, f"cluster not formed in {CLUSTER_FORMED_SECONDS}s:\n{logs}"
            time.sleep(0.2)
        yield nodes
    finally:
        for node in nodes:
            node.server.stop()


@pytest.fixture
def ledger_database(tmp_path: Path) -> Iterator[str]:
    """PostgreSQL when the run has one (production's database), else a SQLite file."""
    admin_url = postgres_url_from_environment()
    if admin_url is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
        return
    with fresh_postgres_database(admin_url) as url:
        yield url


def submission(number: int) -> contracts.RecordContribution:
    """The ``number``-th gift: alliances in turn, each member giving to the next in a ring."""
    giver = MEMBERS[number % 3]
    return contracts.RecordContribution(
        contribution_id=f"gift-{number:05d}",
        alliance_id=ALLIANCES[number % len(ALLIANCES)],
        giver_id=giver,
        receiver_id=MEMBERS[(number + 1) % 3],
        kind=contracts.ContributionKind.ADVICE,
        value=Decimal("1.5"),
    )


def expected_balances() -> dict[tuple[str, str], Decimal]:
    """Every account's balance once each submission is booked once: a giver gains what they give."""
    balances: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for number in range(CONTRIBUTIONS):
        gift = submission(number)
        balances[(gift.alliance_id, gift.giver_id)] += gift.value
        balances[(gift.alliance_id, gift.receiver_id)] -= gift.value
    return dict(balances)


async def publish_until_acknowledged(js: JetStreamContext, subject: str, payload: bytes, event_id: str) -> int:
    """Publish one event, again under the same Nats-Msg-Id until a server acknowledges it (the stream drops a
    copy it already stored); returns the attempts it took."""
    attempts = 0
    while True:
        attempts += 1
        try:
            await js.publish(subject, payload, headers={"Nats-Msg-Id": event_id}, timeout=2.0)
            return attempts
        except (TimeoutError, nats.errors.Error):
            assert attempts < 200, f"{event_id}: no acknowledgement after {attempts} attempts"
            await asyncio.sleep(0.2)


async def publish_event(js: JetStreamContext, contract: Any, data: Any, source: str) -> None:
    event = make_event(type_=contract.type, source=source, data=data)
    await publish_until_acknowledged(js, contract.subject_for(data), event.model_dump_json().encode(), event.id)


@dataclass
class Producer:
    """Publishes the contributions at a steady pace; a publish that fails is retried with the same event."""

    js: JetStreamContext
    published: int = 0
    retried: int = 0
    slowest_seconds: float = 0.0
    delays: list[float] = field(default_factory=list)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for number in range(CONTRIBUTIONS):
            # Paced by the clock, so a stall is followed by a catch-up rather than by a slower run.
            await asyncio.sleep(max(0.0, start + number / RATE_PER_SECOND - loop.time()))
            gift = submission(number)
            event = make_event(type_=contracts.CONTRIBUTION_SUBMITTED.type, source="/producer", data=gift)
            began = loop.time()
            attempts = await publish_until_acknowledged(
                self.js, contracts.CONTRIBUTION_SUBMITTED.subject_for(gift), event.model_dump_json().encode(), event.id
            )
            self.slowest_seconds = max(self.slowest_seconds, loop.time() - began)
            self.retried += attempts - 1
            self.published += 1


async def scalar(database_url: str, query: str) -> Any:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text(query))).scalar_one()
    finally:
        await engine.dispose()


async def booked(database_url: str) -> int:
    """Contributions the ledger has committed (its own table: what a crash could not take back)."""
    return int(await scalar(database_url, "SELECT count(*) FROM contributions"))


async def booking_times(database_url: str) -> list[datetime]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT recorded_at FROM contributions ORDER BY recorded_at"))
            return [row[0] if row[0].tzinfo else row[0].replace(tzinfo=UTC) for row in rows]
    finally:
        await engine.dispose()


async def until(condition: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, f"{what} not within {timeout}s"
        await asyncio.sleep(interval)


async def stream_leader(js: JetStreamContext, stream: str) -> str:
    info = await js.stream_info(stream)
    assert info.cluster is not None, f"{stream} is not clustered"
    assert info.cluster.leader, f"{stream} has no leader: {info.cluster}"
    return info.cluster.leader


async def every_event(js: JetStreamContext, subject: str, stream: str, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Every event stored on ``subject``, duplicates included (an ephemeral consumer, acknowledged as read: it
    hands out no more than its ack-pending limit of 1,000 unacknowledged)."""
    subscription = await js.pull_subscribe(subject, stream=stream, durable=None)
    try:
        stored = (await subscription.consumer_info()).num_pending or 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        events: list[dict[str, Any]] = []
        while len(events) < stored:
            assert loop.time() < deadline, f"{len(events)} of {stored} events on {subject} within {timeout}s"
            with contextlib.suppress(TimeoutError):
                for message in await subscription.fetch(min(500, stored - len(events)), timeout=1.0):
                    events.append(json.loads(message.data))
                    await message.ack()
        return events
    finally:
        await subscription.unsubscribe()


async def test_contributions_keep_flowing_when_a_node_of_the_cluster_dies_and_each_is_booked_once(
    cluster: list[Node], ledger_database: str, tmp_path: Path
) -> None:
    urls = ",".join(node.server.url for node in cluster)
    env = {
        **service_env(
            "ledger", nats_url=urls, data_dir=tmp_path, database_url=ledger_database, outbox_poll_seconds=0.2
        ),
        "KEHRWASSER_STREAM_REPLICAS": "3",
        IDENTITIES_DIR_VARIABLE: str(tmp_path / "identities"),
    }
    ledger = ServiceProcess("ledger", env, tmp_path / "logs")
    ledger.start()
    nc = await nats.connect(
        servers=urls.split(","),
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=2,
        error_cb=expected_while_a_node_is_down,  # the default callback logs every failed reconnect at ERROR
    )
    try:
        await asyncio.to_thread(ledger.wait_ready, 120.0)
        js = nc.jetstream(timeout=10)
        ledger_stream = stream_name("ledger")
        replicas = (await js.stream_info(ledger_stream)).config.num_replicas
        assert replicas == 3, f"the ledger created {ledger_stream} with {replicas} replicas"
        for alliance in ALLIANCES:
            created = examples.alliance_created(alliance, moderator="ada", at=NOW)
            await publish_event(js, alliance_contracts.ALLIANCE_CREATED, created, "/alliances")
            for member in MEMBERS:
                joined = alliance_contracts.MemberJoinedV1(
                    alliance_id=alliance,
                    member_id=member,
                    role="moderator" if member == "ada" else "member",
                    joined_at=NOW,
                )
                await publish_event(js, alliance_contracts.MEMBER_JOINED, joined, "/alliances")

        producer = Producer(js)
        producing = asyncio.create_task(producer.run())
        # Kill once a third is booked: the intake is busy, the outbox relay publishing outcomes.
        await until(lambda: booked_at_least(ledger_database, CONTRIBUTIONS // 3), BOOKED_SECONDS, "a third booked")
        doomed_name = await stream_leader(js, ledger_stream)
        [doomed] = [node for node in cluster if node.name == doomed_name]
        assert doomed.server.pid is not None
        booked_before_kill = await booked(ledger_database)
        killed_at = datetime.now(UTC)
        os.kill(doomed.server.pid, signal.SIGKILL)

        await asyncio.wait_for(producing, BOOKED_SECONDS)
        await until(lambda: booked_at_least(ledger_database, CONTRIBUTIONS), BOOKED_SECONDS, "every contribution")
        new_leader = await stream_leader(js, ledger_stream)
        assert new_leader != doomed_name

        # Nothing lost, nothing doubled: the ledger's verification over every contribution, each id booked
        # once, each outcome event published once, every balance as computed from the submissions.
        client = CommandClient(nc, timeout=120)
        verification = await client.send(contracts.VERIFY, contracts.VerifyLedger(full=True, wait=True))
        assert verification.ok, verification.problems
        assert verification.contributions_checked == CONTRIBUTIONS
        recorded = await every_event(js, contracts.CONTRIBUTION_RECORDED.subject, ledger_stream)
        per_id = Counter(event["data"]["contribution_id"] for event in recorded)
        assert set(per_id) == {submission(n).contribution_id for n in range(CONTRIBUTIONS)}
        assert [cid for cid, times in per_id.items() if times != 1] == []
        rejected = await every_event(js, contracts.CONTRIBUTION_REJECTED.subject, ledger_stream)
        assert rejected == []
        dead = await every_event(js, ">", DEADLETTER_STREAM)
        assert dead == []
        for (alliance, member), value in expected_balances().items():
            balance = await client.send(
                contracts.BALANCE, contracts.QueryBalance(alliance_id=alliance, member_id=member)
            )
            assert balance.balance == value, (alliance, member)

        times = await booking_times(ledger_database)
        pause, resumed_at = longest_pause_after(times, killed_at)
        print(
            f"\n3-node cluster, R3: killed {doomed_name} (leader of {ledger_stream}) with {booked_before_kill} of "
            f"{CONTRIBUTIONS} booked; new leader {new_leader}. Booking paused {pause:.2f} s around the kill "
            f"(first booking after it {resumed_at:.2f} s after the kill); the producer retried {producer.retried} "
            f"publishes, its slowest took {producer.slowest_seconds:.2f} s. Booked "
            f"{verification.contributions_checked}, {len(recorded)} contribution-recorded events, 0 rejected, "
            "0 dead letters; verify ok."
        )
    finally:
        await nc.close()
        ledger.stop()


async def expected_while_a_node_is_down(error: Exception) -> None:
    """Connection errors to the killed node are the point of the test."""


async def booked_at_least(database_url: str, contributions: int) -> bool:
    return await booked(database_url) >= contributions


def longest_pause_after(times: list[datetime], killed_at: datetime) -> tuple[float, float]:
    """The longest gap between two bookings that ends after the kill (the pause the kill caused), and how long
    after the kill the first booking came."""
    later = [t for t in times if t > killed_at]
    assert later, "nothing was booked after the kill"
    before = [t for t in times if t <= killed_at]
    series = ([before[-1]] if before else []) + later
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(series)]
    return max(gaps, default=0.0), (later[0] - killed_at).total_seconds()
