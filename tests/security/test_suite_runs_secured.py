"""The premise of every other integration test: on the plugin's ``nats_server`` the services sign in as
themselves, with the permissions `kehrwasser security init` generates, so the whole suite runs with them on."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from kehrwasser_members.bootstrap import bootstrap as members_service
from kehrwasser_members.config import MembersSettings
from kehrwasser_shared.embedded.nats_server import NatsServer
from kehrwasser_shared.security import identities
from kehrwasser_shared.testing import running
from kehrwasser_shared.testing.plugin import HARNESS_USER

pytestmark = pytest.mark.integration


def signed_in_users(server: NatsServer) -> dict[str, str]:
    """Each connection's name and the user the server authorised it as (its monitoring endpoint)."""
    with urllib.request.urlopen(f"http://{server.host}:{server.monitor_port}/connz?auth=1") as response:
        connections = json.load(response)["connections"]
    return {c.get("name", ""): c.get("authorized_user", "") for c in connections}


async def test_a_service_of_the_suite_signs_in_as_itself(
    nats_server: NatsServer, nats_identities: Path, tmp_path: Path
) -> None:
    settings = MembersSettings(nats_url=nats_server.url, data_dir=tmp_path)  # no credentials given by the test
    async with running(members_service(settings)):
        users = signed_in_users(nats_server)
    assert users["kehrwasser-members"] == identities.load(nats_identities, "members").public_key
    assert HARNESS_USER not in users.values()
