"""The ledger's signals in the alliances service, and what alliances books in the ledger, over a real nats-server.

A member goes red in the ledger → the next meeting's points to discuss name them and the moderators' "needs a
word" list gives the reason; recorded attendance is booked once even when its event comes again; a resource
shared and used is booked as contributions. Alliances and the ledger each have a database of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest

from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_shared.contracts import alliances, ledger, make_event, members
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import running
from kehrwasser_shared.testing.databases import service_databases

pytestmark = pytest.mark.integration

NEXT_YEAR = datetime.now(UTC).year + 1


@pytest.fixture
def databases(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    with service_databases(database_url, tmp_path, ("alliances", "ledger"), on_parametrised="ledger") as urls:
        yield urls


async def publish(js: Any, contract: Any, data: Any, event_id: str | None = None, msg_id: str | None = None) -> None:
    event = make_event(type_=contract.type, source=f"/{contract.service}", data=data)
    if event_id is not None:
        event = event.model_copy(update={"id": event_id})
    await js.publish(contract.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id or event.id})


async def eventually(check: Any, timeout: float = 20.0) -> Any:
    """Poll ``check`` (an async callable) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_a_red_member_is_discussed_and_needs_a_word_and_attendance_and_resources_are_booked_once(
    nats_url: str, databases: dict[str, str], tmp_path: Path
) -> None:
    common: dict[str, Any] = {"nats_url": nats_url, "outbox_poll_seconds": 0.2, "consumer_backoff_seconds": [0.2]}
    parts = [
        alliances_service(AlliancesSettings(data_dir=tmp_path / "a", database_url=databases["alliances"], **common)),
        ledger_service(LedgerSettings(data_dir=tmp_path / "l", database_url=databases["ledger"], **common)),
    ]
    async with contextlib.AsyncExitStack() as stack:
        for part in parts:
            await stack.enter_async_context(running(part))
        nc = await nats.connect(nats_url)
        stack.push_async_callback(nc.close)
        js, client = nc.jetstream(), CommandClient(nc)
        for member_id in ("ada", "grace", "linus"):
            await publish(
                js,
                members.MEMBER_REGISTERED,
                members.MemberRegisteredV1(
                    member_id=member_id,
                    name=member_id.title(),
                    email=f"{member_id}@example.org",
                    company="",
                    language="en",
                    focus=[],
                    registered_at=datetime.now(UTC),
                ),
            )
        founded, created = await client.send_when_known_for_events(
            alliances.CREATE,
            alliances.CreateAlliance(name="Hamburg Founders", moderator_id="ada", warning_threshold=Decimal("-5")),
        )
        hamburg = founded.alliance_id
        for member_id in ("grace", "linus"):
            await client.send_when_known(
                alliances.JOIN, alliances.JoinAlliance(alliance_id=hamburg, member_id=member_id)
            )
        policy = await client.send_when_known(
            ledger.SET_POLICY,
            ledger.SetPolicy(  # once the ledger has Ada as moderator, not just the alliance (`after`)
                alliance_id=hamburg,
                requested_by="ada",
                book_attendance=True,
                attendance_points=Decimal("2"),
                after=created,
            ),
        )
        assert (policy.book_attendance, policy.attendance_points) == (True, Decimal("2.00"))

        # Linus receives until red: the alliances service learns it from the ledger's warning.
        await client.send_when_known(
            ledger.RECORD_CONTRIBUTION,
            ledger.RecordContribution(
                contribution_id=str(uuid.uuid4()),
                alliance_id=hamburg,
                giver_id="ada",
                receiver_id="linus",
                kind=ledger.ContributionKind.ADVICE,
                value=Decimal("6"),
            ),
        )
        ask = alliances.NeedsAWord(alliance_id=hamburg, requested_by="ada")

        async def linus_needs_a_word() -> list[alliances.MemberSignals]:
            return [m for m in (await client.send(alliances.NEEDS_A_WORD, ask)).items if m.member_id == "linus"]

        [linus] = await eventually(linus_needs_a_word)
        assert (linus.light, linus.balance, linus.reasons) == ("red", Decimal("-6.00"), ["light red: balance -6.00"])
        with pytest.raises(CommandFailed) as refused:
            await client.send(alliances.NEEDS_A_WORD, ask.model_copy(update={"requested_by": "grace"}))
        assert refused.value.code == "not-a-moderator"

        # The next meeting lists him as a point to discuss, in its event and in the queries.
        sub = await js.pull_subscribe(alliances.MEETING_SCHEDULED.subject, stream="KEHRWASSER_ALLIANCES")
        meeting = await client.send(
            alliances.SCHEDULE_MEETING,
            alliances.ScheduleMeeting(
                alliance_id=hamburg, requested_by="ada", title="Course check", starts_at=datetime(NEXT_YEAR, 3, 3, 18)
            ),
        )
        [scheduled] = await sub.fetch(1, timeout=10)
        assert '"points_to_discuss":["Linus: red, balance -6.00"]' in scheduled.data.decode()
        details = await client.send(alliances.MEETING, alliances.GetMeeting(meeting_id=meeting.meeting_id))
        assert [(p.member_id, p.issue) for p in details.points_to_discuss] == [("linus", "red")]
        listed = await client.send(alliances.MEETINGS, alliances.ListMeetings(alliance_id=hamburg))
        assert [p.text for p in listed.items[0].points_to_discuss] == ["Linus: red, balance -6.00"]

        # Grace shares an analysis and Linus uses it: both booked as resource contributions.
        resource = await client.send(
            alliances.ADD_RESOURCE,
            alliances.AddResource(
                alliance_id=hamburg,
                owner_id="grace",
                kind="analysis",
                title="Market study Hamburg",
                link="https://example.org/study",
                value=Decimal("3"),
            ),
        )
        # Recorded, then retried with the same id: one use, booked once (the statement below has one).
        use = alliances.RecordResourceUse(
            resource_id=resource.resource_id, used_by="linus", use_id="study-use-1", value=Decimal("2")
        )
        first = await client.send(alliances.RECORD_RESOURCE_USE, use)
        assert await client.send(alliances.RECORD_RESOURCE_USE, use) == first
        with pytest.raises(CommandFailed) as altered:
            await client.send(alliances.RECORD_RESOURCE_USE, use.model_copy(update={"note": "another use"}))
        assert altered.value.code == "conflict"
        with pytest.raises(CommandFailed) as own:
            await client.send(
                alliances.RECORD_RESOURCE_USE,
                alliances.RecordResourceUse(resource_id=resource.resource_id, used_by="grace"),
            )
        assert own.value.code == "invalid-resource-use"
        catalogue = await client.send(
            alliances.RESOURCES, alliances.ListResources(alliance_id=hamburg, kind="analysis")
        )
        assert [(r.title, r.uses) for r in catalogue.items] == [("Market study Hamburg", 1)]

        # Attendance of an occurrence, delivered twice under one event id and once more under a new one.
        attended = alliances.AttendanceRecordedV1(
            meeting_id="past-meeting",
            uid="past-meeting@kehrwasser",
            alliance_id=hamburg,
            recurrence_id=datetime.now(UTC) - timedelta(days=1),
            attended_ids=["grace"],
            absent_ids=["linus"],
            recorded_by="ada",
            recorded_at=datetime.now(UTC),
        )
        event_id = str(uuid.uuid4())
        await publish(js, alliances.ATTENDANCE_RECORDED, attended, event_id=event_id)
        await publish(js, alliances.ATTENDANCE_RECORDED, attended, event_id=event_id, msg_id=str(uuid.uuid4()))
        await publish(js, alliances.ATTENDANCE_RECORDED, attended)

        async def grace_balance() -> Decimal:
            view = await client.send(ledger.BALANCE, ledger.QueryBalance(alliance_id=hamburg, member_id="grace"))
            return view.balance

        # 3 shared + 2 thanked for + 2 attended, once.
        assert await eventually(lambda: _equals(grace_balance, Decimal("7.00"))) is True
        # All three deliveries are in the stream (their publishes were acknowledged): once the ledger's consumer
        # has nothing pending or unacknowledged, a double booking would have shown.
        assert await eventually(lambda: _settled(js, stream_name("alliances"), "ledger-from-alliances")) is True
        assert await grace_balance() == Decimal("7.00")
        statement = await client.send(ledger.STATEMENT, ledger.QueryStatement(alliance_id=hamburg, member_id="grace"))
        assert sorted(line.kind.value for line in statement.items) == ["attendance", "resource", "resource"]


async def _settled(js: Any, stream: str, durable: str) -> bool:
    info = await js.consumer_info(stream, durable)
    return bool(info.num_pending == 0 and info.num_ack_pending == 0)


async def _equals(read: Any, expected: Decimal) -> bool:
    return bool(await read() == expected)
