"""Every meeting command and event path against a real nats-server and every reachable database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest

from kehrwasser_alliances.bootstrap import bootstrap
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_shared.contracts import alliances as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import running, service_events

pytestmark = pytest.mark.integration

NEXT_YEAR = datetime.now(UTC).year + 1
FIRST_TUESDAY = next(
    datetime(NEXT_YEAR, 1, day, 18) for day in range(1, 8) if datetime(NEXT_YEAR, 1, day).weekday() == 1
)


async def announce_member(js: object, member_id: str) -> None:
    event = make_event(
        type_=member_contracts.MEMBER_REGISTERED.type,
        source="/members",
        data=member_contracts.MemberRegisteredV1(
            member_id=member_id,
            name=member_id.title(),
            email=f"{member_id}@example.org",
            company="",
            language="en",
            focus=[],
            registered_at=datetime.now(UTC),
        ),
    )
    await js.publish(  # type: ignore[attr-defined]
        member_contracts.MEMBER_REGISTERED.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id}
    )


async def test_a_series_is_changed_cancelled_and_follows_who_belongs(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    settings = AlliancesSettings(
        nats_url=nats_url, data_dir=tmp_path, database_url=database_url, outbox_poll_seconds=0.2
    )
    async with running(bootstrap(settings)):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            client = CommandClient(nc)
            for member_id in ("ada", "grace", "linus"):
                await announce_member(js, member_id)
            alliance = await client.send_when_known(
                contracts.CREATE, contracts.CreateAlliance(name="Hamburg Founders", moderator_id="ada")
            )
            await client.send_when_known(
                contracts.JOIN, contracts.JoinAlliance(alliance_id=alliance.alliance_id, member_id="grace")
            )
            schedule = contracts.ScheduleMeeting(
                alliance_id=alliance.alliance_id,
                requested_by="ada",
                title="Course check",
                starts_at=FIRST_TUESDAY,
                agenda="Who needs a word?",
                rrule="FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
            )
            for refused, code in [
                (schedule.model_copy(update={"rrule": "FREQ=HOURLY"}), "invalid-recurrence"),
                (schedule.model_copy(update={"requested_by": "grace"}), "not-a-moderator"),
            ]:
                with pytest.raises(CommandFailed) as failed:
                    await client.send(contracts.SCHEDULE_MEETING, refused)
                assert failed.value.code == code
            meeting = await client.send(contracts.SCHEDULE_MEETING, schedule)
            assert [o.starts_at for o in meeting.next_occurrences][:2] == [
                datetime.fromisoformat(f"{FIRST_TUESDAY:%Y-%m-%d}T18:00+01:00"),
                datetime.fromisoformat(f"{FIRST_TUESDAY + timedelta(days=14):%Y-%m-%d}T18:00+01:00"),
            ]
            second, third = FIRST_TUESDAY + timedelta(days=14), FIRST_TUESDAY + timedelta(days=28)
            with pytest.raises(CommandFailed) as by_grace:
                await client.send(
                    contracts.UPDATE_MEETING,
                    contracts.UpdateMeeting(meeting_id=meeting.meeting_id, requested_by="grace", title="Mine now"),
                )
            assert by_grace.value.code == "not-a-moderator"
            await client.send(
                contracts.UPDATE_MEETING,
                contracts.UpdateMeeting(meeting_id=meeting.meeting_id, requested_by="ada", location="Kontorhaus"),
            )
            await client.send(
                contracts.RESCHEDULE_OCCURRENCE,
                contracts.RescheduleOccurrence(
                    meeting_id=meeting.meeting_id,
                    requested_by="ada",
                    recurrence_id=second,
                    starts_at=second + timedelta(days=1, hours=1),
                    location="Online",
                ),
            )
            cancel_third = contracts.CancelOccurrence(
                meeting_id=meeting.meeting_id, requested_by="ada", recurrence_id=third, reason="holiday"
            )
            await client.send(contracts.CANCEL_OCCURRENCE, cancel_third)
            await client.send(contracts.CANCEL_OCCURRENCE, cancel_third)  # again: nothing changes
            with pytest.raises(CommandFailed) as not_an_occurrence:
                await client.send(
                    contracts.CANCEL_OCCURRENCE,
                    cancel_third.model_copy(update={"recurrence_id": third + timedelta(days=1)}),
                )
            assert not_an_occurrence.value.code == "unknown-occurrence"
            with pytest.raises(CommandFailed) as too_early:
                await client.send(
                    contracts.RECORD_ATTENDANCE,
                    contracts.RecordAttendance(meeting_id=meeting.meeting_id, requested_by="ada", attended=["ada"]),
                )
            assert too_early.value.code == "invalid-attendance"

            await client.send_when_known(  # linus's registration may still be on its way (a retry on SQLite)
                contracts.JOIN, contracts.JoinAlliance(alliance_id=alliance.alliance_id, member_id="linus")
            )
            await client.send(
                contracts.LEAVE, contracts.LeaveAlliance(alliance_id=alliance.alliance_id, member_id="grace")
            )

            page = await client.send(contracts.MEETINGS, contracts.ListMeetings(alliance_id=alliance.alliance_id))
            assert [m.meeting_id for m in page.items] == [meeting.meeting_id]
            assert [o.status for o in page.items[0].next_occurrences] == ["scheduled", "rescheduled", "cancelled"]
            details = await client.send(contracts.MEETING, contracts.GetMeeting(meeting_id=meeting.meeting_id))
            assert details.meeting.attendee_ids == ["ada", "linus"]
            assert [e.cancelled for e in details.exceptions] == [False, True]

            cancelled = await client.send(
                contracts.CANCEL_MEETING,
                contracts.CancelMeeting(meeting_id=meeting.meeting_id, requested_by="ada", reason="we pause"),
            )
            assert cancelled.status == "cancelled"
            with pytest.raises(CommandFailed) as gone:
                await client.send(
                    contracts.RESCHEDULE_OCCURRENCE,
                    contracts.RescheduleOccurrence(
                        meeting_id=meeting.meeting_id, requested_by="ada", recurrence_id=second, location="x"
                    ),
                )
            assert gone.value.code == "meeting-cancelled"

            events = await service_events(js, "alliances", 12)
            meeting_events = [e for e in events if "meeting" in e["type"] or "occurrence" in e["type"]]
            assert [e["type"].split(".")[2] for e in meeting_events] == [
                "meeting-scheduled",
                "meeting-updated",
                "occurrence-rescheduled",
                "occurrence-cancelled",
                "meeting-attendee-added",
                "meeting-attendee-removed",
                "meeting-cancelled",
            ]
            data = [e["data"] for e in meeting_events]
            assert {d["uid"] for d in data} == {f"{meeting.meeting_id}@kehrwasser"}
            assert [d["sequence"] for d in data] == [0, 1, 2, 3, 3, 3, 4]
            assert data[0]["rrule"] == "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"
            assert data[2]["recurrence_id"] == f"{second:%Y-%m-%d}T18:00:00+01:00"
            assert data[2]["occurrence_location"] == "Online"
            assert data[3]["recurrence_id"] == f"{third:%Y-%m-%d}T18:00:00+01:00"
            assert (data[4]["member_id"], data[4]["attendee_ids"]) == ("linus", ["ada", "grace", "linus"])
            assert (data[5]["member_id"], data[5]["because"], data[5]["attendee_ids"]) == (
                "grace",
                "left",
                ["ada", "linus"],
            )
            assert [len(d["exceptions"]) for d in data[3:]] == [2, 2, 2, 2]
            assert data[6]["cancelled_by"] == "ada"
        finally:
            await nc.close()
