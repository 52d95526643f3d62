"""The README's first command: `kehrwasser up` runs the network, `demo` fills the mail directory,
Ctrl-C stops everything cleanly, and a second `up` resumes with the data intact."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from email import message_from_bytes, policy
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Network, Outcome

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_up_runs_the_demo_stops_on_ctrl_c_and_resumes_with_its_data(
    network: Callable[[], Network], kehrwasser: Callable[..., Outcome]
) -> None:
    up = network()
    data_dir = up.data_dir
    assert json.loads((data_dir / "up.json").read_text())["nats_url"].startswith("nats://127.0.0.1:")
    demo = kehrwasser("demo", timeout=60)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    deadline = time.monotonic() + 30
    while len(list((data_dir / "mail").glob("*.eml"))) < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    mails = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in (data_dir / "mail").glob("*.eml")]
    calendars = [m for m in mails if any(p.get_content_type() == "text/calendar" for p in m.walk())]
    assert (len(mails), len(calendars)) == (5, 3)  # a warning, its escalation, invitations

    registered = kehrwasser(
        "member", "register", "--name", "Margaret Hamilton", "--email", "margaret@example.org", "--json"
    )
    assert registered.returncode == 0, registered.stderr
    member_id = json.loads(registered.stdout)["member_id"]
    duplicate = kehrwasser("member", "register", "--name", "M. H.", "--email", "MARGARET@example.org")
    assert duplicate.returncode == 1
    assert [line.split(":")[0] for line in duplicate.error_lines] == ["email-taken"]
    up.ctrl_c()
    assert up.wait(60) == 0, up.output()
    assert not (data_dir / "up.json").exists()

    network()
    found = kehrwasser("member", "get", member_id, "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["email"] == "margaret@example.org"
