"""Services as separate OS processes, for end-to-end and crash tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def service_env(
    service: str, *, nats_url: str, data_dir: Path, database_url: str, outbox_poll_seconds: float | None = None
) -> dict[str, str]:
    """The ``KEHRWASSER_*`` variables that point a service process at a test's NATS server and database."""
    env = {
        "KEHRWASSER_NATS_URL": nats_url,
        "KEHRWASSER_DATA_DIR": str(data_dir),
        f"KEHRWASSER_{service.upper()}_DATABASE_URL": database_url,
    }
    if outbox_poll_seconds is not None:
        env["KEHRWASSER_OUTBOX_POLL_SECONDS"] = str(outbox_poll_seconds)
    return env


class ServiceProcess:
    """``python -m kehrwasser_<service>`` with its output in a log file the test can show on failure."""

    def __init__(self, service: str, env: dict[str, str], log_dir: Path) -> None:
        self.service = service
        self.env = {**os.environ, **env}
        self.log_path = log_dir / f"{service}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"kehrwasser_{self.service}"], env=self.env, stdout=log, stderr=log
        )
        log.close()
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Ready when the service logged that it serves; fails early with its log if it died."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.service} exited with {self.process.returncode}:\n{self.log()}")
            if "service ready" in self.log():
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.service} not ready within {timeout}s:\n{self.log()}")

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
