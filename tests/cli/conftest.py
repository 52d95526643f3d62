"""The CLI as a person runs it: the installed `kehrwasser` program in a subprocess, with a shell's environment."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kehrwasser_shared.embedded.nats_server import free_port

KEHRWASSER = str(Path(sys.executable).parent / "kehrwasser")


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        return self.stderr.splitlines()


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """A shell's environment with a data directory and embedded ports of the test's own and no NATS URL.

    So the CLI finds no `up` (neither the developer's nor another test's), and its default NATS is a free port
    on which nothing listens (never the machine's NATS on 4222).
    """
    env = {
        **os.environ,
        "KEHRWASSER_DATA_DIR": str(tmp_path / "data"),
        "KEHRWASSER_EMBEDDED_NATS_PORT": str(free_port()),
        "KEHRWASSER_EMBEDDED_SMTP_PORT": str(free_port()),
    }
    env.pop("KEHRWASSER_NATS_URL", None)
    return env


@pytest.fixture
def kehrwasser(cli_env: dict[str, str]) -> Callable[..., Outcome]:
    """Run ``kehrwasser <args>`` to its end (a hung CLI fails the test after ``timeout`` seconds)."""

    def run(*args: str, timeout: float = 30.0) -> Outcome:
        started = time.monotonic()
        try:
            done = subprocess.run([KEHRWASSER, *args], env=cli_env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as hung:
            command = " ".join(args)
            raise AssertionError(f"`kehrwasser {command}` did not end within {timeout}s: {hung.stderr!r}") from None
        return Outcome(done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    return run


@pytest.fixture
def kehrwasser_async(cli_env: dict[str, str]) -> Callable[..., Awaitable[Outcome]]:
    """As `kehrwasser`, while the test's event loop goes on serving (fake services answering the CLI)."""

    async def run(*args: str, timeout: float = 30.0) -> Outcome:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            KEHRWASSER, *args, env=cli_env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"`kehrwasser {' '.join(args)}` did not end within {timeout}s") from None
        assert process.returncode is not None
        return Outcome(process.returncode, stdout.decode(), stderr.decode(), time.monotonic() - started)

    return run


class Network:
    """`kehrwasser up` in a session of its own, as a terminal runs it: Ctrl-C signals its whole process group."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.data_dir = Path(env["KEHRWASSER_DATA_DIR"])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0) -> Network:
        with self.log.open("ab") as output:  # a file, not a terminal
            self.process = subprocess.Popen(
                [KEHRWASSER, "up"], env=self.env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.output()
            if self.process.poll() is not None:
                raise AssertionError(f"up exited early:\n{text}")
            if text.count("service ready") - text.count("service stopped") >= 4:
                return self
            time.sleep(0.2)
        raise AssertionError(f"the network did not come up within {timeout}s:\n{self.output()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def ctrl_c(self) -> None:
        """What a terminal does on Ctrl-C: SIGINT to every process of the foreground process group."""
        os.killpg(self.pid, signal.SIGINT)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if not self.running():
            return
        self.ctrl_c()
        try:
            self.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.wait(10)


@pytest.fixture
def network(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[[], Network]]:
    """Start `kehrwasser up` on the test's data directory and ports; whatever still runs is stopped at the end."""
    started: list[Network] = []

    def start() -> Network:
        each = Network(cli_env, tmp_path / f"up-{len(started)}.log")
        started.append(each)
        return each.start()

    yield start
    for each in started:
        each.stop()
