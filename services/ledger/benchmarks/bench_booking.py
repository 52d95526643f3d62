"""The booking handler alone, in process: CPU and wall time per contribution of ``record_contributions``.

No NATS and no outbox relay: batches of submissions go straight into the handler against a fresh PostgreSQL
database, the way the intake consumer hands them over. It isolates the cost of booking from messaging, for
profiling (``py-spy record -- python bench_booking.py``) and for A/B comparisons of the booking path.

    uv run python services/ledger/benchmarks/bench_booking.py --batches 30 --batch-size 1000
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchkit import DEFAULT_ADMIN_URL, Network, percentile
from sqlalchemy import text

from kehrwasser_ledger.adapters.tables import messaging
from kehrwasser_ledger.adapters.unit_of_work import SqlLedgerUnitOfWork
from kehrwasser_ledger.bootstrap import MIGRATIONS, utc_now
from kehrwasser_ledger.service_layer import handlers
from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async
from kehrwasser_shared.testing.databases import fresh_postgres_database


async def benchmark(args: argparse.Namespace, database_url: str) -> None:
    await upgrade_to_head_async(MIGRATIONS, database_url)
    engine = create_engine(database_url)

    def uow() -> SqlLedgerUnitOfWork:
        return SqlLedgerUnitOfWork(engine, messaging, source="/ledger")

    network = Network(args.alliances, args.members)
    for contract, data in network.events():
        event = make_event(type_=contract.type, source="/alliances", data=data)
        learn = (
            handlers.learn_alliance if contract is alliance_contracts.ALLIANCE_CREATED else handlers.learn_membership
        )
        await learn(event, data, uow())  # type: ignore[arg-type]
    submissions = network.contributions(args.batches * args.batch_size, prefix="booked", seed=args.seed)
    cpu: list[float] = []
    wall: list[float] = []
    for batch in range(args.batches):
        commands = submissions[batch * args.batch_size : (batch + 1) * args.batch_size]
        started_cpu, started = time.process_time(), time.perf_counter()
        await handlers.record_contributions(commands, uow(), utc_now, announce_rejections=True)
        if batch >= args.warmup:
            cpu.append((time.process_time() - started_cpu) / len(commands) * 1e6)
            wall.append((time.perf_counter() - started) / len(commands) * 1e6)
    async with engine.connect() as connection:
        booked = await connection.scalar(text("SELECT count(*) FROM contributions"))
    await engine.dispose()
    print(f"{booked:,} contributions booked in {args.batches} batches of {args.batch_size}")
    print(
        f"per contribution: CPU p50 {percentile(cpu, 0.5):.0f} us, wall p50 {percentile(wall, 0.5):.0f} us "
        f"(-> {1e6 / percentile(wall, 0.5):,.0f}/s in the handler alone)"
    )
    # Wall minus processor time is what the handler waits for PostgreSQL: it moves with the schema and the
    # statements, and much less than either figure with the VM's speed.
    waits = [w - c for w, c in zip(wall, cpu, strict=True)]
    print(f"waiting for the database per contribution: p50 {percentile(waits, 0.5):.0f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=3, help="batches not counted")
    parser.add_argument("--alliances", type=int, default=200)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args()
    with fresh_postgres_database(args.admin_url) as database_url:
        asyncio.run(benchmark(args, database_url))


if __name__ == "__main__":
    main()
