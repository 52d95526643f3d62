"""Poison on a real service's subject: each bad message is dead-lettered with its reason, valid events flow on."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest

from kehrwasser_alliances.bootstrap import bootstrap
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_shared.contracts import alliances, make_event, members
from kehrwasser_shared.contracts.subjects import DEADLETTER_STREAM, deadletter_subject
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.messaging.consumer import REASON_HEADER
from kehrwasser_shared.testing import fetch_exactly, running

pytestmark = pytest.mark.integration


async def test_alliances_dead_letters_poison_and_still_learns_the_valid_member(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    settings = AlliancesSettings(nats_url=nats_url, data_dir=tmp_path, database_url=database_url)
    subject = members.MEMBER_REGISTERED.subject
    valid = make_event(
        type_=members.MEMBER_REGISTERED.type,
        source="/members",
        data=members.MemberRegisteredV1(
            member_id="ada",
            name="Ada Lovelace",
            email="ada@example.org",
            company="",
            language="de",
            focus=[],
            registered_at=datetime.now(UTC),
        ),
    )
    wrong_schema = valid.model_dump(mode="json") | {"data": {"member_id": "bob"}}
    unknown_type = valid.model_dump(mode="json") | {"type": "kehrwasser.members.member-levitated.v1"}
    async with running(bootstrap(settings)):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            for msg_id, payload in (
                ("poison-json", b'{"specversion": "1.0", "id": '),
                ("poison-schema", json.dumps(wrong_schema).encode()),
                ("poison-type", json.dumps(unknown_type).encode()),
                (valid.id, valid.model_dump_json().encode()),
            ):
                await js.publish(subject, payload, headers={"Nats-Msg-Id": msg_id})
            founded = await CommandClient(nc).send_when_known(
                alliances.CREATE, alliances.CreateAlliance(name="Hamburg Founders", moderator_id="ada")
            )
            assert founded.member_ids == ["ada"]
            sub = await js.pull_subscribe(deadletter_subject("alliances-from-members"), stream=DEADLETTER_STREAM)
            letters = await fetch_exactly(sub, 3)
        finally:
            await nc.close()
    reasons = [letter.headers[REASON_HEADER] for letter in letters]
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1].startswith("data does not match kehrwasser.members.member-registered.v1")
    assert reasons[2].startswith("unknown event type 'kehrwasser.members.member-levitated.v1'")
    assert letters[0].data == b'{"specversion": "1.0", "id": '
