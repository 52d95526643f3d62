"""The four services, each signed in as itself, on a nats-server with the generated permissions: the network
works end to end for the operator, the server refuses none of the services' own traffic, and a producer's
forged events are refused and change nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_notify.bootstrap import bootstrap as notify_service
from kehrwasser_notify.config import NotifySettings
from kehrwasser_shared.contracts import alliances, ledger, members
from kehrwasser_shared.contracts.envelope import encode_event
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.runtime import ServiceParts
from kehrwasser_shared.security import identities
from kehrwasser_shared.security.permissions import IDENTITIES, durables

from .conftest import SignIn, violations_in

pytestmark = pytest.mark.integration


def test_the_permissions_name_every_durable_the_services_declare(tmp_path: Path) -> None:
    settings: dict[str, Any] = {"data_dir": tmp_path}
    parts = [
        alliances_service(AlliancesSettings(**settings)),
        ledger_service(LedgerSettings(**settings)),
        notify_service(NotifySettings(**settings)),
    ]
    for service in parts:
        declared: dict[str, list[str]] = {}
        for consumer in service.consumers:
            declared.setdefault(consumer.stream, []).extend(source.durable for source in consumer.sources)
        assert {s: sorted(d) for s, d in declared.items()} == {s: sorted(d) for s, d in durables(service.name).items()}


async def test_the_operator_drives_the_secured_network_and_a_forged_event_changes_nothing(
    network: list[ServiceParts], sign_in: SignIn, tmp_path: Path, identities_dir: Path
) -> None:
    async with sign_in("operator") as operator:
        client = CommandClient(operator.nc)
        ada = await client.send(members.REGISTER, members.RegisterMember(name="Ada Lovelace", email="ada@example.org"))
        # Alliances knows Ada only from her member-registered event, read on its own durable consumer.
        alliance = await client.send_when_known(
            alliances.CREATE,
            alliances.CreateAlliance(
                name="Hamburg Founders", moderator_id=ada.member_id, warning_threshold=Decimal(-5)
            ),
        )
        js = operator.nc.jetstream()
        events_before = (await js.stream_info(stream_name("members"))).state.messages

        async with sign_in("producer") as producer:
            forged = members.MemberRegisteredV1(
                member_id=ada.member_id,
                name="Ada Lovelace",
                email="attacker@phish.example",
                company="",
                language="en",
                focus=[],
                registered_at=ada.registered_at,
            )
            _, payload = encode_event(type_=members.MEMBER_REGISTERED.type, source="attacker", data=forged)
            await producer.refused_publish(members.MEMBER_REGISTERED.subject, payload)
            await producer.refused_publish(alliances.MEMBER_JOINED.subject)

        assert (await js.stream_info(stream_name("members"))).state.messages == events_before
        assert (await client.send(members.GET, members.GetMember(member_id=ada.member_id))).email == "ada@example.org"

    async with sign_in("reader") as reader:
        # The ledger knows the alliance from its alliance-created event, read on its own durable consumer.
        balance = await CommandClient(reader.nc).send_when_known(
            ledger.BALANCE, ledger.QueryBalance(alliance_id=alliance.alliance_id, member_id=ada.member_id)
        )
        assert balance.balance == 0
        await reader.refused_publish(members.GET.subject, as_request=True)

    public_keys = {name: identities.load(identities_dir, name).public_key for name in IDENTITIES}
    refused = violations_in(tmp_path / "nats.log")
    assert refused, "the server logged none of the refusals the clients were told of"
    assert all(public_keys["producer"] in line or public_keys["reader"] in line for line in refused), refused
