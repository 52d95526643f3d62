"""Use cases of meetings: schedule, change, cancel, attendance, and the invitations membership changes cause.

Every event carries the meeting as it stands after the change (`contracts.MeetingSeriesV1`), so that notify can
build an iMIP message from the event alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal

from kehrwasser_shared.contracts import alliances as contracts

from ..domain import model
from ..domain.signals import Point
from .signals import point_view, points_for
from .unit_of_work import AlliancesUnitOfWork

Clock = Callable[[], datetime]


async def schedule_meeting(
    command: contracts.ScheduleMeeting, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MeetingView:
    async with uow:
        alliance = await _alliance(uow, command.alliance_id)
        now = clock()
        meeting = model.schedule_meeting(
            alliance,
            meeting_id=str(uuid.uuid4()),
            requested_by=command.requested_by,
            title=command.title,
            starts_at=command.starts_at,
            timezone=command.timezone,
            duration_minutes=command.duration_minutes,
            location=command.location,
            now=now,
            agenda=command.agenda,
            rrule=command.rrule,
        )
        await uow.alliances.add_meeting(meeting)
        points = await points_for(uow, alliance)
        series = _series(meeting, alliance.name, points)
        del series["exceptions"]  # a new meeting has none; v1 of this event predates them
        uow.emit(contracts.MEETING_SCHEDULED, contracts.MeetingScheduledV1(**series))
        await uow.commit()
    return view(meeting, now, 3, points)


async def update_meeting(
    command: contracts.UpdateMeeting, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MeetingView:
    async with uow:
        meeting, alliance = await _moderated(uow, command.meeting_id, command.requested_by)
        alliance.check_not_archived()
        now = clock()
        meeting.update(
            by=command.requested_by,
            title=command.title,
            agenda=command.agenda,
            starts_at=command.starts_at,
            timezone=command.timezone,
            duration_minutes=command.duration_minutes,
            location=command.location,
            rrule=command.rrule,
            now=now,
        )
        await uow.alliances.save_meeting(meeting)
        points = await points_for(uow, alliance)
        uow.emit(
            contracts.MEETING_UPDATED,
            contracts.MeetingUpdatedV1(
                **_series(meeting, alliance.name, points), updated_by=command.requested_by, updated_at=now
            ),
        )
        await uow.commit()
    return view(meeting, now, 3, points)


async def reschedule_occurrence(
    command: contracts.RescheduleOccurrence, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MeetingView:
    async with uow:
        meeting, alliance = await _moderated(uow, command.meeting_id, command.requested_by)
        alliance.check_not_archived()
        now = clock()
        change = meeting.reschedule(
            model.local_start(command.recurrence_id, meeting.timezone),
            by=command.requested_by,
            starts_at=command.starts_at,
            duration_minutes=command.duration_minutes,
            location=command.location,
            now=now,
        )
        assert change.starts_at is not None
        assert change.duration_minutes is not None
        assert change.location is not None
        await uow.alliances.save_meeting(meeting)
        points = await points_for(uow, alliance)
        uow.emit(
            contracts.OCCURRENCE_RESCHEDULED,
            contracts.OccurrenceRescheduledV1(
                **_series(meeting, alliance.name, points),
                recurrence_id=model.instant_of(change.recurrence_id, meeting.timezone),
                occurrence_starts_at=model.instant_of(change.starts_at, meeting.timezone),
                occurrence_duration_minutes=change.duration_minutes,
                occurrence_location=change.location,
                decided_by=command.requested_by,
                decided_at=now,
            ),
        )
        await uow.commit()
    return view(meeting, now, 3, points)


async def cancel_meeting(
    command: contracts.CancelMeeting, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MeetingView:
    async with uow:
        meeting, alliance = await _moderated(uow, command.meeting_id, command.requested_by)
        now = clock()
        if await _cancel(uow, meeting, alliance, command.requested_by, command.reason, now):
            await uow.commit()
    return view(meeting, now, 3)


async def _cancel(
    uow: AlliancesUnitOfWork, meeting: model.Meeting, alliance: model.Alliance, by: str, reason: str, now: datetime
) -> bool:
    """Cancel the meeting (its attendees get a cancellation); False when it was cancelled already."""
    if not meeting.cancel(by=by, reason=reason, now=now):
        return False
    await uow.alliances.save_meeting(meeting)
    uow.emit(
        contracts.MEETING_CANCELLED,
        contracts.MeetingCancelledV1(
            **_series(meeting, alliance.name), cancelled_by=by, reason=meeting.cancel_reason, cancelled_at=now
        ),
    )
    return True


async def cancel_occurrence(
    command: contracts.CancelOccurrence, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MeetingView:
    async with uow:
        meeting, alliance = await _moderated(uow, command.meeting_id, command.requested_by)
        now = clock()
        recurrence_id = model.local_start(command.recurrence_id, meeting.timezone)
        if meeting.cancel_occurrence(recurrence_id, by=command.requested_by, reason=command.reason, now=now):
            await uow.alliances.save_meeting(meeting)
            uow.emit(
                contracts.OCCURRENCE_CANCELLED,
                contracts.OccurrenceCancelledV1(
                    **_series(meeting, alliance.name),
                    recurrence_id=model.instant_of(recurrence_id, meeting.timezone),
                    cancelled_by=command.requested_by,
                    reason=command.reason.strip(),
                    cancelled_at=now,
                ),
            )
            await uow.commit()
    return view(meeting, now, 3)


async def record_attendance(
    command: contracts.RecordAttendance, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.AttendanceView:
    async with uow:
        meeting, _ = await _moderated(uow, command.meeting_id, command.requested_by)
        recurrence_id = (
            None if command.recurrence_id is None else model.local_start(command.recurrence_id, meeting.timezone)
        )
        attendance = meeting.record_attendance(recurrence_id, command.attended, by=command.requested_by, now=clock())
        await uow.alliances.save_attendance(meeting.meeting_id, attendance)
        uow.emit(
            contracts.ATTENDANCE_RECORDED,
            contracts.AttendanceRecordedV1(
                meeting_id=meeting.meeting_id,
                uid=meeting.uid,
                alliance_id=meeting.alliance_id,
                recurrence_id=model.instant_of(attendance.recurrence_id, meeting.timezone),
                attended_ids=list(attendance.attended_ids),
                absent_ids=list(attendance.absent_ids),
                recorded_by=attendance.recorded_by,
                recorded_at=attendance.recorded_at,
            ),
        )
        await uow.commit()
    return _attendance_view(meeting, attendance)


async def list_meetings(query: contracts.ListMeetings, uow: AlliancesUnitOfWork, clock: Clock) -> contracts.MeetingPage:
    async with uow:
        alliance = await _alliance(uow, query.alliance_id)
        found = await uow.alliances.meetings_of(
            query.alliance_id, include_cancelled=query.include_cancelled, after=query.cursor, limit=query.limit + 1
        )
        points = await points_for(uow, alliance)
    now = clock()
    items = found[: query.limit]
    return contracts.MeetingPage(
        items=[view(meeting, now, query.occurrences, points) for meeting in items],
        next_cursor=items[-1].meeting_id if len(found) > query.limit else None,
    )


async def get_meeting(query: contracts.GetMeeting, uow: AlliancesUnitOfWork, clock: Clock) -> contracts.MeetingDetails:
    async with uow:
        meeting = await _meeting(uow, query.meeting_id)
        attendance = await uow.alliances.attendance_of(meeting.meeting_id)
        points = await points_for(uow, await _alliance(uow, meeting.alliance_id))
    shown = view(meeting, clock(), query.occurrences, points)
    return contracts.MeetingDetails(
        meeting=shown,
        exceptions=_exceptions(meeting),
        attendance=[_attendance_view(meeting, a) for a in attendance],
        points_to_discuss=shown.points_to_discuss,
    )


async def invite_to_upcoming(uow: AlliancesUnitOfWork, alliance: model.Alliance, member_id: str, now: datetime) -> None:
    """A new member is invited to each upcoming meeting of the alliance (in the transaction of their joining)."""
    upcoming = await _upcoming(uow, alliance.alliance_id, now)
    points = await points_for(uow, alliance) if upcoming else []
    for meeting in upcoming:
        if meeting.add_attendee(member_id):
            await uow.alliances.save_meeting(meeting)
            uow.emit(
                contracts.MEETING_ATTENDEE_ADDED,
                contracts.MeetingAttendeeAddedV1(
                    **_series(meeting, alliance.name, points), member_id=member_id, added_at=now
                ),
            )


async def uninvite_from_upcoming(
    uow: AlliancesUnitOfWork,
    alliance: model.Alliance,
    member_id: str,
    because: Literal["left", "removed"],
    now: datetime,
) -> None:
    """One who left or was removed is taken off each upcoming meeting (and gets a cancellation)."""
    for meeting in await _upcoming(uow, alliance.alliance_id, now):
        if meeting.remove_attendee(member_id):
            await uow.alliances.save_meeting(meeting)
            uow.emit(
                contracts.MEETING_ATTENDEE_REMOVED,
                contracts.MeetingAttendeeRemovedV1(
                    **_series(meeting, alliance.name), member_id=member_id, because=because, removed_at=now
                ),
            )


async def cancel_upcoming(
    uow: AlliancesUnitOfWork, alliance: model.Alliance, by: str, reason: str, now: datetime
) -> None:
    """An archived alliance meets no more: each of its upcoming meetings is cancelled."""
    for meeting in await _upcoming(uow, alliance.alliance_id, now):
        await _cancel(uow, meeting, alliance, by, reason, now)


async def _upcoming(uow: AlliancesUnitOfWork, alliance_id: str, now: datetime) -> list[model.Meeting]:
    found: list[model.Meeting] = []
    after: str | None = None
    while True:
        page = await uow.alliances.meetings_of(alliance_id, include_cancelled=False, after=after, limit=100)
        found += [meeting for meeting in page if meeting.is_upcoming(now)]
        if len(page) < 100:
            return found
        after = page[-1].meeting_id


def view(
    meeting: model.Meeting, now: datetime, occurrences: int, points: Sequence[Point] = ()
) -> contracts.MeetingView:
    """The meeting with its next occurrences; one still to come with the alliance's ``points`` to discuss."""
    zone = meeting.timezone
    return contracts.MeetingView(
        meeting_id=meeting.meeting_id,
        alliance_id=meeting.alliance_id,
        title=meeting.title,
        starts_at=model.instant_of(meeting.starts_at, zone),
        timezone=zone,
        duration_minutes=meeting.duration_minutes,
        location=meeting.location,
        attendee_ids=list(meeting.attendee_ids),
        uid=meeting.uid,
        sequence=meeting.sequence,
        agenda=meeting.agenda,
        rrule=meeting.rrule,
        organizer_id=meeting.organizer_id,
        status="cancelled" if meeting.cancelled else "scheduled",
        next_occurrences=[]
        if meeting.cancelled
        else [
            contracts.OccurrenceView(
                recurrence_id=model.instant_of(o.recurrence_id, zone),
                starts_at=model.instant_of(o.starts_at, zone),
                ends_at=model.instant_of(o.ends_at, zone),
                location=o.location,
                status=o.status,
            )
            for o in meeting.occurrences(now, occurrences)
        ],
        points_to_discuss=[point_view(p) for p in points] if meeting.is_upcoming(now) else [],
    )


