"""Alliances follows what happens to members elsewhere in the network, and answers their data export.

- ``member-profile-updated``: the name and focus it knows are replaced, so alignment is computed from today's
  focus (requests, approvals and `alliances.get` compute it when asked).
- ``member-left`` (left the network): every membership ends as if they had left each alliance (alliances'
  own ``member-left``, so the ledger and notify follow); a last moderator's place goes to the longest-standing
  member (``role-changed``); an alliance they were the last member of is archived (``alliance-archived``,
  decided by them); waiting invitations and requests end (declined). Their standing becomes ``left``.
- ``member-suspended``: waiting invitations and requests end, declined by the one who suspended; memberships stay
  (a suspension is a matter between the member and the network's staff, not the alliances' to undo). Their
  standing becomes ``suspended``.
- ``member-reactivated``: their standing is ``active`` again, so they may ask to join and be invited; what ended
  while they were suspended or gone (memberships, declined requests and invitations) stays ended.
- ``member-erased``: as leaving the network, then the name and focus are forgotten and the words about them in
  their standings (their request's message, a moderator's reason) are cleared; the standings themselves and
  every decision they took stay under the id. Their standing becomes ``erased``, for good.

A member who is not active may not ask to join, be invited, accept an invitation or be approved
(`standing.check_active`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from kehrwasser_shared.contracts import alliances as contracts
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.contracts import privacy
from kehrwasser_shared.contracts.envelope import CloudEvent
from kehrwasser_shared.messaging.consumer import Subscription

from ..domain import departures, model, standing
from .handlers import MEMBERS_CONSUMER
from .meetings import cancel_upcoming, uninvite_from_upcoming
from .unit_of_work import AlliancesUnitOfWork

LEFT_THE_NETWORK = "left the network"
SUSPENDED = "suspended from the network"
LAST_MEMBER_LEFT = "its last member left the network"
PAGE = 1000


def subscriptions(uow: Callable[[], AlliancesUnitOfWork]) -> list[Subscription]:
    """The member changes alliances follows, on its consumer of the members stream (`MEMBERS_CONSUMER`)."""
    return [
        Subscription(member_contracts.MEMBER_PROFILE_UPDATED, lambda e, d: follow_profile(e, d, uow())),
        Subscription(member_contracts.MEMBER_LEFT, lambda e, d: leave_network(e, d, uow())),
        Subscription(member_contracts.MEMBER_SUSPENDED, lambda e, d: follow_suspension(e, d, uow())),
        Subscription(member_contracts.MEMBER_REACTIVATED, lambda e, d: follow_reactivation(e, d, uow())),
        Subscription(member_contracts.MEMBER_ERASED, lambda e, d: forget_member(e, d, uow())),
    ]


async def follow_profile(
    event: CloudEvent, data: member_contracts.MemberProfileUpdatedV1, uow: AlliancesUnitOfWork
) -> None:
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        await uow.member_records.follow_profile(data.member_id, data.name, list(data.focus))
        await uow.commit()


async def leave_network(event: CloudEvent, data: member_contracts.MemberLeftV1, uow: AlliancesUnitOfWork) -> None:
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        for alliance in await _alliances_of(uow, data.member_id):
            await _depart(uow, alliance, data.member_id, data.left_at)
        await _follow_standing(uow, data.member_id, standing.LEFT)
        await uow.commit()


async def follow_suspension(
    event: CloudEvent, data: member_contracts.MemberSuspendedV1, uow: AlliancesUnitOfWork
) -> None:
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        for alliance in await _alliances_of(uow, data.member_id):
            await _withdraw(uow, alliance, data.member_id, data.suspended_by, SUSPENDED, data.suspended_at)
        await _follow_standing(uow, data.member_id, standing.SUSPENDED)
        await uow.commit()


async def follow_reactivation(
    event: CloudEvent, data: member_contracts.MemberReactivatedV1, uow: AlliancesUnitOfWork
) -> None:
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        current = await uow.known_members.standing(data.member_id)
        if current is not None:
            await uow.known_members.set_standing(data.member_id, standing.after_reactivation(current))
        await uow.commit()


async def forget_member(event: CloudEvent, data: member_contracts.MemberErasedV1, uow: AlliancesUnitOfWork) -> None:
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        for alliance in await _alliances_of(uow, data.member_id):
            await _depart(uow, alliance, data.member_id, data.erased_at)
            forgotten = departures.forget_words(alliance, data.member_id)
            if forgotten is not None:
                await uow.alliances.save_membership(alliance.alliance_id, forgotten)
        await uow.member_records.forget(data.member_id)
        await _follow_standing(uow, data.member_id, standing.ERASED)
        await uow.commit()


async def export_member(query: privacy.ExportMember, uow: AlliancesUnitOfWork) -> privacy.AlliancesPart:
    async with uow:
        known = (await uow.known_members.get_many([query.member_id])).get(query.member_id)
        standings = await uow.alliances.memberships_of(query.member_id, None, PAGE * PAGE)
        decisions = await uow.member_records.decisions_by(query.member_id)
        names = await uow.member_records.alliance_names(sorted({a for a, _ in [*standings, *decisions]}))
    return privacy.AlliancesPart(
        known_as=privacy.KnownAs(name=known.name, focus=list(known.focus)) if known is not None else None,
        memberships=[_record(alliance_id, names, m) for alliance_id, m in standings],
        decisions=[_record(alliance_id, names, m) for alliance_id, m in decisions],
        decided_about=[m.member_id for _, m in decisions],
    )


async def _alliances_of(uow: AlliancesUnitOfWork, member_id: str) -> list[model.Alliance]:
    found = []
    for alliance_id, _ in await uow.alliances.memberships_of(member_id, None, PAGE * PAGE):
        alliance = await uow.alliances.get(alliance_id)
        if alliance is not None:
            found.append(alliance)
    return found


async def _follow_standing(uow: AlliancesUnitOfWork, member_id: str, new: str) -> None:
    """Take the members service's word, except that nothing but erasure follows an erasure."""
    if await uow.known_members.standing(member_id) not in (None, standing.ERASED):
        await uow.known_members.set_standing(member_id, new)


