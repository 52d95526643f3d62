"""Each identity against a real nats-server running the generated permissions: what it may do works, what it
may not is refused by the server (the client is told: a permissions violation) and leaves nothing behind."""

from __future__ import annotations

import json
from dataclasses import replace

import nats
import nats.errors
import pytest
from nats.aio.msg import Msg

from kehrwasser_shared.contracts import alliances, ledger, members
from kehrwasser_shared.contracts.subjects import SERVICES, partition_subject, stream_name
from kehrwasser_shared.embedded.nats_server import NatsServer
from kehrwasser_shared.messaging.streams import ensure_consumer, ensure_streams, network_streams
from kehrwasser_shared.security.identities import new_user_seed
from kehrwasser_shared.security.permissions import PRODUCER_DURABLE, PRODUCER_OUTCOMES, event_pattern

from .conftest import SignIn

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("streams")]

FORGED = {
    "members": alliances.MEMBER_JOINED.subject,
    "alliances": members.MEMBER_REGISTERED.subject,
    "ledger": members.MEMBER_REGISTERED.subject,
    "notify": alliances.MEMBER_JOINED.subject,
}
"""For each service, another service's event it could forge to harm someone (a moderator role, a victim's
contact)."""


async def stored(sign_in: SignIn, service: str) -> int:
    async with sign_in("operator") as operator:
        info = await operator.nc.jetstream().stream_info(stream_name(service))
        return int(info.state.messages)


async def test_anonymous_connection_is_refused(secured_nats: NatsServer) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(secured_nats.url, allow_reconnect=False, max_reconnect_attempts=1, connect_timeout=2)


async def test_an_unknown_nkey_is_refused(secured_nats: NatsServer) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            secured_nats.url,
            nkeys_seed_str=new_user_seed().decode(),
            allow_reconnect=False,
            max_reconnect_attempts=1,
            connect_timeout=2,
        )


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_publishes_its_own_events_and_cannot_forge_another_services(
    sign_in: SignIn, service: str
) -> None:
    forged = FORGED[service]
    victim = forged.split(".")[2]
    async with sign_in(service) as own:
        ack = await own.nc.jetstream().publish(f"kehrwasser.evt.{service}.probe.v1", b"{}")
        assert ack.stream == stream_name(service)
        await own.nothing_refused()
        await own.refused_publish(forged)
    assert await stored(sign_in, victim) == (1 if victim == service else 0)


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_cannot_answer_or_overhear_what_is_not_its_own(sign_in: SignIn, service: str) -> None:
    foreign_command = ledger.REVERSE_CONTRIBUTION.subject if service != "ledger" else members.GET.subject
    async with sign_in(service) as own:
        await own.nc.subscribe(foreign_command)
        await own.nc.flush()
        await own.violations.wait_for("Subscription", foreign_command)
    async with sign_in(service) as own:
        await own.nc.subscribe("_INBOX.>")
        await own.nc.flush()
        await own.violations.wait_for("Subscription", "_INBOX.>")


async def test_a_service_answers_its_commands_and_the_reader_gets_the_answer(sign_in: SignIn) -> None:
    async with sign_in("ledger") as service, sign_in("reader") as reader:

        async def answer(msg: Msg) -> None:
            await msg.respond(b'{"ok": true}')

        await service.nc.subscribe(ledger.BALANCE.subject, queue="ledger", cb=answer)
        await service.nc.flush()
        reply = await reader.nc.request(ledger.BALANCE.subject, b"{}", timeout=5)
        assert reply.data == b'{"ok": true}'
        await service.nothing_refused()
        await reader.nothing_refused()


async def test_the_reader_cannot_read_a_member_or_listen_in(sign_in: SignIn) -> None:
    async with sign_in("reader") as reader:
        await reader.refused_publish(members.GET.subject, as_request=True)
        await reader.refused_publish(ledger.DISPUTES.subject, as_request=True)
        await reader.nc.subscribe("kehrwasser.>")
        await reader.nc.flush()
        await reader.violations.wait_for("Subscription", "kehrwasser.>")


async def test_the_producer_submits_contributions_and_nothing_else(sign_in: SignIn) -> None:
    submitted = partition_subject(ledger.CONTRIBUTION_SUBMITTED.subject, 3)
    async with sign_in("producer") as producer:
        ack = await producer.nc.jetstream().publish(submitted, b"{}")
        assert ack.stream == stream_name("ledger")
        await producer.nc.subscribe(ledger.CONTRIBUTION_RECORDED.subject)
        await producer.nothing_refused()
        await producer.refused_publish(members.MEMBER_REGISTERED.subject)
        await producer.refused_publish(ledger.REVERSE_CONTRIBUTION.subject, as_request=True)
        await producer.refused_publish(members.GET.subject, as_request=True)
    assert await stored(sign_in, "members") == 0
    assert await stored(sign_in, "ledger") == 1


async def test_the_gateway_gives_commands_and_publishes_no_event(sign_in: SignIn) -> None:
    async with sign_in("gateway") as gateway:
        for command in (members.GET, ledger.REVERSE_CONTRIBUTION, alliances.SCHEDULE_MEETING):
            await gateway.nc.publish(command.subject, b"{}", reply=gateway.nc.new_inbox())
        await gateway.nothing_refused()
        await gateway.refused_publish(members.MEMBER_REGISTERED.subject)
    assert await stored(sign_in, "members") == 0


async def test_a_service_changes_only_its_own_stream(sign_in: SignIn) -> None:
    members_stream = next(s for s in network_streams() if s.name == stream_name("members"))
    async with sign_in("alliances") as alliances_service:
        # What every service does at start: create what is missing, bring its own stream up to date.
        await ensure_streams(alliances_service.nc.jetstream(), owner="alliances")
        await alliances_service.nothing_refused()
        shortened = replace(members_stream, max_msgs=1)
        await alliances_service.refused_publish(
            f"$JS.API.STREAM.UPDATE.{members_stream.name}", json.dumps(shortened.as_dict()).encode(), as_request=True
        )
        await alliances_service.refused_publish(f"$JS.API.STREAM.PURGE.{members_stream.name}", as_request=True)
    async with sign_in("operator") as operator:
        info = await operator.nc.jetstream().stream_info(stream_name("members"))
        assert info.config.max_msgs == -1  # unlimited, as the members service declared it


async def test_the_producer_reads_the_outcomes_it_missed_from_its_durable(sign_in: SignIn) -> None:
    outcome = ledger.CONTRIBUTION_RECORDED.subject
    async with sign_in("operator") as operator:  # an outcome published while the producer was away
        await operator.nc.jetstream().publish(outcome, b'{"outcome": 1}')
    async with sign_in("producer") as producer:
        js = producer.nc.jetstream()
        # Created through the API of named consumers (nats-py: a ConsumerConfig with ``name``), which the
        # permissions allow for this one name.
        await ensure_consumer(
            js,
            stream=stream_name("ledger"),
            durable=PRODUCER_DURABLE,
            filter_subjects=[event_pattern(c) for c in PRODUCER_OUTCOMES],
        )
        subscription = await js.pull_subscribe_bind(durable=PRODUCER_DURABLE, stream=stream_name("ledger"))
        [message] = await subscription.fetch(1, timeout=5)
        assert (message.subject, message.data) == (outcome, b'{"outcome": 1}')
        await message.ack_sync()
        await producer.nothing_refused()
        await producer.refused_publish(f"$JS.API.CONSUMER.CREATE.{stream_name('ledger')}.snoop", as_request=True)
