"""A member registered a moment ago can ask to join at once: the registration's reply names its event, the
request names it in ``after``, and the alliances service acts only once it has consumed it (causality.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats
import nats.aio.client
import pytest

from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_members.bootstrap import bootstrap as members_service
from kehrwasser_members.config import MembersSettings
from kehrwasser_shared.contracts import alliances, members
from kehrwasser_shared.contracts.common import EventRef
from kehrwasser_shared.contracts.envelope import make_event
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import running
from kehrwasser_shared.testing.examples import member_registered

pytestmark = pytest.mark.integration


def alliances_settings(nats_url: str, database_url: str, tmp_path: Path) -> AlliancesSettings:
    return AlliancesSettings(nats_url=nats_url, database_url=database_url, data_dir=tmp_path, catch_up_seconds=1.0)


async def test_a_reply_names_its_events_and_a_request_waits_for_them(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    """The registration's event is held back until the request is on its way: the request must wait for it."""
    nc = await nats.connect(nats_url)
    client = CommandClient(nc)
    async with running(alliances_service(alliances_settings(nats_url, database_url, tmp_path))):
        founder_event = await publish_registration(nc, "Founder", "evt-founder")
        alliance, events = await client.send_for_events(
            alliances.CREATE,
            alliances.CreateAlliance(name="Hamburg", moderator_id="founder", after=[founder_event]),
        )
        assert events, "the reply names the alliance-created event"

        ada_event = registration("evt-ada")
        request = asyncio.create_task(
            client.send(
                alliances.REQUEST,
                alliances.RequestMembership(alliance_id=alliance.alliance_id, member_id="ada", after=[ada_event]),
            )
        )
        await asyncio.sleep(0)  # the request goes out first
        await nc.flush()
        assert not request.done(), "the test's premise: the request was sent before the event it names existed"
        await publish_registration(nc, "Ada", ada_event.id)
        membership = await request
        assert membership.member_id == "ada"

        with pytest.raises(CommandFailed) as never:
            await client.send(
                alliances.REQUEST,
                alliances.RequestMembership(
                    alliance_id=alliance.alliance_id, member_id="grace", after=[registration("evt-never")]
                ),
            )
        assert never.value.code == "not-caught-up"
    await nc.close()


async def test_register_then_request_at_once_across_the_services(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    nc = await nats.connect(nats_url)
    client = CommandClient(nc)
    members_db = f"sqlite+aiosqlite:///{tmp_path / 'members.db'}"  # the alliances service uses the backend
    async with (
        running(members_service(MembersSettings(nats_url=nats_url, database_url=members_db, data_dir=tmp_path))),
        running(alliances_service(alliances_settings(nats_url, database_url, tmp_path))),
    ):
        founder, founded = await client.send_for_events(
            members.REGISTER, members.RegisterMember(name="Grace Hopper", email="grace@example.org")
        )
        alliance = await client.send(
            alliances.CREATE, alliances.CreateAlliance(name="Kiel", moderator_id=founder.member_id, after=founded)
        )
        for n in range(5):  # each one asks the moment it is registered, never retrying
            member, registered_events = await client.send_for_events(
                members.REGISTER, members.RegisterMember(name=f"Founder {n}", email=f"founder{n}@example.org")
            )
            stored = await nc.jetstream().get_last_msg("KEHRWASSER_MEMBERS", members.MEMBER_REGISTERED.subject)
            assert registration(json.loads(stored.data or b"{}")["id"]) in registered_events
            membership = await client.send(
                alliances.REQUEST,
                alliances.RequestMembership(
                    alliance_id=alliance.alliance_id, member_id=member.member_id, after=registered_events
                ),
            )
            assert membership.member_id == member.member_id
    await nc.close()


def registration(event_id: str) -> EventRef:
    return EventRef(id=event_id, type=members.MEMBER_REGISTERED.type)


async def publish_registration(nc: nats.aio.client.Client, name: str, event_id: str) -> EventRef:
    """Publish ``member-registered`` of ``name`` as the members service would."""
    event = make_event(
        type_=members.MEMBER_REGISTERED.type, source="/members", data=member_registered(name), id_=event_id
    )
    await nc.jetstream().publish(members.MEMBER_REGISTERED.subject, event.model_dump_json().encode())
    return registration(event_id)
