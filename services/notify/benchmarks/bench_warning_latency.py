"""Warning latency benchmark: from the contribution that crossed a threshold to the warning at the SMTP sink,
while contributions arrive at a steady rate (target: p99 under 250 ms at 500 contributions/s).

Starts its own nats-server (free port), an SMTP sink as its own OS process (aiosmtpd; it notes the arrival
time of every message, ``time.time()``, the clock the benchmark stamps submissions with), and the real
ledger and notify services as their own OS processes on fresh databases (SQLite files, or PostgreSQL with
``--postgres``). As an outside producer it publishes what the members and alliances services would
(member-registered for the members who get mail, alliance-created and member-joined: those two services
add nothing to the path measured), then submits contributions over JetStream at ``--rate`` a second for
``--seconds``, as ``bench_intake.py`` does:

* background contributions, 0.01 points around a ring of four members in each of ``--background`` alliances:
  no balance ever comes near a threshold;
* every ``--warning-every``-th contribution is 60 points from the moderator of an alliance of its own to its
  other member, whose balance falls past the red threshold (-50): one balance-warning event, one warning to
  the member and one escalation to the moderator. Each of these alliances warns once, so warnings keep
  happening all through the run.

For each warning (and escalation) it measures submission -> arrival at the sink, and splits it at the moment
the benchmark's own plain NATS subscriber sees the ledger's balance-warning event (the ledger's share, then
notify's). As raw baselines in the same run, a plain nats-py subscriber process takes messages from a JetStream
stream and sends each to the same sink with aiosmtplib over one reused connection: once with the services idle,
and, a few a second, during the load (what the load alone does to a bare publish -> subscriber -> SMTP path).
It prints figures and never asserts on them.

    uv run python services/notify/benchmarks/bench_warning_latency.py                 # SQLite, 500/s for 25 s
    uv run python services/notify/benchmarks/bench_warning_latency.py --postgres      # fresh PostgreSQL databases
    uv run python services/notify/benchmarks/bench_warning_latency.py --profile /tmp/prof   # cProfile both

The figures are in docs/performance.md ("Notify: a warning's latency at the sink").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from sqlalchemy import select, text

from kehrwasser_notify.adapters.tables import deliveries
from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as ledger_contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.embedded.nats_server import NatsServer, free_port
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.testing.databases import fresh_postgres_database
from kehrwasser_shared.testing.processes import ServiceProcess, service_env

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
FOUNDED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
THRESHOLD = Decimal("-50")
WARNING_VALUE = Decimal("60")
BACKGROUND_VALUE = Decimal("0.01")
RING = 4
"""Members of a background alliance; each gives to the next in turn, so balances stay within ±0.01."""
RAW_STREAM = "BENCH_RAW"
RAW_SUBJECT = "bench.raw.mail"
SUBMITTED = ledger_contracts.CONTRIBUTION_SUBMITTED

# The sink: one line per message, "<arrival time.time()>\t<recipient>", written when the DATA has arrived.
SINK = """
import sys, time
from aiosmtpd.controller import Controller

class Record:
    async def handle_DATA(self, server, session, envelope):
        arrived = time.time()
        sys.stdout.write("".join(f"{arrived:.6f}\\t{rcpt}\\n" for rcpt in envelope.rcpt_tos))
        sys.stdout.flush()
        return "250 OK"

