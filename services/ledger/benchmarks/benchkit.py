"""What the ledger benchmarks share: a throwaway NATS + PostgreSQL, the ledger as an OS process, statistics.

Not a library of the workspace: the benchmark scripts import it from their own directory.
"""

from __future__ import annotations

import asyncio
import math
import os
import platform
import random
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from nats.js import JetStreamContext
from sqlalchemy.engine import make_url

from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts.subjects import PARTITIONS
from kehrwasser_shared.embedded.nats_server import NatsServer
from kehrwasser_shared.testing.databases import fresh_postgres_database
from kehrwasser_shared.testing.processes import ServiceProcess, service_env

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
FOUNDED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
KINDS = [kind for kind in contracts.ContributionKind]


@dataclass(frozen=True)
class Sandbox:
    nats_url: str
    database_url: str
    work_dir: Path


@contextmanager
def sandbox(prefix: str, admin_url: str, *, keep: bool = False) -> Iterator[Sandbox]:
    """A nats-server on a free port and a fresh PostgreSQL database, removed afterwards (unless ``keep``)."""
    work_dir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with (
            NatsServer(work_dir / "nats", log_file=work_dir / "nats.log") as server,
            fresh_postgres_database(admin_url) as database_url,
        ):
            yield Sandbox(server.url, database_url, work_dir)
    finally:
        if keep:
            print(f"work directory: {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg wants, from a SQLAlchemy URL."""
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of unsorted samples."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def machine_summary() -> str:
    load = os.getloadavg()
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


@dataclass(frozen=True)
class Network:
    """The alliances and members a benchmark books contributions between."""

    alliances: int
    members_per_alliance: int

    def alliance_id(self, number: int) -> str:
        return f"bench-alliance-{number:05d}"

    def member_ids(self, alliance_number: int) -> list[str]:
        return [f"founder-{alliance_number:05d}-{m:03d}" for m in range(self.members_per_alliance)]

    @property
    def memberships(self) -> int:
        return self.alliances * self.members_per_alliance

    def events(self) -> Iterator[tuple[Any, Any]]:
        """alliance-created and member-joined events, as the alliances service would publish them."""
        for a in range(self.alliances):
            members = self.member_ids(a)
            yield (
                alliance_contracts.ALLIANCE_CREATED,
                alliance_contracts.AllianceCreatedV1(
                    alliance_id=self.alliance_id(a),
                    name=f"Bench Alliance {a}",
                    purpose="benchmark",
                    focus=[],
                    warning_threshold=Decimal("-50"),
                    moderator_id=members[0],
                    created_at=FOUNDED,
                ),
            )
            for m, member in enumerate(members):
                yield (
                    alliance_contracts.MEMBER_JOINED,
                    alliance_contracts.MemberJoinedV1(
                        alliance_id=self.alliance_id(a),
                        member_id=member,
                        role="moderator" if m == 0 else "member",
                        joined_at=FOUNDED,
                    ),
                )

    def contributions(self, count: int, *, prefix: str, seed: int) -> list[contracts.RecordContribution]:
        """``count`` contributions between random members of random alliances (reproducible by seed)."""
        rng = random.Random(seed)
        result = []
        for n in range(count):
            a = rng.randrange(self.alliances)
            giver, receiver = rng.sample(self.member_ids(a), 2)
            result.append(
                contracts.RecordContribution(
                    contribution_id=f"{prefix}-{n:08d}",
                    alliance_id=self.alliance_id(a),
                    giver_id=giver,
                    receiver_id=receiver,
                    kind=rng.choice(KINDS),
                    value=Decimal(rng.randint(1, 999)) / 100,
                    note="",
                )
            )
        return result


async def publish_alliance_events(js: JetStreamContext, network: Network) -> None:
    futures = []
    for contract, data in network.events():
        event = make_event(type_=contract.type, source="/alliances", data=data)
        payload = event.model_dump_json().encode()
        futures.append(await js.publish_async(contract.subject, payload, headers={"Nats-Msg-Id": event.id}))
    await asyncio.gather(*futures)


def submission_payload(submission: contracts.RecordContribution) -> bytes:
    """A contribution-submitted CloudEvent, byte for byte what a producer publishes."""
    event = make_event(type_=contracts.CONTRIBUTION_SUBMITTED.type, source="/bench", data=submission)
    return event.model_dump_json().encode()


async def wait_for(
    connection: asyncpg.Connection, query: str, expected: int, *, stall: float = 30.0, interval: float = 0.05
) -> float:
    """Poll ``query`` (one integer) until it reaches ``expected``; returns the monotonic time it did.

    Gives up when the value has not moved for ``stall`` seconds (a ledger that dead-letters everything).
    """
    last, moved = -1, time.monotonic()
    while True:
        value = await connection.fetchval(query) or 0
        now = time.monotonic()
        if value >= expected:
            return now
        if value != last:
            last, moved = value, now
        elif now - moved > stall:
            raise TimeoutError(f"{query!r} stuck at {value} (expected {expected}) for {stall:.0f}s")
        await asyncio.sleep(interval)


class Ledger:
    """The real ledger service as its own OS process (its own event loop and interpreter)."""

    def __init__(self, nats_url: str, database_url: str, work_dir: Path, extra_env: dict[str, str] | None = None):
        self._env = {
            **service_env(
                "ledger", nats_url=nats_url, data_dir=work_dir, database_url=database_url, outbox_poll_seconds=0.2
            ),
            **(extra_env or {}),
        }
        self._log_dir = work_dir / "logs"
        self._process: ServiceProcess | None = None

    async def start(self) -> float:
        """Start the process; returns the monotonic time it reported ready."""
        self._process = ServiceProcess("ledger", self._env, self._log_dir).start()
        await asyncio.to_thread(self._process.wait_ready, 120.0)
        return time.monotonic()

    async def stop(self) -> None:
        if self._process is not None:
            code = await asyncio.to_thread(self._process.stop)
            if code not in (0, None):
                print(f"ledger exited with {code}; log: {self._process.log_path}")
            # The next start appends to the same log; its "service ready" must not count for that start.
            self._process.log_path.rename(self._process.log_path.with_suffix(f".{time.time_ns()}.log"))
            self._process = None

    def log(self) -> str:
        return self._process.log() if self._process else ""

    @property
    def pid(self) -> int | None:
        return self._process.process.pid if self._process and self._process.process else None


class Ledgers:
    """Several ledger processes sharing the database (scale-out), or just one.

    With ``split``, each process books its own share of the intake's partitions; without, they all read all
    of them (and take turns on the same alliances).
    """

    def __init__(
        self,
        count: int,
        nats_url: str,
        database_url: str,
        work_dir: Path,
        *,
        split: bool = True,
        extra_env: dict[str, str] | None = None,
    ):
        shares = partition_shares(count) if split else ["all"] * count
        self._members = [
            Ledger(
                nats_url,
                database_url,
                work_dir if count == 1 else work_dir / f"ledger-{n}",
                {"KEHRWASSER_INTAKE_PARTITIONS": share, **(extra_env or {})},
            )
            for n, share in enumerate(shares)
        ]

    async def start(self) -> float:
        """Start them all; returns the monotonic time the last one reported ready."""
        return max(await asyncio.gather(*(ledger.start() for ledger in self._members)))

    async def stop(self) -> None:
        await asyncio.gather(*(ledger.stop() for ledger in self._members))

    def log(self) -> str:
        return "\n".join(ledger.log() for ledger in self._members)

    @property
    def pid(self) -> int | None:
        """The first process's (the one a profile samples)."""
        return self._members[0].pid

    def cpu_seconds(self) -> float:
        """Processor time the ledger processes have used so far (user and system, from /proc)."""
        return sum(cpu_seconds(ledger.pid) for ledger in self._members if ledger.pid is not None)


def partition_shares(count: int) -> list[str]:
    """``KEHRWASSER_INTAKE_PARTITIONS`` for each of ``count`` processes: the partitions dealt out in turn."""
    if not 1 <= count <= PARTITIONS:
        raise ValueError(f"between 1 and {PARTITIONS} ledger processes")
    if count == 1:
        return ["all"]
    return [",".join(str(p) for p in range(first, PARTITIONS, count)) for first in range(count)]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: ...`` leaves the elapsed seconds in ``t[0]``."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)
