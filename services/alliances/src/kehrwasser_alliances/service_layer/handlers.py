"""Use cases of the alliances service: one small function per command or event."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from kehrwasser_shared.contracts import alliances as contracts
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.contracts.envelope import CloudEvent

from ..domain import model, standing
from ..domain.alignment import Alignment, align
from .meetings import cancel_upcoming, invite_to_upcoming, uninvite_from_upcoming
from .unit_of_work import AlliancesUnitOfWork

Clock = Callable[[], datetime]
MEMBERS_CONSUMER = "alliances-from-members"
ARCHIVED = "the alliance was archived"


async def learn_member(event: CloudEvent, data: member_contracts.MemberRegisteredV1, uow: AlliancesUnitOfWork) -> None:
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        await uow.known_members.add(data.member_id, data.name, list(data.focus))
        await uow.commit()


async def create_alliance(
    command: contracts.CreateAlliance, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.AllianceView:
    async with uow:
        for founder_id in command.founders:
            await _check_active(uow, founder_id)
        alliance = model.found(
            alliance_id=str(uuid.uuid4()),
            name=command.name,
            purpose=command.purpose,
            focus=command.focus,
            warning_threshold=command.warning_threshold,
            founder_ids=command.founders,
            now=clock(),
            requires_confirmation=command.requires_confirmation,
            size_limit=command.size_limit,
            alignment_threshold=command.alignment_threshold,
        )
        await uow.alliances.add(alliance)
        uow.emit(
            contracts.ALLIANCE_CREATED,
            contracts.AllianceCreatedV1(
                alliance_id=alliance.alliance_id,
                name=alliance.name,
                purpose=alliance.purpose,
                focus=list(alliance.focus),
                warning_threshold=alliance.warning_threshold,
                moderator_id=alliance.founder_id,
                moderator_ids=alliance.moderators,
                created_at=alliance.created_at,
                requires_confirmation=alliance.requires_confirmation,
                size_limit=alliance.size_limit,
                alignment_threshold=alliance.alignment_threshold,
            ),
        )
        for membership in alliance.members.values():
            _announce_joined(uow, alliance.alliance_id, membership)
        await uow.commit()
    return _view(alliance)


async def update_alliance(
    command: contracts.UpdateAlliance, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.AllianceView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        alliance.update(
            by=command.requested_by,
            name=command.name,
            purpose=command.purpose,
            focus=command.focus,
            warning_threshold=command.warning_threshold,
            size_limit=command.size_limit,
            alignment_threshold=command.alignment_threshold,
        )
        await uow.alliances.save(alliance)
        uow.emit(
            contracts.ALLIANCE_UPDATED,
            contracts.AllianceUpdatedV1(
                alliance_id=alliance.alliance_id,
                name=alliance.name,
                purpose=alliance.purpose,
                focus=list(alliance.focus),
                warning_threshold=alliance.warning_threshold,
                size_limit=alliance.size_limit,
                alignment_threshold=alliance.alignment_threshold,
                updated_by=command.requested_by,
                updated_at=clock(),
            ),
        )
        await uow.commit()
    return _view(alliance)


async def archive_alliance(
    command: contracts.ArchiveAlliance, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.AllianceView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        if alliance.archive(by=command.requested_by, now=clock()):
            await uow.alliances.save(alliance)
            assert alliance.archived_at is not None
            reason = command.reason.strip()
            uow.emit(
                contracts.ALLIANCE_ARCHIVED,
                contracts.AllianceArchivedV1(
                    alliance_id=alliance.alliance_id,
                    archived_by=command.requested_by,
                    reason=reason,
                    archived_at=alliance.archived_at,
                ),
            )
            await cancel_upcoming(uow, alliance, command.requested_by, reason or ARCHIVED, alliance.archived_at)
            await uow.commit()
    return _view(alliance)


async def join_alliance(
    command: contracts.JoinAlliance, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MembershipView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        await _check_active(uow, command.member_id)
        membership = alliance.admit(command.member_id, clock())
        if membership is not None:
            await uow.alliances.save_membership(alliance.alliance_id, membership)
            _announce_joined(uow, alliance.alliance_id, membership)
            await invite_to_upcoming(uow, alliance, membership.member_id, membership.since)
            await uow.commit()
    return _membership_view(alliance.alliance_id, alliance.roster[command.member_id])


async def invite_member(
    command: contracts.InviteMember, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MembershipView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        await _check_active(uow, command.member_id)
        invited = alliance.invite(command.member_id, by=command.requested_by, message=command.message, now=clock())
        await uow.alliances.save_membership(alliance.alliance_id, invited)
        uow.emit(
            contracts.MEMBER_INVITED,
            contracts.MemberInvitedV1(
                alliance_id=alliance.alliance_id,
                member_id=invited.member_id,
                invited_by=command.requested_by,
                message=invited.message,
                invited_at=invited.since,
            ),
        )
        await uow.commit()
    return _membership_view(alliance.alliance_id, invited)


async def accept_invitation(
    command: contracts.AnswerInvitation, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MembershipView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        joined = alliance.accept_invitation(command.member_id, clock())
        await _check_still_active(uow, command.member_id)
        await uow.alliances.save_membership(alliance.alliance_id, joined)
        _announce_joined(uow, alliance.alliance_id, joined)
        await invite_to_upcoming(uow, alliance, joined.member_id, joined.since)
        await uow.commit()
    return _membership_view(alliance.alliance_id, joined)


async def decline_invitation(
    command: contracts.AnswerInvitation, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MembershipView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        declined = alliance.decline_invitation(command.member_id, command.reason, clock())
        await uow.alliances.save_membership(alliance.alliance_id, declined)
        uow.emit(
            contracts.INVITATION_DECLINED,
            contracts.InvitationDeclinedV1(
                alliance_id=alliance.alliance_id,
                member_id=declined.member_id,
                reason=declined.reason,
                declined_at=declined.since,
            ),
        )
        await uow.commit()
    return _membership_view(alliance.alliance_id, declined)


async def request_membership(
    command: contracts.RequestMembership, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MembershipView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        await _check_active(uow, command.member_id)
        requested = alliance.request(command.member_id, command.message, clock())
        alignment = await _alignment(uow, alliance, command.member_id)
        await uow.alliances.save_membership(alliance.alliance_id, requested)
        uow.emit(
            contracts.MEMBERSHIP_REQUESTED,
            contracts.MembershipRequestedV1(
                alliance_id=alliance.alliance_id,
                member_id=requested.member_id,
                message=requested.message,
                alignment=_alignment_view(alignment),
                requested_at=requested.since,
                moderator_ids=alliance.moderators,
            ),
        )
        await uow.commit()
    return _membership_view(alliance.alliance_id, requested)


async def approve_membership(
    command: contracts.ApproveMembership, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MembershipView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        model.check_moderator(alliance, command.requested_by)
        # Judged on the focus known now, not at request time: focus may have changed meanwhile.
        alignment = await _alignment(uow, alliance, command.member_id)
        joined = alliance.approve(
            command.member_id,
            by=command.requested_by,
            alignment=alignment,
            override_reason=command.override_reason,
            now=clock(),
        )
        await _check_still_active(uow, command.member_id)
        await uow.alliances.save_membership(alliance.alliance_id, joined)
        _announce_joined(uow, alliance.alliance_id, joined)
        await invite_to_upcoming(uow, alliance, joined.member_id, joined.since)
        await uow.commit()
    return _membership_view(alliance.alliance_id, joined)


async def decline_membership(
    command: contracts.DeclineMembership, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MembershipView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        declined = alliance.decline(command.member_id, by=command.requested_by, reason=command.reason, now=clock())
        await uow.alliances.save_membership(alliance.alliance_id, declined)
        uow.emit(
            contracts.MEMBERSHIP_DECLINED,
            contracts.MembershipDeclinedV1(
                alliance_id=alliance.alliance_id,
                member_id=declined.member_id,
                decided_by=command.requested_by,
                reason=declined.reason,
                declined_at=declined.since,
            ),
        )
        await uow.commit()
    return _membership_view(alliance.alliance_id, declined)


async def leave_alliance(
    command: contracts.LeaveAlliance, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MembershipView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        left = alliance.leave(command.member_id, clock())
        await uow.alliances.save_membership(alliance.alliance_id, left)
        uow.emit(
            contracts.MEMBER_LEFT,
            contracts.MemberLeftV1(
                alliance_id=alliance.alliance_id, member_id=left.member_id, role=left.role, left_at=left.since
            ),
        )
        await uninvite_from_upcoming(uow, alliance, left.member_id, "left", left.since)
        await uow.commit()
    return _membership_view(alliance.alliance_id, left)


async def remove_member(
    command: contracts.RemoveMember, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MembershipView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        removed = alliance.remove(command.member_id, by=command.requested_by, reason=command.reason, now=clock())
        await uow.alliances.save_membership(alliance.alliance_id, removed)
        uow.emit(
            contracts.MEMBER_REMOVED,
            contracts.MemberRemovedV1(
                alliance_id=alliance.alliance_id,
                member_id=removed.member_id,
                role=removed.role,
                decided_by=command.requested_by,
                reason=removed.reason,
                removed_at=removed.since,
            ),
        )
        await uninvite_from_upcoming(uow, alliance, removed.member_id, "removed", removed.since)
        await uow.commit()
    return _membership_view(alliance.alliance_id, removed)


def change_role(
    role: str,
) -> Callable[[contracts.ChangeRole, AlliancesUnitOfWork, Clock], Awaitable[contracts.MembershipView]]:
    """The handler of `promote` (role moderator) or `demote` (role member)."""

    async def handle(command: contracts.ChangeRole, uow: AlliancesUnitOfWork, clock: Clock) -> contracts.MembershipView:
        async with uow:
            alliance = await _get(uow, command.alliance_id)
            previous = alliance.roster.get(command.member_id)
            changed = alliance.change_role(command.member_id, role, by=command.requested_by)
            if changed is not None and previous is not None:
                await uow.alliances.save_membership(alliance.alliance_id, changed)
                uow.emit(
                    contracts.ROLE_CHANGED,
                    contracts.RoleChangedV1(
                        alliance_id=alliance.alliance_id,
                        member_id=changed.member_id,
                        role=changed.role,
                        previous_role=previous.role,
                        decided_by=command.requested_by,
                        changed_at=clock(),
                    ),
                )
                await uow.commit()
        return _membership_view(alliance.alliance_id, alliance.roster[command.member_id])

    return handle


async def get_alliance(query: contracts.GetAlliance, uow: AlliancesUnitOfWork) -> contracts.AllianceDetails:
    async with uow:
        alliance = await _get(uow, query.alliance_id)
        members = alliance.members
        known = await uow.known_members.get_many(list(members))
    focus = {member_id: known[member_id].focus if member_id in known else () for member_id in members}
    standings = [
        contracts.MemberStanding(
            member_id=member_id,
            name=known[member_id].name if member_id in known else "",
            role=membership.role,
            joined_at=membership.since,
            alignment=_alignment_view(
                align(focus[member_id], alliance.focus, [f for other, f in focus.items() if other != member_id])
            ),
        )
        for member_id, membership in members.items()
    ]
    return contracts.AllianceDetails(alliance=_view(alliance), members=standings)


async def list_alliances(query: contracts.ListAlliances, uow: AlliancesUnitOfWork) -> contracts.AlliancePage:
    async with uow:
        # One more than asked: whether a next page exists without a second query.
        found = await uow.alliances.page(
            member_id=query.member_id,
            focus=query.focus,
            include_archived=query.include_archived,
            after=query.cursor,
            limit=query.limit + 1,
        )
    items = found[: query.limit]
    more = len(found) > query.limit
    return contracts.AlliancePage(
        items=[_view(alliance) for alliance in items], next_cursor=items[-1].alliance_id if more else None
    )


async def list_memberships(query: contracts.ListMemberships, uow: AlliancesUnitOfWork) -> contracts.MembershipPage:
    async with uow:
        found = await uow.alliances.memberships_of(query.member_id, query.cursor, query.limit + 1)
    items = found[: query.limit]
    more = len(found) > query.limit
    return contracts.MembershipPage(
        items=[_membership_view(alliance_id, membership) for alliance_id, membership in items],
        next_cursor=items[-1][0] if more else None,
    )


async def pending_requests(query: contracts.PendingRequests, uow: AlliancesUnitOfWork) -> contracts.PendingRequestPage:
    async with uow:
        alliance = await _get(uow, query.alliance_id)
        model.check_moderator(alliance, query.requested_by)
        waiting = sorted(
            (m for m in alliance.roster.values() if m.status == model.REQUESTED), key=lambda m: (m.since, m.member_id)
        )
        if query.cursor is not None:
            waiting = [m for m in waiting if _request_cursor(m) > query.cursor]
        page = waiting[: query.limit]
        known = await uow.known_members.get_many([m.member_id for m in page])
        alignments = {m.member_id: await _alignment(uow, alliance, m.member_id) for m in page}
    items = [
        contracts.PendingRequestView(
            member_id=m.member_id,
            name=known[m.member_id].name if m.member_id in known else "",
            message=m.message,
            requested_at=m.since,
            alignment=_alignment_view(alignments[m.member_id]),
            needs_override=alignments[m.member_id].below(alliance.alignment_threshold),
        )
        for m in page
    ]
    more = len(waiting) > query.limit
    return contracts.PendingRequestPage(items=items, next_cursor=_request_cursor(page[-1]) if more else None)


def _request_cursor(membership: model.Membership) -> str:
    """Oldest first: microseconds since the epoch, zero-padded so that the text sorts as the time does."""
    return f"{int(membership.since.timestamp() * 1_000_000):020d}:{membership.member_id}"


async def _alignment(uow: AlliancesUnitOfWork, alliance: model.Alliance, member_id: str) -> Alignment:
    """The member's focus against the alliance's and its members' (themselves left out)."""
    others = [m for m in alliance.members if m != member_id]
    known = await uow.known_members.get_many([member_id, *others])
    member_focus = known[member_id].focus if member_id in known else ()
    return align(member_focus, alliance.focus, [known[m].focus for m in others if m in known])


