"""Balance query benchmark: latency of ``ledger.balance`` with millions of entries in PostgreSQL.

Migrates a fresh database, seeds it by COPY straight into the ledger's tables (alliances, members, accounts,
contributions and their two entries each; balances, versions and balance_before/after are consistent, the
hash chain is not, so ``ledger verify`` would object), starts the real ledger as its own OS process, and
times sequential balance requests over NATS request/reply next to the same lookup in plain SQL and, for
contrast, a balance summed from the entries on read.

    uv run python services/ledger/benchmarks/bench_balance_query.py --entries 10000000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import nats
from benchkit import DEFAULT_ADMIN_URL, MIGRATIONS, Ledger, Network, asyncpg_dsn, machine_summary, percentile, sandbox

from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async

CHUNK = 100_000  # contributions generated and copied at a time
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FAKE_HASH = "f" * 64
CONTRIBUTION_COLUMNS = [
    "contribution_id",
    "alliance_id",
    "sequence",
    "giver_id",
    "receiver_id",
    "kind",
    "value_cents",
    "note",
    "recorded_at",
    "reverses",
    "prev_hash",
    "hash",
    "giver_balance_cents",
    "receiver_balance_cents",
]
ENTRY_COLUMNS = [
    "alliance_id",
    "owner_id",
    "version",
    "contribution_id",
    "amount_cents",
    "balance_before_cents",
    "balance_after_cents",
]
RAW_BALANCE = "SELECT balance_cents, given_cents, received_cents FROM accounts WHERE alliance_id = $1 AND owner_id = $2"
SUMMED_BALANCE = "SELECT coalesce(sum(amount_cents), 0) FROM entries WHERE alliance_id = $1 AND owner_id = $2"


@dataclass
class Account:
    balance: int = 0
    given: int = 0
    received: int = 0
    version: int = 0


class Books:
    """Consistent contribution and entry rows for a network, generated in chunks."""

    def __init__(self, network: Network, seed: int) -> None:
        self.network = network
        self.rng = random.Random(seed)
        self.accounts = {
            (network.alliance_id(a), member): Account()
            for a in range(network.alliances)
            for member in network.member_ids(a)
        }
        self.chain_length = {network.alliance_id(a): 0 for a in range(network.alliances)}
        self.members = [network.member_ids(a) for a in range(network.alliances)]
        self.count = 0

    def chunk(self, size: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        contributions: list[tuple[object, ...]] = []
        entries: list[tuple[object, ...]] = []
        for _ in range(size):
            a = self.rng.randrange(self.network.alliances)
            alliance_id = self.network.alliance_id(a)
            giver_id, receiver_id = self.rng.sample(self.members[a], 2)
            value = self.rng.randint(1, 999)
            contribution_id = f"seed-{self.count:09d}"
            giver, receiver = self.accounts[(alliance_id, giver_id)], self.accounts[(alliance_id, receiver_id)]
            for account, owner_id, amount in ((giver, giver_id, value), (receiver, receiver_id, -value)):
                before = account.balance
                account.balance += amount
                account.version += 1
                entries.append(
                    (alliance_id, owner_id, account.version, contribution_id, amount, before, account.balance)
                )
            giver.given += value
            receiver.received += value
            self.chain_length[alliance_id] += 1
            contributions.append(
                (
                    contribution_id,
                    alliance_id,
                    self.chain_length[alliance_id],
                    giver_id,
                    receiver_id,
                    "advice",
                    value,
                    "",
                    START + timedelta(milliseconds=self.count),
                    None,
                    FAKE_HASH,
                    FAKE_HASH,
                    giver.balance,
                    receiver.balance,
                )
            )
            self.count += 1
        return contributions, entries


async def seed(db: asyncpg.Connection, network: Network, entries: int, seed_value: int) -> Books:
    """COPY the books into the migrated tables; foreign keys are not re-checked row by row (replica role)."""
    books = Books(network, seed_value)
    await db.execute("SET session_replication_role = replica")
    await db.execute("SET synchronous_commit = off")
    alliances = [(network.alliance_id(a), -5000, 0, FAKE_HASH) for a in range(network.alliances)]
    await db.copy_records_to_table(
        "ledger_alliances",
        records=alliances,
        columns=["alliance_id", "warning_threshold_cents", "chain_length", "chain_head"],
    )
    members = [
        (network.alliance_id(a), m, "moderator" if i == 0 else "member")
        for a in range(network.alliances)
        for i, m in enumerate(network.member_ids(a))
    ]
    await db.copy_records_to_table("ledger_members", records=members, columns=["alliance_id", "member_id", "role"])
    contributions_wanted = entries // 2
    started = time.monotonic()
    while books.count < contributions_wanted:
        contribution_rows, entry_rows = books.chunk(min(CHUNK, contributions_wanted - books.count))
        await db.copy_records_to_table("contributions", records=contribution_rows, columns=CONTRIBUTION_COLUMNS)
        await db.copy_records_to_table("entries", records=entry_rows, columns=ENTRY_COLUMNS)
        rate = 2 * books.count / (time.monotonic() - started)
        print(f"  {2 * books.count:,} entries ({rate:,.0f}/s)", flush=True)
    await db.copy_records_to_table(
        "accounts",
        records=[
            (alliance_id, owner_id, acc.balance, acc.given, acc.received, acc.version)
            for (alliance_id, owner_id), acc in books.accounts.items()
        ],
        columns=["alliance_id", "owner_id", "balance_cents", "given_cents", "received_cents", "version"],
    )
    await db.executemany(
        "UPDATE ledger_alliances SET chain_length = $2 WHERE alliance_id = $1", list(books.chain_length.items())
    )
    await db.execute("SET session_replication_role = DEFAULT")
    await db.execute("ANALYZE")
    return books


async def timed_calls(call: Callable[[str, str], Awaitable[object]], pairs: list[tuple[str, str]]) -> list[float]:
    """Milliseconds per call, one call after the other."""
    samples = []
    for alliance_id, member_id in pairs:
        start = time.perf_counter()
        await call(alliance_id, member_id)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def sample_pairs(books: Books, count: int, seed_value: int) -> list[tuple[str, str]]:
    rng = random.Random(seed_value)
    keys = list(books.accounts)
    return [rng.choice(keys) for _ in range(count)]


async def benchmark(args: argparse.Namespace, nats_url: str, database_url: str, work_dir: Path) -> dict[str, object]:
    network = Network(args.alliances, args.members)
    await upgrade_to_head_async(MIGRATIONS, database_url)
    db = await asyncpg.connect(asyncpg_dsn(database_url))
    ledger = Ledger(nats_url, database_url, work_dir)
    nc = None
    try:
        print(f"seeding {args.entries:,} entries across {network.memberships:,} accounts ...", flush=True)
        seed_started = time.monotonic()
        books = await seed(db, network, args.entries, args.seed)
        seed_seconds = time.monotonic() - seed_started
        size = await db.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        stored = await db.fetchval("SELECT count(*) FROM entries") if args.count else None
        await ledger.start()
        nc = await nats.connect(nats_url)
        client = CommandClient(nc)

        async def over_nats(alliance_id: str, member_id: str) -> object:
            return await client.send(
                contracts.BALANCE, contracts.QueryBalance(alliance_id=alliance_id, member_id=member_id)
            )

        raw_statement = await db.prepare(RAW_BALANCE)
        summed_statement = await db.prepare(SUMMED_BALANCE)
        view = await over_nats(*next(iter(books.accounts)))
        expected = books.accounts[next(iter(books.accounts))].balance
        assert round(view.balance * 100) == expected, (view, expected)  # type: ignore[attr-defined]
        await timed_calls(over_nats, sample_pairs(books, args.warmup, args.seed + 1))
        return {
            "entries": args.entries,
            "stored": stored,
            "accounts": network.memberships,
            "database": size,
            "seed_seconds": seed_seconds,
            "nats": await timed_calls(over_nats, sample_pairs(books, args.queries, args.seed + 2)),
            "sql": await timed_calls(raw_statement.fetchrow, sample_pairs(books, args.queries, args.seed + 3)),
            "summed": await timed_calls(
                summed_statement.fetchval, sample_pairs(books, args.queries // 10, args.seed + 4)
            ),
        }
    finally:
        if nc is not None:
            await nc.close()
        await ledger.stop()
        await db.close()


def print_report(result: dict[str, object], args: argparse.Namespace) -> None:
    print()
    print(f"machine: {machine_summary()}")
    print(
        f"database: {result['entries']:,} entries ({result['stored'] or 'not counted'}), {result['accounts']:,} "
        f"accounts, {result['database']}; seeded in {result['seed_seconds']:.0f}s"
    )
    print(f"{'':52}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'n':>7}")
    for name, key in (
        ("ledger.balance over NATS request/reply", "nats"),
        ("SQL: SELECT the maintained account row", "sql"),
        ("SQL: sum of the account's entries (not used)", "summed"),
    ):
        samples = result[key]
        assert isinstance(samples, list)
        print(
            f"{name:52}{percentile(samples, 0.5):9.2f}{percentile(samples, 0.99):9.2f}{max(samples):9.2f}"
            f"{len(samples):7}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000_000, help="entries to seed (two per contribution)")
    parser.add_argument("--alliances", type=int, default=500)
    parser.add_argument("--members", type=int, default=20, help="members per alliance")
    parser.add_argument("--queries", type=int, default=5000, help="timed balance queries per method")
    parser.add_argument("--warmup", type=int, default=500, help="untimed queries first")
    parser.add_argument("--count", action="store_true", help="count the stored entries (slow with millions)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL URL allowed to create databases")
    parser.add_argument("--seed", type=int, default=2026)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with sandbox("kehrwasser-bench-balance-", args.admin_url) as box:
        result = asyncio.run(benchmark(args, box.nats_url, box.database_url, box.work_dir))
    print_report(result, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
