"""Dead letters of a real service: listed and shown with their reason, replayed after the fix (processed exactly
once, the letter gone), purged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo

from kehrwasser_notify.bootstrap import bootstrap
from kehrwasser_notify.config import NotifySettings
from kehrwasser_shared.contracts import alliances, ledger, make_event, members
from kehrwasser_shared.contracts.envelope import CloudEvent
from kehrwasser_shared.contracts.subjects import DEADLETTER_STREAM, stream_name
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.testing import examples, running

from .conftest import Kehrwasser

pytestmark = pytest.mark.integration

FROM_LEDGER = "notify-from-ledger"
FROM_MEMBERS = "notify-from-members"
FROM_ALLIANCES = "notify-from-alliances"
WARNING = ledger.BALANCE_WARNING.subject  # not partitioned


def warning_for(member_id: str) -> CloudEvent:
    data = ledger.BalanceWarningV2(
        alliance_id="hamburg",
        member_id=member_id,
        light=ledger.TrafficLight.YELLOW,
        previous_light=ledger.TrafficLight.GREEN,
        reason="balance",
        balance=Decimal("-6.00"),
        threshold=Decimal("-5.00"),
        occurred_at=examples.REGISTERED_AT,
    )
    return make_event(type_=ledger.BALANCE_WARNING.type, source="/ledger", data=data)


async def publish(js: JetStreamContext, subject: str, event: CloudEvent) -> int:
    ack = await js.publish(subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id})
    return ack.seq


async def published(js: JetStreamContext, contract: Any, data: Any) -> int:
    event = make_event(type_=contract.type, source="/test", data=data)
    return await publish(js, contract.subject_for(data), event)


async def consumer_reaches(
    js: JetStreamContext, source: str, durable: str, condition: Callable[[ConsumerInfo], bool], timeout: float = 30.0
) -> ConsumerInfo:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        info: ConsumerInfo = await js.consumer_info(stream_name(source), durable)
        if condition(info):
            return info
        assert loop.time() < deadline, f"{durable} did not get there within {timeout}s: {info}"
        await asyncio.sleep(0.05)


def settled(up_to: int) -> Callable[[ConsumerInfo], bool]:
    def condition(info: ConsumerInfo) -> bool:
        floor = (info.ack_floor.stream_seq if info.ack_floor else 0) or 0
        return floor >= up_to and info.num_ack_pending == 0 and info.num_pending == 0

    return condition


async def test_a_dead_letter_is_listed_shown_and_after_the_fix_replayed_exactly_once(
    nats_url: str, database_url: str, tmp_path: Path, kehrwasser: Kehrwasser
) -> None:
    settings = NotifySettings(
        nats_url=nats_url,
        data_dir=tmp_path,
        database_url=database_url,
        consumer_max_attempts=2,
        consumer_backoff_seconds=[0.1],
        mail_poll_seconds=0.2,
    )
    with MailSink() as sink:
        settings = settings.model_copy(update={"smtp_host": sink.host, "smtp_port": sink.port})
        async with running(bootstrap(settings)):
            nc = await nats.connect(nats_url)
            try:
                js = nc.jetstream()
                await published(js, members.MEMBER_REGISTERED, examples.member_registered("Grace"))
                seq = await published(js, alliances.ALLIANCE_CREATED, examples.alliance_created(moderator="grace"))
                await consumer_reaches(js, "alliances", FROM_ALLIANCES, settled(seq))
                # Ada's warning comes before notify has learned of Ada: it fails twice and is dead-lettered.
                poison = warning_for("ada")
                seq = await publish(js, WARNING, poison)
                await consumer_reaches(js, "ledger", FROM_LEDGER, settled(seq))

                listed = (await kehrwasser("dlq", "list", "--consumer", FROM_LEDGER, "--json")).json()
                [letter] = listed["items"]
                assert letter["consumer"] == FROM_LEDGER
                assert letter["reason"].startswith("handler failed 2 times: ContactNotYetKnown")
                assert letter["original_subject"] == WARNING
                assert (letter["attempts"], letter["event_id"]) == (2, poison.id)
                table = (await kehrwasser("dlq", "list")).stdout
                assert f"{FROM_LEDGER}  handler failed 2 times: ContactNotYetKnown" in table
                shown = await kehrwasser("dlq", "show", str(letter["sequence"]))
                assert f'"id": "{poison.id}"' in shown.stdout
                assert "Kehrwasser-Deadletter-Reason" in shown.stdout

                # The fix: the member the warning names becomes known.
                seq = await published(js, members.MEMBER_REGISTERED, examples.member_registered("Ada"))
                await consumer_reaches(js, "members", FROM_MEMBERS, settled(seq))
                replayed = (await kehrwasser("dlq", "replay", str(letter["sequence"]), "--json")).json()
                assert [(each["event_id"], each["outcome"]) for each in replayed] == [(poison.id, "replayed")]
                await consumer_reaches(js, "ledger", FROM_LEDGER, settled(replayed[0]["stream_sequence"]))

                # The same event once more (a second replay): the inbox knows its id. Grace's warning after it
                # is a marker: once her mail is there, anything the duplicate caused would be too.
                again = await js.publish(
                    letter["original_subject"], poison.model_dump_json().encode(), headers={"Nats-Msg-Id": "again"}
                )
                marker = warning_for("grace")
                await publish(js, WARNING, marker)
                mails = await asyncio.to_thread(sink.wait_for, 2)
                assert sorted(str(mail["To"]) for mail in mails).count("Ada <ada@example.org>") == 1
                assert again.seq > replayed[0]["stream_sequence"]
                assert (await kehrwasser("dlq", "list", "--json")).json()["items"] == []
                assert (await js.stream_info(DEADLETTER_STREAM)).state.messages == 0
            finally:
                await nc.close()


async def test_replay_all_and_purge_empty_the_dead_letters(nats_url: str, kehrwasser: Kehrwasser) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        assert (await kehrwasser("streams", "apply")).returncode == 0
        event = warning_for("ada")
        headers = {
            "Kehrwasser-Deadletter-Reason": "handler failed 7 times: boom",
            "Kehrwasser-Deadletter-Consumer": "notify-from-ledger",
            "Kehrwasser-Original-Subject": WARNING,
            "Kehrwasser-Deadletter-Attempts": "7",
        }
        for consumer in ("notify-from-ledger", "alliances-from-ledger", "alliances-from-ledger"):
            await js.publish(f"kehrwasser.dlq.{consumer}", b"not json", headers=headers)
        await js.publish("kehrwasser.dlq.notify-from-ledger", event.model_dump_json().encode(), headers=headers)

        first_page = (await kehrwasser("dlq", "list", "--limit", "2")).stdout
        replayed = await kehrwasser("dlq", "replay", "--all", "--consumer", "notify-from-ledger")
        refused = await kehrwasser("dlq", "purge", "--consumer", "alliances-from-ledger", stdin="n\n")
        purged = await kehrwasser("dlq", "purge", "--consumer", "alliances-from-ledger", "--yes")
        left = (await kehrwasser("dlq", "list", "--json")).json()["items"]
    finally:
        await nc.close()

    assert "more: --after 2 for the next page" in first_page
    assert replayed.returncode == 1
    assert "not a CloudEvent with an id: purge it" in replayed.stdout
    assert replayed.stderr.strip() == "1 of 2 dead letters not replayed"
    assert refused.returncode == 1
    assert purged.stdout.strip() == "purged 2 dead letters of alliances-from-ledger"
    assert [letter["sequence"] for letter in left] == [1]
