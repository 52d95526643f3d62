"""Alliances use cases against an in-memory unit of work: no I/O."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from faststream.nats import TestNatsBroker
from pydantic import ValidationError

from kehrwasser_alliances.bootstrap import bootstrap
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_alliances.domain import model, standing
from kehrwasser_alliances.domain.resources import Resource, ResourceUse
from kehrwasser_alliances.domain.signals import FlowSignals, LightSignal
from kehrwasser_alliances.service_layer import handlers, meetings
from kehrwasser_alliances.service_layer.member_records import MemberRecords
from kehrwasser_alliances.service_layer.unit_of_work import (
    AllianceRepository,
    AlliancesUnitOfWork,
    KnownMember,
    KnownMembers,
    LedgerSignals,
    ResourceCatalogue,
)
from kehrwasser_shared.contracts import alliances as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.messaging.ports import FakeUnitOfWorkMixin

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class FakeAlliances(AllianceRepository):
    def __init__(self) -> None:
        self.stored: dict[str, model.Alliance] = {}
        self.meetings: dict[str, model.Meeting] = {}
        self.attendance: dict[str, dict[datetime, model.Attendance]] = {}

    async def add(self, alliance: model.Alliance) -> None:
        self.stored[alliance.alliance_id] = copy.deepcopy(alliance)

    async def get(self, alliance_id: str) -> model.Alliance | None:
        return copy.deepcopy(self.stored.get(alliance_id))

    async def save(self, alliance: model.Alliance) -> None:
        roster = self.stored[alliance.alliance_id].roster
        self.stored[alliance.alliance_id] = dataclasses.replace(copy.deepcopy(alliance), roster=roster)

    async def save_membership(self, alliance_id: str, membership: model.Membership) -> None:
        self.stored[alliance_id].roster[membership.member_id] = membership

    async def add_meeting(self, meeting: model.Meeting) -> None:
        self.meetings[meeting.meeting_id] = copy.deepcopy(meeting)

    async def get_meeting(self, meeting_id: str) -> model.Meeting | None:
        return copy.deepcopy(self.meetings.get(meeting_id))

    async def save_meeting(self, meeting: model.Meeting) -> None:
        self.meetings[meeting.meeting_id] = copy.deepcopy(meeting)

    async def meetings_of(
        self, alliance_id: str, *, include_cancelled: bool, after: str | None, limit: int
    ) -> list[model.Meeting]:
        found = [
            m
            for _, m in sorted(self.meetings.items())
            if m.alliance_id == alliance_id
            and (after is None or m.meeting_id > after)
            and (include_cancelled or not m.cancelled)
        ]
        return copy.deepcopy(found[:limit])

    async def save_attendance(self, meeting_id: str, attendance: model.Attendance) -> None:
        self.attendance.setdefault(meeting_id, {})[attendance.recurrence_id] = attendance

    async def attendance_of(self, meeting_id: str) -> list[model.Attendance]:
        return [a for _, a in sorted(self.attendance.get(meeting_id, {}).items())]

    async def page(
        self, *, member_id: str | None, focus: str | None, include_archived: bool, after: str | None, limit: int
    ) -> list[model.Alliance]:
        found = [
            a
            for _, a in sorted(self.stored.items())
            if (after is None or a.alliance_id > after)
            and (include_archived or not a.archived)
            and (member_id is None or member_id in a.members)
            and (focus is None or focus in a.focus)
        ]
        return copy.deepcopy(found[:limit])

    async def memberships_of(self, member_id: str, after: str | None, limit: int) -> list[tuple[str, model.Membership]]:
        found = [
            (alliance_id, a.roster[member_id])
            for alliance_id, a in sorted(self.stored.items())
            if member_id in a.roster and (after is None or alliance_id > after)
        ]
        return found[:limit]


class FakeKnownMembers(KnownMembers):
    def __init__(self, *member_ids: str) -> None:
        self.names = dict.fromkeys(member_ids, "someone")
        self.focus: dict[str, tuple[str, ...]] = {}
        self.standings: dict[str, str] = {}

    async def add(self, member_id: str, name: str, focus: list[str]) -> None:
        self.names[member_id] = name
        self.focus[member_id] = tuple(focus)

    async def exists(self, member_id: str) -> bool:
        return await self.standing(member_id) not in (None, standing.ERASED)

    async def standing(self, member_id: str) -> str | None:
        return self.standings.get(member_id, standing.ACTIVE) if member_id in self.names else None

    async def set_standing(self, member_id: str, new: str) -> None:
        if member_id in self.names:
            self.standings[member_id] = new

    async def get_many(self, member_ids: list[str]) -> dict[str, KnownMember]:
        return {m: KnownMember(m, self.names[m], self.focus.get(m, ())) for m in member_ids if m in self.names}


class FakeLedgerSignals(LedgerSignals):
    def __init__(self) -> None:
        self.stored_lights: dict[str, dict[str, LightSignal]] = {}
        self.stored_flows: dict[str, FlowSignals] = {}

    async def lights(self, alliance_id: str) -> dict[str, LightSignal]:
        return dict(self.stored_lights.get(alliance_id, {}))

    async def save_light(self, alliance_id: str, signal: LightSignal) -> None:
        self.stored_lights.setdefault(alliance_id, {})[signal.member_id] = signal

    async def flows(self, alliance_id: str) -> FlowSignals | None:
        return self.stored_flows.get(alliance_id)

    async def save_flows(self, alliance_id: str, flows: FlowSignals) -> None:
        self.stored_flows[alliance_id] = flows


class FakeMemberRecords(MemberRecords):
    def __init__(self, alliances: FakeAlliances, known: FakeKnownMembers) -> None:
        self._alliances, self._known = alliances, known

    async def follow_profile(self, member_id: str, name: str, focus: list[str]) -> None:
        if member_id in self._known.names:
            self._known.names[member_id], self._known.focus[member_id] = name, tuple(focus)

    async def forget(self, member_id: str) -> None:
        if member_id in self._known.names:
            self._known.names[member_id], self._known.focus[member_id] = "", ()

    async def decisions_by(self, member_id: str) -> list[tuple[str, model.Membership]]:
        return [
            (alliance_id, m)
            for alliance_id, a in sorted(self._alliances.stored.items())
            for _, m in sorted(a.roster.items())
            if m.decided_by == member_id and m.member_id != member_id
        ]

    async def alliance_names(self, alliance_ids: list[str]) -> dict[str, str]:
        return {a: self._alliances.stored[a].name for a in alliance_ids if a in self._alliances.stored}


class FakeResourceCatalogue(ResourceCatalogue):
    def __init__(self) -> None:
        self.stored: dict[str, Resource] = {}
        self.uses: list[ResourceUse] = []

    async def add(self, resource: Resource) -> None:
        self.stored[resource.resource_id] = resource

    async def get(self, resource_id: str) -> Resource | None:
        found = self.stored.get(resource_id)
        uses = sum(1 for u in self.uses if u.resource_id == resource_id)
        return None if found is None else dataclasses.replace(found, uses=uses)

    async def save(self, resource: Resource) -> None:
        self.stored[resource.resource_id] = resource

    async def add_use(self, use: ResourceUse) -> None:
        self.uses.append(use)

    async def get_use(self, use_id: str) -> ResourceUse | None:
        return next((u for u in self.uses if u.use_id == use_id), None)

    async def page(self, alliance_id: str, kind: str | None, after: str | None, limit: int) -> list[Resource]:
        found = [
            r
            for _, r in sorted(self.stored.items())
            if r.alliance_id == alliance_id
            and not r.removed
            and (kind is None or r.kind == kind)
            and (after is None or r.resource_id > after)
        ]
        return found[:limit]


class FakeAlliancesUnitOfWork(FakeUnitOfWorkMixin, AlliancesUnitOfWork):
    alliances: FakeAlliances
    known_members: FakeKnownMembers
    signals: FakeLedgerSignals
    resources: FakeResourceCatalogue

    def __init__(self, *known: str) -> None:
        super().__init__()
        self.alliances = FakeAlliances()
        self.known_members = FakeKnownMembers(*known)
        self.member_records = FakeMemberRecords(self.alliances, self.known_members)
        self.signals = FakeLedgerSignals()
        self.resources = FakeResourceCatalogue()


async def hamburg(uow: FakeAlliancesUnitOfWork) -> contracts.AllianceView:
    return await handlers.create_alliance(
        contracts.CreateAlliance(name="Hamburg Founders", moderator_id="ada", warning_threshold=Decimal("-5")),
        uow,
        lambda: NOON,
    )


async def test_founding_makes_the_founder_a_moderator_and_announces_both() -> None:
    uow = FakeAlliancesUnitOfWork("ada")
    view = await hamburg(uow)
    assert view.member_ids == ["ada"]
    assert uow.emitted_types() == [
        "kehrwasser.alliances.alliance-created.v1",
        "kehrwasser.alliances.member-joined.v1",
    ]
    assert uow.emitted[1][1].role == "moderator"  # type: ignore[attr-defined]


async def test_an_unknown_founder_is_told_the_member_is_not_known_yet() -> None:
    with pytest.raises(model.UnknownMember):
        await hamburg(FakeAlliancesUnitOfWork())


async def test_joining_twice_changes_nothing_the_second_time() -> None:
    uow = FakeAlliancesUnitOfWork("ada", "grace")
    alliance = await hamburg(uow)
    join = contracts.JoinAlliance(alliance_id=alliance.alliance_id, member_id="grace")
    first = await handlers.join_alliance(join, uow, lambda: NOON)
    second = await handlers.join_alliance(join, uow, lambda: NOON)
    assert first == second
    assert uow.emitted_types().count("kehrwasser.alliances.member-joined.v1") == 2  # founder + grace once


async def test_only_a_moderator_schedules_and_every_member_is_invited() -> None:
    uow = FakeAlliancesUnitOfWork("ada", "grace")
    alliance = await hamburg(uow)
    await handlers.join_alliance(
        contracts.JoinAlliance(alliance_id=alliance.alliance_id, member_id="grace"), uow, lambda: NOON
    )
    schedule = contracts.ScheduleMeeting(
        alliance_id=alliance.alliance_id,
        requested_by="grace",
        title="Course check",
        starts_at=datetime(2026, 12, 1, 18, 0),
        timezone="Europe/Berlin",
    )
    with pytest.raises(model.NotAModerator):
        await meetings.schedule_meeting(schedule, uow, lambda: NOON)
    meeting = await meetings.schedule_meeting(schedule.model_copy(update={"requested_by": "ada"}), uow, lambda: NOON)
    assert meeting.attendee_ids == ["ada", "grace"]
    assert uow.emitted[-1][1].alliance_name == "Hamburg Founders"  # type: ignore[attr-defined]


def test_a_meeting_in_an_unknown_time_zone_is_refused_by_the_contract() -> None:
    for name in ("Mars/Olympus_Mons", "../../etc/passwd", "Europe/" + "x" * 1_000_000):
        with pytest.raises(ValidationError, match="timezone"):
            contracts.ScheduleMeeting(
                alliance_id="hamburg", requested_by="ada", title="x", starts_at=datetime(2026, 12, 1, 18), timezone=name
            )


async def schedule_at(starts_at: datetime, timezone: str = "Europe/Berlin") -> contracts.MeetingView:
    uow = FakeAlliancesUnitOfWork("ada")
    alliance = await hamburg(uow)
    command = contracts.ScheduleMeeting(
        alliance_id=alliance.alliance_id,
        requested_by="ada",
        title="Course check",
        starts_at=starts_at,
        timezone=timezone,
    )
    return await meetings.schedule_meeting(command, uow, lambda: NOON)


async def test_a_start_with_an_offset_keeps_its_instant_in_the_meetings_time_zone() -> None:
    meeting = await schedule_at(datetime.fromisoformat("2027-01-10T18:00+05:00"))
    # 13:00 UTC is 14:00 in Berlin in winter: the offset is honoured, not dropped.
    assert meeting.starts_at == datetime.fromisoformat("2027-01-10T14:00+01:00")
    assert meeting.starts_at.utcoffset() == timedelta(hours=1)


async def test_a_wall_clock_start_carries_the_offset_of_its_time_zone() -> None:
    summer = await schedule_at(datetime(2027, 7, 1, 18, 0))
    assert summer.starts_at.isoformat() == "2027-07-01T18:00:00+02:00"


@pytest.mark.parametrize(
    ("starts_at", "timezone", "complaint"),
    [
        (datetime(2020, 5, 1, 18, 0), "Europe/Berlin", "has passed"),
        (NOON.replace(tzinfo=None), "UTC", "has passed"),
        (datetime(2027, 3, 28, 2, 30), "Europe/Berlin", "does not exist in Europe/Berlin"),
        (datetime(2099, 12, 31, 18, 0), "Europe/Berlin", "days ahead"),
    ],
)
async def test_a_start_that_cannot_be_met_is_refused(starts_at: datetime, timezone: str, complaint: str) -> None:
    with pytest.raises(model.InvalidMeetingTime, match=complaint):
        await schedule_at(starts_at, timezone)


def test_dates_outside_the_networks_range_are_refused_by_the_contract() -> None:
    with pytest.raises(ValidationError, match="between 1970"):
        contracts.ScheduleMeeting(
            alliance_id="hamburg", requested_by="ada", title="x", starts_at=datetime(9999, 12, 31, 18)
        )


async def test_of_a_time_that_occurs_twice_the_first_is_meant() -> None:
    meeting = await schedule_at(datetime(2027, 10, 31, 2, 30))
    assert meeting.starts_at.isoformat() == "2027-10-31T02:30:00+02:00"


async def test_a_redelivered_member_registered_event_is_learned_once() -> None:
    uow = FakeAlliancesUnitOfWork()
    data = member_contracts.MemberRegisteredV1(
        member_id="linus",
        name="Linus",
        email="linus@example.org",
        company="",
        language="en",
        focus=[],
        registered_at=NOON,
    )
    event = make_event(type_=member_contracts.MEMBER_REGISTERED.type, source="/members", data=data)
    await handlers.learn_member(event, data, uow)
    uow.known_members.names.clear()
    await handlers.learn_member(event, data, uow)
    assert not await uow.known_members.exists("linus")


async def test_the_service_answers_its_commands_in_memory_through_its_own_composition_root(tmp_path: Path) -> None:
    """The real bootstrap with a fake unit of work, on FastStream's TestNatsBroker: no server, no database."""
    uow = FakeAlliancesUnitOfWork("ada", "grace")
    parts = bootstrap(AlliancesSettings(data_dir=tmp_path), uow=lambda: uow)
    next_year = datetime.now(UTC).year + 1
    # Berlin skips 02:00-03:00 on the last Sunday of March.
    gap = max(day for day in range(25, 32) if datetime(next_year, 3, day).weekday() == 6)
    async with TestNatsBroker(parts.broker) as broker:

        async def ask(contract: Any, request: dict[str, Any]) -> dict[str, Any]:
            return json.loads((await broker.request(request, contract.subject)).body)  # type: ignore[no-any-return]

        founded = (await ask(contracts.CREATE, {"name": "Hamburg Founders", "moderator_id": "ada"}))["result"]
        joined = await ask(contracts.JOIN, {"alliance_id": founded["alliance_id"], "member_id": "grace"})
        meeting = {"alliance_id": founded["alliance_id"], "title": "Course check", "timezone": "Europe/Berlin"}
        by_grace = await ask(
            contracts.SCHEDULE_MEETING, {**meeting, "requested_by": "grace", "starts_at": f"{next_year}-01-12T18:00"}
        )
        in_the_gap = await ask(
            contracts.SCHEDULE_MEETING, {**meeting, "requested_by": "ada", "starts_at": f"{next_year}-03-{gap}T02:30"}
        )
    assert joined["result"]["role"] == "member"
    assert by_grace["error"]["code"] == "not-a-moderator"
    assert in_the_gap["error"]["code"] == "invalid-meeting-time"
