"""Use cases of the ledger: one small function per command or event."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import ParamSpec, TypeVar

import orjson

from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts.envelope import CloudEvent, SerializedData

from ..domain import model
from ..domain.confirmation import PendingContribution, PendingStatus
from ..domain.errors import (
    AlreadyReversed,
    ContributionConflict,
    NotAllowed,
    NotAMember,
    NotPending,
    UnknownAlliance,
    UnknownContribution,
)
from ..domain.policy import BalancePolicy, Light
from ..domain.verification import verify_alliance
from .booking import Booked, BookingSession, Outcome, Submission
from .unit_of_work import ConcurrentInsert, Emitter, LedgerUnitOfWork

Clock = Callable[[], datetime]
ALLIANCES_CONSUMER = "ledger-from-alliances"
INTAKE_CONSUMER = "ledger-intake"
P = ParamSpec("P")
R = TypeVar("R")


def retried_on_concurrent_insert(use_case: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run a use case once more if another transaction stored one of its new ids first: two requests racing
    with one new id. The second run finds the record and answers exists, or conflict."""

    @functools.wraps(use_case)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await use_case(*args, **kwargs)
        except ConcurrentInsert:
            return await use_case(*args, **kwargs)

    return run


async def learn_alliance(event: CloudEvent, data: alliance_contracts.AllianceCreatedV1, uow: LedgerUnitOfWork) -> None:
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        # Founding sets whether contributions need confirmation; afterwards the ledger's policy owns it.
        policy = BalancePolicy(red_below=data.warning_threshold, requires_confirmation=data.requires_confirmation)
        await uow.alliances.add(data.alliance_id, policy)
        opened = model.Account(data.alliance_id, model.ALLIANCE_ACCOUNT, opened_at=data.created_at)
        await uow.accounts.save([opened], new=True)
        await uow.commit()


async def learn_membership(event: CloudEvent, data: alliance_contracts.MemberJoinedV1, uow: LedgerUnitOfWork) -> None:
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        if await uow.alliances.read(data.alliance_id) is None:
            # alliance-created precedes member-joined in the same stream; retrying covers a replayed stream.
            raise UnknownAlliance(data.alliance_id)
        if not await uow.alliances.members_among(data.alliance_id, [data.member_id]):
            await uow.alliances.add_member(data.alliance_id, data.member_id, data.role)
            # One who left and came back keeps the account (and balance) they had.
            if not await uow.accounts.get_many(data.alliance_id, [data.member_id]):
                opened = model.Account(data.alliance_id, data.member_id, opened_at=data.joined_at)
                await uow.accounts.save([opened], new=True)
        await uow.commit()


async def end_membership(
    event: CloudEvent,
    data: alliance_contracts.MemberLeftV1 | alliance_contracts.MemberRemovedV1,
    uow: LedgerUnitOfWork,
) -> None:
    """From now on contributions to or from them are refused (`not-a-member`); what they booked stays."""
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        if await uow.alliances.members_among(data.alliance_id, [data.member_id]):
            await uow.alliances.end_membership(data.alliance_id, data.member_id)
        await uow.commit()


async def change_role(event: CloudEvent, data: alliance_contracts.RoleChangedV1, uow: LedgerUnitOfWork) -> None:
    """Moderators confirm, reverse and are told of red lights (`balance-warning.escalate_to`)."""
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        if not await uow.alliances.members_among(data.alliance_id, [data.member_id]):
            # member-joined precedes role-changed in the same stream; retrying covers a replayed stream.
            raise NotAMember(data.member_id, data.alliance_id)
        await uow.alliances.set_role(data.alliance_id, data.member_id, data.role)
        await uow.commit()


async def archive_books(event: CloudEvent, data: alliance_contracts.AllianceArchivedV1, uow: LedgerUnitOfWork) -> None:
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        if await uow.alliances.read(data.alliance_id) is None:
            raise UnknownAlliance(data.alliance_id)
        await uow.alliances.archive(data.alliance_id)
        await uow.commit()


async def record_contribution(
    command: contracts.RecordContribution, uow: LedgerUnitOfWork, clock: Clock
) -> contracts.ContributionResult:
    [outcome] = await record_contributions([command], uow, clock, announce_rejections=False)
    if outcome.error is not None:
        raise outcome.error
    if outcome.pending is not None:
        return await _pending_result(outcome.pending, uow)
    assert outcome.contribution is not None
    return result_of(outcome.contribution, outcome.status)


