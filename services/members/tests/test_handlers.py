"""Members use cases against an in-memory unit of work: no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faststream.nats import TestNatsBroker

from kehrwasser_members.bootstrap import bootstrap
from kehrwasser_members.config import MembersSettings
from kehrwasser_members.domain import model
from kehrwasser_members.service_layer import handlers
from kehrwasser_members.service_layer.unit_of_work import MemberFilter, MemberRepository, MembersUnitOfWork
from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.messaging.ports import FakeUnitOfWorkMixin

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LATER = NOON + timedelta(hours=1)


class FakeMemberRepository(MemberRepository):
    def __init__(self) -> None:
        self.by_id: dict[str, model.Member] = {}

    async def add(self, member: model.Member) -> None:
        self.by_id[member.member_id] = member

    async def save(self, member: model.Member) -> None:
        if member.email is not None and any(
            m.email == member.email and m.member_id != member.member_id for m in self.by_id.values()
        ):
            raise model.EmailTaken(member.email)
        self.by_id[member.member_id] = member

    async def get(self, member_id: str) -> model.Member | None:
        return self.by_id.get(member_id)

    async def get_by_email(self, email: str) -> model.Member | None:
        return next((m for m in self.by_id.values() if m.email == email), None)

    async def get_by_unsubscribe_token(self, token: str) -> model.Member | None:
        return next((m for m in self.by_id.values() if m.unsubscribe_token == token), None)

    async def get_by_email_token_hash(self, token_hash: str) -> model.Member | None:
        return next(
            (m for m in self.by_id.values() if m.email_change and m.email_change.token_hash == token_hash), None
        )

    async def list(self, where: MemberFilter, *, after: tuple[str, str] | None, limit: int) -> list[model.Member]:
        found = sorted(
            (
                m
                for m in self.by_id.values()
                if where.status in (None, m.status.value)
                and where.language in (None, m.language)
                and (where.focus is None or where.focus in m.focus)
                and model.name_key(m.name).startswith(where.name_prefix or "")
                and (m.email or "").startswith(where.email_prefix or "")
            ),
            key=lambda m: (model.name_key(m.name), m.member_id),
        )
        return [m for m in found if after is None or (model.name_key(m.name), m.member_id) > after][:limit]


class FakeMembersUnitOfWork(FakeUnitOfWorkMixin, MembersUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.members = FakeMemberRepository()


def ada(**changes: object) -> contracts.RegisterMember:
    fields: dict[str, object] = {"name": "Ada Lovelace", "email": "ada@example.org", "language": "de"}
    return contracts.RegisterMember.model_validate({**fields, **changes})


async def test_registering_stores_the_member_and_announces_it() -> None:
    uow = FakeMembersUnitOfWork()
    view = await handlers.register_member(ada(focus=["Compute"]), uow, lambda: NOON)
    assert uow.committed
    assert uow.emitted_types() == [
        "kehrwasser.members.member-registered.v1",
        "kehrwasser.members.member-preferences-changed.v1",
    ]
    assert (await uow.members.get(view.member_id)) is not None
    assert view.focus == ["compute"]
    assert view.registered_at == NOON


async def test_an_email_is_taken_whatever_its_case() -> None:
    uow = FakeMembersUnitOfWork()
    await handlers.register_member(ada(), uow, lambda: NOON)
    with pytest.raises(model.EmailTaken):
        await handlers.register_member(ada(email="ADA@example.org"), uow, lambda: NOON)
    assert len(uow.emitted) == 2


async def test_looking_up_an_unknown_member_fails_clearly() -> None:
    with pytest.raises(model.UnknownMember):
        await handlers.get_member(contracts.GetMember(member_id="nobody"), FakeMembersUnitOfWork())


def test_focus_tags_are_lowercased_and_deduplicated_in_order() -> None:
    assert model.normalize_focus(["SaaS", " saas", "Hamburg", ""]) == ("saas", "hamburg")


async def test_the_service_answers_its_commands_in_memory_through_its_own_composition_root(tmp_path: Path) -> None:
    """The real bootstrap with a fake unit of work, on FastStream's TestNatsBroker: no server, no database."""
    uow = FakeMembersUnitOfWork()
    parts = bootstrap(MembersSettings(data_dir=tmp_path), uow=lambda: uow)
    async with TestNatsBroker(parts.broker) as broker:
        registered = await broker.request(
            {"name": "Ada Lovelace", "email": "ada@example.org"}, contracts.REGISTER.subject
        )
        member = json.loads(registered.body)["result"]
        taken = await broker.request({"name": "Ada", "email": "ADA@example.org"}, contracts.REGISTER.subject)
        found = await broker.request({"member_id": member["member_id"]}, contracts.GET.subject)
        invalid = await broker.request(
            {"name": "Eve\r\nBcc: x@y.z", "email": "eve@example.org"}, contracts.REGISTER.subject
        )
    assert json.loads(taken.body)["error"]["code"] == "email-taken"
    assert json.loads(found.body)["result"]["email"] == "ada@example.org"
    assert json.loads(invalid.body)["error"]["details"][0]["field"] == "name"
    assert uow.emitted_types() == [
        "kehrwasser.members.member-registered.v1",
        "kehrwasser.members.member-preferences-changed.v1",
    ]


