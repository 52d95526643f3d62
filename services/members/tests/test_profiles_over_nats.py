"""Profiles, preferences, address changes, status and lists against a real nats-server and every database:
each command's reply, the events it publishes (and that a refused command publishes none and changes nothing)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import ConsumerConfig, DeliverPolicy

from kehrwasser_members.bootstrap import bootstrap
from kehrwasser_members.config import MembersSettings
from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.contracts.subjects import stream_name, stream_subjects
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import fetch_exactly, running

pytestmark = pytest.mark.integration


@dataclass
class Clock:
    now: datetime = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Members:
    client: CommandClient
    nc: Client
    clock: Clock
    subscription: Any

    async def events(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` events of the members stream, then proof that no other follows."""
        messages = await fetch_exactly(self.subscription, count)
        for message in messages:
            await message.ack()
        with pytest.raises(nats.errors.TimeoutError):
            await self.subscription.fetch(1, timeout=0.6)
        return [json.loads(message.data) for message in messages]

    async def refused(self, contract: Any, command: Any) -> str:
        with pytest.raises(CommandFailed) as failure:
            await self.client.send(contract, command)
        return failure.value.code

    async def register(self, name: str, email: str, **fields: Any) -> contracts.MemberView:
        view: contracts.MemberView = await self.client.send(
            contracts.REGISTER, contracts.RegisterMember(name=name, email=email, **fields)
        )
        return view

    async def get(self, member_id: str) -> contracts.MemberView:
        view: contracts.MemberView = await self.client.send(contracts.GET, contracts.GetMember(member_id=member_id))
        return view


@asynccontextmanager
async def members_service(nats_url: str, database_url: str, tmp_path: Path) -> AsyncIterator[Members]:
    clock = Clock()
    settings = MembersSettings(nats_url=nats_url, data_dir=tmp_path, database_url=database_url, outbox_poll_seconds=0.2)
    async with running(bootstrap(settings, clock=clock)):
        nc = await nats.connect(nats_url)
        try:
            subscription = await nc.jetstream().pull_subscribe(
                stream_subjects("members"),
                stream=stream_name("members"),
                config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
            )
            yield Members(CommandClient(nc), nc, clock, subscription)
        finally:
            await nc.close()


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"].removeprefix("kehrwasser.members.") for event in events]