@retried_on_concurrent_insert
async def record_contributions(
    commands: list[contracts.RecordContribution],
    uow: LedgerUnitOfWork,
    clock: Clock,
    *,
    announce_rejections: bool,
    may_defer: Sequence[bool] | None = None,
) -> list[Outcome]:
    """Book a batch in one transaction; each contribution is created, exists, pending or rejected with its reason.

    A command's caller hears of a rejection in the reply; an asynchronous submission only through the
    ``contribution-rejected`` event, which ``announce_rejections`` publishes. A submission that ``may_defer``
    and refers to an alliance or member the ledger has not learned of yet is ``deferred`` instead: its caller
    hands it over again later, when the event announcing the alliance or membership has likely arrived.
    """
    submissions = submissions_of(commands)
    async with uow:
        session = await BookingSession.open(uow, submissions)
        now = clock()
        outcomes = book(session, submissions, now, may_defer)
        await session.write(uow)
        announce_batch(uow, session, submissions, outcomes, now, announce_rejections=announce_rejections)
        await uow.commit()
    return outcomes


def submissions_of(commands: list[contracts.RecordContribution]) -> list[Submission]:
    return [
        Submission(
            c.contribution_id, c.alliance_id, c.giver_id, c.receiver_id, c.kind.value, c.value, c.note, c.recorded_by
        )
        for c in commands
    ]


def book(
    session: BookingSession, submissions: list[Submission], now: datetime, may_defer: Sequence[bool] | None
) -> list[Outcome]:
    """Each submission's outcome, booked in order in the session (in memory)."""
    outcomes = [session.submit(submission, now) for submission in submissions]
    return [
        Outcome(Booked.DEFERRED, error=o.error) if deferrable and o.error and o.error.eventually_consistent else o
        for o, deferrable in zip(outcomes, may_defer or [False] * len(outcomes), strict=True)
    ]


def announce_batch(
    uow: Emitter,
    session: BookingSession,
    submissions: list[Submission],
    outcomes: list[Outcome],
    now: datetime,
    *,
    announce_rejections: bool,
    since: tuple[int, int] = (0, 0),
) -> None:
    """The events of the session's postings and held contributions (from positions ``since`` on) and of the
    rejections among ``outcomes``."""
    for posting in session.postings[since[0] :]:
        announce(uow, posting, session.books[posting.contribution.alliance_id].moderators)
    for held in session.new_pending[since[1] :]:
        uow.emit(contracts.CONTRIBUTION_PENDING, contracts.ContributionPendingV1(**pending_view(held).model_dump()))
    if not announce_rejections:
        return
    for outcome, submission in zip(outcomes, submissions, strict=True):
        if outcome.status is Booked.REJECTED and outcome.error is not None:
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


@retried_on_concurrent_insert
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
            return result_of(existing, Booked.EXISTS)
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
        announce(uow, session.postings[0], books.moderators)
        await uow.commit()
    return result_of(reversal, Booked.CREATED)


async def verify(
    command: contracts.VerifyLedger, uow: LedgerUnitOfWork, clock: Clock = lambda: datetime.now(UTC)
) -> contracts.LedgerVerification:
    """Recompute whole books from genesis in one go, within one unit of work: the synchronous check the unit
    tests run on the in-memory fakes. The service runs verification as a job (`verification.VerificationRuns`)."""
    problems: list[str] = []
    contributions = entries = 0
    started = clock()
    async with uow:
        alliance_ids = [command.alliance_id] if command.alliance_id else await uow.alliances.all_ids()
        for alliance_id in alliance_ids:
            await books_of(uow, alliance_id)
            alliance_contributions = await uow.contributions.of_alliance(alliance_id)
            alliance_entries = await uow.contributions.entries_of(alliance_id)
            accounts = await uow.accounts.all_of(alliance_id)
            problems += verify_alliance(alliance_id, alliance_contributions, alliance_entries, accounts)
            contributions += len(alliance_contributions)
            entries += len(alliance_entries)
    finished = clock()
    return contracts.LedgerVerification(
        run_id=str(uuid.uuid4()),
        state=contracts.VerifyRunState.DONE,
        full=True,
        ok=not problems,
        alliances_total=len(alliance_ids),
        alliances_checked=len(alliance_ids),
        contributions_checked=contributions,
        entries_checked=entries,
        problems=problems[: contracts.MAX_REPORTED_PROBLEMS],
        problem_count=len(problems),
        started_at=started,
        updated_at=finished,
        finished_at=finished,
    )


