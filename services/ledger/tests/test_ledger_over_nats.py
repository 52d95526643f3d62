"""The ledger against a real nats-server and every reachable database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext

from kehrwasser_ledger.bootstrap import bootstrap
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_ledger.service_layer import handlers
from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.contracts.subjects import DEADLETTER_STREAM, deadletter_subject, stream_name
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.messaging.consumer import REASON_HEADER
from kehrwasser_shared.testing import examples, fetch_exactly, running, service_events

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def publish(js: Any, contract: Any, data: Any) -> None:
    event = make_event(type_=contract.type, source="/alliances", data=data)
    await js.publish(contract.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id})


async def found_hamburg(js: Any) -> None:
    await publish(
        js,
        alliance_contracts.ALLIANCE_CREATED,
        examples.alliance_created(at=NOW),
    )
    for member, role in (("ada", "moderator"), ("grace", "member"), ("linus", "member")):
        await publish(
            js,
            alliance_contracts.MEMBER_JOINED,
            alliance_contracts.MemberJoinedV1(alliance_id="hamburg", member_id=member, role=role, joined_at=NOW),
        )


@asynccontextmanager
async def hamburg_ledger(
    nats_url: str, database_url: str, tmp_path: Path, **settings: Any
) -> AsyncIterator[tuple[JetStreamContext, CommandClient]]:
    """A ledger service in this event loop that has heard of Hamburg Founders, and a client to talk to it."""
    configured = LedgerSettings(
        nats_url=nats_url, data_dir=tmp_path, database_url=database_url, outbox_poll_seconds=0.2, **settings
    )
    async with running(bootstrap(configured)):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            await found_hamburg(js)
            yield js, CommandClient(nc)
        finally:
            await nc.close()


def gift(cid: str, giver: str, value: str, receiver: str = "linus") -> contracts.RecordContribution:
    return contracts.RecordContribution(
        contribution_id=cid,
        alliance_id="hamburg",
        giver_id=giver,
        receiver_id=receiver,
        kind=contracts.ContributionKind.ADVICE,
        value=Decimal(value),
    )


async def test_contributions_are_booked_once_and_warn_once_per_crossing(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with hamburg_ledger(nats_url, database_url, tmp_path) as (js, client):
        first = await client.send_when_known(contracts.RECORD_CONTRIBUTION, gift("c1", "ada", "3"))
        assert first.status == "created"
        retried = await client.send(contracts.RECORD_CONTRIBUTION, gift("c1", "ada", "3"))
        assert retried.status == "exists"
        assert retried.recorded_at == first.recorded_at
        with pytest.raises(CommandFailed) as conflict:
            await client.send(contracts.RECORD_CONTRIBUTION, gift("c1", "ada", "30"))
        assert conflict.value.code == "conflict"
        with pytest.raises(CommandFailed) as outsider:
            await client.send(contracts.RECORD_CONTRIBUTION, gift("c9", "mallory", "1"))
        assert outsider.value.code == "not-a-member"

        await client.send_when_known(contracts.RECORD_CONTRIBUTION, gift("c2", "grace", "4"))
        further = await client.send(contracts.RECORD_CONTRIBUTION, gift("c3", "ada", "1.25"))
        assert further.receiver_balance == Decimal("-8.25")
        balance = await client.send(contracts.BALANCE, contracts.QueryBalance(alliance_id="hamburg", member_id="linus"))
        assert (balance.balance, balance.received, balance.below_threshold) == (
            Decimal("-8.25"),
            Decimal("8.25"),
            True,
        )
        verification = await client.send(contracts.VERIFY, contracts.VerifyLedger(full=True, wait=True))
        assert verification.ok, verification.problems
        assert (verification.contributions_checked, verification.entries_checked) == (3, 6)

        events = await service_events(js, "ledger", 4)
        types = [event["type"] for event in events]
        assert types == [
            "kehrwasser.ledger.contribution-recorded.v1",
            "kehrwasser.ledger.contribution-recorded.v1",
            "kehrwasser.ledger.balance-warning.v2",
            "kehrwasser.ledger.contribution-recorded.v1",
        ]
        warning = events[2]["data"]
        assert (warning["member_id"], warning["balance"], warning["threshold"]) == ("linus", "-7.00", "-5.00")


async def test_submitted_contributions_are_booked_in_batches_exactly_once(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with hamburg_ledger(
        nats_url,
        database_url,
        tmp_path,
        # Mallory never joins: her submission is rejected after two short waits instead of a minute.
        consumer_max_attempts=3,
        consumer_backoff_seconds=[0.2],
    ) as (js, client):
        # Linus joined last: once his own contribution books, the ledger knows every member of the batch.
        await client.send_when_known(contracts.RECORD_CONTRIBUTION, gift("warm-up", "linus", "1", receiver="ada"))
        submissions = [gift(f"s{n}", ("ada", "grace")[n % 2], "0.50") for n in range(300)]
        submissions += submissions[:20]  # a producer retrying
        submissions += [gift("s0", "ada", "9.99"), gift("s-outsider", "mallory", "1")]
        for submission in submissions:
            # A changed Nats-Msg-Id defeats the stream's deduplication: the ledger itself must hold.
            await publish_submission(js, submission, msg_id=f"{submission.contribution_id}-{id(submission)}")
        await books_hold(client, 301)
        balance = await client.send(contracts.BALANCE, contracts.QueryBalance(alliance_id="hamburg", member_id="linus"))
        assert balance.balance == Decimal("-149")
        sub = await js.pull_subscribe(contracts.CONTRIBUTION_REJECTED.subject, stream=stream_name("ledger"))
        rejected = [json.loads(m.data)["data"] for m in await fetch_exactly(sub, 2)]
        assert sorted((r["contribution_id"], r["code"]) for r in rejected) == [
            ("s-outsider", "not-a-member"),
            ("s0", "conflict"),
        ]


async def publish_submission(js: Any, submission: contracts.RecordContribution, msg_id: str) -> None:
    event = make_event(type_=contracts.CONTRIBUTION_SUBMITTED.type, source="/producer", data=submission)
    await js.publish(
        contracts.CONTRIBUTION_SUBMITTED.subject_for(submission),
        event.model_dump_json().encode(),
        headers={"Nats-Msg-Id": msg_id},
    )


async def test_a_submission_that_overtakes_the_membership_it_needs_is_booked_once_the_member_is_known(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with hamburg_ledger(nats_url, database_url, tmp_path) as (js, client):
        await client.send_when_known(contracts.RECORD_CONTRIBUTION, gift("warm-up", "linus", "1", receiver="ada"))
        # Margaret's welcome gift arrives before the ledger hears that she joined.
        await publish_submission(js, gift("welcome", "ada", "2", receiver="margaret"), msg_id="welcome")
        await asyncio.sleep(0.3)
        await publish(
            js,
            alliance_contracts.MEMBER_JOINED,
            alliance_contracts.MemberJoinedV1(
                alliance_id="hamburg", member_id="margaret", role="member", joined_at=NOW
            ),
        )
        balance = None
        for _ in range(100):
            balance = await client.send_when_known(
                contracts.BALANCE, contracts.QueryBalance(alliance_id="hamburg", member_id="margaret")
            )
            if balance.balance != 0:
                break
            await asyncio.sleep(0.1)
        assert balance is not None
        assert balance.balance == Decimal("-2")
        rejections = await js.pull_subscribe(contracts.CONTRIBUTION_REJECTED.subject, stream=stream_name("ledger"))
        assert (await rejections.consumer_info()).num_pending == 0


async def test_a_conflicting_resubmission_in_a_new_event_is_rejected_and_a_republished_event_is_dropped(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    """Nats-Msg-Id is the CloudEvent id, as documented: the stream drops a copy of the same event, while the
    same contribution id in a new event reaches the ledger, which books it once or answers conflict."""
    async with hamburg_ledger(nats_url, database_url, tmp_path) as (js, client):
        await client.send_when_known(contracts.RECORD_CONTRIBUTION, gift("warm-up", "linus", "1", receiver="ada"))
        original = make_event(
            type_=contracts.CONTRIBUTION_SUBMITTED.type, source="/producer", data=gift("pricing", "ada", "3")
        )
        changed = make_event(
            type_=contracts.CONTRIBUTION_SUBMITTED.type, source="/producer", data=gift("pricing", "ada", "30")
        )
        subject = contracts.CONTRIBUTION_SUBMITTED.subject_for(gift("pricing", "ada", "3"))
        acks = [
            await js.publish(subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id})
            for event in (original, original, changed)
        ]
        assert [bool(ack.duplicate) for ack in acks] == [False, True, False]
        sub = await js.pull_subscribe(contracts.CONTRIBUTION_REJECTED.subject, stream=stream_name("ledger"))
        [rejected] = [json.loads(m.data)["data"] for m in await fetch_exactly(sub, 1)]
        assert (rejected["contribution_id"], rejected["code"]) == ("pricing", "conflict")
        recorded = await js.pull_subscribe(contracts.CONTRIBUTION_RECORDED.subject, stream=stream_name("ledger"))
        booked = [json.loads(m.data)["data"]["contribution_id"] for m in await fetch_exactly(recorded, 2)]
        assert booked == ["warm-up", "pricing"], "the copy of the same event was dropped by the stream"
        balance = await client.send(contracts.BALANCE, contracts.QueryBalance(alliance_id="hamburg", member_id="linus"))
        assert balance.balance == Decimal("-2")  # gave 1, received 3 once


async def test_one_bad_submission_among_300_fails_alone(nats_url: str, database_url: str, tmp_path: Path) -> None:
    """A NUL in one note once took 125 valid contributions of its batch to the dead-letter stream with it."""
    async with hamburg_ledger(nats_url, database_url, tmp_path) as (js, client):
        await client.send_when_known(contracts.RECORD_CONTRIBUTION, gift("warm-up", "linus", "1", receiver="ada"))
        subject = contracts.CONTRIBUTION_SUBMITTED.subject_for(gift("any", "ada", "1"))
        for n in range(300):
            event = make_event(
                type_=contracts.CONTRIBUTION_SUBMITTED.type, source="/producer", data=gift(f"s{n}", "ada", "0.5")
            )
            body = json.loads(event.model_dump_json())
            if n == 150:
                body["data"]["note"] = "pricing\x00review"
            await js.publish(subject, json.dumps(body).encode(), headers={"Nats-Msg-Id": event.id})
        dead = await js.pull_subscribe(deadletter_subject(handlers.INTAKE_CONSUMER), stream=DEADLETTER_STREAM)
        [letter] = await fetch_exactly(dead, 1)
        assert json.loads(letter.data)["data"]["contribution_id"] == "s150"
        assert "note" in letter.headers[REASON_HEADER]
        await books_hold(client, 300)  # the warm-up and 299 of the 300
        balance = await client.send(contracts.BALANCE, contracts.QueryBalance(alliance_id="hamburg", member_id="linus"))
        assert balance.received == Decimal("149.5")  # 299 halves (the warm-up went to Ada)


async def books_hold(client: CommandClient, contributions: int, timeout: float = 10.0) -> None:
    """Wait until the ledger has booked ``contributions`` in all, then check that exactly those hold."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        verification = await client.send(contracts.VERIFY, contracts.VerifyLedger(full=True, wait=True))
        if verification.contributions_checked >= contributions or loop.time() > deadline:
            break
        await asyncio.sleep(0.05)
    assert verification.ok, verification.problems
    assert verification.contributions_checked == contributions
