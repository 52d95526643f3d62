"""The members service against a real nats-server and every reachable database."""

from __future__ import annotations

import json
from pathlib import Path

import nats
import pytest

from kehrwasser_members.bootstrap import bootstrap
from kehrwasser_members.config import MembersSettings
from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import fetch_exactly, running

pytestmark = pytest.mark.integration


def settings_for(nats_url: str, database_url: str, tmp_path: Path) -> MembersSettings:
    return MembersSettings(nats_url=nats_url, data_dir=tmp_path, database_url=database_url, outbox_poll_seconds=0.2)


async def test_registering_a_member_replies_and_publishes_member_registered(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running(bootstrap(settings_for(nats_url, database_url, tmp_path))):
        nc = await nats.connect(nats_url)
        try:
            client = CommandClient(nc)
            ada = await client.send(
                contracts.REGISTER,
                contracts.RegisterMember(
                    name="Ada Lovelace",
                    email="Ada@Example.org",
                    company="Analytical Engines",
                    language="en",
                    focus=["Compute", "compute", "poetry"],
                ),
            )
            assert ada.email == "ada@example.org"
            assert ada.focus == ["compute", "poetry"]

            js = nc.jetstream()
            sub = await js.pull_subscribe(contracts.MEMBER_REGISTERED.subject, stream=stream_name("members"))
            [msg] = await fetch_exactly(sub, 1)
            event = json.loads(msg.data)
            assert event["type"] == "kehrwasser.members.member-registered.v1"
            assert event["specversion"] == "1.0"
            assert event["data"]["member_id"] == ada.member_id
            assert msg.headers["Nats-Msg-Id"] == event["id"]
        finally:
            await nc.close()


async def test_second_registration_with_the_same_email_is_rejected(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running(bootstrap(settings_for(nats_url, database_url, tmp_path))):
        nc = await nats.connect(nats_url)
        try:
            client = CommandClient(nc)
            command = contracts.RegisterMember(name="Grace Hopper", email="grace@navy.example", language="en")
            await client.send(contracts.REGISTER, command)
            with pytest.raises(CommandFailed) as failure:
                await client.send(contracts.REGISTER, command.model_copy(update={"email": "GRACE@navy.example"}))
            assert failure.value.code == "email-taken"
        finally:
            await nc.close()


async def test_invalid_command_gets_a_field_error_and_the_service_keeps_running(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with running(bootstrap(settings_for(nats_url, database_url, tmp_path))):
        nc = await nats.connect(nats_url)
        try:
            client = CommandClient(nc)
            raw = await client.send_raw(contracts.REGISTER.subject, b'{"name": "", "email": "not-an-email"}')
            reply = json.loads(raw)
            assert reply["ok"] is False
            assert reply["error"]["code"] == "invalid-command"
            assert {d["field"] for d in reply["error"]["details"]} >= {"name", "email"}
            garbage = json.loads(await client.send_raw(contracts.REGISTER.subject, b"\xff{not json"))
            assert garbage["error"]["code"] == "invalid-command"
            ok = await client.send(
                contracts.REGISTER, contracts.RegisterMember(name="Still", email="still@example.org")
            )
            assert ok.name == "Still"
        finally:
            await nc.close()