async def test_profile_and_preferences_change_by_the_member_alone_and_each_change_is_announced(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with members_service(nats_url, database_url, tmp_path) as members:
        ada = await members.register("Ada Lovelace", "ada@example.org", focus=["Compute"])
        registered = await members.events(2)
        assert types(registered) == ["member-registered.v1", "member-preferences-changed.v1"]
        assert registered[1]["data"]["preferences"]["digest"] is True

        me = ada.member_id
        updated = await members.client.send(
            contracts.UPDATE_PROFILE,
            contracts.UpdateProfile(
                member_id=me, requested_by=me, timezone="America/New_York", focus=["AI", "Real Estate"], language="de"
            ),
        )
        assert (updated.timezone, updated.focus, updated.language) == ("America/New_York", ["ai", "real-estate"], "de")
        preferences = await members.client.send(
            contracts.SET_PREFERENCES, contracts.SetPreferences(member_id=me, requested_by=me, digest=False)
        )
        assert preferences.preferences.digest is False
        [profile, changed] = await members.events(2)
        assert profile["data"]["changed"] == ["language", "timezone", "focus"]
        assert profile["data"]["timezone"] == "America/New_York"
        assert changed["data"]["preferences"]["digest"] is False

        assert await members.refused(
            contracts.UPDATE_PROFILE, contracts.UpdateProfile(member_id=me, requested_by="eve", name="Eve")
        ) == ("not-allowed")
        assert await members.refused(
            contracts.SET_PREFERENCES,
            contracts.SetPreferences(member_id="nobody", requested_by="nobody", balance=False),
        ) == ("unknown-member")
        invalid = json.loads(
            await members.client.send_raw(
                contracts.UPDATE_PROFILE.subject,
                json.dumps({"member_id": me, "requested_by": me, "timezone": "Europe/Atlantis"}).encode(),
            )
        )
        assert (invalid["error"]["code"], invalid["error"]["details"][0]["field"]) == ("invalid-command", "timezone")
        assert await members.events(0) == []
        assert (await members.get(me)).name == "Ada Lovelace"


async def test_one_click_unsubscribe_works_by_token_and_again_changes_nothing(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with members_service(nats_url, database_url, tmp_path) as members:
        ada = await members.register("Ada Lovelace", "ada@example.org")
        token = (await members.events(2))[1]["data"]["unsubscribe_token"]
        first = await members.client.send(contracts.UNSUBSCRIBE, contracts.Unsubscribe(token=token, category="balance"))
        assert (first.preferences.balance, first.preferences.meetings) == (False, True)
        everything = contracts.Unsubscribe(token=token, category="all")
        assert not any((await members.client.send(contracts.UNSUBSCRIBE, everything)).preferences.model_dump().values())
        assert not any((await members.client.send(contracts.UNSUBSCRIBE, everything)).preferences.model_dump().values())
        assert types(await members.events(2)) == ["member-preferences-changed.v1"] * 2
        assert await members.refused(contracts.UNSUBSCRIBE, contracts.Unsubscribe(token="A" * 43, category="all")) == (
            "invalid-token"
        )
        assert not any((await members.get(ada.member_id)).preferences.model_dump().values())


async def test_an_address_changes_only_with_the_token_mailed_to_it_once_and_in_time(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with members_service(nats_url, database_url, tmp_path) as members:
        ada = await members.register("Ada Lovelace", "ada@example.org", language="de")
        await members.register("Grace Hopper", "grace@navy.example")
        await members.events(4)
        me = ada.member_id

        def change_to(address: str, requested_by: str = me) -> contracts.RequestEmailChange:
            return contracts.RequestEmailChange(member_id=me, requested_by=requested_by, new_email=address)

        requested = await members.client.send(contracts.REQUEST_EMAIL_CHANGE, change_to("Ada@Engines.example"))
        assert requested.new_email == "ada@engines.example"
        [asked] = await members.events(1)
        assert asked["type"] == "kehrwasser.members.member-email-change-requested.v1"
        assert (asked["data"]["new_email"], asked["data"]["language"]) == ("ada@engines.example", "de")
        token = asked["data"]["token"]
        assert token not in json.dumps(requested.model_dump(mode="json"))
        assert (await members.get(me)).pending_email == "ada@engines.example"

        assert await members.refused(contracts.REQUEST_EMAIL_CHANGE, change_to("grace@navy.example")) == "email-taken"
        assert await members.refused(contracts.REQUEST_EMAIL_CHANGE, change_to("x@y.example", "grace")) == "not-allowed"

        confirmed = await members.client.send(contracts.CONFIRM_EMAIL_CHANGE, contracts.ConfirmEmailChange(token=token))
        assert (confirmed.email, confirmed.pending_email) == ("ada@engines.example", None)
        [changed] = await members.events(1)
        assert changed["data"] == {
            "member_id": me,
            "email": "ada@engines.example",
            "previous_email": "ada@example.org",
            "changed_at": "2026-11-24T12:00:00Z",
        }
        used = contracts.ConfirmEmailChange(token=token)
        assert await members.refused(contracts.CONFIRM_EMAIL_CHANGE, used) == "invalid-token"

        await members.client.send(contracts.REQUEST_EMAIL_CHANGE, change_to("ada@late.example"))
        late = (await members.events(1))[0]["data"]["token"]
        members.clock.now += timedelta(hours=24)
        expired = contracts.ConfirmEmailChange(token=late)
        assert await members.refused(contracts.CONFIRM_EMAIL_CHANGE, expired) == "invalid-token"
        assert await members.events(0) == []
        assert (await members.get(me)).email == "ada@engines.example"


async def test_an_address_registered_by_someone_else_meanwhile_is_not_confirmed(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with members_service(nats_url, database_url, tmp_path) as members:
        me = (await members.register("Ada Lovelace", "ada@example.org")).member_id
        change = contracts.RequestEmailChange(member_id=me, requested_by=me, new_email="shared@example.org")
        await members.client.send(contracts.REQUEST_EMAIL_CHANGE, change)
        token = (await members.events(3))[2]["data"]["token"]
        await members.register("Grace Hopper", "shared@example.org")
        await members.events(2)
        refused = contracts.ConfirmEmailChange(token=token)
        assert await members.refused(contracts.CONFIRM_EMAIL_CHANGE, refused) == "email-taken"
        assert await members.events(0) == []
        assert (await members.get(me)).email == "ada@example.org"


async def test_suspension_reactivation_and_leaving_follow_their_rules_and_are_announced(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with members_service(nats_url, database_url, tmp_path) as members:
        me = (await members.register("Ada Lovelace", "ada@example.org")).member_id
        await members.events(2)

        def suspend(by: str = "operator-kim", member_id: str = me) -> contracts.SuspendMember:
            return contracts.SuspendMember(member_id=member_id, requested_by=by, reason="sales pitches")

        def reactivate(by: str = "operator-kim") -> contracts.ReactivateMember:
            return contracts.ReactivateMember(member_id=me, requested_by=by, reason="talked it through")

        assert (await members.client.send(contracts.SUSPEND, suspend())).status == "suspended"
        assert await members.refused(contracts.SUSPEND, suspend()) == "invalid-status-change"
        assert await members.refused(contracts.SUSPEND, suspend(member_id="nobody")) == "unknown-member"
        assert await members.refused(contracts.REACTIVATE, reactivate(by=me)) == "not-allowed"
        assert (await members.client.send(contracts.REACTIVATE, reactivate())).status == "active"
        leave = contracts.LeaveNetwork(member_id=me, requested_by=me, reason="moving abroad")
        assert await members.refused(contracts.LEAVE, leave.model_copy(update={"requested_by": "eve"})) == "not-allowed"
        assert (await members.client.send(contracts.LEAVE, leave)).status == "left"
        assert await members.refused(contracts.LEAVE, leave) == "invalid-status-change"
        late_update = contracts.UpdateProfile(member_id=me, requested_by=me, name="Ada King")
        assert await members.refused(contracts.UPDATE_PROFILE, late_update) == "invalid-status-change"
        # The address stays reserved for the member who left (see the README: leaving is not erasure).
        register_again = contracts.RegisterMember(name="Ada", email="ada@example.org")
        assert await members.refused(contracts.REGISTER, register_again) == "email-taken"

        suspended, reactivated, left = await members.events(3)
        assert types([suspended, reactivated, left]) == [
            "member-suspended.v1",
            "member-reactivated.v1",
            "member-left.v1",
        ]
        assert (suspended["data"]["suspended_by"], suspended["data"]["reason"]) == ("operator-kim", "sales pitches")
        assert reactivated["data"]["reactivated_by"] == "operator-kim"
        assert left["data"]["reason"] == "moving abroad"
        assert (await members.get(me)).name == "Ada Lovelace"


async def test_lists_page_by_name_with_filters_and_lookups_by_email(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with members_service(nats_url, database_url, tmp_path) as members:
        founders = [
            ("Grace Hopper", "grace@navy.example", "en", ["engineering"]),
            ("ada Lovelace", "ada@example.org", "de", ["ai", "engineering"]),
            ("Alan Turing", "alan@bletchley.example", "en", ["ai"]),
            ("Barbara Liskov", "barbara@mit.example", "en", ["engineering"]),
            ("Annie Easley", "annie@nasa.example", "de", ["sustainability"]),
        ]
        ids = {}
        for name, email, language, focus in founders:
            ids[name] = (await members.register(name, email, language=language, focus=focus)).member_id
        kim = contracts.SuspendMember(member_id=ids["Alan Turing"], requested_by="operator-kim", reason="spam")
        await members.client.send(contracts.SUSPEND, kim)

        async def names(**query: Any) -> list[str]:
            page: contracts.MemberPage = await members.client.send(contracts.LIST, contracts.ListMembers(**query))
            return [member.name for member in page.members]

        pages, cursor = [], None
        while True:
            page = await members.client.send(contracts.LIST, contracts.ListMembers(limit=2, cursor=cursor))
            pages.append([member.name for member in page.members])
            if (cursor := page.next_cursor) is None:
                break
        assert pages == [["ada Lovelace", "Alan Turing"], ["Annie Easley", "Barbara Liskov"], ["Grace Hopper"]]
        assert await names(name_prefix="A") == ["ada Lovelace", "Alan Turing", "Annie Easley"]
        assert await names(name_prefix="a", status="active") == ["ada Lovelace", "Annie Easley"]
        assert await names(focus="Engineering", language="en") == ["Barbara Liskov", "Grace Hopper"]
        assert await names(email_prefix="GRACE@") == ["Grace Hopper"]
        assert await names(name_prefix="100%_") == []

        found = await members.client.send(
            contracts.GET_BY_EMAIL, contracts.GetMemberByEmail(email="Annie@NASA.example")
        )
        assert found.member_id == ids["Annie Easley"]
        nobody = contracts.GetMemberByEmail(email="nobody@example.org")
        assert await members.refused(contracts.GET_BY_EMAIL, nobody) == "unknown-member"
