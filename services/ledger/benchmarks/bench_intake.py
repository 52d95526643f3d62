"""Ledger intake benchmark: sustained commit rate, a raw nats-py + asyncpg baseline, publish-to-commit latency.

Starts its own nats-server (free port) and a fresh PostgreSQL database, then runs, one after the other so
they never share the CPU:

a) throughput: N contribution-submitted events (plus re-published duplicates with fresh Nats-Msg-Ids, which
   only the ledger's own idempotency can catch) wait in the stream; the ledger starts as its own OS process
   and the benchmark times until all N are committed (``sum(chain_length)`` of the alliances, advanced in the
   same transaction as the contributions, polled every 20 ms);
b) raw baseline: the same payloads in a stream of their own, drained by a plain nats-py pull consumer that
   inserts the rows with asyncpg (one ``INSERT ... SELECT unnest(...) ON CONFLICT DO NOTHING`` per batch);
c) latency: contributions published at a fixed rate to the running ledger; publish-to-commit is bounded from
   above by the arrival of the ledger's contribution-recorded event (sent by the outbox relay only after
   the commit) and from below by the row's ``recorded_at`` (taken when the batch is booked, before commit).

With ``--prefill ENTRIES`` the books then grow by that many entries (consistent books with real hash chains, in
alliances of their own, seeded by COPY as ``bench_scale.py`` does) and a second backlog of N is drained the same
way: the intake's rate at that size against its rate on the empty ledger, in one run; the latency run (c) then
runs at that size too.

At the end it checks exactly-once effects: one row per contribution, the ledger's verify command ok, every
account's balance as computed here, balances summing to zero.

    uv run python services/ledger/benchmarks/bench_intake.py --contributions 100000
    uv run python services/ledger/benchmarks/bench_intake.py --contributions 100000 --prefill 10000000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import nats
from benchkit import (
    DEFAULT_ADMIN_URL,
    MIGRATIONS,
    Ledgers,
    Network,
    asyncpg_dsn,
    machine_summary,
    percentile,
    publish_alliance_events,
    sandbox,
    submission_payload,
    wait_for,
)
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig

from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.messaging.streams import ensure_consumer, ensure_streams
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async

SUBMITTED = contracts.CONTRIBUTION_SUBMITTED
RAW_STREAM = "BENCH_RAW"
RAW_SUBJECT = "bench.raw.contribution-submitted"
RAW_TABLE = """
CREATE TABLE raw_contributions (
    contribution_id text PRIMARY KEY,
    alliance_id text NOT NULL,
    giver_id text NOT NULL,
    receiver_id text NOT NULL,
    kind text NOT NULL,
    value_cents bigint NOT NULL,
    note text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
)"""
RAW_INSERT = """
INSERT INTO raw_contributions (contribution_id, alliance_id, giver_id, receiver_id, kind, value_cents, note)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[])
ON CONFLICT (contribution_id) DO NOTHING"""
BOOKED = "SELECT coalesce(sum(chain_length), 0) FROM ledger_alliances"
OURS = "SELECT count(*) FROM contributions WHERE alliance_id LIKE 'bench-alliance-%'"  # not the prefilled ones
PREFILL_ALLIANCES = 500
UNSENT = "SELECT count(*) FROM outbox"  # the relay deletes a row once its event is published


@dataclass
class Throughput:
    contributions: int
    seconds: float
    steady_rate: float
    started: float = 0.0  # monotonic
    cpu_seconds: float = 0.0  # the ledger processes' processor time from ready to the last commit

    @property
    def rate(self) -> float:
        return self.contributions / self.seconds


@dataclass
class Latency:
    rate: float
    samples: int
    upper_ms: list[float] = field(default_factory=list)  # publish -> contribution-recorded received
    lower_ms: list[float] = field(default_factory=list)  # publish -> recorded_at (booking, before commit)
    achieved_rate: float = 0.0


# --- publishing ---------------------------------------------------------------------------------------------


Backlog = list[tuple[str, str, bytes]]
"""(subject, msg id, payload) of each message."""


async def publish_backlog(js: JetStreamContext, payloads: Backlog, subject: str | None = None) -> float:
    """Publish as fast as JetStream acknowledges, on their own subjects or all on ``subject``; returns the rate."""
    start = time.perf_counter()
    for chunk_start in range(0, len(payloads), 2000):
        futures = [
            await js.publish_async(subject or own_subject, payload, headers={"Nats-Msg-Id": msg_id})
            for own_subject, msg_id, payload in payloads[chunk_start : chunk_start + 2000]
        ]
        await asyncio.gather(*futures)
    return len(payloads) / (time.perf_counter() - start)


def backlog(submissions: list[contracts.RecordContribution], duplicates: int) -> Backlog:
    """Every submission once with its id as Nats-Msg-Id, then ``duplicates`` of them again under fresh ids."""
    payloads = [(SUBMITTED.subject_for(s), s.contribution_id, submission_payload(s)) for s in submissions]
    step = max(1, len(payloads) // max(1, duplicates))
    duplicated = payloads[::step][:duplicates]
    return payloads + [(subject, f"{msg_id}-retry", payload) for subject, msg_id, payload in duplicated]


# --- a) the ledger -----------------------------------------------------------------------------------------


async def measure_ledger_drain(
    ledger: Ledgers, db: asyncpg.Connection, expected: int, timeout: float, profile: Path | None = None
) -> Throughput:
    """Start the ledger on a full stream and poll how many contributions are committed until all are.

    With ``profile``, py-spy (if installed) samples the ledger process meanwhile and writes collapsed stacks.
    """
    already = await db.fetchval(BOOKED)
    started = await ledger.start()
    cpu_at_start = ledger.cpu_seconds()
    spy = start_py_spy(ledger.pid, profile) if profile else None
    progress: list[tuple[float, int]] = []
    deadline = started + timeout
    while True:
        booked = await db.fetchval(BOOKED) - already
        now = time.monotonic()
        progress.append((now, booked))
        if booked >= expected:
            break
        if now > deadline or (len(progress) > 1500 and progress[-1500][1] == booked):
            tail = "\n".join(ledger.log().splitlines()[-20:])
            raise TimeoutError(f"ledger committed {booked} of {expected} after {now - started:.0f}s:\n{tail}")
        await asyncio.sleep(0.02)
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        await asyncio.to_thread(spy.wait)
    cpu = ledger.cpu_seconds() - cpu_at_start
    return Throughput(expected, progress[-1][0] - started, steady_rate(progress, expected), started, cpu)


def start_py_spy(pid: int | None, output: Path) -> subprocess.Popen[bytes]:
    """``py-spy record`` on the ledger process (``uv pip install py-spy``; not a project dependency)."""
    executable = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    command = [executable, "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def outbox_drained(db: asyncpg.Connection, timeout: float) -> float:
    """The monotonic time the outbox relay has published every contribution-recorded event."""
    deadline = time.monotonic() + timeout
    while await db.fetchval(UNSENT):
        if time.monotonic() > deadline:
            raise TimeoutError(f"outbox not drained within {timeout:.0f}s")
        await asyncio.sleep(0.05)
    return time.monotonic()


def steady_rate(progress: list[tuple[float, int]], total: int) -> float:
    """Commit rate between 10 % and 90 % of the total: without start-up and the last partial batches."""
    t10 = next(t for t, n in progress if n >= total * 0.1)
    n10 = next(n for _, n in progress if n >= total * 0.1)
    t90 = next(t for t, n in progress if n >= total * 0.9)
    n90 = next(n for _, n in progress if n >= total * 0.9)
    return (n90 - n10) / (t90 - t10) if t90 > t10 else float("nan")


# --- b) the raw baseline -----------------------------------------------------------------------------------


def raw_columns(messages: list[Msg]) -> list[list[object]]:
    """The CloudEvents' data as seven column arrays, decoded with nothing but json."""
    columns: list[list[object]] = [[] for _ in range(7)]
    for msg in messages:
        data = json.loads(msg.data)["data"]
        values = (
            data["contribution_id"],
            data["alliance_id"],
            data["giver_id"],
            data["receiver_id"],
            data["kind"],
            round(float(data["value"]) * 100),
            data.get("note", ""),
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return columns


async def run_raw_baseline(
    js: JetStreamContext, db: asyncpg.Connection, payloads: Backlog, expected: int, batch: int
) -> Throughput:
    """A plain pull consumer: fetch a batch, insert its rows in one statement, ack, repeat."""
    await db.execute(RAW_TABLE)
    await js.add_stream(StreamConfig(name=RAW_STREAM, subjects=[RAW_SUBJECT], storage=StorageType.FILE))
    await publish_backlog(js, payloads, RAW_SUBJECT)
    await ensure_consumer(js, stream=RAW_STREAM, durable="bench-raw", filter_subjects=[RAW_SUBJECT])
    subscription = await js.pull_subscribe_bind(durable="bench-raw", stream=RAW_STREAM)
    fetch_seconds = LedgerSettings().intake_fetch_seconds
    inserted = 0
    progress: list[tuple[float, int]] = []
    start = time.monotonic()
    while inserted < expected:
        try:
            messages = await subscription.fetch(batch, timeout=fetch_seconds)
        except TimeoutError:
            continue
        status = await db.execute(RAW_INSERT, *raw_columns(messages))
        inserted += int(status.split()[-1])
        await asyncio.gather(*(msg.ack() for msg in messages))
        progress.append((time.monotonic(), inserted))
    await subscription.unsubscribe()
    return Throughput(expected, time.monotonic() - start, steady_rate(progress, expected))


# --- c) latency --------------------------------------------------------------------------------------------


async def measure_latency(
    nc: Client, js: JetStreamContext, submissions: list[contracts.RecordContribution], rate: float, warmup: float
) -> Latency:
    """Publish at ``rate`` per second; time each contribution until its contribution-recorded event arrives."""
    payloads = [submission_payload(s) for s in submissions]
    published: dict[str, float] = {}
    recorded: dict[str, tuple[float, float]] = {}  # id -> (received, recorded_at), wall clock seconds
    everything_recorded = asyncio.Event()

    async def on_recorded(msg: Msg) -> None:
        received = time.time()
        data = json.loads(msg.data)["data"]
        recorded[data["contribution_id"]] = (received, datetime.fromisoformat(data["recorded_at"]).timestamp())
        if len(recorded) >= len(submissions):
            everything_recorded.set()

    subscription = await nc.subscribe(contracts.CONTRIBUTION_RECORDED.subject, cb=on_recorded)
    start = time.perf_counter()
    futures = []
    for n, (submission, payload) in enumerate(zip(submissions, payloads, strict=True)):
        lag = start + n / rate - time.perf_counter()
        if lag > 0:
            await asyncio.sleep(lag)
        published[submission.contribution_id] = time.time()
        futures.append(
            await js.publish_async(
                SUBMITTED.subject_for(submission), payload, headers={"Nats-Msg-Id": submission.contribution_id}
            )
        )
    achieved = len(submissions) / (time.perf_counter() - start)
    await asyncio.gather(*futures)
    await asyncio.wait_for(everything_recorded.wait(), timeout=120)
    await subscription.unsubscribe()
    skip = int(warmup * rate)
    result = Latency(rate=rate, samples=len(submissions) - skip, achieved_rate=achieved)
    for submission in submissions[skip:]:
        sent = published[submission.contribution_id]
        received, recorded_at = recorded[submission.contribution_id]
        result.upper_ms.append((received - sent) * 1000)
        result.lower_ms.append((recorded_at - sent) * 1000)
    return result


# --- exactly once --------------------------------------------------------------------------------------------


async def check_exactly_once(
    nc: Client, db: asyncpg.Connection, submissions: list[contracts.RecordContribution], prefilled: bool
) -> list[str]:
    """Problems with the books, if any: rows, the ledger's own verification, balances, their sum.

    On prefilled books only the benchmark's own alliances are verified (a full run over millions of entries is
    ``bench_scale.py``'s measurement, not this one's).
    """
    problems = []
    rows = await db.fetchval(OURS)
    if rows != len(submissions):
        problems.append(f"{rows} contribution rows for {len(submissions)} contributions")
    client = CommandClient(nc, timeout=600)
    scopes = sorted({s.alliance_id for s in submissions}) if prefilled else [None]
    checked = 0
    for alliance in scopes:
        verification = await client.send(
            contracts.VERIFY, contracts.VerifyLedger(alliance_id=alliance, full=True, wait=True)
        )
        if not verification.ok:
            problems += [f"verify: {p}" for p in verification.problems[:10]]
        checked += verification.contributions_checked
    if checked != len(submissions):
        problems.append(f"verify checked {checked} contributions")
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for s in submissions:
        cents = int(s.value * 100)
        expected[(s.alliance_id, s.giver_id)] += cents
        expected[(s.alliance_id, s.receiver_id)] -= cents
    actual = {(r["alliance_id"], r["owner_id"]): r["balance_cents"] for r in await db.fetch("SELECT * FROM accounts")}
    wrong = [key for key, cents in expected.items() if actual.get(key, 0) != cents]
    if wrong:
        problems.append(f"{len(wrong)} accounts differ from the expected balance, e.g. {wrong[0]}")
    if sum(actual.values()) != 0:
        problems.append(f"balances sum to {sum(actual.values())} cents, not zero")
    return problems


# --- the run ---------------------------------------------------------------------------------------------------


@dataclass
class Report:
    network: Network
    ledger: Throughput
    raw: Throughput
    at_scale: Throughput | None
    prefilled: int
    latency: Latency
    publish_rate: float
    duplicates: int
    relay_seconds: float
    problems: list[str]


async def benchmark(args: argparse.Namespace, nats_url: str, database_url: str, work_dir: Path) -> Report:
    network = Network(args.alliances, args.members)
    await upgrade_to_head_async(MIGRATIONS, database_url)
    db = await asyncpg.connect(asyncpg_dsn(database_url))
    nc = await nats.connect(nats_url)
    ledger = Ledgers(args.ledgers, nats_url, database_url, work_dir, split=not args.unsplit)
    try:
        js = nc.jetstream()
        await ensure_streams(js)
        print(f"seeding {network.alliances} alliances x {network.members_per_alliance} members ...", flush=True)
        await ledger.start()
        await publish_alliance_events(js, network)
        await wait_for(db, "SELECT count(*) FROM ledger_members", network.memberships)
        await ledger.stop()

        bulk = network.contributions(args.contributions, prefix="bulk", seed=args.seed)
        payloads = backlog(bulk, args.duplicates)
        print(f"(a) publishing {len(payloads)} submissions ({args.duplicates} duplicates) ...", flush=True)
        publish_rate = await publish_backlog(js, payloads)
        print("(a) ledger draining the stream ...", flush=True)
        throughput = await measure_ledger_drain(ledger, db, len(bulk), args.timeout, args.profile)
        relay_seconds = await outbox_drained(db, timeout=args.timeout) - throughput.started
        await ledger.stop()

        at_scale, grown = None, []
        if args.prefill:
            print(f"(a') prefilling {args.prefill:,} entries ...", flush=True)
            await prefill(database_url, args.prefill, args.seed)
            grown = network.contributions(args.contributions, prefix="bulk-at-scale", seed=args.seed + 2)
            await publish_backlog(js, backlog(grown, args.duplicates))
            print(f"(a') ledger draining the stream at {args.prefill:,} entries ...", flush=True)
            at_scale = await measure_ledger_drain(ledger, db, len(grown), args.timeout)
            await outbox_drained(db, timeout=args.timeout)
            await ledger.stop()

        print("(b) raw baseline ...", flush=True)
        batch = LedgerSettings().intake_batch_size  # the ledger's own, KEHRWASSER_INTAKE_BATCH_SIZE included
        raw = await run_raw_baseline(js, db, payloads, len(bulk), batch)

        paced = network.contributions(int(args.rate * args.seconds), prefix="paced", seed=args.seed + 1)
        print(f"(c) latency at {args.rate:.0f}/s for {args.seconds:.0f}s ...", flush=True)
        await ledger.start()
        latency = await measure_latency(nc, js, paced, args.rate, args.warmup)
        print("verifying exactly-once effects ...", flush=True)
        problems = await check_exactly_once(nc, db, bulk + grown + paced, prefilled=bool(args.prefill))
        await ledger.stop()
        return Report(
            network, throughput, raw, at_scale, args.prefill, latency, publish_rate, args.duplicates, relay_seconds,
            problems,
        )  # fmt: skip
    finally:
        await ledger.stop()
        await nc.close()
        await db.close()


async def prefill(database_url: str, entries: int, seed: int) -> None:
    """``entries`` more entries in alliances of their own, by ``bench_scale.py``'s seeding (COPY, real chains)."""
    from bench_scale import Books, Target, seed_books, seed_network

    target = Target(database_url)
    await target.open()
    try:
        await seed_network(target, PREFILL_ALLIANCES, "scale")
        await seed_books(target, Books(PREFILL_ALLIANCES, seed), spread=entries // 2, big=0)
        await target.execute("ANALYZE")
    finally:
        await target.close()


def print_report(report: Report, args: argparse.Namespace) -> None:
    ledger, raw, latency = report.ledger, report.raw, report.latency
    print()
    print(f"machine: {machine_summary()}")
    print(
        f"workload: {ledger.contributions} contributions across {report.network.alliances} alliances x "
        f"{report.network.members_per_alliance} members, {report.duplicates} re-published duplicates; "
        f"backlog published at {report.publish_rate:,.0f}/s"
    )
    print()
    print(f"{'':34}{'overall /s':>12}{'10-90 % /s':>12}{'seconds':>10}")
    service = "ledger service (real path)" if args.ledgers == 1 else f"{args.ledgers} ledger processes (real path)"
    print(f"{service:34}{ledger.rate:>12,.0f}{ledger.steady_rate:>12,.0f}{ledger.seconds:>10.2f}")
    print(f"{'raw nats-py + asyncpg baseline':34}{raw.rate:>12,.0f}{raw.steady_rate:>12,.0f}{raw.seconds:>10.2f}")
    print(f"{'ratio ledger / raw':34}{ledger.rate / raw.rate:>12.2f}{ledger.steady_rate / raw.steady_rate:>12.2f}")
    if (grown := report.at_scale) is not None:
        label = f"ledger at {report.prefilled / 1e6:g} M more entries"
        print(f"{label:34}{grown.rate:>12,.0f}{grown.steady_rate:>12,.0f}{grown.seconds:>10.2f}")
        ratio, steady = grown.rate / ledger.rate, grown.steady_rate / ledger.steady_rate
        print(f"{'ratio at scale / empty':34}{ratio:>12.2f}{steady:>12.2f}")
    print(f"ledger: every contribution-recorded event published {report.relay_seconds:.2f}s after start")
    print(
        f"ledger: {ledger.cpu_seconds / ledger.contributions * 1e6:.0f} us of processor time per contribution, "
        f"{ledger.cpu_seconds / ledger.seconds:.0%} of one core while draining"
    )
    print()
    print(
        f"latency at {latency.rate:,.0f}/s (achieved {latency.achieved_rate:,.0f}/s), {latency.samples} samples "
        f"after {args.warmup:.0f}s warm-up:"
    )
    for name, samples in (
        ("publish -> contribution-recorded received (>= commit)", latency.upper_ms),
        ("publish -> recorded_at (booking starts, < commit)", latency.lower_ms),
    ):
        print(
            f"  {name:55} p50 {percentile(samples, 0.5):7.1f} ms   p99 {percentile(samples, 0.99):7.1f} ms   "
            f"max {max(samples):7.1f} ms"
        )
    print()
    if report.problems:
        print("EXACTLY-ONCE CHECK FAILED:")
        for problem in report.problems:
            print(f"  {problem}")
    else:
        print("exactly-once: one row per contribution, verify ok, every balance as expected, balances sum to 0")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contributions", "-n", type=int, default=100_000, help="N for the throughput runs")
    parser.add_argument("--alliances", type=int, default=200)
    parser.add_argument("--members", type=int, default=20, help="members per alliance")
    parser.add_argument("--duplicates", type=int, default=1000, help="submissions re-published under a new msg id")
    parser.add_argument("--rate", type=float, default=2000.0, help="publish rate of the latency run, per second")
    parser.add_argument("--seconds", type=float, default=15.0, help="duration of the latency run")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of the latency run not counted")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL URL allowed to create databases")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--timeout", type=float, default=480.0, help="give up on a phase after this many seconds")
    parser.add_argument("--ledgers", type=int, default=1, help="ledger processes sharing the work (scale-out)")
    parser.add_argument(
        "--unsplit", action="store_true", help="every ledger process reads every partition (default: a share each)"
    )
    parser.add_argument("--profile", type=Path, help="py-spy the ledger during run (a), collapsed stacks to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, NATS store)")
    parser.add_argument(
        "--prefill", type=int, default=0, help="grow the books by this many entries, then drain N again (at scale)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with sandbox("kehrwasser-bench-", args.admin_url, keep=args.keep) as box:
        report = asyncio.run(benchmark(args, box.nats_url, box.database_url, box.work_dir))
    print_report(report, args)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
