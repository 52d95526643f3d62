"""Use cases of the ledger: one small function per command or event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts.envelope import CloudEvent

from ..domain import model
from ..domain.errors import (
    AlreadyReversed,
    ContributionConflict,
    NotAllowed,
    UnknownAlliance,
    UnknownContribution,
)
from ..domain.verification import verify_alliance
from .booking import BookingSession, Outcome, Submission
from .unit_of_work import LedgerUnitOfWork

Clock = Callable[[], datetime]
ALLIANCES_CONSUMER = "ledger-from-alliances"
INTAKE_CONSUMER = "ledger-intake"


async def learn_alliance(event: CloudEvent, data: alliance_contracts.AllianceCreatedV1, uow: LedgerUnitOfWork) -> None:
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        await uow.alliances.add(data.alliance_id, model.BalancePolicy(warning_threshold=data.warning_threshold))
        await uow.accounts.save([model.Account(data.alliance_id, model.ALLIANCE_ACCOUNT)], new=True)
        await uow.commit()


async def learn_membership(event: CloudEvent, data: alliance_contracts.MemberJoinedV1, uow: LedgerUnitOfWork) -> None:
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        if await uow.alliances.get(data.alliance_id) is None:
            # alliance-created precedes member-joined in the same stream; retrying covers a replayed stream.
            raise UnknownAlliance(data.alliance_id)
        if not await uow.alliances.members_among(data.alliance_id, [data.member_id]):
            await uow.alliances.add_member(data.alliance_id, data.member_id, data.role)
            await uow.accounts.save([model.Account(data.alliance_id, data.member_id)], new=True)
        await uow.commit()


async def record_contribution(
    command: contracts.RecordContribution, uow: LedgerUnitOfWork, clock: Clock
) -> contracts.ContributionResult:
    [outcome] = await record_contributions([command], uow, clock)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.contribution is not None
    return _result(outcome.contribution, outcome.status)


async def record_contributions(
    commands: list[contracts.RecordContribution], uow: LedgerUnitOfWork, clock: Clock
) -> list[Outcome]:
    """Book a batch in one transaction; each contribution is created, exists, or rejected with its reason."""
    submissions = [
        Submission(c.contribution_id, c.alliance_id, c.giver_id, c.receiver_id, c.kind.value, c.value, c.note)
        for c in commands
    ]
    async with uow:
        session = await BookingSession.open(uow, submissions)
        now = clock()
        outcomes = [session.submit(submission, now) for submission in submissions]
        await session.write(uow)
        for posting in session.postings:
            _announce(uow, posting)
        for outcome, submission in zip(outcomes, submissions, strict=True):
            if outcome.error is not None and len(submissions) > 1:
                uow.emit(
                    contracts.CONTRIBUTION_REJECTED,
                    contracts.ContributionRejectedV1(
                        contribution_id=submission.contribution_id,
                        alliance_id=submission.alliance_id,
                        code=outcome.error.code,
                        message=str(outcome.error),
                        occurred_at=now,
                    ),
                )
        await uow.commit()
    return outcomes


async def reverse_contribution(
    command: contracts.ReverseContribution, uow: LedgerUnitOfWork, clock: Clock
) -> contracts.ContributionResult:
    async with uow:
        original = await uow.contributions.get(command.contribution_id)
        if original is None:
            raise UnknownContribution(command.contribution_id)
        existing = await uow.contributions.get(command.reversal_id)
        if existing is not None:
            if existing.reverses != original.contribution_id:
                raise ContributionConflict(command.reversal_id, ["reverses"])
            return _result(existing, "exists")
        if original.reverses is not None:
            raise NotAllowed("a reversal is corrected by recording the contribution again, not by reversing it")
        if await uow.contributions.reversal_of(original.contribution_id) is not None:
            raise AlreadyReversed(original.contribution_id)
        giver, receiver = original.giver_id, original.receiver_id
        session = await BookingSession.open(
            uow,
            [Submission(command.reversal_id, original.alliance_id, giver, receiver, original.kind, original.value, "")],
        )
        books = session.books[original.alliance_id]
        if command.requested_by not in books.moderators | {original.giver_id}:
            raise NotAllowed("only a moderator or the original giver may reverse a contribution")
        reversal = session.post(
            books,
            command.reversal_id,
            giver,
            receiver,
            original.kind,
            original.value,
            command.reason,
            clock(),
            reverses=original.contribution_id,
        )
        await session.write(uow)
        _announce(uow, session.postings[0])
        await uow.commit()
    return _result(reversal, "created")


async def balance(query: contracts.QueryBalance, uow: LedgerUnitOfWork) -> contracts.BalanceView:
    async with uow:
        books = await _books(uow, query.alliance_id)
        accounts = await uow.accounts.get_many(query.alliance_id, [query.member_id])
    account = accounts.get(query.member_id, model.Account(query.alliance_id, query.member_id))
    return contracts.BalanceView(
        alliance_id=query.alliance_id,
        member_id=query.member_id,
        balance=account.balance,
        given=account.given,
        received=account.received,
        threshold=books.policy.warning_threshold,
        below_threshold=books.policy.is_below(account.balance),
    )


async def verify(command: contracts.VerifyLedger, uow: LedgerUnitOfWork) -> contracts.LedgerVerification:
    problems: list[str] = []
    contributions = entries = 0
    async with uow:
        alliance_ids = [command.alliance_id] if command.alliance_id else await uow.alliances.all_ids()
        for alliance_id in alliance_ids:
            await _books(uow, alliance_id)
            alliance_contributions = await uow.contributions.of_alliance(alliance_id)
            alliance_entries = await uow.contributions.entries_of(alliance_id)
            accounts = await uow.accounts.all_of(alliance_id)
            problems += verify_alliance(alliance_id, alliance_contributions, alliance_entries, accounts)
            contributions += len(alliance_contributions)
            entries += len(alliance_entries)
    return contracts.LedgerVerification(
        ok=not problems,
        alliances_checked=len(alliance_ids),
        contributions_checked=contributions,
        entries_checked=entries,
        problems=problems,
    )


async def _books(uow: LedgerUnitOfWork, alliance_id: str) -> model.AllianceBooks:
    books = await uow.alliances.get(alliance_id)
    if books is None:
        raise UnknownAlliance(alliance_id)
    return books


def _announce(uow: LedgerUnitOfWork, posting: model.Posting) -> None:
    contribution = posting.contribution
    uow.emit(
        contracts.CONTRIBUTION_RECORDED,
        contracts.ContributionRecordedV1(**_result(contribution, "created").model_dump(exclude={"status"})),
    )
    for signal in posting.signals:
        fields = {
            "alliance_id": contribution.alliance_id,
            "member_id": signal.owner_id,
            "balance": signal.balance,
            "threshold": signal.threshold,
            "contribution_id": contribution.contribution_id,
            "occurred_at": contribution.recorded_at,
        }
        if signal.kind == "warning":
            uow.emit(contracts.BALANCE_WARNING, contracts.BalanceWarningV1(**fields))
        else:
            uow.emit(contracts.BALANCE_RECOVERED, contracts.BalanceRecoveredV1(**fields))


def _result(contribution: model.Contribution, status: str) -> contracts.ContributionResult:
    return contracts.ContributionResult(
        status=status,
        contribution_id=contribution.contribution_id,
        alliance_id=contribution.alliance_id,
        giver_id=contribution.giver_id,
        receiver_id=contribution.receiver_id,
        kind=contracts.ContributionKind(contribution.kind),
        value=contribution.value,
        note=contribution.note,
        recorded_at=contribution.recorded_at,
        giver_balance=contribution.giver_balance,
        receiver_balance=contribution.receiver_balance,
        reverses=contribution.reverses,
    )
