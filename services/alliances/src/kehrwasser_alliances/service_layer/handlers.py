"""Use cases of the alliances service: one small function per command or event."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime

from kehrwasser_shared.contracts import alliances as contracts
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.contracts.envelope import CloudEvent

from ..domain import model
from .unit_of_work import AlliancesUnitOfWork

Clock = Callable[[], datetime]
MEMBERS_CONSUMER = "alliances-from-members"


async def learn_member(event: CloudEvent, data: member_contracts.MemberRegisteredV1, uow: AlliancesUnitOfWork) -> None:
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        await uow.known_members.add(data.member_id, data.name)
        await uow.commit()


async def create_alliance(
    command: contracts.CreateAlliance, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.AllianceView:
    async with uow:
        await _check_known(uow, command.moderator_id)
        alliance = model.found(
            alliance_id=str(uuid.uuid4()),
            name=command.name,
            purpose=command.purpose,
            focus=command.focus,
            warning_threshold=command.warning_threshold,
            founder_id=command.moderator_id,
            now=clock(),
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
                created_at=alliance.created_at,
            ),
        )
        _announce_membership(uow, alliance.alliance_id, alliance.members[alliance.founder_id])
        await uow.commit()
    return _view(alliance)


async def join_alliance(
    command: contracts.JoinAlliance, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MembershipView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        await _check_known(uow, command.member_id)
        membership = alliance.admit(command.member_id, clock())
        if membership is not None:
            await uow.alliances.add_membership(alliance.alliance_id, membership)
            _announce_membership(uow, alliance.alliance_id, membership)
            await uow.commit()
    existing = alliance.members[command.member_id]
    return contracts.MembershipView(alliance_id=alliance.alliance_id, member_id=existing.member_id, role=existing.role)


async def schedule_meeting(
    command: contracts.ScheduleMeeting, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.MeetingView:
    async with uow:
        alliance = await _get(uow, command.alliance_id)
        meeting = model.schedule_meeting(
            alliance,
            meeting_id=str(uuid.uuid4()),
            requested_by=command.requested_by,
            title=command.title,
            starts_at=command.starts_at,
            timezone=command.timezone,
            duration_minutes=command.duration_minutes,
            location=command.location,
            now=clock(),
        )
        await uow.alliances.add_meeting(meeting)
        fields = {**asdict(meeting), "starts_at": model.instant_of(meeting.starts_at, meeting.timezone)}
        uow.emit(contracts.MEETING_SCHEDULED, contracts.MeetingScheduledV1(**fields, alliance_name=alliance.name))
        await uow.commit()
    return contracts.MeetingView.model_validate(fields)


async def _get(uow: AlliancesUnitOfWork, alliance_id: str) -> model.Alliance:
    alliance = await uow.alliances.get(alliance_id)
    if alliance is None:
        raise model.UnknownAlliance(alliance_id)
    return alliance


async def _check_known(uow: AlliancesUnitOfWork, member_id: str) -> None:
    if not await uow.known_members.exists(member_id):
        raise model.UnknownMember(member_id)


def _announce_membership(uow: AlliancesUnitOfWork, alliance_id: str, membership: model.Membership) -> None:
    uow.emit(
        contracts.MEMBER_JOINED,
        contracts.MemberJoinedV1(
            alliance_id=alliance_id,
            member_id=membership.member_id,
            role=membership.role,
            joined_at=membership.joined_at,
        ),
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
    )
