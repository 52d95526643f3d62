"""Contributions the alliances service's events bring: attended meetings and shared resources.

Each is booked through the same session as any contribution, in the transaction that claims the event in the
inbox, under a contribution id derived from what it books (a meeting's UID, the occurrence and the member; a
resource; a use). So a redelivered event changes nothing, and a second attendance record of the same
occurrence books only those not booked before (entries are never changed: one taken off a later record keeps
their contribution; a moderator reverses it if it was a mistake).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts.envelope import CloudEvent

from ..domain import model
from .booking import BookingSession, Submission
from .handlers import ALLIANCES_CONSUMER, announce_batch, book
from .unit_of_work import LedgerUnitOfWork

Clock = Callable[[], datetime]
CONTRIBUTIONS_FROM_ALLIANCES = uuid.UUID("6f1d2c1e-8c55-4f43-9a7e-3b7f4c2a9d10")


def contribution_id(*parts: str) -> str:
    """The id of a contribution an alliances event books: the same parts, the same id."""
    return str(uuid.uuid5(CONTRIBUTIONS_FROM_ALLIANCES, "|".join(parts)))


async def book_attendance(
    event: CloudEvent, data: alliance_contracts.AttendanceRecordedV1, uow: LedgerUnitOfWork, clock: Clock
) -> None:
    """Each attendee gives the alliance the policy's attendance points, recorded by the moderator who recorded
    the attendance, once per (occurrence, member) and only where the policy says so."""
    occurrence = data.recurrence_id.isoformat()

    async def attendances() -> list[Submission]:
        books = await uow.alliances.read(data.alliance_id)
        if books is None or not books.policy.book_attendance:
            return []
        return [
            Submission(
                contribution_id("attendance", data.uid, occurrence, member_id),
                data.alliance_id,
                member_id,
                model.ALLIANCE_ACCOUNT,
                contracts.ContributionKind.ATTENDANCE.value,
                books.policy.attendance_points,
                f"attended {data.uid} at {occurrence}",
                data.recorded_by,
            )
            for member_id in data.attended_ids
        ]

    await _book(event, attendances, uow, clock)


async def book_shared_resource(
    event: CloudEvent, data: alliance_contracts.ResourceSharedV1, uow: LedgerUnitOfWork, clock: Clock
) -> None:
    """The owner gives the alliance the value they named (in an alliance that requires confirmation, it waits
    for a moderator's)."""

    async def shared() -> list[Submission]:
        if data.value is None:
            return []
        return [
            Submission(
                contribution_id("resource-shared", data.resource_id),
                data.alliance_id,
                data.owner_id,
                model.ALLIANCE_ACCOUNT,
                contracts.ContributionKind.RESOURCE.value,
                data.value,
                f"shared {data.kind}: {data.title}",
                data.owner_id,
            )
        ]

    await _book(event, shared, uow, clock)


async def book_resource_use(
    event: CloudEvent, data: alliance_contracts.ResourceUsedV1, uow: LedgerUnitOfWork, clock: Clock
) -> None:
    """The user thanks the owner with the value they named: a receiver's record, posted at once."""

    async def used() -> list[Submission]:
        if data.value is None:
            return []
        return [
            Submission(
                contribution_id("resource-used", data.use_id),
                data.alliance_id,
                data.owner_id,
                data.used_by,
                contracts.ContributionKind.RESOURCE.value,
                data.value,
                data.note,
                data.used_by,
            )
        ]

    await _book(event, used, uow, clock)


async def _book(
    event: CloudEvent, submissions_of: Callable[[], Awaitable[list[Submission]]], uow: LedgerUnitOfWork, clock: Clock
) -> None:
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        submissions = await submissions_of()
        if submissions:
            session = await BookingSession.open(uow, submissions)
            now = clock()
            outcomes = book(session, submissions, now, None)
            await session.write(uow)
            # Refused ones (one who left meanwhile, a floor) are announced as contribution-rejected.
            announce_batch(uow, session, submissions, outcomes, now, announce_rejections=True)
        await uow.commit()