async def books_of(uow: LedgerUnitOfWork, alliance_id: str) -> model.AllianceBooks:
    books = await uow.alliances.read(alliance_id)
    if books is None:
        raise UnknownAlliance(alliance_id)
    return books


def announce(uow: Emitter, posting: model.Posting, moderators: frozenset[str]) -> None:
    contribution = posting.contribution
    uow.emit(contracts.CONTRIBUTION_RECORDED, recorded_data(contribution))
    for change in posting.signals:
        announce_light(
            uow, contribution.alliance_id, change, moderators, contribution.contribution_id, contribution.recorded_at
        )


def recorded_data(contribution: model.Contribution) -> SerializedData:
    """``ContributionRecordedV1`` of a contribution, as the model would serialise it, written directly: this
    runs once per contribution on the intake's hot path, where building the model (without validation) and
    dumping it cost three times as much. `test_recorded_data_is_what_the_contract_model_writes` keeps the two
    the same."""
    return SerializedData(
        orjson.dumps(
            {
                "contribution_id": contribution.contribution_id,
                "alliance_id": contribution.alliance_id,
                "giver_id": contribution.giver_id,
                "receiver_id": contribution.receiver_id,
                "kind": contribution.kind,
                "value": str(contribution.value),
                "note": contribution.note,
                "recorded_at": contribution.recorded_at,
                "giver_balance": str(contribution.giver_balance),
                "receiver_balance": str(contribution.receiver_balance),
                "reverses": contribution.reverses,
            },
            option=orjson.OPT_UTC_Z,
        )
    )


def announce_light(
    uow: Emitter,
    alliance_id: str,
    change: model.LightChange,
    moderators: frozenset[str],
    contribution_id: str | None,
    now: datetime,
) -> None:
    """Yellow goes to the member; red to the member and the alliance's other moderators."""
    light, previous = contracts.TrafficLight(change.after.value), contracts.TrafficLight(change.before.value)
    if not change.worsened:
        uow.emit(
            contracts.BALANCE_RECOVERED,
            contracts.BalanceRecoveredV2(
                alliance_id=alliance_id,
                member_id=change.owner_id,
                light=light,
                previous_light=previous,
                balance=change.balance,
                contribution_id=contribution_id,
                occurred_at=now,
            ),
        )
        return
    policy_threshold = None if change.reason is model.LightReason.INACTIVITY else change.threshold
    uow.emit(
        contracts.BALANCE_WARNING,
        contracts.BalanceWarningV2(
            alliance_id=alliance_id,
            member_id=change.owner_id,
            light=light,
            previous_light=previous,
            reason=contracts.LightReason(change.reason),
            balance=change.balance,
            threshold=policy_threshold,
            escalate_to=sorted(moderators - {change.owner_id}) if change.after is Light.RED else [],
            contribution_id=contribution_id,
            occurred_at=now,
        ),
    )


async def _pending_result(held: PendingContribution, uow: LedgerUnitOfWork) -> contracts.ContributionResult:
    """A pending contribution answers with the balances as they stand, since it is not in them yet."""
    if held.status is not PendingStatus.PENDING:
        raise NotPending(held.contribution_id, held.status.value)
    async with uow:
        accounts = await uow.accounts.get_many(held.alliance_id, [held.giver_id, held.receiver_id])
    zero = model.Account(held.alliance_id, "")
    return contracts.ContributionResult(
        status=Booked.PENDING,
        contribution_id=held.contribution_id,
        alliance_id=held.alliance_id,
        giver_id=held.giver_id,
        receiver_id=held.receiver_id,
        kind=contracts.ContributionKind(held.kind),
        value=held.value,
        note=held.note,
        recorded_at=held.submitted_at,
        giver_balance=accounts.get(held.giver_id, zero).balance,
        receiver_balance=accounts.get(held.receiver_id, zero).balance,
    )


def pending_view(held: PendingContribution) -> contracts.PendingContributionView:
    return contracts.PendingContributionView.model_validate(asdict(held))


def result_of(contribution: model.Contribution, status: Booked) -> contracts.ContributionResult:
    # The contract names its fields as the domain does; chain fields (sequence, hashes) stay inside.
    return contracts.ContributionResult.model_validate({**contribution._asdict(), "status": status})
