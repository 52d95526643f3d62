"""`kehrwasser up` at its edges: Ctrl-C stops the services before NATS, quickly and quietly; a second `up`
beside a running one is refused in one line naming it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Network, Outcome

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
STOP_BOUND_SECONDS = 15.0  # generous: the stop takes about a second; see the printed figure
SHUTDOWN_NOISE = ("Traceback", "UnexpectedEOF", "DrainTimeout", "ConnectionReconnecting", "did not stop in time")
ANSI_ESCAPE = "\x1b["


def test_ctrl_c_stops_the_services_then_nats_quickly_and_without_noise(
    network: Callable[[], Network], record_property: Callable[[str, object], None]
) -> None:
    up = network()

    pressed = time.monotonic()
    up.ctrl_c()
    code = up.wait(STOP_BOUND_SECONDS + 30)
    seconds = time.monotonic() - pressed

    print(f"`kehrwasser up` stopped {seconds:.2f} s after Ctrl-C")
    record_property("up_stop_seconds", round(seconds, 2))
    output = up.output()
    assert code == 0, output
    assert seconds < STOP_BOUND_SECONDS, output
    assert output.count("service stopped") == 4, output
    assert [noise for noise in SHUTDOWN_NOISE if noise in output] == [], output
    assert ANSI_ESCAPE not in output  # written to a file, not a terminal
    # nats-server never saw the Ctrl-C: it was stopped by `up` (SIGTERM), after the services.
    nats_log = (up.data_dir / "nats.log").read_text()
    assert 'Trapped "interrupt" signal' not in nats_log
    assert nats_log.count('Trapped "terminated" signal') == 1
    assert not (up.data_dir / "up.json").exists()


def test_a_second_up_on_the_same_data_dir_or_ports_names_the_running_one(
    network: Callable[[], Network], kehrwasser: Callable[..., Outcome], cli_env: dict[str, str]
) -> None:
    first = network()
    nats_port, smtp_port = cli_env["KEHRWASSER_EMBEDDED_NATS_PORT"], cli_env["KEHRWASSER_EMBEDDED_SMTP_PORT"]

    same_data_dir = kehrwasser("up", timeout=30)
    other_data_dir = kehrwasser("up", "--data-dir", str(first.data_dir.parent / "elsewhere"), timeout=30)

    assert same_data_dir.returncode == 1
    assert same_data_dir.error_lines == [
        f"cannot start: another `kehrwasser up` (pid {first.pid}) is already running on {first.data_dir}: "
        f"NATS nats://127.0.0.1:{nats_port}, SMTP 127.0.0.1:{smtp_port}; stop it first (Ctrl-C in its terminal)"
    ]
    assert other_data_dir.returncode == 1
    assert len(other_data_dir.error_lines) == 1, other_data_dir.stderr
    refusal = other_data_dir.error_lines[0]
    assert refusal.startswith(f"cannot start: port {nats_port} for NATS on 127.0.0.1 is already in use by pid ")
    assert f"nats-server -a 127.0.0.1 -p {nats_port} -js -sd {first.data_dir / 'nats'}" in refusal
    assert "is another `kehrwasser up` running?" in refusal
    # The refused ones left the running network alone.
    assert first.running()
    assert json.loads((first.data_dir / "up.json").read_text())["pid"] == first.pid
    assert not (first.data_dir.parent / "elsewhere" / "nats").exists()
