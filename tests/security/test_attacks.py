"""The attacks of issue 13, replayed by the roles that could try them in production (another team's producer,
a dashboard's reader, a compromised service, anyone who reaches NATS) against the four services on the secured
server: each is refused by the server, nothing changes and nothing is mailed, while the same thing done by
the operator goes through, so the test's premise (the network is up, notify is mailing) holds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import nats
import pytest

from kehrwasser_shared.contracts import alliances, ledger, members
from kehrwasser_shared.contracts.envelope import encode_event
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.embedded.nats_server import NatsServer
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.runtime import ServiceParts

from .conftest import SignIn

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Alliance:
    """Hamburg Founders: Ada moderates, Grace is a member; every service knows both."""

    alliance_id: str
    ada: str
    grace: str


@pytest.fixture
async def hamburg(network: list[ServiceParts], sign_in: SignIn) -> Alliance:
    async with sign_in("operator") as operator:
        client = CommandClient(operator.nc)
        ada = await client.send(members.REGISTER, members.RegisterMember(name="Ada Lovelace", email="ada@example.org"))
        grace = await client.send(
            members.REGISTER, members.RegisterMember(name="Grace Hopper", email="grace@example.org")
        )
        alliance = await client.send_when_known(
            alliances.CREATE,
            alliances.CreateAlliance(
                name="Hamburg Founders", moderator_id=ada.member_id, warning_threshold=Decimal(-5)
            ),
        )
        await client.send_when_known(
            alliances.JOIN, alliances.JoinAlliance(alliance_id=alliance.alliance_id, member_id=grace.member_id)
        )
        return Alliance(alliance.alliance_id, ada.member_id, grace.member_id)


def mails(sink: MailSink) -> list[str]:
    """Every mail received so far: its recipients, subject and plain text."""
    received = []
    for message in sink.messages:
        body = message.get_body(preferencelist=("plain",))
        text = str(body.get_content()) if body is not None else ""
        received.append(f"To: {message['To']}\nSubject: {message['Subject']}\n\n{text}")
    return received


async def mail_arrives(sink: MailSink, *fragments: str, timeout: float = 30.0) -> str:
    """The first mail holding every one of ``fragments``, once it has arrived."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (found := [mail for mail in mails(sink) if all(f in mail for f in fragments)]):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"no mail with {fragments} within {timeout}s; received: {mails(sink)}")
        await asyncio.sleep(0.1)
    return found[0]


async def test_a_forged_balance_warning_is_refused_and_only_the_real_one_is_mailed(
    hamburg: Alliance, sign_in: SignIn, mail_sink: MailSink
) -> None:
    forged = ledger.BalanceWarningV2(
        alliance_id=hamburg.alliance_id,
        member_id=hamburg.grace,
        light="red",
        previous_light="green",
        reason="balance",
        balance=Decimal(-999),
        threshold=Decimal(-5),
        occurred_at=datetime.now(UTC),
    )
    _, payload = encode_event(type_=ledger.BALANCE_WARNING.type, source="attacker", data=forged)
    async with sign_in("producer") as producer:
        await producer.refused_publish(ledger.BALANCE_WARNING.subject, payload)
    async with sign_in("members") as compromised_service:
        await compromised_service.refused_publish(ledger.BALANCE_WARNING.subject, payload)

    # The real warning comes after on the same stream and consumer: had the forged one got in, it came first.
    async with sign_in("operator") as operator:
        await CommandClient(operator.nc).send_when_known(
            ledger.RECORD_CONTRIBUTION,
            ledger.RecordContribution(
                contribution_id="hamburg-advice-1",
                alliance_id=hamburg.alliance_id,
                giver_id=hamburg.ada,
                receiver_id=hamburg.grace,
                kind="advice",
                value=Decimal(10),
                note="pricing",
            ),
        )
    await mail_arrives(mail_sink, "grace@example.org", "-10.00")
    await mail_arrives(mail_sink, "ada@example.org", "-10.00")  # the escalation to the moderator
    assert not [mail for mail in mails(mail_sink) if "-999" in mail]


async def test_the_phishing_meeting_and_a_policy_change_cannot_be_sent_in_a_moderators_name(
    hamburg: Alliance, sign_in: SignIn, mail_sink: MailSink, secured_nats: NatsServer
) -> None:
    starts_at = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    phishing = alliances.ScheduleMeeting(
        alliance_id=hamburg.alliance_id,
        requested_by=hamburg.ada,
        title="Urgent: confirm your membership",
        starts_at=starts_at,
        location="https://phish.example/login",
    )
    loosened = ledger.SetPolicy(
        alliance_id=hamburg.alliance_id, requested_by=hamburg.ada, floor=Decimal(-200), requires_confirmation=True
    )
    async with sign_in("operator") as operator:
        client = CommandClient(operator.nc)
        policy_before = await client.send_when_known(ledger.POLICY, ledger.QueryPolicy(alliance_id=hamburg.alliance_id))

        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(secured_nats.url, allow_reconnect=False, max_reconnect_attempts=1, connect_timeout=2)
        async with sign_in("producer") as producer:
            await producer.refused_publish(
                alliances.SCHEDULE_MEETING.subject, phishing.model_dump_json().encode(), as_request=True
            )
            await producer.refused_publish(
                ledger.SET_POLICY.subject, loosened.model_dump_json().encode(), as_request=True
            )
        async with sign_in("reader") as reader:
            await reader.refused_publish(alliances.SCHEDULE_MEETING.subject, as_request=True)
            await reader.refused_publish(ledger.SET_POLICY.subject, as_request=True)

        # The gateway may speak for people, but the domain still checks who it names.
        async with sign_in("gateway") as gateway:
            with pytest.raises(CommandFailed) as refused:
                await CommandClient(gateway.nc).send(
                    alliances.SCHEDULE_MEETING, phishing.model_copy(update={"requested_by": hamburg.grace})
                )
            assert refused.value.error.code == "not-a-moderator"

        real = phishing.model_copy(update={"title": "Course check", "location": "https://meet.example.org/hamburg"})
        await client.send(alliances.SCHEDULE_MEETING, real)
        # Had the phishing meeting got in, its event came first on the same stream and consumer.
        await mail_arrives(mail_sink, "grace@example.org", "Course check")
        assert not [mail for mail in mails(mail_sink) if "phish.example" in mail or "Urgent" in mail]
        assert await client.send(ledger.POLICY, ledger.QueryPolicy(alliance_id=hamburg.alliance_id)) == policy_before


async def test_a_reader_cannot_read_an_alliances_disputes(hamburg: Alliance, sign_in: SignIn) -> None:
    disputes = ledger.QueryDisputes(alliance_id=hamburg.alliance_id, requested_by=hamburg.ada)
    async with sign_in("operator") as operator:
        # The ledger learns of the alliance and of Ada's role from their events (not-allowed until it knows
        # she moderates): on a busy machine that can take a while.
        answered = await CommandClient(operator.nc).send_when_known(
            ledger.DISPUTES, disputes, waiting_for=frozenset({"unknown-alliance", "not-allowed"}), timeout=60.0
        )
        assert answered.alliance_id == hamburg.alliance_id
    async with sign_in("reader") as reader:
        await reader.refused_publish(ledger.DISPUTES.subject, disputes.model_dump_json().encode(), as_request=True)
    async with sign_in("producer") as producer:
        await producer.refused_publish(ledger.DISPUTES.subject, disputes.model_dump_json().encode(), as_request=True)
