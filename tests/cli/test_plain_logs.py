"""A service's log written to a file or a pipe is plain text: no ANSI colour codes, FastStream's lines included."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kehrwasser_shared.embedded.nats_server import NatsServer
from kehrwasser_shared.testing.processes import ServiceProcess, service_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
ANSI_ESCAPE = "\x1b["
FASTSTREAM_LINE = "Connection broken with UnexpectedEOF"  # logged by FastStream's own logger


def test_a_services_log_file_has_no_colour_codes_even_from_faststream(tmp_path: Path) -> None:
    nats = NatsServer(tmp_path / "nats", log_file=tmp_path / "nats.log").start()
    env = service_env(
        "members", nats_url=nats.url, data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/members.db"
    )
    service = ServiceProcess("members", env, tmp_path).start()
    try:
        service.wait_ready()
        nats.stop()  # FastStream logs the broken connection through its own logger
        deadline = time.monotonic() + 30
        while FASTSTREAM_LINE not in service.log() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        assert service.process is not None
        service.process.kill()  # with NATS gone, what matters is what the log holds so far
        service.wait_exit()
        nats.stop()

    log = service.log()
    assert FASTSTREAM_LINE in log, log
    assert ANSI_ESCAPE not in log, log
