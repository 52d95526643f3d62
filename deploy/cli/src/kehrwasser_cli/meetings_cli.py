"""`kehrwasser meeting …`: meetings of an alliance."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from .sending import View, send
from .shell import DEFAULT_TIMEOUT_SECONDS, Json, NatsUrl, Timeout, group, member_option
from .tables import Names, block
from .values import date_time

if TYPE_CHECKING:
    from kehrwasser_shared.contracts.alliances import MeetingView

app = group("Meetings of an alliance.")


def show_meeting(m: MeetingView, names: Names) -> str:
    return block(
        {
            "title": m.title,
            "starts": f"{m.starts_at.isoformat(timespec='minutes')} {m.timezone}",
            "minutes": m.duration_minutes,
            "where": m.location,
            "invited": names.of(m.attendee_ids),
            "alliance": m.alliance_id,
            "id": m.meeting_id,
        }
    )


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    alliance_id: Annotated[str, typer.Option("--alliance")],
    requested_by: Annotated[str, member_option("--by", help_text="A moderator (id or email)")],
    title: Annotated[str, typer.Option()],
    starts_at: Annotated[
        datetime,
        typer.Option(
            "--start",
            parser=date_time,
            metavar="DATETIME",
            help="ISO 8601 start: 2026-12-01T18:00 is wall-clock time in --timezone; an offset (+01:00, Z) "
            "goes to the alliances service as given",
        ),
    ],
    timezone: Annotated[str, typer.Option(help="IANA time zone name")] = "Europe/Berlin",
    duration_minutes: Annotated[int, typer.Option("--duration", help="Minutes")] = 60,
    location: Annotated[str, typer.Option(help="Place or link")] = "",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Schedule a meeting; every member gets an invitation."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.SCHEDULE_MEETING,
        View(show_meeting, lambda m: m.attendee_ids),
        members=("requested_by",),
        alliance_id=alliance_id,
        requested_by=requested_by,
        title=title,
        starts_at=starts_at,
        timezone=timezone,
        duration_minutes=duration_minutes,
        location=location,
    )
