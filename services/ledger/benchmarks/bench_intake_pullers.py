"""The intake's two ways to fetch batches, side by side in one run: our `BatchPuller` and FastStream's batch pull
subscriber (`PullSub(batch=True)`), each draining the same kind of backlog into the real ledger process.

The rounds alternate (A B B A ...) on one database and one nats-server, so that the VM's drift and the growing
books weigh on both alike; each round drains a backlog of its own. Prints each round's steady rate (10-90 % of
the drain), each puller's mean, and FastStream's share of ours: the intake keeps its own puller only while
FastStream's books fewer than 90 % of its rate (issue 10; figures in docs/performance.md).

    uv run python services/ledger/benchmarks/bench_intake_pullers.py --contributions 50000 --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import asyncpg
import nats
from bench_intake import backlog, measure_ledger_drain, publish_backlog
from benchkit import (
    DEFAULT_ADMIN_URL,
    MIGRATIONS,
    Ledgers,
    Network,
    asyncpg_dsn,
    machine_summary,
    publish_alliance_events,
    sandbox,
    wait_for,
)

from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.messaging.streams import ensure_streams
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async

PULLERS = ("own", "faststream")


def order(rounds: int) -> list[str]:
    """A B B A A B ...: each puller as often first as second."""
    pattern = [PULLERS[0], PULLERS[1], PULLERS[1], PULLERS[0]]
    return [pattern[n % 4] for n in range(rounds)]


async def compare(
    args: argparse.Namespace, nats_url: str, database_url: str, work_dir: Path
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    network = Network(args.alliances, args.members)
    await upgrade_to_head_async(MIGRATIONS, database_url)
    db = await asyncpg.connect(asyncpg_dsn(database_url))
    nc = await nats.connect(nats_url)
    rates: dict[str, list[float]] = {puller: [] for puller in PULLERS}
    idle: dict[str, list[float]] = {puller: [] for puller in PULLERS}
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        seeding = Ledgers(1, nats_url, database_url, work_dir)
        await seeding.start()
        await publish_alliance_events(js, network)
        await wait_for(db, "SELECT count(*) FROM ledger_members", network.memberships)
        await seeding.stop()
        for puller in order(2 if args.idle_seconds else 0):
            share = await idle_share(nats_url, database_url, work_dir, puller, args.idle_seconds)
            print(f"idle: {puller:10} {share:.1%} of a core over {args.idle_seconds:.0f}s", flush=True)
            idle[puller].append(share)
        booked = 0
        for number, puller in enumerate(order(args.rounds)):
            bulk = network.contributions(args.contributions, prefix=f"round{number}", seed=args.seed + number)
            await publish_backlog(js, backlog(bulk, duplicates=0))
            ledger = Ledgers(1, nats_url, database_url, work_dir, extra_env={"KEHRWASSER_INTAKE_PULLER": puller})
            try:
                throughput = await measure_ledger_drain(ledger, db, len(bulk), args.timeout)
                booked += len(bulk)
                verification = await CommandClient(nc, timeout=120).send(
                    contracts.VERIFY, contracts.VerifyLedger(full=True, wait=True)
                )
            finally:
                await ledger.stop()
            if not verification.ok or verification.contributions_checked != booked:
                raise RuntimeError(f"the books do not hold after round {number + 1}: {verification}")
            rates[puller].append(throughput.steady_rate)
            print(f"round {number + 1}: {puller:10} {throughput.steady_rate:>9,.0f} /s steady", flush=True)
    finally:
        await nc.close()
        await db.close()
    return rates, idle


async def idle_share(nats_url: str, database_url: str, work_dir: Path, puller: str, seconds: float) -> float:
    """The ledger's processor time while nothing arrives, as a share of one core (after 3 s of settling)."""
    ledger = Ledgers(1, nats_url, database_url, work_dir, extra_env={"KEHRWASSER_INTAKE_PULLER": puller})
    await ledger.start()
    try:
        await asyncio.sleep(3)
        before, started = ledger.cpu_seconds(), time.monotonic()
        await asyncio.sleep(seconds)
        return float(ledger.cpu_seconds() - before) / (time.monotonic() - started)
    finally:
        await ledger.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contributions", "-n", type=int, default=50_000, help="backlog drained per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="idle processor time per puller; 0: skip")
    parser.add_argument("--alliances", type=int, default=200)
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--timeout", type=float, default=480.0)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args(argv)
    with sandbox("kehrwasser-pullers-", args.admin_url, keep=False) as box:
        rates, idle = asyncio.run(compare(args, box.nats_url, box.database_url, box.work_dir))
    print()
    print(f"machine: {machine_summary()}")
    print(
        f"{args.rounds} rounds of {args.contributions:,} contributions ({args.alliances} alliances), one ledger process"
    )
    for puller, measured in rates.items():
        each = ", ".join(f"{rate:,.0f}" for rate in measured)
        print(f"{puller:12} mean {statistics.mean(measured):>9,.0f} /s   rounds {each}")
    share = statistics.mean(rates["faststream"]) / statistics.mean(rates["own"])
    print(f"FastStream's batch pull subscriber books {share:.0%} of our puller's rate")
    for puller, shares in idle.items():
        if shares:
            print(f"{puller:12} idle: {', '.join(f'{one:.1%}' for one in shares)} of a core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
