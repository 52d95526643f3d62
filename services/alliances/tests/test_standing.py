"""A member's standing in the network: who may take part in new memberships, what suspension, reactivation,
departure and erasure change, and the archive when an alliance's last member leaves the network."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from kehrwasser_alliances.domain import model, standing
from kehrwasser_alliances.service_layer import handlers, meetings, member_changes
from kehrwasser_shared.contracts import alliances as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.contracts.registry import EventContract

from .test_handlers import NOON, FakeAlliancesUnitOfWork
from .test_membership import network

LATER = NOON + timedelta(hours=1)


async def deliver(uow: FakeAlliancesUnitOfWork, contract: EventContract[Any], data: BaseModel) -> None:
    """The members service's event, handed to alliances' handler for it (as its consumer would)."""
    handler = {
        member_contracts.MEMBER_SUSPENDED: member_changes.follow_suspension,
        member_contracts.MEMBER_REACTIVATED: member_changes.follow_reactivation,
        member_contracts.MEMBER_LEFT: member_changes.leave_network,
        member_contracts.MEMBER_ERASED: member_changes.forget_member,
    }[contract]
    await handler(make_event(type_=contract.type, source="/members", data=data), data, uow)  # type: ignore[operator]


def suspended(member_id: str) -> member_contracts.MemberSuspendedV1:
    return member_contracts.MemberSuspendedV1(
        member_id=member_id, reason="spam", suspended_by="staff", suspended_at=LATER
    )


def reactivated(member_id: str) -> member_contracts.MemberReactivatedV1:
    return member_contracts.MemberReactivatedV1(
        member_id=member_id, reason="cleared", reactivated_by="staff", reactivated_at=LATER
    )


def left(member_id: str) -> member_contracts.MemberLeftV1:
    return member_contracts.MemberLeftV1(member_id=member_id, reason="", left_at=LATER)


def test_the_standings_are_the_statuses_the_members_service_announces() -> None:
    assert set(standing.STANDINGS) == set(get_args(member_contracts.MemberStatus))


async def test_a_suspended_members_request_is_declined_a_new_one_refused_and_after_reactivation_allowed() -> None:
    uow, hamburg = await network()
    request = contracts.RequestMembership(alliance_id=hamburg, member_id="linus")
    await handlers.request_membership(request, uow, lambda: NOON)
    await deliver(uow, member_contracts.MEMBER_SUSPENDED, suspended("linus"))
    assert uow.alliances.stored[hamburg].roster["linus"].status == model.DECLINED
    assert uow.emitted_types()[-1] == contracts.MEMBERSHIP_DECLINED.type

    with pytest.raises(model.MemberNotActive, match="suspended"):
        await handlers.request_membership(request, uow, lambda: NOON)
    invite = contracts.InviteMember(alliance_id=hamburg, member_id="linus", requested_by="ada")
    with pytest.raises(model.MemberNotActive):
        await handlers.invite_member(invite, uow, lambda: NOON)

    await deliver(uow, member_contracts.MEMBER_REACTIVATED, reactivated("linus"))
    again = await handlers.request_membership(request, uow, lambda: LATER)
    assert again.status == model.REQUESTED


async def test_one_who_stopped_being_active_while_invited_or_asking_cannot_accept_or_be_approved() -> None:
    """Normally their suspension ended what waited (`nothing-pending`); this is the rule behind it."""
    uow, hamburg = await network()
    await handlers.invite_member(
        contracts.InviteMember(alliance_id=hamburg, member_id="linus", requested_by="ada"), uow, lambda: NOON
    )
    await handlers.request_membership(
        contracts.RequestMembership(alliance_id=hamburg, member_id="grace"), uow, lambda: NOON
    )
    await uow.known_members.set_standing("linus", standing.SUSPENDED)
    await uow.known_members.set_standing("grace", standing.LEFT)
    with pytest.raises(model.MemberNotActive):
        await handlers.accept_invitation(
            contracts.AnswerInvitation(alliance_id=hamburg, member_id="linus"), uow, lambda: NOON
        )
    with pytest.raises(model.MemberNotActive):
        await handlers.approve_membership(
            contracts.ApproveMembership(alliance_id=hamburg, member_id="grace", requested_by="ada"), uow, lambda: NOON
        )
    assert uow.alliances.stored[hamburg].roster["linus"].status == model.INVITED


async def test_reactivation_after_leaving_the_network_lets_them_ask_again_but_the_membership_stays_ended() -> None:
    uow, hamburg = await network()
    await handlers.join_alliance(contracts.JoinAlliance(alliance_id=hamburg, member_id="grace"), uow, lambda: NOON)
    await deliver(uow, member_contracts.MEMBER_LEFT, left("grace"))
    assert await uow.known_members.standing("grace") == standing.LEFT
    request = contracts.RequestMembership(alliance_id=hamburg, member_id="grace")
    with pytest.raises(model.MemberNotActive, match="left"):
        await handlers.request_membership(request, uow, lambda: LATER)

    await deliver(uow, member_contracts.MEMBER_REACTIVATED, reactivated("grace"))
    assert uow.alliances.stored[hamburg].roster["grace"].status == model.LEFT
    assert (await handlers.request_membership(request, uow, lambda: LATER)).status == model.REQUESTED


async def test_erasure_is_final_reactivation_does_not_undo_it() -> None:
    uow, hamburg = await network()
    erased = member_contracts.MemberErasedV1(member_id="linus", erased_at=LATER)
    await deliver(uow, member_contracts.MEMBER_ERASED, erased)
    await deliver(uow, member_contracts.MEMBER_REACTIVATED, reactivated("linus"))
    assert await uow.known_members.standing("linus") == standing.ERASED
    with pytest.raises(model.UnknownMember):
        await handlers.request_membership(
            contracts.RequestMembership(alliance_id=hamburg, member_id="linus"), uow, lambda: LATER
        )


async def test_a_suspended_member_cannot_found_an_alliance() -> None:
    uow, _ = await network()
    await deliver(uow, member_contracts.MEMBER_SUSPENDED, suspended("grace"))
    with pytest.raises(model.MemberNotActive):
        await handlers.create_alliance(
            contracts.CreateAlliance(name="Grace's own", moderator_id="grace"), uow, lambda: LATER
        )


async def test_an_alliance_whose_last_member_leaves_the_network_is_archived_by_their_departure() -> None:
    uow, hamburg = await network()
    await deliver(uow, member_contracts.MEMBER_LEFT, left("ada"))
    alliance = uow.alliances.stored[hamburg]
    assert (alliance.archived_at, alliance.archived_by, alliance.members) == (LATER, "ada", {})
    assert uow.emitted_types()[-2:] == [contracts.MEMBER_LEFT.type, contracts.ALLIANCE_ARCHIVED.type]
    archived = uow.emitted[-1][1]
    assert isinstance(archived, contracts.AllianceArchivedV1)
    assert (archived.archived_by, archived.reason) == ("ada", member_changes.LAST_MEMBER_LEFT)


async def test_an_alliance_with_members_left_is_not_archived_and_an_archived_one_not_again() -> None:
    uow, hamburg = await network()
    await handlers.join_alliance(contracts.JoinAlliance(alliance_id=hamburg, member_id="grace"), uow, lambda: NOON)
    await deliver(uow, member_contracts.MEMBER_LEFT, left("ada"))
    assert not uow.alliances.stored[hamburg].archived
    await handlers.archive_alliance(
        contracts.ArchiveAlliance(alliance_id=hamburg, requested_by="grace"), uow, lambda: LATER
    )
    await deliver(uow, member_contracts.MEMBER_LEFT, left("grace"))
    assert uow.emitted_types().count(contracts.ALLIANCE_ARCHIVED.type) == 1
    assert uow.alliances.stored[hamburg].archived_by == "grace"


async def upcoming_meeting(uow: FakeAlliancesUnitOfWork, alliance_id: str) -> None:
    """A fortnightly course check from next week on, and a meeting that is over already (nothing to cancel)."""
    for starts_at, rrule in ((NOON + timedelta(days=7), "FREQ=WEEKLY;INTERVAL=2"), (NOON - timedelta(days=7), None)):
        await meetings.schedule_meeting(
            contracts.ScheduleMeeting(
                alliance_id=alliance_id, requested_by="ada", title="Course check",
                starts_at=starts_at.replace(tzinfo=None), timezone="UTC", rrule=rrule,
            ),
            uow,
            lambda: NOON - timedelta(days=8),
        )  # fmt: skip


async def test_archiving_an_alliance_cancels_its_upcoming_meetings_with_the_reason() -> None:
    uow, hamburg = await network()
    await handlers.join_alliance(contracts.JoinAlliance(alliance_id=hamburg, member_id="grace"), uow, lambda: NOON)
    await upcoming_meeting(uow, hamburg)
    await handlers.archive_alliance(
        contracts.ArchiveAlliance(alliance_id=hamburg, requested_by="ada", reason="we reached our goal"),
        uow,
        lambda: LATER,
    )
    assert uow.emitted_types()[-2:] == [contracts.ALLIANCE_ARCHIVED.type, contracts.MEETING_CANCELLED.type]
    [cancelled] = [data for _, data in uow.emitted if isinstance(data, contracts.MeetingCancelledV1)]
    assert (cancelled.cancelled_by, cancelled.reason, cancelled.rrule) == (
        "ada",
        "we reached our goal",
        "FREQ=WEEKLY;INTERVAL=2",
    )
    assert cancelled.attendee_ids == ["ada", "grace"]  # each gets the cancellation


async def test_an_alliance_archived_by_its_last_members_departure_keeps_no_upcoming_meeting() -> None:
    uow, hamburg = await network()
    await upcoming_meeting(uow, hamburg)
    await deliver(uow, member_contracts.MEMBER_LEFT, left("ada"))
    assert uow.emitted_types()[-2:] == [contracts.ALLIANCE_ARCHIVED.type, contracts.MEETING_CANCELLED.type]
    cancelled = uow.emitted[-1][1]
    assert isinstance(cancelled, contracts.MeetingCancelledV1)
    assert (cancelled.reason, cancelled.attendee_ids) == (member_changes.LAST_MEMBER_LEFT, [])
