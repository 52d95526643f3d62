"""The README's first command: `kehrwasser up` runs the network, `demo` fills the mail directory,
Ctrl-C stops everything cleanly, and a second `up` resumes with the data intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from kehrwasser_shared.embedded.nats_server import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
KEHRWASSER = str(Path(sys.executable).parent / "kehrwasser")


def start_up(data_dir: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [KEHRWASSER, "up", "--data-dir", str(data_dir)], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if process.poll() is not None:
            raise AssertionError(f"up exited early:\n{text}")
        if text.count("service ready") - text.count("service stopped") >= 4:
            return process
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the network did not come up:\n{log.read_text(errors='replace')}")


def stop_up(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0, log.read_text(errors="replace")


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KEHRWASSER, *args], env=env, capture_output=True, text=True, timeout=60)


def test_up_runs_the_demo_stops_on_ctrl_c_and_resumes_with_its_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "KEHRWASSER_DATA_DIR": str(data_dir),
        "KEHRWASSER_EMBEDDED_NATS_PORT": str(free_port()),
        "KEHRWASSER_EMBEDDED_SMTP_PORT": str(free_port()),
    }
    env.pop("KEHRWASSER_NATS_URL", None)
    log = tmp_path / "up.log"
    network = start_up(data_dir, env, log)
    try:
        assert json.loads((data_dir / "up.json").read_text())["nats_url"].startswith("nats://127.0.0.1:")
        demo = cli("demo", env=env)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        deadline = time.monotonic() + 30
        while len(list((data_dir / "mail").glob("*.eml"))) < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        mails = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in (data_dir / "mail").glob("*.eml")]
        calendars = [m for m in mails if any(p.get_content_type() == "text/calendar" for p in m.walk())]
        assert (len(mails), len(calendars)) == (5, 3)  # a warning, its escalation, invitations

        registered = cli(
            "member", "register", "--name", "Margaret Hamilton", "--email", "margaret@example.org", env=env
        )
        assert registered.returncode == 0, registered.stderr
        member_id = json.loads(registered.stdout)["member_id"]
        duplicate = cli("member", "register", "--name", "M. H.", "--email", "MARGARET@example.org", env=env)
        assert duplicate.returncode == 1
        assert json.loads(duplicate.stderr)["code"] == "email-taken"
    finally:
        stop_up(network, log)
    assert not (data_dir / "up.json").exists()

    network = start_up(data_dir, env, log)
    try:
        found = cli("member", "get", member_id, env=env)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["email"] == "margaret@example.org"
    finally:
        stop_up(network, log)
