"""Command endpoints over a real nats-server: typed replies, structured errors, and the service keeps answering."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
from faststream.nats import NatsBroker, TestNatsBroker
from nats.aio.client import Client
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.contracts.envelope import CloudEvent, encode_event
from kehrwasser_shared.messaging.commands import CommandEndpoints, CommandRejected
from kehrwasser_shared.persistence.database import retried_on_lost_connection
from kehrwasser_shared.testing.examples import member_registered


class UnknownMember(Exception):
    code = "unknown-member"


async def get_member(query: contracts.GetMember) -> BaseModel:
    if query.member_id == "ghost":
        raise UnknownMember("no member ghost")
    if query.member_id == "rude":
        raise CommandRejected("not today", code="not-allowed")
    if query.member_id == "broken":
        raise RuntimeError("a bug")
    return contracts.MemberView.model_validate(member_registered("Ada").model_dump())


def members_endpoints() -> CommandEndpoints:
    endpoints = CommandEndpoints(queue="members", expected_errors=(UnknownMember,))
    endpoints.bind(contracts.GET, get_member)
    return endpoints


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    """The endpoints on a FastStream broker connected to a real nats-server, and a plain client beside it."""
    broker = NatsBroker(nats_url)
    broker.include_router(members_endpoints().router)
    async with broker:
        await broker.start()
        connection = await nats.connect(nats_url)
        yield connection
        await connection.close()


async def ask(nc: Client, payload: bytes) -> dict[str, Any]:
    reply = await nc.request(contracts.GET.subject, payload, timeout=5)
    return json.loads(reply.data)  # type: ignore[no-any-return]


@pytest.mark.integration
async def test_a_command_is_answered_with_its_typed_result(nc: Client) -> None:
    reply = await ask(nc, b'{"member_id": "ada"}')
    assert reply["ok"] is True
    assert contracts.MemberView.model_validate(reply["result"]).name == "Ada"


@pytest.mark.integration
async def test_bad_input_and_failures_get_structured_errors_and_the_endpoint_keeps_answering(nc: Client) -> None:
    not_json = await ask(nc, b"not json")
    assert not_json["error"]["code"] == "invalid-command"
    assert not_json["error"]["details"] == [{"field": "<root>", "message": "the request must be a JSON object"}]
    missing = await ask(nc, b"{}")
    assert missing["error"]["details"] == [{"field": "member_id", "message": "Field required"}]
    assert (await ask(nc, b'{"member_id": "ghost"}'))["error"]["code"] == "unknown-member"
    assert (await ask(nc, b'{"member_id": "rude"}'))["error"]["code"] == "not-allowed"
    assert (await ask(nc, b'{"member_id": "broken"}'))["error"]["code"] == "internal-error"
    assert (await ask(nc, b'{"member_id": "ada"}'))["ok"] is True


async def test_the_endpoints_answer_in_memory_without_a_server() -> None:
    """The fast way to exercise a handler: FastStream's TestNatsBroker, no nats-server."""
    broker = NatsBroker()
    broker.include_router(members_endpoints().router)
    async with TestNatsBroker(broker) as test_broker:
        found = await test_broker.request({"member_id": "ada"}, contracts.GET.subject)
        assert json.loads(found.body)["result"]["name"] == "Ada"
        unknown = await test_broker.request({"member_id": "ghost"}, contracts.GET.subject)
        assert json.loads(unknown.body)["error"] == {
            "code": "unknown-member",
            "message": "no member ghost",
            "details": [],
        }
        typo = await test_broker.request({"member_id": "ada", "memberid": "x"}, contracts.GET.subject)
        assert json.loads(typo.body)["error"]["details"] == [
            {"field": "memberid", "message": "Extra inputs are not permitted"}
        ]


def test_a_command_bound_twice_is_refused() -> None:
    endpoints = CommandEndpoints(queue="members")
    endpoints.bind(contracts.GET, get_member)
    with pytest.raises(ValueError, match="bound twice"):
        endpoints.bind(contracts.GET, get_member)


async def test_a_read_is_run_once_more_when_its_connection_was_lost() -> None:
    calls: list[str] = []

    async def read(request: str) -> str:
        calls.append(request)
        if len(calls) == 1:
            raise DBAPIError("SELECT 1", {}, ConnectionResetError("server closed"), connection_invalidated=True)
        return f"balance of {request}"

    assert await retried_on_lost_connection(read)("ada") == "balance of ada"
    assert calls == ["ada", "ada"]


async def test_a_read_failing_for_another_reason_is_not_repeated() -> None:
    calls: list[str] = []

    async def read(request: str) -> str:
        calls.append(request)
        raise DBAPIError("SELECT 1", {}, ValueError("bad"), connection_invalidated=False)

    with pytest.raises(DBAPIError):
        await retried_on_lost_connection(read)("ada")
    assert calls == ["ada"]


def test_an_encoded_event_is_the_document_the_envelope_model_writes() -> None:
    data = member_registered("Ada", focus=("compute",))
    event_id, payload = encode_event(type_=contracts.MEMBER_REGISTERED.type, source="/members", data=data)
    decoded = CloudEvent.model_validate_json(payload)
    modelled = make_event(type_=contracts.MEMBER_REGISTERED.type, source="/members", data=data, id_=event_id)
    assert decoded.model_dump(exclude={"time"}) == modelled.model_dump(exclude={"time"})
    assert list(json.loads(payload)) == list(json.loads(modelled.model_dump_json()))