def _alignment_view(alignment: Alignment) -> contracts.Alignment:
    return contracts.Alignment(
        score=alignment.score,
        alliance_overlap=alignment.alliance_overlap,
        members_overlap=alignment.members_overlap,
        matching=list(alignment.matching),
        missing=list(alignment.missing),
    )


async def _get(uow: AlliancesUnitOfWork, alliance_id: str) -> model.Alliance:
    alliance = await uow.alliances.get(alliance_id)
    if alliance is None:
        raise model.UnknownAlliance(alliance_id)
    return alliance


async def _check_active(uow: AlliancesUnitOfWork, member_id: str) -> None:
    """Known, not erased (else `unknown-member`, as before standings were kept) and active."""
    found = await uow.known_members.standing(member_id)
    if found is None or found == standing.ERASED:
        raise model.UnknownMember(member_id)
    standing.check_active(member_id, found)


async def _check_still_active(uow: AlliancesUnitOfWork, member_id: str) -> None:
    """One whose invitation or request waits is known; checked after the domain found it waiting, so that an
    answer to nothing stays `nothing-pending` (a suspension, departure or erasure ends what waits)."""
    found = await uow.known_members.standing(member_id)
    if found is not None:
        standing.check_active(member_id, found)


def _announce_joined(uow: AlliancesUnitOfWork, alliance_id: str, membership: model.Membership) -> None:
    uow.emit(
        contracts.MEMBER_JOINED,
        contracts.MemberJoinedV1(
            alliance_id=alliance_id,
            member_id=membership.member_id,
            role=membership.role,
            joined_at=membership.since,
            admitted_via=membership.admitted_via or model.JOINED,
            decided_by=membership.decided_by,
            override_reason=membership.reason or None,
        ),
    )


def _membership_view(alliance_id: str, membership: model.Membership) -> contracts.MembershipView:
    return contracts.MembershipView(
        alliance_id=alliance_id,
        member_id=membership.member_id,
        role=membership.role,
        status=membership.status,
        since=membership.since,
        decided_by=membership.decided_by,
        reason=membership.reason,
    )


def _view(alliance: model.Alliance) -> contracts.AllianceView:
    return contracts.AllianceView(
        alliance_id=alliance.alliance_id,
        name=alliance.name,
        purpose=alliance.purpose,
        focus=list(alliance.focus),
        warning_threshold=alliance.warning_threshold,
        moderator_id=alliance.founder_id,
        member_ids=list(alliance.members),
        moderator_ids=alliance.moderators,
        requires_confirmation=alliance.requires_confirmation,
        size_limit=alliance.size_limit,
        alignment_threshold=alliance.alignment_threshold,
        archived=alliance.archived,
    )
