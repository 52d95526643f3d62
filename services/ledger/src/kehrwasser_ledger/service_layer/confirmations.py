"""Use cases of two-phase contributions: confirm, reject, expire, and the moderators' view of disputes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from kehrwasser_shared.contracts import ledger as contracts

from ..domain import confirmation
from ..domain.confirmation import PendingContribution, PendingStatus
from ..domain.errors import NotAllowed, UnknownContribution
from .booking import Booked, BookingSession, Submission
from .handlers import announce, books_of, pending_view, result_of, retried_on_concurrent_insert
from .unit_of_work import LedgerUnitOfWork

Clock = Callable[[], datetime]
EXPIRY_BATCH = 500


@retried_on_concurrent_insert
async def confirm_contribution(
    command: contracts.ConfirmContribution, uow: LedgerUnitOfWork, clock: Clock
) -> contracts.ContributionResult:
    """Post a pending contribution now; confirming it again answers with the posted result."""
    async with uow:
        held = await _held(uow, command.contribution_id)
        if held.status is PendingStatus.CONFIRMED:
            posted = await uow.contributions.get(held.contribution_id)
            assert posted is not None, "a confirmed contribution is posted in the same transaction"
            return result_of(posted, Booked.EXISTS)
        session = await BookingSession.open(uow, [_submission(held)])
        books = session.books[held.alliance_id]
        now = clock()
        decided = confirmation.decide(held, by=command.confirmed_by, moderators=books.moderators, confirm=True, now=now)
        # The policy applies when the value enters the balances: a floor or probation limit reached since
        # the record keeps it pending, to be confirmed later or rejected.
        posted = session.post(
            books, held.contribution_id, held.giver_id, held.receiver_id, held.kind, held.value, held.note, now
        )
        await session.write(uow)
        await uow.pending.decide([decided])
        announce(uow, session.postings[0], books.moderators)
        await uow.commit()
    return result_of(posted, Booked.CREATED)


async def reject_contribution(
    command: contracts.RejectContribution, uow: LedgerUnitOfWork, clock: Clock
) -> contracts.PendingContributionView:
    """The receiver or a moderator disputes a pending contribution; rejecting it again changes nothing."""
    async with uow:
        held = await _held(uow, command.contribution_id)
        if held.status is PendingStatus.REJECTED:
            return pending_view(held)
        books = await books_of(uow, held.alliance_id)
        decided = confirmation.decide(
            held, by=command.rejected_by, moderators=books.moderators, confirm=False, now=clock(), reason=command.reason
        )
        await uow.pending.decide([decided])
        uow.emit(
            contracts.CONTRIBUTION_DISPUTED, contracts.ContributionDisputedV1(**pending_view(decided).model_dump())
        )
        await uow.commit()
    return pending_view(decided)


async def expire_due(uow: LedgerUnitOfWork, clock: Clock) -> int:
    """Expire one batch of pending contributions nobody confirmed in time; returns how many."""
    async with uow:
        now = clock()
        expired = [confirmation.expire(held, now) for held in await uow.pending.lock_due(now, EXPIRY_BATCH)]
        await uow.pending.decide(expired)
        for held in expired:
            uow.emit(contracts.CONTRIBUTION_EXPIRED, contracts.ContributionExpiredV1(**pending_view(held).model_dump()))
        await uow.commit()
    return len(expired)


async def disputes(query: contracts.QueryDisputes, uow: LedgerUnitOfWork) -> contracts.Disputes:
    async with uow:
        books = await books_of(uow, query.alliance_id)
        if query.requested_by not in books.moderators:
            raise NotAllowed("disputes are visible to the alliance's moderators")
        statuses = [PendingStatus.PENDING, PendingStatus.REJECTED, PendingStatus.EXPIRED]
        found = await uow.pending.of_alliance(query.alliance_id, statuses)
    by_status = {status: [pending_view(p) for p in found if p.status is status] for status in statuses}
    return contracts.Disputes(
        alliance_id=query.alliance_id,
        pending=by_status[PendingStatus.PENDING],
        rejected=by_status[PendingStatus.REJECTED],
        expired=by_status[PendingStatus.EXPIRED],
    )


async def _held(uow: LedgerUnitOfWork, contribution_id: str) -> PendingContribution:
    held = await uow.pending.lock(contribution_id)
    if held is None:
        raise UnknownContribution(contribution_id)
    return held


def _submission(held: PendingContribution) -> Submission:
    return Submission._make(getattr(held, name) for name in Submission._fields)