controller = Controller(Record(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
"""

# The raw baseline: a JetStream push subscriber that sends each message's mail over one reused connection.
RAW_SUBSCRIBER = """
import asyncio, json, sys
import aiosmtplib, nats

async def main(nats_url, port):
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="raw-baseline")
    await smtp.connect()

    async def on_message(msg):
        data = json.loads(msg.data)
        await smtp.sendmail("noreply@kehrwasser.local", [data["to"]], data["message"].encode())
        await msg.ack()

    await js.subscribe(sys.argv[3], stream=sys.argv[4], cb=on_message, manual_ack=True)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await smtp.quit()
    await nc.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


class Sink:
    """The SMTP sink process; a thread collects its arrival lines."""

    def __init__(self) -> None:
        self.port = free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-c", SINK, str(self.port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != "ready":
            raise SystemExit("the SMTP sink did not start")
        self._lock = threading.Lock()
        self._arrived: dict[str, list[float]] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            arrived, recipient = line.rstrip("\n").split("\t")
            with self._lock:
                self._arrived.setdefault(recipient, []).append(float(arrived))

    def arrivals(self) -> dict[str, list[float]]:
        with self._lock:
            return {recipient: list(times) for recipient, times in self._arrived.items()}

    def count(self, recipients: set[str]) -> int:
        with self._lock:
            return sum(1 for r in recipients if r in self._arrived)

    @property
    def pid(self) -> int:
        return self._process.pid

    def stop(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(10)


class RawSubscriber:
    def __init__(self, nats_url: str, sink_port: int) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", RAW_SUBSCRIBER, nats_url, str(sink_port), RAW_SUBJECT, RAW_STREAM],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != "ready":
            raise SystemExit("the raw baseline subscriber did not start")

    def stop(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(10)


@dataclass(frozen=True)
class Scenario:
    """The alliances, members and contributions of a run."""

    rate: float
    seconds: float
    warning_every: int
    background: int

    @property
    def total(self) -> int:
        return int(self.rate * self.seconds)

    @property
    def warnings(self) -> int:
        return len(range(self.warning_every - 1, self.total, self.warning_every))

    def is_warning(self, n: int) -> bool:
        return n % self.warning_every == self.warning_every - 1

    @staticmethod
    def moderator(w: int) -> str:
        return f"skipper-{w:05d}"

    @staticmethod
    def receiver(w: int) -> str:
        return f"deckhand-{w:05d}"

    @staticmethod
    def address(member_id: str) -> str:
        return f"{member_id}@example.org"

    def mail_members(self) -> list[str]:
        return [m for w in range(self.warnings) for m in (self.moderator(w), self.receiver(w))]

    def setup_events(self) -> Iterator[tuple[Any, Any]]:
        """What members and alliances would publish: contacts of those who get mail, every alliance's founding."""
        for member_id in self.mail_members():
            yield (
                member_contracts.MEMBER_REGISTERED,
                member_contracts.MemberRegisteredV1(
                    member_id=member_id,
                    name=member_id.replace("-", " ").title(),
                    email=self.address(member_id),
                    company="",
                    language="de" if member_id.endswith(("0", "2", "4", "6", "8")) else "en",
                    focus=[],
                    registered_at=FOUNDED,
                ),
            )
        founded = [(f"warn-{w:05d}", [self.moderator(w), self.receiver(w)]) for w in range(self.warnings)]
        founded += [(f"calm-{b:04d}", [f"rower-{b:04d}-{m}" for m in range(RING)]) for b in range(self.background)]
        for alliance_id, member_ids in founded:
            yield (
                alliance_contracts.ALLIANCE_CREATED,
                alliance_contracts.AllianceCreatedV1(
                    alliance_id=alliance_id,
                    name=f"Alliance {alliance_id}",
                    purpose="benchmark",
                    focus=[],
                    warning_threshold=THRESHOLD,
                    moderator_id=member_ids[0],
                    created_at=FOUNDED,
                ),
            )
            for m, member_id in enumerate(member_ids):
                yield (
                    alliance_contracts.MEMBER_JOINED,
                    alliance_contracts.MemberJoinedV1(
                        alliance_id=alliance_id,
                        member_id=member_id,
                        role="moderator" if m == 0 else "member",
                        joined_at=FOUNDED,
                        admitted_via="founded",  # founders get no welcome: the sink sees only warnings
                    ),
                )

    @property
    def memberships(self) -> int:
        return 2 * self.warnings + RING * self.background

    def contribution(self, n: int) -> ledger_contracts.RecordContribution:
        if self.is_warning(n):
            w = n // self.warning_every
            return ledger_contracts.RecordContribution(
                contribution_id=f"warn-{w:05d}",
                alliance_id=f"warn-{w:05d}",
                giver_id=self.moderator(w),
                receiver_id=self.receiver(w),
                kind=ledger_contracts.ContributionKind.ADVICE,
                value=WARNING_VALUE,
            )
        b, turn = n % self.background, n // self.background
        return ledger_contracts.RecordContribution(
            contribution_id=f"calm-{n:08d}",
            alliance_id=f"calm-{b:04d}",
            giver_id=f"rower-{b:04d}-{turn % RING}",
            receiver_id=f"rower-{b:04d}-{(turn + 1) % RING}",
            kind=ledger_contracts.ContributionKind.ADVICE,
            value=BACKGROUND_VALUE,
        )


def event_payload(contract: Any, data: Any, source: str) -> bytes:
    return make_event(type_=contract.type, source=source, data=data).model_dump_json().encode()


async def publish_all(js: JetStreamContext, events: Sequence[tuple[Any, Any]]) -> None:
    for start in range(0, len(events), 2000):
        futures = []
        for contract, data in events[start : start + 2000]:
            source = "/members" if contract.service == "members" else "/alliances"
            payload = event_payload(contract, data, source)
            futures.append(await js.publish_async(contract.subject, payload))
        await asyncio.gather(*futures)


async def count_rows(database_url: str, query: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


async def until_rows(database_url: str, query: str, expected: int, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while (count := await count_rows(database_url, query)) < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"{query!r}: {count} of {expected} after {timeout:.0f}s")
        await asyncio.sleep(0.5)


async def queued_at(database_url: str) -> dict[str, float]:
    """When notify's handler began to write each delivery (its ``created_at``, the handler's clock), by recipient."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(deliveries.c.recipient, deliveries.c.created_at))
            return {row.recipient: row.created_at.timestamp() for row in rows}
    finally:
        await engine.dispose()


def raw_mail(recipient: str) -> str:
    """A plain message of about a warning's size (the real one: text and HTML)."""
    body = "Your balance in the alliance fell below the threshold.\n" * 40
    return (
        f"From: Kehrwasser <noreply@kehrwasser.local>\r\nTo: {recipient}\r\nSubject: Raw baseline\r\n"
        f"Message-ID: <{recipient}>\r\n\r\n{body}"
    )


def raw_payload(recipient: str) -> bytes:
    return json.dumps({"to": recipient, "message": raw_mail(recipient)}).encode()


async def publish_raw(js: JetStreamContext, recipient: str) -> float:
    payload = raw_payload(recipient)
    sent = time.time()
    await js.publish(RAW_SUBJECT, payload)
    return sent


@dataclass
class Run:
    submitted: dict[str, float] = field(default_factory=dict)  # warning contribution id -> time.time()
    warned: dict[str, float] = field(default_factory=dict)  # contribution id -> balance-warning seen
    unexpected_warnings: list[str] = field(default_factory=list)
    raw_sent: dict[str, float] = field(default_factory=dict)  # recipient -> time.time()
    achieved_rate: float = 0.0
    loads: list[float] = field(default_factory=list)
    queued: dict[str, float] = field(default_factory=dict)  # recipient -> the notify handler's clock, started
    cpu: dict[str, float] = field(default_factory=dict)


async def raw_idle(js: JetStreamContext, sink: Sink, count: int, rate: float) -> dict[str, float]:
    sent: dict[str, float] = {}
    start = time.perf_counter()
    for n in range(count):
        lag = start + n / rate - time.perf_counter()
        if lag > 0:
            await asyncio.sleep(lag)
        recipient = f"raw-idle-{n:04d}@example.org"
        sent[recipient] = await publish_raw(js, recipient)
    await until_arrived(sink, set(sent), 60.0)
    return sent


async def until_arrived(sink: Sink, recipients: set[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while sink.count(recipients) < len(recipients):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def submit_at_rate(
    js: JetStreamContext, scenario: Scenario, run: Run, raw_per_second: float, pids: dict[str, int]
) -> None:
    """Publish the contributions at the scenario's rate (and the raw pings in between); note what is sent."""
    stop_sampling = asyncio.Event()

    async def sample_load() -> None:
        while not stop_sampling.is_set():
            run.loads.append(os.getloadavg()[0])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_sampling.wait(), 1.0)

    # Everything is built before the clock starts: the publisher's own processor time competes with the services.
    contributions = [scenario.contribution(n) for n in range(scenario.total)]
    messages = [
        (SUBMITTED.subject_for(c), c.contribution_id, event_payload(SUBMITTED, c, "/bench"), scenario.is_warning(n))
        for n, c in enumerate(contributions)
    ]
    raw_every = max(1, round(scenario.rate / raw_per_second)) if raw_per_second else 0
    pings = {
        n: (f"raw-load-{n:08d}@example.org", raw_payload(f"raw-load-{n:08d}@example.org"))
        for n in range(scenario.total)
        if raw_every and n % raw_every == raw_every // 2
    }
    sampler = asyncio.create_task(sample_load())
    pids = {**pids, "benchmark (publisher)": os.getpid()}
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    futures = []
    start = time.perf_counter()
    for n, (subject, contribution_id, payload, warns) in enumerate(messages):
        lag = start + n / scenario.rate - time.perf_counter()
        if lag > 0:
            await asyncio.sleep(lag)
        if warns:
            run.submitted[contribution_id] = time.time()
        futures.append(await js.publish_async(subject, payload, headers={"Nats-Msg-Id": contribution_id}))
        if n in pings:
            recipient, ping = pings[n]
            run.raw_sent[recipient] = time.time()
            futures.append(await js.publish_async(RAW_SUBJECT, ping))
        if len(futures) >= 1000:
            await asyncio.gather(*futures)
            futures = []
    run.achieved_rate = scenario.total / (time.perf_counter() - start)
    await asyncio.gather(*futures)
    run.cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    stop_sampling.set()
    await sampler


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def summary(label: str, samples_ms: Sequence[float]) -> str:
    if not samples_ms:
        return f"{label:56} no samples"
    figures = [percentile(samples_ms, f) for f in (0.5, 0.95, 0.99)]
    return (
        f"{label:56} {len(samples_ms):>6} {figures[0]:>8.1f} {figures[1]:>8.1f} {figures[2]:>8.1f} "
        f"{max(samples_ms):>8.1f}"
    )


def service_process(
    service: str, nats_url: str, database_url: str, work_dir: Path, env: dict[str, str], profile: Path | None
) -> ServiceProcess:
    env = {
        **service_env(service, nats_url=nats_url, data_dir=work_dir / service, database_url=database_url),
        "KEHRWASSER_HEALTH_PORT": "0",  # two services side by side: no health endpoints to contend for
        **env,
    }
    if profile is None:
        return ServiceProcess(service, env, work_dir / "logs")
    profile.mkdir(parents=True, exist_ok=True)
    return ProfiledProcess(service, env, work_dir / "logs", profile / f"{service}.prof")


class ProfiledProcess(ServiceProcess):
    """The service under cProfile, which writes the profile when the service stops cleanly (SIGTERM)."""

    def __init__(self, service: str, env: dict[str, str], log_dir: Path, output: Path) -> None:
        super().__init__(service, env, log_dir)
        self.output = output

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cProfile", "-o", str(self.output), "-m", f"kehrwasser_{self.service}"],
                env=self.env,
                stdout=log,
                stderr=log,
            )
        return self


async def benchmark(args: argparse.Namespace, server: NatsServer, urls: dict[str, str], work_dir: Path) -> None:
    scenario = Scenario(args.rate, args.seconds, args.warning_every, args.background)
    sink = Sink()
    smtp = {"KEHRWASSER_SMTP_HOST": "127.0.0.1", "KEHRWASSER_SMTP_PORT": str(sink.port)}
    ledger = service_process("ledger", server.url, urls["ledger"], work_dir, {}, args.profile)
    notify = service_process("notify", server.url, urls["notify"], work_dir, smtp, args.profile)
    raw: RawSubscriber | None = None
    nc = await nats.connect(server.url)
    try:
        ledger.start()
        notify.start()
        await asyncio.gather(asyncio.to_thread(ledger.wait_ready, 120.0), asyncio.to_thread(notify.wait_ready, 120.0))
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name=RAW_STREAM, subjects=[RAW_SUBJECT], storage=StorageType.FILE))
        raw = RawSubscriber(server.url, sink.port)

        print(
            f"setting up {scenario.warnings} warning alliances (2 members) and {scenario.background} background "
            f"alliances ({RING} members) ...",
            flush=True,
        )
        await publish_all(js, list(scenario.setup_events()))
        await until_rows(urls["ledger"], "SELECT count(*) FROM ledger_members", scenario.memberships)
        await until_rows(urls["notify"], "SELECT count(*) FROM contacts", 2 * scenario.warnings)
        await until_rows(
            urls["notify"], "SELECT count(*) FROM alliance_moderators", scenario.warnings + args.background
        )

        print(f"raw baseline, services idle: {args.raw_idle} messages at {args.raw_rate:g}/s ...", flush=True)
        idle_sent = await raw_idle(js, sink, args.raw_idle, args.raw_rate)
        run = Run()

        async def on_warning(msg: Msg) -> None:
            seen = time.time()
            data = json.loads(msg.data)["data"]
            contribution_id = data.get("contribution_id") or "?"
            if contribution_id.startswith("warn-"):
                run.warned.setdefault(contribution_id, seen)
            else:
                run.unexpected_warnings.append(f"{data['member_id']} ({contribution_id})")

        watching = await nc.subscribe(ledger_contracts.BALANCE_WARNING.subject, cb=on_warning)
        load_before = os.getloadavg()
        print(
            f"submitting {scenario.total} contributions at {scenario.rate:g}/s for {scenario.seconds:g} s "
            f"({scenario.warnings} warnings) ...",
            flush=True,
        )
        assert ledger.process is not None
        assert notify.process is not None
        assert server.pid is not None
        pids = {"ledger": ledger.process.pid, "notify": notify.process.pid, "nats-server": server.pid}
        await submit_at_rate(js, scenario, run, args.raw_load_rate, pids)
        load_after = os.getloadavg()
        expected = {scenario.address(m) for m in scenario.mail_members()} | set(run.raw_sent)
        complete = await until_arrived(sink, expected, args.drain)
        await watching.unsubscribe()
        run.queued = await queued_at(urls["notify"])
    finally:
        await nc.close()
        if raw is not None:
            raw.stop()
        for process in (notify, ledger):
            code = await asyncio.to_thread(process.stop, 60.0)
            if code not in (0, None):
                print(f"{process.service} exited with {code}; log: {process.log_path}")
        sink.stop()

    report(args, scenario, run, sink.arrivals(), idle_sent, complete, load_before, load_after)


def report(
    args: argparse.Namespace,
    scenario: Scenario,
    run: Run,
    arrivals: dict[str, list[float]],
    idle_sent: dict[str, float],
    complete: bool,
    load_before: tuple[float, float, float],
    load_after: tuple[float, float, float],
) -> None:
    warmup_after = time.time()  # replaced below by the first submission + warm-up
    if run.submitted:
        warmup_after = min(run.submitted.values()) + args.warmup
    kinds: dict[str, list[float]] = {"warning": [], "escalation": []}
    ledger_part: list[float] = []
    notify_part: dict[str, list[float]] = {"warning": [], "escalation": []}
    to_handler: list[float] = []
    handler_to_sink: list[float] = []
    missing, repeated = 0, 0
    for w in range(scenario.warnings):
        contribution_id = f"warn-{w:05d}"
        submitted = run.submitted[contribution_id]
        if submitted < warmup_after:
            continue
        warned = run.warned.get(contribution_id)
        if warned is not None:
            ledger_part.append((warned - submitted) * 1000)
        for kind, member_id in (("warning", scenario.receiver(w)), ("escalation", scenario.moderator(w))):
            times = arrivals.get(scenario.address(member_id), [])
            if not times:
                missing += 1
                continue
            repeated += len(times) - 1
            kinds[kind].append((times[0] - submitted) * 1000)
            if warned is not None:
                notify_part[kind].append((times[0] - warned) * 1000)
            queued = run.queued.get(scenario.address(member_id))
            if kind == "warning" and queued is not None:
                handler_to_sink.append((times[0] - queued) * 1000)
                if warned is not None:
                    to_handler.append((queued - warned) * 1000)
    raw_idle_ms = [(arrivals[r][0] - sent) * 1000 for r, sent in idle_sent.items() if r in arrivals]
    raw_load_ms = [(arrivals[r][0] - sent) * 1000 for r, sent in run.raw_sent.items() if r in arrivals]

    print()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; database "
        f"{'PostgreSQL' if args.postgres else 'SQLite'}"
    )
    print(
        f"load average before the run {' '.join(f'{x:.2f}' for x in load_before)}, after "
        f"{' '.join(f'{x:.2f}' for x in load_after)}; 1-minute average during the run "
        f"{min(run.loads):.2f}-{max(run.loads):.2f}"
    )
    print(
        f"submitted {scenario.total} contributions at {run.achieved_rate:,.1f}/s (target {scenario.rate:g}/s) "
        f"for {scenario.seconds:g} s; {scenario.warnings} of them (1 in {scenario.warning_every}) warn"
    )
    seconds = scenario.total / run.achieved_rate
    print(
        "processor time during the submissions: "
        + ", ".join(f"{name} {cpu:.1f} s ({cpu / seconds:.0%} of a core)" for name, cpu in run.cpu.items())
    )
    print(
        f"mail: {'all arrived' if complete else 'NOT all arrived within the drain time'}; "
        f"{missing} missing, {repeated} repeated; balance warnings not caused by a warning contribution: "
        f"{len(run.unexpected_warnings)}"
    )
    print()
    print(
        f"{f'latency in ms, after {args.warmup:g} s of warm-up':56} "
        f"{'count':>6} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}"
    )
    print(summary("warning: submission -> sink (the target: p99 < 250)", kinds["warning"]))
    print(summary("escalation to the moderator: submission -> sink", kinds["escalation"]))
    print(summary("  ledger: submission -> balance-warning event seen", ledger_part))
    print(summary("  notify: balance-warning event seen -> warning at sink", notify_part["warning"]))
    print(summary("  notify: event seen -> escalation at sink", notify_part["escalation"]))
    print(summary("    notify: event seen -> its handler's clock (1)", to_handler))
    print(summary("    notify: handler's clock -> warning at sink", handler_to_sink))
    print(summary("raw: JetStream publish -> subscriber -> SMTP, idle", raw_idle_ms))
    print(summary(f"raw: the same during the run ({args.raw_load_rate:g}/s)", raw_load_ms))
    print(
        "(1) the handler reads its clock once it holds its transaction (on SQLite the write lock: BEGIN IMMEDIATE)"
        " and has read the contacts; that moment is the delivery's created_at"
    )


@contextlib.contextmanager
def databases(postgres: bool, admin_url: str, work_dir: Path) -> Iterator[dict[str, str]]:
    if not postgres:
        yield {service: f"sqlite:///{work_dir / f'{service}.db'}" for service in ("ledger", "notify")}
        return
    with fresh_postgres_database(admin_url) as ledger_url, fresh_postgres_database(admin_url) as notify_url:
        yield {"ledger": ledger_url, "notify": notify_url}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0, help="contributions submitted per second")
    parser.add_argument("--seconds", type=float, default=25.0, help="how long to submit")
    parser.add_argument("--warning-every", type=int, default=50, help="every n-th contribution warns (default 50)")
    parser.add_argument("--background", type=int, default=100, help="alliances of the contributions that do not warn")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds at the start left out of the figures")
    parser.add_argument("--raw-idle", type=int, default=200, help="raw baseline messages with the services idle")
    parser.add_argument("--raw-rate", type=float, default=20.0, help="their rate per second")
    parser.add_argument("--raw-load-rate", type=float, default=5.0, help="raw baseline messages a second in the run")
    parser.add_argument("--drain", type=float, default=180.0, help="how long to wait for the last mail")
    parser.add_argument("--postgres", action="store_true", help="fresh PostgreSQL databases instead of SQLite")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the services into this directory")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
    args = parser.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="kehrwasser-warning-latency-"))
    try:
        with (
            NatsServer(work_dir / "nats", log_file=work_dir / "nats.log") as server,
            databases(args.postgres, args.admin_url, work_dir) as urls,
        ):
            asyncio.run(benchmark(args, server, urls, work_dir))
    finally:
        if args.keep:
            print(f"work directory: {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
