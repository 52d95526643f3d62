"""Use cases of the balance policy: change it, show it, show the traffic lights, review lights over time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from kehrwasser_shared.contracts import ledger as contracts

from ..domain import model
from ..domain.errors import NotAllowed, UnknownAlliance, UnknownMember
from ..domain.policy import BalancePolicy
from .handlers import announce_light, books_of
from .unit_of_work import LedgerUnitOfWork

Clock = Callable[[], datetime]


async def set_policy(command: contracts.SetPolicy, uow: LedgerUnitOfWork, clock: Clock) -> contracts.PolicyView:
    """A moderator changes the policy; every member's light is reviewed against it in the same transaction."""
    async with uow:
        books = (await uow.alliances.lock_many([command.alliance_id])).get(command.alliance_id)
        if books is None:
            raise UnknownAlliance(command.alliance_id)
        if command.requested_by not in books.moderators:
            raise NotAllowed("only a moderator may change the alliance's balance policy")
        policy = changed_policy(books.policy, command)
        await uow.alliances.set_policy(books.alliance_id, policy)
        now = clock()
        await _review(uow, books._replace(policy=policy), now)
        view = policy_view(books.alliance_id, policy)
        uow.emit(
            contracts.POLICY_CHANGED,
            contracts.PolicyChangedV1(**view.model_dump(), changed_by=command.requested_by, occurred_at=now),
        )
        await uow.commit()
    return view


async def policy(query: contracts.QueryPolicy, uow: LedgerUnitOfWork) -> contracts.PolicyView:
    async with uow:
        books = await books_of(uow, query.alliance_id)
    return policy_view(books.alliance_id, books.policy)


async def traffic_lights(
    query: contracts.QueryTrafficLight, uow: LedgerUnitOfWork, clock: Clock
) -> contracts.TrafficLights:
    """The stored lights (kept current by every posting and the periodic review), members only."""
    async with uow:
        books = await books_of(uow, query.alliance_id)
        if query.member_id is None:
            accounts = [a for a in await uow.accounts.all_of(query.alliance_id) if a.owner_id != model.ALLIANCE_ACCOUNT]
        else:
            found = await uow.accounts.get_many(query.alliance_id, [query.member_id])
            if not found and not await uow.alliances.members_among(query.alliance_id, [query.member_id]):
                raise UnknownMember(query.member_id, query.alliance_id)
            accounts = [found.get(query.member_id, model.Account(query.alliance_id, query.member_id))]
    now = clock()
    return contracts.TrafficLights(
        alliance_id=query.alliance_id,
        policy=policy_view(books.alliance_id, books.policy),
        members=[_light_view(books.policy, account, now) for account in sorted(accounts, key=lambda a: a.owner_id)],
    )


REVIEW_BATCH = 5_000


async def review_lights(uow: LedgerUnitOfWork, clock: Clock) -> int:
    """Bring lights that change with time alone (the inactivity window) up to date; returns how many changed.

    Time alone only ever turns a green light yellow (a member whose window ran out); every other change comes
    with a posting or a policy change, which re-light at once. So a round reads only the green accounts whose
    last gift lies beyond their alliance's window (`AccountRepository.turning_inactive`, an index range), and
    its cost follows the number of lights that change, not the number of accounts.
    """
    changed = 0
    while True:
        batch = await _review_due(uow, clock())
        changed += batch
        if batch < REVIEW_BATCH:
            return changed


async def _review_due(uow: LedgerUnitOfWork, now: datetime) -> int:
    async with uow:
        due = await uow.accounts.turning_inactive(now, REVIEW_BATCH)
        if not due:
            return 0
        # Held, then read again: a posting may have re-lit one of them since.
        books = await uow.alliances.lock_many(sorted({account.alliance_id for account in due}))
        current = await uow.accounts.get_pairs({(account.alliance_id, account.owner_id) for account in due})
        updated = []
        for (alliance_id, _), account in sorted(current.items()):
            after, change = model.watch(books[alliance_id].policy, account, now)
            if change is not None:
                updated.append(after)
                announce_light(uow, alliance_id, change, books[alliance_id].moderators, None, now)
        await uow.accounts.save(updated)
        await uow.commit()
    return len(due)


async def _review(uow: LedgerUnitOfWork, books: model.AllianceBooks, now: datetime) -> int:
    """Re-light every account of an alliance the caller holds; lights only, so versions stay as they are."""
    updated = []
    for account in await uow.accounts.all_of(books.alliance_id):
        after, change = model.watch(books.policy, account, now)
        if change is not None:
            updated.append(after)
            announce_light(uow, books.alliance_id, change, books.moderators, None, now)
    await uow.accounts.save(updated)
    return len(updated)


def changed_policy(current: BalancePolicy, command: contracts.SetPolicy) -> BalancePolicy:
    """The current policy with the command's fields applied (validated by the policy itself)."""
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("red_below", command.red_below),
            ("yellow_below", command.yellow_below),
            ("floor", command.floor),
            ("hysteresis", command.hysteresis),
            ("probation_limit", command.probation_limit),
            ("requires_confirmation", command.requires_confirmation),
            ("book_attendance", command.book_attendance),
            ("attendance_points", command.attendance_points),
        )
        if value is not None
    }
    if command.inactivity_days is not None:
        changes["inactivity_window"] = timedelta(days=command.inactivity_days)
    if command.pending_expiry_hours is not None:
        changes["pending_expiry"] = timedelta(hours=command.pending_expiry_hours)
    for limit in command.clear:
        changes["inactivity_window" if limit == "inactivity_days" else limit] = None
    return replace(current, **changes)


def policy_view(alliance_id: str, policy: BalancePolicy) -> contracts.PolicyView:
    window = policy.inactivity_window
    return contracts.PolicyView(
        alliance_id=alliance_id,
        red_below=policy.red_below,
        yellow_below=policy.yellow_below,
        floor=policy.floor,
        inactivity_days=window.days if window is not None else None,
        hysteresis=policy.hysteresis,
        probation_limit=policy.probation_limit,
        requires_confirmation=policy.requires_confirmation,
        pending_expiry_hours=int(policy.pending_expiry.total_seconds() // 3600),
        book_attendance=policy.book_attendance,
        attendance_points=policy.attendance_points,
    )


def _light_view(policy: BalancePolicy, account: model.Account, now: datetime) -> contracts.TrafficLightView:
    return contracts.TrafficLightView(
        member_id=account.owner_id,
        light=contracts.TrafficLight(account.light.value),
        balance=account.balance,
        given=account.given,
        received=account.received,
        inactive=policy.is_inactive(account.opened_at, account.last_given_at, now),
        on_probation=policy.probation_limit is not None and account.given == Decimal(0),
        last_given_at=account.last_given_at,
    )
