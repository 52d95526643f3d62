"""`kehrwasser meeting …`: meetings of an alliance, one-off or a series, its occurrences and their attendance."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .sending import Paging, View, send
from .shell import DEFAULT_TIMEOUT_SECONDS, All, Alliance, Cursor, Json, NatsUrl, Timeout, group, member_option
from .tables import Names, block, table
from .values import date_time

if TYPE_CHECKING:
    from kehrwasser_shared.contracts.alliances import (
        AttendanceView,
        MeetingDetails,
        MeetingPage,
        MeetingView,
        OccurrenceView,
    )
    from kehrwasser_shared.contracts.registry import CommandContract

app = group("Meetings of an alliance: one-off or a series (RRULE), its occurrences and their attendance.")
Meeting = Annotated[str, typer.Argument(metavar="MEETING", help="Meeting id")]
Moderator = Annotated[str, member_option("--by", help_text="A moderator of the alliance (id or email)")]
START_HELP = (
    "ISO 8601 start: 2026-12-01T18:00 is wall-clock time in {zone}; an offset (+01:00, Z) goes to the alliances "
    "service as given"
)
Occurrence = Annotated[
    datetime,
    typer.Option(
        "--occurrence",
        parser=date_time,
        metavar="DATETIME",
        help="The occurrence's original start (the OCCURRENCE column of `meeting show`), as --start",
    ),
]
RRULE_HELP = "RFC 5545 rule, e.g. FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"


def show_occurrences(occurrences: list[OccurrenceView]) -> str:
    rows = [(o.recurrence_id, o.starts_at, o.ends_at, o.status, o.location) for o in occurrences]
    return table(["OCCURRENCE", "STARTS", "ENDS", "STATUS", "WHERE"], rows, empty="(no occurrences to come)")


def show_meeting(m: MeetingView, names: Names) -> str:
    summary = block(
        {
            "title": m.title,
            "status": m.status,
            "starts": f"{m.starts_at.isoformat(timespec='minutes')} {m.timezone}",
            "minutes": m.duration_minutes,
            "repeats": m.rrule or "no (one-off)",
            "where": m.location,
            "agenda": m.agenda,
            "organizer": names(m.organizer_id or None),
            "invited": names.of(m.attendee_ids),
            "alliance": m.alliance_id,
            "id": m.meeting_id,
        }
    )
    return f"{summary}\n\n{show_occurrences(m.next_occurrences)}"


def meeting_members(m: MeetingView) -> Iterable[str]:
    return [m.organizer_id, *m.attendee_ids]


def show_meetings(page: MeetingPage, _: Names) -> str:
    rows = [
        (
            m.title,
            m.rrule or "one-off",
            [o.starts_at for o in m.next_occurrences if o.status != "cancelled"],
            m.status,
            len(m.attendee_ids),
            m.meeting_id,
        )
        for m in page.items
    ]
    return table(["TITLE", "REPEATS", "NEXT", "STATUS", "INVITED", "ID"], rows, empty="(no meetings)")


def show_details(d: MeetingDetails, names: Names) -> str:
    exceptions = table(
        ["OCCURRENCE", "CHANGE", "NEW START", "WHERE"],
        [(e.recurrence_id, "cancelled" if e.cancelled else "moved", e.starts_at, e.location) for e in d.exceptions],
        empty="(no exceptions)",
    )
    attendance = table(
        ["OCCURRENCE", "ATTENDED", "ABSENT", "RECORDED BY"],
        [
            (a.recurrence_id, names.of(a.attended_ids), names.of(a.absent_ids), names(a.recorded_by))
            for a in d.attendance
        ],
        empty="(no attendance recorded)",
    )
    points = table(
        ["MEMBER", "ISSUE", "SINCE", "POINT"],
        [(names(p.member_id), p.issue, p.since, p.text) for p in d.points_to_discuss],
        empty="(no points to discuss)",
    )
    parts = [show_meeting(d.meeting, names), exceptions, attendance, f"points to discuss:\n{points}"]
    return "\n\n".join(parts)


def details_members(d: MeetingDetails) -> Iterable[str]:
    attendance = [m for a in d.attendance for m in (*a.attended_ids, *a.absent_ids, a.recorded_by)]
    return [*meeting_members(d.meeting), *attendance, *(p.member_id for p in d.points_to_discuss)]


def show_attendance(a: AttendanceView, names: Names) -> str:
    return block(
        {
            "occurrence": a.recurrence_id,
            "attended": names.of(a.attended_ids),
            "absent": names.of(a.absent_ids),
            "recorded by": names(a.recorded_by),
            "recorded": a.recorded_at,
        }
    )


MEETING = View(show_meeting, meeting_members)


def change(ctx: typer.Context, contract: CommandContract[Any, MeetingView], **fields: Any) -> None:
    """Send a moderator's change of a meeting and show the meeting as it stands after it."""
    send(ctx, contract, MEETING, members=("requested_by",), **fields)


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    alliance_id: Annotated[str, typer.Option("--alliance")],
    requested_by: Moderator,
    title: Annotated[str, typer.Option()],
    starts_at: Annotated[
        datetime,
        typer.Option("--start", parser=date_time, metavar="DATETIME", help=START_HELP.format(zone="--timezone")),
    ],
    timezone: Annotated[str, typer.Option(help="IANA time zone name")] = "Europe/Berlin",
    duration_minutes: Annotated[int, typer.Option("--duration", help="Minutes")] = 60,
    location: Annotated[str, typer.Option(help="Place or link")] = "",
    agenda: Annotated[str, typer.Option()] = "",
    rrule: Annotated[str | None, typer.Option(help=f"Repeat: {RRULE_HELP} (--start is the first)")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Schedule a one-off meeting or a series; every member gets an invitation."""
    from kehrwasser_shared.contracts import alliances

    change(
        ctx,
        alliances.SCHEDULE_MEETING,
        alliance_id=alliance_id,
        requested_by=requested_by,
        title=title,
        starts_at=starts_at,
        timezone=timezone,
        duration_minutes=duration_minutes,
        location=location,
        agenda=agenda,
        rrule=rrule,
    )


@app.command("update")
def update(
    ctx: typer.Context,
    meeting_id: Meeting,
    requested_by: Moderator,
    title: Annotated[str | None, typer.Option()] = None,
    agenda: Annotated[str | None, typer.Option()] = None,
    starts_at: Annotated[
        datetime | None,
        typer.Option(
            "--start", parser=date_time, metavar="DATETIME", help=START_HELP.format(zone="the meeting's time zone")
        ),
    ] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone name")] = None,
    duration_minutes: Annotated[int | None, typer.Option("--duration", help="Minutes")] = None,
    location: Annotated[str | None, typer.Option(help="Place or link")] = None,
    rrule: Annotated[str | None, typer.Option(help=f'A new rule: {RRULE_HELP}; "" ends the repetition')] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Change a meeting or its whole series; options left out keep their value; attendees get an update."""
    from kehrwasser_shared.contracts import alliances

    change(
        ctx,
        alliances.UPDATE_MEETING,
        meeting_id=meeting_id,
        requested_by=requested_by,
        title=title,
        agenda=agenda,
        starts_at=starts_at,
        timezone=timezone,
        duration_minutes=duration_minutes,
        location=location,
        rrule=rrule,
    )


@app.command("reschedule-occurrence")
def reschedule_occurrence(
    ctx: typer.Context,
    meeting_id: Meeting,
    requested_by: Moderator,
    recurrence_id: Occurrence,
    starts_at: Annotated[
        datetime | None,
        typer.Option("--start", parser=date_time, metavar="DATETIME", help=START_HELP.format(zone="its time zone")),
    ] = None,
    duration_minutes: Annotated[int | None, typer.Option("--duration", help="Minutes")] = None,
    location: Annotated[str | None, typer.Option(help="Place or link")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Move one occurrence of a series (named by its original start) to a new start or place."""
    from kehrwasser_shared.contracts import alliances

    change(
        ctx,
        alliances.RESCHEDULE_OCCURRENCE,
        meeting_id=meeting_id,
        requested_by=requested_by,
        recurrence_id=recurrence_id,
        starts_at=starts_at,
        duration_minutes=duration_minutes,
        location=location,
    )


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    meeting_id: Meeting,
    requested_by: Moderator,
    reason: Annotated[str, typer.Option(help="Shown to the attendees")] = "",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Cancel a meeting or its whole series; attendees get a cancellation."""
    from kehrwasser_shared.contracts import alliances

    change(ctx, alliances.CANCEL_MEETING, meeting_id=meeting_id, requested_by=requested_by, reason=reason)


@app.command("cancel-occurrence")
def cancel_occurrence(
    ctx: typer.Context,
    meeting_id: Meeting,
    requested_by: Moderator,
    recurrence_id: Occurrence,
    reason: Annotated[str, typer.Option(help="Shown to the attendees")] = "",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Cancel one occurrence of a series (named by its original start)."""
    from kehrwasser_shared.contracts import alliances

    change(
        ctx,
        alliances.CANCEL_OCCURRENCE,
        meeting_id=meeting_id,
        requested_by=requested_by,
        recurrence_id=recurrence_id,
        reason=reason,
    )


@app.command("record-attendance")
def record_attendance(
    ctx: typer.Context,
    meeting_id: Meeting,
    requested_by: Moderator,
    attended: Annotated[
        list[str] | None, member_option("--attended", help_text="An attendee who came (id or email); repeat")
    ] = None,
    recurrence_id: Annotated[
        datetime | None,
        typer.Option(
            "--occurrence",
            parser=date_time,
            metavar="DATETIME",
            help="The occurrence's original start; a one-off meeting's only one by default",
        ),
    ] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """After an occurrence began: who attended (the others invited were absent); recorded again, it replaces."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.RECORD_ATTENDANCE,
        View(show_attendance, lambda a: [*a.attended_ids, *a.absent_ids, a.recorded_by]),
        members=("requested_by", "attended"),
        meeting_id=meeting_id,
        requested_by=requested_by,
        recurrence_id=recurrence_id,
        attended=attended or [],
    )


@app.command("list")
def list_meetings(
    ctx: typer.Context,
    alliance_id: Alliance,
    occurrences: Annotated[int, typer.Option(help="Next occurrences shown per meeting")] = 3,
    include_cancelled: Annotated[bool, typer.Option("--cancelled", help="Cancelled meetings too")] = False,
    limit: Annotated[int, typer.Option(help="Meetings per page (at most 100)")] = 20,
    cursor: Cursor = None,
    all_pages: All = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """An alliance's meetings with their next occurrences, a page at a time."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.MEETINGS,
        View(show_meetings),
        paging=Paging(),
        alliance_id=alliance_id,
        occurrences=occurrences,
        include_cancelled=include_cancelled,
        limit=limit,
        cursor=cursor,
    )


@app.command("show")
def show(
    ctx: typer.Context,
    meeting_id: Meeting,
    occurrences: Annotated[int, typer.Option(help="Next occurrences shown")] = 10,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """One meeting: its next occurrences, exceptions, attendance and the points to discuss."""
    from kehrwasser_shared.contracts import alliances

    send(ctx, alliances.MEETING, View(show_details, details_members), meeting_id=meeting_id, occurrences=occurrences)
