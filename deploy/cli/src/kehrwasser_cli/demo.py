"""`kehrwasser demo`: seed a small alliance, push one member below the threshold, schedule a meeting."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from kehrwasser_shared.contracts import alliances, ledger, members
from kehrwasser_shared.messaging.client import CommandClient


def step(text: str) -> None:
    print(f"• {text}", flush=True)


async def demo(client: CommandClient, mail_dir: str) -> None:
    run = uuid.uuid4().hex[:6]  # emails are unique, so the demo can run again on the same data
    people = {}
    for name, language, focus in (
        ("Ada Lovelace", "de", ["analytics", "saas"]),
        ("Grace Hopper", "en", ["compilers", "saas"]),
        ("Linus Torvalds", "en", ["kernels", "saas"]),
    ):
        email = f"{name.split()[0].lower()}.{run}@example.org"
        people[name] = await client.send(
            members.REGISTER,
            members.RegisterMember(
                name=name, email=email, company=f"{name.split()[1]} GmbH", language=language, focus=focus
            ),
        )
        step(f"registered {name} <{email}> ({language})")
    ada, grace, linus = people.values()
    alliance = await client.send_when_known(
        alliances.CREATE,
        alliances.CreateAlliance(
            name="Hamburg Founders",
            purpose="Challenge each other's course and share what we have",
            focus=["saas"],
            warning_threshold=Decimal("-5"),
            moderator_id=ada.member_id,
        ),
    )
    step(f"Ada founded '{alliance.name}' (warning threshold -5) → {alliance.alliance_id}")
    for newcomer in (grace, linus):
        await client.send_when_known(
            alliances.JOIN, alliances.JoinAlliance(alliance_id=alliance.alliance_id, member_id=newcomer.member_id)
        )
        step(f"{newcomer.name} joined")
    for giver, kind, value, note in (
        (ada, ledger.ContributionKind.ADVICE, "3", "pricing review"),
        (grace, ledger.ContributionKind.INTRODUCTION, "4", "introduction to an investor"),
    ):
        result = await client.send_when_known(
            ledger.RECORD_CONTRIBUTION,
            ledger.RecordContribution(
                contribution_id=str(uuid.uuid4()),
                alliance_id=alliance.alliance_id,
                giver_id=giver.member_id,
                receiver_id=linus.member_id,
                kind=kind,
                value=Decimal(value),
                note=note,
            ),
        )
        step(f"{giver.name} gave Linus {value} points ({kind.value}); Linus's balance: {result.receiver_balance}")
    start = (datetime.now() + timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)
    meeting = await client.send(
        alliances.SCHEDULE_MEETING,
        alliances.ScheduleMeeting(
            alliance_id=alliance.alliance_id,
            requested_by=ada.member_id,
            title="Monthly course check",
            starts_at=start,
            timezone="Europe/Berlin",
            duration_minutes=90,
            location="https://meet.example.org/hamburg-founders",
        ),
    )
    step(f"Ada scheduled '{meeting.title}' for {start:%Y-%m-%d %H:%M} Europe/Berlin")
    print(
        f"\nWithin seconds {mail_dir} holds welcomes for Grace and Linus, a red balance warning for Linus, its"
        " escalation to Ada (the moderator) and three invitations with invite.ics."
    )