def _series(meeting: model.Meeting, alliance_name: str, points: Sequence[Point] = ()) -> dict[str, Any]:
    """The fields of `contracts.MeetingSeriesV1`: the meeting as it stands now, with the alliance's open
    balance issues as points to discuss (none for a cancellation or a departure)."""
    return {
        "meeting_id": meeting.meeting_id,
        "uid": meeting.uid,
        "sequence": meeting.sequence,
        "alliance_id": meeting.alliance_id,
        "alliance_name": alliance_name,
        "title": meeting.title,
        "agenda": meeting.agenda,
        "starts_at": model.instant_of(meeting.starts_at, meeting.timezone),
        "timezone": meeting.timezone,
        "duration_minutes": meeting.duration_minutes,
        "location": meeting.location,
        "rrule": meeting.rrule,
        "organizer_id": meeting.organizer_id,
        "attendee_ids": list(meeting.attendee_ids),
        "exceptions": _exceptions(meeting),
        "points_to_discuss": [p.text for p in points],
    }


def _exceptions(meeting: model.Meeting) -> list[contracts.OccurrenceException]:
    zone = meeting.timezone
    return [
        contracts.OccurrenceException(
            recurrence_id=model.instant_of(change.recurrence_id, zone),
            cancelled=change.cancelled,
            starts_at=None if change.starts_at is None else model.instant_of(change.starts_at, zone),
            duration_minutes=change.duration_minutes,
            location=change.location,
        )
        for change in sorted(meeting.exceptions.values(), key=lambda c: c.recurrence_id)
    ]


