"""The alliances service against a real nats-server and every reachable database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
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

NEXT_YEAR = datetime.now(UTC).year + 1

pytestmark = pytest.mark.integration


async def announce_member(js: object, member_id: str, name: str) -> None:
    event = make_event(
        type_=member_contracts.MEMBER_REGISTERED.type,
        source="/members",
        data=member_contracts.MemberRegisteredV1(
            member_id=member_id,
            name=name,
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


async def test_founding_joining_and_scheduling_publish_their_events(
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
            with pytest.raises(CommandFailed) as unknown:
                await client.send(contracts.CREATE, contracts.CreateAlliance(name="Too early", moderator_id="nobody"))
            assert unknown.value.code == "unknown-member"
            await announce_member(js, "ada", "Ada")
            await announce_member(js, "grace", "Grace")
            alliance = await client.send_when_known(
                contracts.CREATE,
                contracts.CreateAlliance(name="Hamburg Founders", moderator_id="ada", warning_threshold=Decimal("-5")),
            )
            membership = await client.send_when_known(
                contracts.JOIN, contracts.JoinAlliance(alliance_id=alliance.alliance_id, member_id="grace")
            )
            assert membership.role == "member"
            meeting = await client.send(
                contracts.SCHEDULE_MEETING,
                contracts.ScheduleMeeting(
                    alliance_id=alliance.alliance_id,
                    requested_by="ada",
                    title="Course check",
                    starts_at=datetime(NEXT_YEAR, 1, 12, 18, 0),
                    timezone="Europe/Berlin",
                    duration_minutes=90,
                ),
            )
            assert meeting.attendee_ids == ["ada", "grace"]
            with pytest.raises(CommandFailed) as no_alliance:
                await client.send(contracts.JOIN, contracts.JoinAlliance(alliance_id="atlantis", member_id="grace"))
            assert no_alliance.value.code == "unknown-alliance"

            events = await service_events(js, "alliances", 4)
            types = [event["type"] for event in events]
            assert types == [
                "kehrwasser.alliances.alliance-created.v1",
                "kehrwasser.alliances.member-joined.v1",
                "kehrwasser.alliances.member-joined.v1",
                "kehrwasser.alliances.meeting-scheduled.v1",
            ]
            scheduled = events[-1]["data"]
            assert scheduled["starts_at"] == f"{NEXT_YEAR}-01-12T18:00:00+01:00"
            assert scheduled["timezone"] == "Europe/Berlin"
        finally:
            await nc.close()
