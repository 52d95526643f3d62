"""`kehrwasser up` runs the production permission model: identities made on first start (owner-only files),
anonymous clients refused, the CLI signed in as the operator."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import Callable
from typing import TYPE_CHECKING

import nats
import nats.errors
import pytest

from kehrwasser_shared.security.permissions import IDENTITIES

if TYPE_CHECKING:
    from conftest import Network, Outcome

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_up_signs_everyone_in_and_refuses_anonymous_clients(
    network: Callable[[], Network], kehrwasser: Callable[..., Outcome]
) -> None:
    up = network()
    identities = up.data_dir / "identities"
    seeds = sorted(path.stem for path in identities.glob("*.nk"))
    assert seeds == sorted(IDENTITIES)
    assert {stat.S_IMODE(path.stat().st_mode) for path in identities.iterdir()} == {0o600}

    registered = kehrwasser(
        "member", "register", "--name", "Margaret Hamilton", "--email", "margaret@example.org", "--json"
    )
    assert registered.returncode == 0, registered.stderr
    assert json.loads(registered.stdout)["email"] == "margaret@example.org"

    nats_url = json.loads((up.data_dir / "up.json").read_text())["nats_url"]

    async def anonymous() -> None:
        await nats.connect(nats_url, allow_reconnect=False, max_reconnect_attempts=1, connect_timeout=2)

    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        asyncio.run(anonymous())