def _attendance_view(meeting: model.Meeting, attendance: model.Attendance) -> contracts.AttendanceView:
    return contracts.AttendanceView(
        recurrence_id=model.instant_of(attendance.recurrence_id, meeting.timezone),
        attended_ids=list(attendance.attended_ids),
        absent_ids=list(attendance.absent_ids),
        recorded_by=attendance.recorded_by,
        recorded_at=attendance.recorded_at,
    )


async def _alliance(uow: AlliancesUnitOfWork, alliance_id: str) -> model.Alliance:
    alliance = await uow.alliances.get(alliance_id)
    if alliance is None:
        raise model.UnknownAlliance(alliance_id)
    return alliance


async def _meeting(uow: AlliancesUnitOfWork, meeting_id: str) -> model.Meeting:
    meeting = await uow.alliances.get_meeting(meeting_id)
    if meeting is None:
        raise model.UnknownMeeting(meeting_id)
    return meeting


async def _moderated(
    uow: AlliancesUnitOfWork, meeting_id: str, requested_by: str
) -> tuple[model.Meeting, model.Alliance]:
    """The meeting and its alliance, once ``requested_by`` is found to moderate it."""
    meeting = await _meeting(uow, meeting_id)
    alliance = await _alliance(uow, meeting.alliance_id)
    model.check_moderator(alliance, requested_by)
    return meeting, alliance
