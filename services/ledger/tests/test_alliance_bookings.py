"""Attendance and shared resources booked from the alliances service's events, exactly once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from ledger_fakes import HAMBURG, NOON, FakeLedgerUnitOfWork, clock, founded_alliance

from kehrwasser_ledger.domain.policy import DEFAULT_ATTENDANCE_POINTS
from kehrwasser_ledger.service_layer import alliance_bookings, policies
from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts import make_event

UID = "meeting-1@kehrwasser"


def attendance(*attended: str) -> alliance_contracts.AttendanceRecordedV1:
    return alliance_contracts.AttendanceRecordedV1(
        meeting_id="meeting-1",
        uid=UID,
        alliance_id=HAMBURG,
        recurrence_id=NOON - timedelta(hours=2),
        attended_ids=list(attended),
        absent_ids=[],
        recorded_by="ada",
        recorded_at=NOON,
    )


async def book(uow: FakeLedgerUnitOfWork, data: alliance_contracts.AttendanceRecordedV1) -> None:
    event = make_event(type_=alliance_contracts.ATTENDANCE_RECORDED.type, source="/alliances", data=data)
    await alliance_bookings.book_attendance(event, data, uow, clock)
    await alliance_bookings.book_attendance(event, data, uow, clock)  # redelivered


def attendances(uow: FakeLedgerUnitOfWork) -> list[contracts.ContributionRecordedV1]:
    return [d for _, d in uow.emitted if isinstance(d, contracts.ContributionRecordedV1)]


def test_the_contracts_default_attendance_points_are_the_policys() -> None:
    assert contracts.DEFAULT_ATTENDANCE_POINTS == DEFAULT_ATTENDANCE_POINTS


async def test_attendance_is_not_booked_unless_the_policy_says_so() -> None:
    uow = await founded_alliance("ada", "grace")
    await book(uow, attendance("ada", "grace"))
    assert attendances(uow) == []


async def test_attendance_is_booked_once_per_occurrence_and_member_even_when_recorded_again() -> None:
    uow = await founded_alliance("ada", "grace", "linus")
    await policies.set_policy(
        contracts.SetPolicy(
            alliance_id=HAMBURG, requested_by="ada", book_attendance=True, attendance_points=Decimal("2")
        ),
        uow,
        clock,
    )
    await book(uow, attendance("grace"))
    await book(uow, attendance("grace", "linus"))  # recorded again: only linus is new
    booked = attendances(uow)
    assert [(c.giver_id, c.receiver_id, c.kind, c.value) for c in booked] == [
        ("grace", "alliance", contracts.ContributionKind.ATTENDANCE, Decimal("2.00")),
        ("linus", "alliance", contracts.ContributionKind.ATTENDANCE, Decimal("2.00")),
    ]
    assert booked[0].contribution_id == alliance_bookings.contribution_id(
        "attendance", UID, (NOON - timedelta(hours=2)).isoformat(), "grace"
    )


async def test_a_shared_resource_and_its_use_are_booked_as_resource_contributions() -> None:
    uow = await founded_alliance("ada", "grace")
    shared = alliance_contracts.ResourceSharedV1(
        resource_id="r-1",
        alliance_id=HAMBURG,
        owner_id="ada",
        kind="analysis",
        title="Market study Hamburg",
        link="",
        value=Decimal("3"),
        shared_at=NOON,
    )
    used = alliance_contracts.ResourceUsedV1(
        use_id="u-1",
        resource_id="r-1",
        alliance_id=HAMBURG,
        owner_id="ada",
        used_by="grace",
        note="saved me a week",
        value=Decimal("5"),
        used_at=NOON,
    )
    shared_event = make_event(type_=alliance_contracts.RESOURCE_SHARED.type, source="/alliances", data=shared)
    used_event = make_event(type_=alliance_contracts.RESOURCE_USED.type, source="/alliances", data=used)
    for _ in range(2):  # the second time redelivered
        await alliance_bookings.book_shared_resource(shared_event, shared, uow, clock)
        await alliance_bookings.book_resource_use(used_event, used, uow, clock)
    assert [(c.giver_id, c.receiver_id, c.kind, c.value) for c in attendances(uow)] == [
        ("ada", "alliance", contracts.ContributionKind.RESOURCE, Decimal("3.00")),
        ("ada", "grace", contracts.ContributionKind.RESOURCE, Decimal("5.00")),
    ]
