"""Delivery benchmark: 1,000 meeting invitations to a local SMTP sink, through notify's mailer and raw.

Starts an SMTP sink (aiosmtpd) as its own OS process on a free port that counts what it accepts, then:

1. queues a meeting's invitations to ``-n`` attendees through notify's real handler (``invite_to_meeting``:
   rendering, iCalendar, one transaction) on a fresh database, timed;
2. runs notify's real mailer (``Mailer`` with the pooled ``SmtpMailSender``, the service's default settings
   unless given) until every delivery is marked sent: the figure the target is about (>= 300 messages/s);
3. as the raw baseline, sends the same rendered messages with plain aiosmtplib over as many reused connections,
   with no database, no claims and no rate cap: the floor of "Python to this SMTP sink" on this machine.

    uv run python services/notify/benchmarks/bench_delivery.py                  # 1,000, SQLite
    uv run python services/notify/benchmarks/bench_delivery.py --postgres       # a fresh PostgreSQL database
    uv run python services/notify/benchmarks/bench_delivery.py --per-second 0   # without the rate cap

The figures are in docs/performance.md ("Notify: delivery").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosmtplib
from sqlalchemy import func, select

from kehrwasser_notify.adapters.smtp import SmtpMailSender
from kehrwasser_notify.adapters.tables import deliveries
from kehrwasser_notify.bootstrap import MIGRATIONS, mail_delivery
from kehrwasser_notify.config import NotifySettings
from kehrwasser_notify.domain.model import Contact
from kehrwasser_notify.service_layer import handlers
from kehrwasser_shared.contracts import alliances, make_event
from kehrwasser_shared.embedded.nats_server import free_port
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async
from kehrwasser_shared.testing.databases import fresh_postgres_database

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SENDER = "Kehrwasser <noreply@kehrwasser.local>"

# The sink: accepts every message and prints how many it has, when asked on stdin.
SINK = """
import asyncio, sys, threading
from aiosmtpd.controller import Controller

class Count:
    accepted = 0
    async def handle_DATA(self, server, session, envelope):
        Count.accepted += 1
        return "250 OK"

controller = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
for line in sys.stdin:
    print(Count.accepted, flush=True)
controller.stop()
"""


class Sink:
    def __init__(self) -> None:
        self.port = free_port()
        self._process = subprocess.Popen(
            [sys.executable, "-c", SINK, str(self.port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        assert self._process.stdout.readline().strip() == "ready"

    def accepted(self) -> int:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write("?\n")
        self._process.stdin.flush()
        return int(self._process.stdout.readline())

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(10)


@contextlib.contextmanager
def database(postgres: bool, admin_url: str) -> Iterator[str]:
    if postgres:
        with fresh_postgres_database(admin_url) as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'notify.db'}"


def invitation(count: int) -> alliances.MeetingScheduledV1:
    return alliances.MeetingScheduledV1(
        meeting_id="bench-meeting",
        alliance_id="hamburg",
        alliance_name="Hamburg Founders",
        title="Course check",
        starts_at=datetime.now(UTC).replace(microsecond=0) + timedelta(days=7),
        timezone="Europe/Berlin",
        duration_minutes=90,
        location="https://meet.example.org/hamburg",
        organizer_id="m0000",
        attendee_ids=[f"m{n:04d}" for n in range(count)],
    )


async def run(args: argparse.Namespace, url: str, sink: Sink) -> None:
    settings = NotifySettings(smtp_host="127.0.0.1", smtp_port=sink.port)
    if args.per_second is not None:
        settings = settings.model_copy(update={"mail_per_second": args.per_second})
    if args.connections is not None:
        settings = settings.model_copy(update={"smtp_connections": args.connections})
    await upgrade_to_head_async(MIGRATIONS, url)
    engine = create_engine(url)
    try:
        sender = SmtpMailSender(
            host="127.0.0.1",
            port=sink.port,
            sender=SENDER,
            timeout=settings.smtp_timeout_seconds,
            connections=settings.smtp_connections,
        )
        uow, mailer = mail_delivery(engine, sender, lambda: datetime.now(UTC), 3600.0, settings.delivery())
        async with uow() as unit:
            for n in range(args.n):
                await unit.contacts.save(Contact(f"m{n:04d}", f"Founder {n}", f"m{n:04d}@example.org", "de"))
            await unit.commit()

        meeting = invitation(args.n)
        event = make_event(type_=alliances.MEETING_SCHEDULED.type, source="/bench", data=meeting)
        started = time.perf_counter()
        await handlers.invite_to_meeting(event, meeting, uow(), SENDER, lambda: datetime.now(UTC))
        queued = time.perf_counter() - started

        stop = asyncio.Event()
        cpu_before = time.process_time()
        started = time.perf_counter()
        running = asyncio.create_task(mailer.run(stop))
        while True:
            async with engine.connect() as connection:
                sent = await connection.scalar(select(func.count()).where(deliveries.c.status == "sent"))
            if sent == args.n:
                break
            # Polled in this process, so not too often: it would take processor time from the mailer.
            await asyncio.sleep(0.05)
        delivered = time.perf_counter() - started
        cpu = time.process_time() - cpu_before
        stop.set()
        await running
        accepted_by_sink = sink.accepted()

        async with engine.connect() as connection:
            messages = [bytes(m) for m in await connection.scalars(select(deliveries.c.message))]
    finally:
        await engine.dispose()

    raw = await raw_baseline(sink.port, messages, settings.smtp_connections)
    accepted_after_raw = sink.accepted()

    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"settings: {settings.smtp_connections} connections, cap "
        f"{settings.mail_per_second:g}/s (0: none), timeout {settings.smtp_timeout_seconds:g} s; "
        f"database {'PostgreSQL' if args.postgres else 'SQLite'}"
    )
    size = sum(len(m) for m in messages) / len(messages)
    print(f"invitations: {args.n}, {size / 1024:.1f} KiB each on average")
    print(f"(1) rendered and queued by the handler:  {queued:.2f} s  ({args.n / queued:,.0f} /s)")
    print(
        f"(2) notify mailer, queue to all marked sent: {delivered:.2f} s  = {args.n / delivered:,.0f} messages/s"
        f"  (processor {cpu / args.n * 1e6:.0f} us per message; sink accepted {accepted_by_sink})"
    )
    print(
        f"(3) raw aiosmtplib, {settings.smtp_connections} reused connections: {raw:.2f} s  = {args.n / raw:,.0f} "
        f"messages/s  (sink accepted {accepted_after_raw - accepted_by_sink})"
    )
    print(f"ratio notify / raw: {raw / delivered:.2f}; handler + mailer: {args.n / (queued + delivered):,.0f} /s")


async def raw_baseline(port: int, messages: list[bytes], connections: int) -> float:
    pending = list(messages)

    async def connection() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="bench")
        await client.connect()
        while pending:
            message = pending.pop()
            await client.sendmail("noreply@kehrwasser.local", ["raw@example.org"], message)
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000, help="attendees of the meeting (invitations)")
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database instead of SQLite")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--per-second", type=float, default=None, help="the rate cap (default: the service's)")
    parser.add_argument("--connections", type=int, default=None, help="SMTP connections (default: the service's)")
    args = parser.parse_args()
    sink = Sink()
    try:
        with database(args.postgres, args.admin_url) as url:
            asyncio.run(run(args, url, sink))
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
