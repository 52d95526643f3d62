"""The README's first command: `kehrwasser up` runs the network, `demo` fills the mail directory,
Ctrl-C stops everything cleanly, and a second `up` resumes with the data intact."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from email import message_from_bytes, policy
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import Network, Outcome

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def ready(url: str, timeout: float = 30.0) -> bool:
    """Whether ``url``/readyz answers 200 within ``timeout`` (a service starts, migrates, connects first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:  # not listening yet, or 503 while starting
            pass
        time.sleep(0.2)
    return False


def test_up_runs_the_demo_stops_on_ctrl_c_and_resumes_with_its_data(
    network: Callable[[], Network], kehrwasser: Callable[..., Outcome]
) -> None:
    up = network()
    data_dir = up.data_dir
    record = json.loads((data_dir / "up.json").read_text())
    assert record["nats_url"].startswith("nats://127.0.0.1:")
    # Each service answers on a health port of its own (they would all want 8080 on one machine).
    assert sorted(record["health"]) == ["alliances", "ledger", "members", "notify"]
    assert len(set(record["health"].values())) == 4
    for service, url in record["health"].items():
        assert ready(url), f"{service} did not become ready at {url}/readyz"
    demo = kehrwasser("demo", timeout=60)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    deadline = time.monotonic() + 30
    while len(list((data_dir / "mail").glob("*.eml"))) < 7 and time.monotonic() < deadline:
        time.sleep(0.2)
    mails = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in (data_dir / "mail").glob("*.eml")]
    calendars = [m for m in mails if any(p.get_content_type() == "text/calendar" for p in m.walk())]
    # Grace's and Linus's welcomes, a warning, its escalation, and the three invitations.
    assert (len(mails), len(calendars)) == (7, 3)

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
