"""Members use cases against an in-memory unit of work: no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from faststream.nats import TestNatsBroker

from kehrwasser_members.bootstrap import bootstrap
from kehrwasser_members.config import MembersSettings
from kehrwasser_members.domain import model
from kehrwasser_members.service_layer import handlers
from kehrwasser_members.service_layer.unit_of_work import MemberRepository, MembersUnitOfWork
from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.messaging.ports import FakeUnitOfWorkMixin

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class FakeMemberRepository(MemberRepository):
    def __init__(self) -> None:
        self.by_id: dict[str, model.Member] = {}

    async def add(self, member: model.Member) -> None:
        self.by_id[member.member_id] = member

    async def get(self, member_id: str) -> model.Member | None:
        return self.by_id.get(member_id)

    async def get_by_email(self, email: str) -> model.Member | None:
        return next((m for m in self.by_id.values() if m.email == email), None)


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
    assert uow.emitted_types() == ["kehrwasser.members.member-registered.v1"]
    assert (await uow.members.get(view.member_id)) is not None
    assert view.focus == ["compute"]
    assert view.registered_at == NOON


async def test_an_email_is_taken_whatever_its_case() -> None:
    uow = FakeMembersUnitOfWork()
    await handlers.register_member(ada(), uow, lambda: NOON)
    with pytest.raises(model.EmailTaken):
        await handlers.register_member(ada(email="ADA@example.org"), uow, lambda: NOON)
    assert len(uow.emitted) == 1


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
    assert uow.emitted_types() == ["kehrwasser.members.member-registered.v1"]