async def registered(uow: FakeMembersUnitOfWork, **changes: object) -> contracts.MemberView:
    return await handlers.register_member(ada(**changes), uow, lambda: NOON)


def last_event(uow: FakeMembersUnitOfWork) -> dict[str, Any]:
    return uow.emitted[-1][1].model_dump(mode="json")


async def test_registration_announces_the_unsubscribe_token_but_the_view_never_shows_it() -> None:
    uow = FakeMembersUnitOfWork()
    view = await registered(uow)
    announced = last_event(uow)
    assert announced["preferences"] == {"balance": True, "meetings": True, "membership": True, "digest": True}
    assert len(announced["unsubscribe_token"]) >= 22  # 128 bits in url-safe base64
    assert announced["unsubscribe_token"] not in view.model_dump_json()


async def test_a_profile_update_announces_the_whole_profile_and_what_changed() -> None:
    uow = FakeMembersUnitOfWork()
    ada_view = await registered(uow)
    command = contracts.UpdateProfile(
        member_id=ada_view.member_id, requested_by=ada_view.member_id, timezone="America/New_York", company="Engines"
    )
    view = await handlers.update_profile(command, uow, lambda: LATER)
    assert (view.timezone, view.company) == ("America/New_York", "Engines")
    event = last_event(uow)
    assert event["changed"] == ["company", "timezone"]
    assert event["name"] == "Ada Lovelace"


async def test_an_update_that_changes_nothing_publishes_nothing() -> None:
    uow = FakeMembersUnitOfWork()
    ada_view = await registered(uow)
    command = contracts.UpdateProfile(member_id=ada_view.member_id, requested_by=ada_view.member_id, language="de")
    await handlers.update_profile(command, uow, lambda: LATER)
    assert len(uow.emitted) == 2


async def test_someone_else_changing_a_profile_is_refused_and_nothing_changes() -> None:
    uow = FakeMembersUnitOfWork()
    ada_view = await registered(uow)
    with pytest.raises(model.NotAllowed):
        await handlers.update_profile(
            contracts.UpdateProfile(member_id=ada_view.member_id, requested_by="grace", name="Eve"), uow, lambda: LATER
        )
    assert (await handlers.get_member(contracts.GetMember(member_id=ada_view.member_id), uow)).name == "Ada Lovelace"
    assert len(uow.emitted) == 2


async def test_unsubscribing_by_token_is_idempotent_and_an_unknown_token_is_refused() -> None:
    uow = FakeMembersUnitOfWork()
    await registered(uow)
    token = last_event(uow)["unsubscribe_token"]
    first = await handlers.unsubscribe(contracts.Unsubscribe(token=token, category="all"), uow, lambda: LATER)
    again = await handlers.unsubscribe(contracts.Unsubscribe(token=token, category="all"), uow, lambda: LATER)
    assert first == again
    assert not any(first.preferences.model_dump().values())
    assert uow.emitted_types().count("kehrwasser.members.member-preferences-changed.v1") == 2
    with pytest.raises(model.InvalidToken):
        await handlers.unsubscribe(contracts.Unsubscribe(token="x" * 43, category="digest"), uow, lambda: LATER)


