"""No secret in a log line, a reply or an event: a service started with its nkey seed itself and a database URL
that carries a password shows neither, at the most verbose log level, in its answers (errors included) or in its
events, whether it serves or fails to start."""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from kehrwasser_members.bootstrap import bootstrap as members_service
from kehrwasser_members.config import MembersSettings
from kehrwasser_shared.contracts import members
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.embedded.nats_server import NatsServer, free_port
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.security import identities
from kehrwasser_shared.testing import running

from .conftest import SignIn

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-battery-staple"


def members_seed(identities_dir: Path) -> str:
    return identities.seed_file(identities_dir, "members").read_text().strip()


async def test_a_serving_service_logs_neither_its_seed_nor_its_database_password(
    database_url: str,
    secured_nats: NatsServer,
    identities_dir: Path,
    sign_in: SignIn,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql" and url.password is None:
        url = url.set(password=PASSWORD)  # the test server trusts local connections: any password will do
    seed = members_seed(identities_dir)
    settings = MembersSettings(
        nats_url=secured_nats.url,
        nats_nkey_seed=seed,
        database_url=url.render_as_string(hide_password=False),
        data_dir=tmp_path,
    )
    async with running(members_service(settings)), sign_in("operator") as operator:
        client = CommandClient(operator.nc)
        ada = await client.send(members.REGISTER, members.RegisterMember(name="Ada Lovelace", email="ada@example.org"))
        assert (await client.send(members.GET, members.GetMember(member_id=ada.member_id))).name == "Ada Lovelace"
        # What a client ever sees of the service: its answers (errors included) and its events.
        replies = [
            (await operator.nc.request(contract.subject, payload, timeout=10)).data.decode()
            for contract, payload in (
                (members.REGISTER, b'{"name": "Ada", "email": "ADA@example.org"}'),  # email-taken
                (members.GET, b'{"member_id": "nobody"}'),  # unknown-member
                (members.GET, b"{not json"),  # invalid-command
            )
        ]
        events = await operator.nc.jetstream().pull_subscribe(">", stream=stream_name("members"))
        published = [m.data.decode() for m in await events.fetch(100, timeout=5)]

    assert [json.loads(r)["error"]["code"] for r in replies] == ["email-taken", "unknown-member", "invalid-command"]
    assert any("ada@example.org" in event for event in published), "the test's premise: the events were read"
    assert "members service ready" in caplog.text, "the test's premise: the service's log was captured"
    told = "".join([caplog.text, *replies, *published])
    assert seed not in told
    assert seed[2:] not in told  # nor the seed's key material
    if url.password is not None:
        assert url.password not in told


async def test_a_service_that_cannot_reach_its_database_says_so_without_the_password(
    secured_nats: NatsServer, identities_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seed = members_seed(identities_dir)
    settings = MembersSettings(
        nats_url=secured_nats.url,
        nats_nkey_seed=seed,
        database_url=f"postgresql://kehrwasser:{PASSWORD}@127.0.0.1:{free_port()}/members",
        data_dir=tmp_path,
    )
    with pytest.raises(Exception) as failed:  # noqa: PT011 - whatever the driver raises, it must not tell
        async with running(members_service(settings)):
            pass
    told = "".join(traceback.format_exception(failed.value)) + caplog.text + repr(settings)
    assert "127.0.0.1" in told, "the test's premise: the failure names the database it could not reach"
    assert PASSWORD not in told
    assert seed not in told