async def _depart(uow: AlliancesUnitOfWork, alliance: model.Alliance, member_id: str, at: datetime) -> None:
    departure = departures.depart(alliance, member_id, at)
    if departure is None:
        await _withdraw(uow, alliance, member_id, member_id, LEFT_THE_NETWORK, at)
        return
    if departure.successor is not None:
        successor = departure.successor
        await uow.alliances.save_membership(alliance.alliance_id, successor)
        uow.emit(
            contracts.ROLE_CHANGED,
            contracts.RoleChangedV1(
                alliance_id=alliance.alliance_id,
                member_id=successor.member_id,
                role=successor.role,
                previous_role=model.MEMBER,
                decided_by=member_id,
                changed_at=departure.left.since,
            ),
        )
    left = departure.left
    await uow.alliances.save_membership(alliance.alliance_id, left)
    uow.emit(
        contracts.MEMBER_LEFT,
        contracts.MemberLeftV1(
            alliance_id=alliance.alliance_id, member_id=member_id, role=left.role, left_at=left.since
        ),
    )
    await uninvite_from_upcoming(uow, alliance, member_id, "left", left.since)
    if departure.archived:
        await uow.alliances.save(alliance)
        uow.emit(
            contracts.ALLIANCE_ARCHIVED,
            contracts.AllianceArchivedV1(
                alliance_id=alliance.alliance_id, archived_by=member_id, reason=LAST_MEMBER_LEFT, archived_at=at
            ),
        )
        await cancel_upcoming(uow, alliance, member_id, LAST_MEMBER_LEFT, at)


async def _withdraw(
    uow: AlliancesUnitOfWork, alliance: model.Alliance, member_id: str, decided_by: str, reason: str, at: datetime
) -> None:
    ended = departures.withdraw(alliance, member_id, decided_by=decided_by, reason=reason, now=at)
    if ended is None:
        return
    await uow.alliances.save_membership(alliance.alliance_id, ended)
    if ended.status == model.INVITATION_DECLINED:
        uow.emit(
            contracts.INVITATION_DECLINED,
            contracts.InvitationDeclinedV1(
                alliance_id=alliance.alliance_id, member_id=member_id, reason=reason, declined_at=at
            ),
        )
    else:
        uow.emit(
            contracts.MEMBERSHIP_DECLINED,
            contracts.MembershipDeclinedV1(
                alliance_id=alliance.alliance_id,
                member_id=member_id,
                decided_by=decided_by,
                reason=reason,
                declined_at=at,
            ),
        )


def _record(alliance_id: str, names: dict[str, str], membership: model.Membership) -> privacy.MembershipRecord:
    return privacy.MembershipRecord(
        alliance_id=alliance_id,
        alliance_name=names.get(alliance_id, ""),
        role=membership.role,
        status=membership.status,
        since=membership.since,
        decided_by=membership.decided_by,
        reason=membership.reason,
        message=membership.message,
        admitted_via=membership.admitted_via,
    )