async def test_an_address_change_mails_a_token_that_confirms_it_once() -> None:
    uow = FakeMembersUnitOfWork()
    ada_view = await registered(uow)
    me = ada_view.member_id
    requested = await handlers.request_email_change(
        contracts.RequestEmailChange(member_id=me, requested_by=me, new_email="ada@engines.example"), uow, lambda: NOON
    )
    assert requested.expires_at == NOON + timedelta(hours=24)
    token = last_event(uow)["token"]
    assert token not in requested.model_dump_json()
    view = await handlers.confirm_email_change(contracts.ConfirmEmailChange(token=token), uow, lambda: LATER)
    assert (view.email, view.pending_email) == ("ada@engines.example", None)
    assert last_event(uow)["previous_email"] == "ada@example.org"
    with pytest.raises(model.InvalidToken):
        await handlers.confirm_email_change(contracts.ConfirmEmailChange(token=token), uow, lambda: LATER)


async def test_an_address_taken_meanwhile_is_not_confirmed() -> None:
    uow = FakeMembersUnitOfWork()
    me = (await registered(uow)).member_id
    await handlers.request_email_change(
        contracts.RequestEmailChange(member_id=me, requested_by=me, new_email="shared@example.org"), uow, lambda: NOON
    )
    token = last_event(uow)["token"]
    await registered(uow, email="shared@example.org", name="Grace Hopper")
    with pytest.raises(model.EmailTaken):
        await handlers.confirm_email_change(contracts.ConfirmEmailChange(token=token), uow, lambda: LATER)
    assert (await handlers.get_member(contracts.GetMember(member_id=me), uow)).email == "ada@example.org"


async def test_a_list_pages_through_members_by_name_with_filters() -> None:
    uow = FakeMembersUnitOfWork()
    for name in ("Grace Hopper", "ada Lovelace", "Alan Turing", "Barbara Liskov"):
        await registered(uow, name=name, email=f"{name.split()[0].lower()}@example.org", focus=["AI"])
    first = await handlers.list_members(contracts.ListMembers(limit=2), uow)
    second = await handlers.list_members(contracts.ListMembers(limit=2, cursor=first.next_cursor), uow)
    assert [m.name for m in first.members + second.members] == [
        "ada Lovelace",
        "Alan Turing",
        "Barbara Liskov",
        "Grace Hopper",
    ]
    assert second.next_cursor is None
    a_names = await handlers.list_members(contracts.ListMembers(name_prefix="A", focus="ai"), uow)
    assert [m.name for m in a_names.members] == ["ada Lovelace", "Alan Turing"]


async def test_the_new_commands_answer_in_memory_with_documented_codes(tmp_path: Path) -> None:
    uow = FakeMembersUnitOfWork()
    parts = bootstrap(MembersSettings(data_dir=tmp_path), uow=lambda: uow)
    async with TestNatsBroker(parts.broker) as broker:

        async def send(contract: Any, body: dict[str, Any]) -> dict[str, Any]:
            reply: dict[str, Any] = json.loads((await broker.request(body, contract.subject)).body)
            return reply

        me = (await send(contracts.REGISTER, {"name": "Ada Lovelace", "email": "ada@example.org"}))["result"][
            "member_id"
        ]
        moved = await send(contracts.UPDATE_PROFILE, {"member_id": me, "requested_by": me, "timezone": "Asia/Tokyo"})
        foreign = await send(contracts.UPDATE_PROFILE, {"member_id": me, "requested_by": "eve", "name": "Eve"})
        nowhere = await send(contracts.UPDATE_PROFILE, {"member_id": me, "requested_by": me, "timezone": "Mars/Base"})
        nobody = await send(contracts.SUSPEND, {"member_id": "nobody", "requested_by": "kim", "reason": "spam"})
        by_email = await send(contracts.GET_BY_EMAIL, {"email": "ADA@example.org"})
        bad_cursor = await send(contracts.LIST, {"cursor": "bm90IGEgY3Vyc29y"})
    assert moved["result"]["timezone"] == "Asia/Tokyo"
    assert foreign["error"]["code"] == "not-allowed"
    assert (nowhere["error"]["code"], nowhere["error"]["details"][0]["field"]) == ("invalid-command", "timezone")
    assert nobody["error"]["code"] == "unknown-member"
    assert by_email["result"]["member_id"] == me
    assert (bad_cursor["error"]["code"], bad_cursor["error"]["details"][0]["field"]) == ("invalid-command", "cursor")
    assert uow.emitted_types()[-1] == "kehrwasser.members.member-profile-updated.v1"
