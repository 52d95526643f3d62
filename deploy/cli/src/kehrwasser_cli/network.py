"""`kehrwasser up`: the whole network on one machine, supervised, with its logs in one terminal.

Ctrl-C reaches `up` alone: NATS and the services run in sessions of their own, so that `up` can stop the
services first (while NATS still carries their last acknowledgements and drains), and NATS last.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.embedded.nats_server import NatsServer, free_port
from kehrwasser_shared.security import identities

from . import status
from .exit_codes import ExitCode
from .occupancy import DataDirLock, already_running, port_in_use, port_taken
from .settings import IDENTITIES_DIR, SERVICES, UP_FILE, CliSettings

HEALTH_PORT_VARIABLE = "KEHRWASSER_HEALTH_PORT"
COLOURS = {"members": "36", "alliances": "35", "ledger": "33", "notify": "32", "up": "1"}
STOP_GRACE_SECONDS = 15.0
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
_output_lock = threading.Lock()
_OTHER_IDENTITY_VARIABLES = frozenset({"KEHRWASSER_NATS_CREDS", "KEHRWASSER_NATS_NKEY_SEED"})
# SIGHUP too: a closed terminal must stop the network in order as well, not leave NATS and services behind.
_STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])


def _colours_wanted() -> bool:
    # Colour for a person at a terminal only: a log file or a pipe gets plain text (NO_COLOR: https://no-color.org).
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def say(source: str, line: str) -> None:
    prefix = f"[{source}]".ljust(12)
    if _colours_wanted():
        prefix = f"\033[{COLOURS.get(source, '0')}m{prefix}\033[0m"
    with _output_lock:  # the services' reader threads print too; keep their lines whole
        print(f"{prefix} {line}", flush=True)


@dataclass
class Supervised:
    """One service process; restarted with growing delays if it dies while the network is up."""

    service: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    reader: threading.Thread | None = field(default=None, repr=False)
    last_error: str | None = None
    """The last ERROR line the service logged (for the status lines)."""

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"kehrwasser_{self.service}", "serve"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Own session: Ctrl-C reaches `up` only, which then stops services before NATS, in order.
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self.reader = threading.Thread(target=_relay_lines, args=(self, self.process.stdout), daemon=True)
        self.reader.start()

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            say("up", f"{self.service} did not stop in time; killing it")
            self.process.kill()
            self.process.wait()
        if self.reader is not None:
            self.reader.join(timeout=2)


def _relay_lines(supervised: Supervised, stream: IO[bytes]) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        if " ERROR " in line or '"level": "ERROR"' in line:
            supervised.last_error = _error_summary(line)
        say(supervised.service, line)
    stream.close()


def _error_summary(line: str) -> str:
    # The plain format: "<date> <time> ERROR   [service] logger: message"; JSON: the message.
    if line.startswith("{"):
        with contextlib.suppress(ValueError):
            return str(json.loads(line).get("message", line))[:160]
    return line.split("] ", 1)[-1][:160]


def up(settings: CliSettings) -> int:
    """Run the network until SIGINT or SIGTERM; refuse to start beside another one."""
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = DataDirLock(data_dir)
    if not lock.acquire():
        return _refuse(already_running(data_dir, data_dir / UP_FILE))
    try:
        # The embedded network runs the production model: every service and the CLI sign in with an identity
        # of their own (created on first start, kept after), and the server refuses anonymous clients.
        identities.init(data_dir / IDENTITIES_DIR)
        nats = NatsServer(
            data_dir / "nats",
            port=settings.embedded_nats_port,
            log_file=data_dir / "nats.log",
            config=identities_config(data_dir),
        )
        sink = MailSink(port=settings.embedded_smtp_port, directory=data_dir / "mail")
        if problem := _ports_problem(nats, sink):
            return _refuse(problem)
        return _run(data_dir, nats, sink)
    finally:
        lock.release()


def _refuse(message: str) -> int:
    print(f"cannot start: {message}", file=sys.stderr)
    return ExitCode.FAILED


def _ports_problem(nats: NatsServer, sink: MailSink) -> str | None:
    if port_taken(nats.host, nats.port):
        return port_in_use("NATS", nats.host, nats.port, "KEHRWASSER_EMBEDDED_NATS_PORT")
    if port_taken(sink.host, sink.port):
        return port_in_use("the SMTP sink", sink.host, sink.port, "KEHRWASSER_EMBEDDED_SMTP_PORT")
    return None


def _run(data_dir: Path, nats: NatsServer, sink: MailSink) -> int:
    stop = threading.Event()
    for sig in _STOP_SIGNALS:
        signal.signal(sig, lambda *_: stop.set())
    record = data_dir / UP_FILE
    _write_record(record, nats, sink)
    try:
        nats.start()
    except RuntimeError as exc:
        record.unlink(missing_ok=True)
        return _refuse(f"nats-server did not start: {exc} (see {data_dir / 'nats.log'})")
    try:
        sink.start()
    except OSError as exc:
        nats.stop()
        record.unlink(missing_ok=True)
        return _refuse(f"the SMTP sink did not start on port {sink.port}: {exc}")
    services = [Supervised(service, _service_env(data_dir, nats, sink, service)) for service in SERVICES]
    _write_record(record, nats, sink, services)
    try:
        if not stop.is_set():
            for each in services:
                each.start()
            _print_overview(data_dir, nats, sink, services)
            _watch_status(services, stop)
            _supervise(services, stop)
    finally:
        _stop_in_order(services, sink, nats)
        record.unlink(missing_ok=True)
        say("up", f"stopped; data kept in {data_dir} (run `kehrwasser up` again to resume)")
    return ExitCode.OK


def _write_record(record: Path, nats: NatsServer, sink: MailSink, services: Sequence[Supervised] = ()) -> None:
    """Where this network runs: commands find its NATS here, and a second `up` names it when refusing."""
    mail_dir = record.parent / "mail"
    fields: dict[str, object] = {
        "pid": os.getpid(),
        "nats_url": nats.url,
        "smtp": f"{sink.host}:{sink.port}",
        "mail_dir": str(mail_dir),
        "health": {each.service: health_url(each) for each in services},
    }
    record.write_text(json.dumps(fields, indent=2))


def health_url(service: Supervised) -> str:
    return f"http://127.0.0.1:{service.env[HEALTH_PORT_VARIABLE]}"


def identities_config(data_dir: Path) -> Path:
    return data_dir / IDENTITIES_DIR / identities.SERVER_CONFIG_FILE


def _service_env(data_dir: Path, nats: NatsServer, sink: MailSink, service: str) -> dict[str, str]:
    # Only the identity `up` made for the service: credentials meant for another NATS would not sign in here.
    inherited = {k: v for k, v in os.environ.items() if k not in _OTHER_IDENTITY_VARIABLES}
    return {
        **inherited,
        "KEHRWASSER_NATS_URL": nats.url,
        "KEHRWASSER_NATS_NKEY_SEED_FILE": str(identities.seed_file(data_dir / IDENTITIES_DIR, service)),
        "KEHRWASSER_DATA_DIR": str(data_dir),
        "KEHRWASSER_SMTP_HOST": sink.host,
        "KEHRWASSER_SMTP_PORT": str(sink.port),
        # Four services on one machine: each its own health and metrics port (they would all want 8080), on
        # the loopback only, like NATS and the SMTP sink.
        HEALTH_PORT_VARIABLE: str(free_port()),
        "KEHRWASSER_HEALTH_HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }


def _stop_in_order(services: list[Supervised], sink: MailSink, nats: NatsServer) -> None:
    """Services first, while NATS still takes their last acknowledgements and drains; then SMTP and NATS."""
    say("up", "stopping the services …")
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for each in services:
        each.terminate()
    for each in services:
        each.wait(deadline)
    sink.stop()
    nats.stop()


def _supervise(services: list[Supervised], stop: threading.Event) -> None:
    while not stop.wait(0.5):
        now = time.monotonic()
        for each in services:
            code = each.exited()
            if code is None:
                continue
            if each.next_start == 0.0:
                delay = RESTART_DELAYS[min(each.restarts, len(RESTART_DELAYS) - 1)]
                say("up", f"{each.service} exited with code {code}; restarting in {delay:.0f}s")
                each.next_start = now + delay
            elif now >= each.next_start:
                each.restarts += 1
                each.next_start = 0.0
                each.start()


def _watch_status(services: list[Supervised], stop: threading.Event) -> None:
    """A status line per service when it changes (ready, backlog, lag, last error), in a thread of its own."""
    by_name = {each.service: each for each in services}
    threading.Thread(
        target=status.watch,
        args=(
            lambda: {each.service: health_url(each) for each in services},
            lambda service: by_name[service].last_error,
            stop,
            lambda line: say("up", line),
        ),
        name="up-status",
        daemon=True,
    ).start()


def _print_overview(data_dir: Path, nats: NatsServer, sink: MailSink, services: list[Supervised]) -> None:
    rows = [
        ("NATS (JetStream)", f"{nats.url}  store {data_dir / 'nats'}"),
        ("SMTP sink", f"{sink.host}:{sink.port}  mail as .eml in {data_dir / 'mail'}"),
        ("NATS identities", f"{data_dir / IDENTITIES_DIR}  (the CLI signs in as operator)"),
    ]
    rows += [
        (
            each.service,
            f"pid {each.process.pid if each.process else '?'}  database {data_dir / (each.service + '.db')}"
            f"  health {health_url(each)}/readyz  metrics {health_url(each)}/metrics",
        )
        for each in services
    ]
    say("up", f"Kehrwasser is starting (pid {os.getpid()}):")
    for name, where in rows:
        say("up", f"  {name:<18} {where}")
    say("up", "A status line follows whenever a service's readiness, backlog, lag or last error changes.")
    say("up", "Try `uv run kehrwasser demo` in another terminal; Ctrl-C stops everything.")
