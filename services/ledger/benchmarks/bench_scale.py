"""The ledger at scale (issue 15): verification, the inactivity review, matrix and health, booking, with
millions of entries, on PostgreSQL or SQLite.

Migrates a fresh database and seeds it straight into the ledger's tables (COPY on PostgreSQL, executemany on
SQLite) with consistent books: a real hash chain per alliance, gapless versions, balances before and after,
maintained accounts and flows. One alliance holds ``--big`` contributions, the rest are spread over the
others. Then, in process, through the ledger's own use cases and SQL adapters (no NATS):

1. booking on the empty ledger: 10 batches of 1,000 through `handlers.record_contributions`, alternately with
   and without the maintained flows (the aggregates' cost on the hot path);
2. booking the same way after the seeding (the rate at scale);
3. a full verification run (entries per second), then a routine one after those 10,000 new contributions;
4. an inactivity review round over 100,000 accounts of which 1 % crossed their window, and a second round;
5. flow matrix (built for every request, and kept between bookings as the service does) and alliance health
   of the big alliance, sequentially (p50, p99).

    uv run python services/ledger/benchmarks/bench_scale.py --entries 10000000 --big 1000000
    uv run python services/ledger/benchmarks/bench_scale.py --sqlite --entries 1000000 --big 200000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from benchkit import DEFAULT_ADMIN_URL, MIGRATIONS, asyncpg_dsn, machine_summary, percentile

from kehrwasser_ledger.adapters import repository
from kehrwasser_ledger.adapters.read_model import SqlLedgerReadModel
from kehrwasser_ledger.adapters.tables import messaging
from kehrwasser_ledger.adapters.unit_of_work import SqlLedgerUnitOfWork
from kehrwasser_ledger.domain.model import GENESIS_HASH, chain_hash
from kehrwasser_ledger.service_layer import handlers, policies, queries
from kehrwasser_ledger.service_layer.verification import VerificationRuns
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async
from kehrwasser_shared.runtime import GC_THRESHOLDS
from kehrwasser_shared.testing.databases import fresh_postgres_database

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KINDS = [kind.value for kind in contracts.ContributionKind]
CHUNK = 50_000
MEMBERS = 20
IDLE_ALLIANCES, IDLE_MEMBERS, IDLE_WINDOW_DAYS = 1_000, 100, 30
CONTRIBUTION_COLUMNS = [
    "contribution_id", "alliance_id", "sequence", "giver_id", "receiver_id", "kind", "value_cents", "note",
    "recorded_at", "reverses", "prev_hash", "hash", "giver_balance_cents", "receiver_balance_cents",
]  # fmt: skip
ENTRY_COLUMNS = [
    "alliance_id", "owner_id", "version", "contribution_id", "amount_cents", "balance_before_cents",
    "balance_after_cents",
]  # fmt: skip
ACCOUNT_COLUMNS = [
    "alliance_id", "owner_id", "balance_cents", "given_cents", "received_cents", "version", "light", "opened_at",
    "last_given_at",
]  # fmt: skip


def alliance_id(number: int, family: str = "scale") -> str:
    return f"{family}-{number:05d}"


def member_ids(number: int) -> list[str]:
    return [f"founder-{number:05d}-{m:02d}" for m in range(MEMBERS)]


class Books:
    """Consistent rows, the hash chain included, generated in chunks."""

    def __init__(self, alliances: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.alliances = alliances
        self.accounts: dict[tuple[str, str], list[Any]] = {}  # balance, given, received, version, last_given_at
        self.heads = {alliance_id(a): (0, GENESIS_HASH) for a in range(alliances)}
        self.count = 0

    def chunk(self, size: int, alliance: int | None) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        contributions, entries = [], []
        for _ in range(size):
            a = alliance if alliance is not None else self.rng.randrange(1, self.alliances)
            aid = alliance_id(a)
            giver_id, receiver_id = self.rng.sample(member_ids(a), 2)
            cents, kind = self.rng.randint(1, 999), self.rng.choice(KINDS)
            cid, at = f"seed-{self.count:09d}", START + timedelta(milliseconds=self.count)
            sequence, prev = self.heads[aid]
            sequence += 1
            digest = chain_hash(
                prev_hash=prev, contribution_id=cid, alliance_id=aid, sequence=sequence, giver_id=giver_id,
                receiver_id=receiver_id, kind=kind, value=Decimal(cents).scaleb(-2), note="", recorded_at=at,
                reverses=None,
            )  # fmt: skip
            self.heads[aid] = (sequence, digest)
            balances = []
            for owner, amount in ((giver_id, cents), (receiver_id, -cents)):
                account = self.accounts.setdefault((aid, owner), [0, 0, 0, 0, None])
                before = account[0]
                account[0] += amount
                account[3] += 1
                entries.append((aid, owner, account[3], cid, amount, before, account[0]))
                balances.append(account[0])
            self.accounts[(aid, giver_id)][1] += cents
            self.accounts[(aid, giver_id)][4] = at
            self.accounts[(aid, receiver_id)][2] += cents
            contributions.append(
                (cid, aid, sequence, giver_id, receiver_id, kind, cents, "", at, None, prev, digest, *balances)
            )
            self.count += 1
        return contributions, entries


class Target:
    """Where rows go: PostgreSQL by COPY, SQLite by executemany."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self._pg: asyncpg.Connection | None = None
        self._lite: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self.sqlite:
            self._lite = sqlite3.connect(self.url.split("///", 1)[1])
            self._lite.execute("PRAGMA synchronous = OFF")
        else:
            self._pg = await asyncpg.connect(asyncpg_dsn(self.url))
            await self._pg.execute("SET synchronous_commit = off")

    async def close(self) -> None:
        if self._lite is not None:
            self._lite.close()
        if self._pg is not None:
            await self._pg.close()

    async def copy(self, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        if self._pg is not None:
            await self._pg.copy_records_to_table(table, records=rows, columns=columns)
            return
        assert self._lite is not None
        converted = [tuple(_lite(v) for v in row) for row in rows]
        marks = ",".join("?" * len(columns))
        self._lite.executemany(f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", converted)
        self._lite.commit()

    async def execute(self, sql: str) -> None:
        if self._pg is not None:
            await self._pg.execute(sql)
            return
        assert self._lite is not None
        self._lite.execute(sql)
        self._lite.commit()


def _lite(value: Any) -> Any:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


async def seed_network(target: Target, alliances: int, family: str) -> None:
    rows = [(alliance_id(a, family), -500000, 0, GENESIS_HASH) for a in range(alliances)]
    await target.copy(
        "ledger_alliances", ["alliance_id", "warning_threshold_cents", "chain_length", "chain_head"], rows
    )
    members = [(alliance_id(a, family), m, "moderator" if i == 0 else "member") for a in range(alliances) for i, m in enumerate(member_ids(a))]  # fmt: skip  # noqa: E501
    await target.copy("ledger_members", ["alliance_id", "member_id", "role"], members)


async def seed_books(target: Target, books: Books, spread: int, big: int) -> None:
    started = time.monotonic()
    for alliance, wanted in ((0, big), (None, spread)):
        done = 0
        while done < wanted:
            contribution_rows, entry_rows = books.chunk(min(CHUNK, wanted - done), alliance)
            await target.copy("contributions", CONTRIBUTION_COLUMNS, contribution_rows)
            await target.copy("entries", ENTRY_COLUMNS, entry_rows)
            done += len(contribution_rows)
            print(
                f"  {2 * books.count:,} entries ({2 * books.count / (time.monotonic() - started):,.0f}/s)", flush=True
            )
    accounts = [
        (aid, owner, b, g, r, v, "green", START, last) for (aid, owner), (b, g, r, v, last) in books.accounts.items()
    ]
    await target.copy("accounts", ACCOUNT_COLUMNS, accounts)
    for aid, (length, head) in books.heads.items():
        await target.execute(f"UPDATE ledger_alliances SET chain_length = {length}, chain_head = '{head}' WHERE alliance_id = '{aid}'")  # fmt: skip  # noqa: E501
    await target.execute(
        "INSERT INTO flows (alliance_id, giver_id, receiver_id, kind, value_cents, contributions) "
        "SELECT alliance_id, giver_id, receiver_id, kind, sum(value_cents), count(*) FROM contributions "
        "WHERE alliance_id LIKE 'scale-%' "
        "GROUP BY alliance_id, giver_id, receiver_id, kind"
    )


async def seed_idle_accounts(target: Target, changed_share: float, seed: int) -> int:
    """100,000 accounts in alliances with a 30-day window; ``changed_share`` of them gave last 31 days ago."""
    rng = random.Random(seed)
    alliances = [(f"idle-{a:05d}", -500000, 0, GENESIS_HASH, IDLE_WINDOW_DAYS) for a in range(IDLE_ALLIANCES)]
    await target.copy(
        "ledger_alliances", ["alliance_id", "warning_threshold_cents", "chain_length", "chain_head", "inactivity_days"],
        alliances,
    )  # fmt: skip
    rows, crossing = [], 0
    for aid, *_ in alliances:
        for m in range(IDLE_MEMBERS):
            due = rng.random() < changed_share
            crossing += due
            last = NOW - timedelta(days=IDLE_WINDOW_DAYS + 1 if due else rng.randint(1, IDLE_WINDOW_DAYS - 1))
            rows.append((aid, f"idle-founder-{m:03d}", 0, 0, 0, 0, "green", START, last))
    await target.copy("accounts", ACCOUNT_COLUMNS, rows)
    return crossing


def commands(alliances: int, count: int, prefix: str, seed: int, family: str) -> list[contracts.RecordContribution]:
    rng = random.Random(seed)
    result = []
    for n in range(count):
        a = rng.randrange(1, alliances)
        giver, receiver = rng.sample(member_ids(a), 2)
        result.append(
            contracts.RecordContribution(
                contribution_id=f"{prefix}-{n:07d}", alliance_id=alliance_id(a, family), giver_id=giver, receiver_id=receiver,  # noqa: E501
                kind=contracts.ContributionKind(rng.choice(KINDS)), value=Decimal(rng.randint(1, 999)).scaleb(-2),
            )
        )  # fmt: skip
    return result


def batches(items: list[contracts.RecordContribution], size: int) -> Iterator[list[contracts.RecordContribution]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def book(engine: Any, batch: list[contracts.RecordContribution]) -> float:
    uow = SqlLedgerUnitOfWork(engine, messaging, source="/ledger")
    started = time.perf_counter()
    await handlers.record_contributions(batch, uow, lambda: NOW, announce_rejections=True)
    return time.perf_counter() - started


async def booking_rates(engine: Any, alliances: int, family: str, seed: int, a_b: bool) -> dict[str, float]:
    """Contributions per second booked in batches of 1,000; with ``a_b`` alternately without the flows."""
    maintained = repository.add_to_flows

    async def skipped(*_: Any) -> None:
        return None

    seconds: dict[str, float] = {"with flows": 0.0, "without flows": 0.0}
    counted: dict[str, int] = {"with flows": 0, "without flows": 0}
    for n, batch in enumerate(batches(commands(alliances, 10_000, family, seed, family), 1000)):
        mode = "without flows" if a_b and n % 2 else "with flows"
        repository.add_to_flows = skipped if mode == "without flows" else maintained  # type: ignore[assignment]
        try:
            seconds[mode] += await book(engine, batch)
        finally:
            repository.add_to_flows = maintained
        counted[mode] += len(batch)
    return {mode: counted[mode] / seconds[mode] for mode in seconds if counted[mode]}


async def benchmark(args: argparse.Namespace, url: str) -> None:
    print(f"machine: {machine_summary()}")
    await upgrade_to_head_async(MIGRATIONS, url)
    target = Target(url)
    await target.open()
    engine = create_engine(url)
    reading = create_engine(url, isolation_level="AUTOCOMMIT") if not target.sqlite else engine
    try:
        # The empty ledger's alliances are others than those seeded later (whose chains the seeding starts).
        await seed_network(target, args.alliances, "empty")
        await seed_network(target, args.alliances, "scale")
        empty = await booking_rates(engine, args.alliances, "empty", 1, a_b=True)
        print(f"booking on the empty ledger: {_rates(empty)}   [{machine_summary()}]")
        books = Books(args.alliances, args.seed)
        spread = max(0, args.entries // 2 - args.big)
        print(f"seeding {2 * (spread + args.big):,} entries ({args.big:,} contributions in {alliance_id(0)}) ...")
        started = time.monotonic()
        await seed_books(target, books, spread, args.big)
        crossing = await seed_idle_accounts(target, 0.01, args.seed)
        await target.execute("ANALYZE")
        print(f"seeded in {time.monotonic() - started:.0f} s")

        def runs() -> VerificationRuns:
            return VerificationRuns(
                lambda: SqlLedgerUnitOfWork(engine, messaging, source="/ledger"),
                lambda: SqlLedgerReadModel(reading),
                lambda: datetime.now(UTC),
                parallel=1 if target.sqlite else args.parallel,  # as the service does (bootstrap)
            )

        started = time.monotonic()
        full = await runs().start(contracts.VerifyLedger(full=True, wait=True))
        took = time.monotonic() - started
        print(
            f"full verify: {full.entries_checked:,} entries of {full.alliances_checked} alliances in {took:.1f} s = "
            f"{full.entries_checked / took:,.0f} entries/s, ok={full.ok} {full.problems[:3]}   [{machine_summary()}]"
        )
        scaled = await booking_rates(engine, args.alliances, "scale", 2, a_b=True)
        print(f"booking at scale: {_rates(scaled)}   [{machine_summary()}]")
        started = time.monotonic()
        routine = await runs().start(contracts.VerifyLedger(wait=True))
        took = time.monotonic() - started
        print(
            f"incremental verify after 10,000 new contributions: {routine.contributions_checked:,} contributions, "
            f"{routine.entries_checked:,} entries, {routine.alliances_checked} alliances in {took:.2f} s, "
            f"ok={routine.ok}   [{machine_summary()}]"
        )
        for round_ in (1, 2):
            uow = SqlLedgerUnitOfWork(engine, messaging, source="/ledger")
            started = time.monotonic()
            changed = await policies.review_lights(uow, lambda: NOW)
            print(
                f"inactivity review round {round_}: {changed:,} lights changed (expected {crossing if round_ == 1 else 0:,}) "  # noqa: E501
                f"of {IDLE_ALLIANCES * IDLE_MEMBERS:,} accounts with a window in {time.monotonic() - started:.3f} s"
            )
        # The collector as the service has it once ready (`runtime._serve`): start-up's objects frozen, its
        # thresholds; otherwise a full pass over the benchmark's own heap lands in the requests' tail.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        recent = queries.RecentMatrices()
        matrix = contracts.QueryFlowMatrix(alliance_id=alliance_id(0))
        for name, ask in (
            # Each request builds the reply (as the first after a booking into the alliance does).
            ("flow matrix, built", lambda: queries.flow_matrix(matrix, SqlLedgerReadModel(reading))),
            # The service's way: the reply built at the alliance's current chain length is kept (`RecentMatrices`).
            ("flow matrix, kept", lambda: queries.flow_matrix(matrix, SqlLedgerReadModel(reading), recent)),
            ("alliance health", lambda: queries.alliance_health(contracts.QueryAllianceHealth(alliance_id=alliance_id(0)), SqlLedgerReadModel(reading), lambda: NOW)),  # noqa: E501
        ):  # fmt: skip
            for _ in range(50):
                await ask()
            samples = []
            for _ in range(args.queries):
                started_at = time.perf_counter()
                await ask()
                samples.append((time.perf_counter() - started_at) * 1000)
            print(
                f"{name} of {alliance_id(0)} ({args.big:,} contributions): p50 {percentile(samples, 0.5):.2f} ms, "
                f"p99 {percentile(samples, 0.99):.2f} ms, max {max(samples):.2f} ms (n={len(samples)})   "
                f"[{machine_summary()}]"
            )
        cells = len((await queries.flow_matrix(contracts.QueryFlowMatrix(alliance_id=alliance_id(0)), SqlLedgerReadModel(reading))).cells)  # fmt: skip  # noqa: E501
        print(f"the matrix has {cells:,} cells   [{machine_summary()}]")
    finally:
        await target.close()
        await engine.dispose()
        if reading is not engine:
            await reading.dispose()


def _rates(rates: dict[str, float]) -> str:
    return ", ".join(f"{mode} {rate:,.0f}/s" for mode, rate in rates.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000_000, help="entries to seed (two per contribution)")
    parser.add_argument("--big", type=int, default=1_000_000, help="contributions of the one big alliance")
    parser.add_argument("--alliances", type=int, default=500)
    parser.add_argument("--parallel", type=int, default=8, help="alliances a verification run checks at once")
    parser.add_argument("--queries", type=int, default=500, help="timed matrix and health requests each")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL URL allowed to create databases")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="kehrwasser-bench-scale-") as work:
            asyncio.run(benchmark(args, f"sqlite+aiosqlite:///{Path(work) / 'ledger.db'}"))
        return 0
    with fresh_postgres_database(args.admin_url) as url:
        asyncio.run(benchmark(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
