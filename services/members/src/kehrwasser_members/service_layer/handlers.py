"""Use cases of the members service: one small function per command."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import datetime

from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.contracts import privacy

from ..domain import model
from .unit_of_work import MemberFilter, MembersUnitOfWork

Clock = Callable[[], datetime]
TOKEN_BYTES = 32
"""256 random bits per token (unsubscribe and address confirmation): not guessable, url-safe in 43 characters."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


async def register_member(
    command: contracts.RegisterMember, uow: MembersUnitOfWork, clock: Clock
) -> contracts.MemberView:
    async with uow:
        if await uow.members.get_by_email(model.normalize_email(command.email)) is not None:
            raise model.EmailTaken(command.email)
        member = model.register(
            member_id=str(uuid.uuid4()),
            name=command.name,
            email=command.email,
            company=command.company,
            language=command.language,
            focus=command.focus,
            now=clock(),
            unsubscribe_token=new_token(),
        )
        await uow.members.add(member)
        uow.emit(contracts.MEMBER_REGISTERED, contracts.MemberRegisteredV1(**_registered(member)))
        # member-registered.v1 stays as published; notify learns the unsubscribe token from this event instead.
        _announce_preferences(uow, member)
        await uow.commit()
    return _view(member)


async def get_member(command: contracts.GetMember, uow: MembersUnitOfWork) -> contracts.MemberView:
    async with uow:
        member = await _member(uow, command.member_id)
    return _view(member)


async def get_member_by_email(command: contracts.GetMemberByEmail, uow: MembersUnitOfWork) -> contracts.MemberView:
    async with uow:
        member = await uow.members.get_by_email(model.normalize_email(command.email))
    if member is None:
        raise model.UnknownMember(command.email)
    return _view(member)


async def list_members(command: contracts.ListMembers, uow: MembersUnitOfWork) -> contracts.MemberPage:
    where = MemberFilter(
        status=command.status,
        language=command.language,
        focus=model.focus_slug(command.focus) if command.focus is not None else None,
        name_prefix=model.name_key(command.name_prefix) if command.name_prefix is not None else None,
        email_prefix=command.email_prefix.lower() if command.email_prefix is not None else None,
    )
    after = contracts.decode_cursor(command.cursor) if command.cursor is not None else None
    async with uow:
        found = await uow.members.list(where, after=after, limit=command.limit + 1)
    page, more = found[: command.limit], len(found) > command.limit
    last = page[-1] if page else None
    return contracts.MemberPage(
        members=[_summary(member) for member in page],
        next_cursor=contracts.encode_cursor(model.name_key(last.name), last.member_id) if more and last else None,
    )


async def update_profile(
    command: contracts.UpdateProfile, uow: MembersUnitOfWork, clock: Clock
) -> contracts.MemberView:
    async with uow:
        member, changed = model.update_profile(
            await _member(uow, command.member_id),
            requested_by=command.requested_by,
            now=clock(),
            name=command.name,
            company=command.company,
            language=command.language,
            timezone=command.timezone,
            focus=command.focus,
        )
        if changed:
            await uow.members.save(member)
            uow.emit(contracts.MEMBER_PROFILE_UPDATED, _profile_updated(member, changed))
            await uow.commit()
    return _view(member)


async def set_preferences(
    command: contracts.SetPreferences, uow: MembersUnitOfWork, clock: Clock
) -> contracts.MemberView:
    choices = {category: on for category in model.CATEGORIES if (on := getattr(command, category)) is not None}
    async with uow:
        member, changed = model.set_preferences(
            await _member(uow, command.member_id), requested_by=command.requested_by, choices=choices, now=clock()
        )
        if changed:
            await _save_preferences(uow, member)
    return _view(member)


async def unsubscribe(command: contracts.Unsubscribe, uow: MembersUnitOfWork, clock: Clock) -> contracts.Unsubscribed:
    async with uow:
        member = await uow.members.get_by_unsubscribe_token(command.token)
        if member is None:
            raise model.InvalidToken()
        member, changed = model.unsubscribe(member, category=command.category, now=clock())
        if changed:
            await _save_preferences(uow, member)
    return contracts.Unsubscribed(preferences=contracts.Preferences(**member.preferences))


async def request_email_change(
    command: contracts.RequestEmailChange, uow: MembersUnitOfWork, clock: Clock
) -> contracts.EmailChangeRequested:
    token, now = new_token(), clock()
    async with uow:
        member = model.request_email_change(
            await _member(uow, command.member_id),
            requested_by=command.requested_by,
            new_email=command.new_email,
            token=token,
            now=now,
        )
        change = member.email_change
        assert change is not None
        if await uow.members.get_by_email(change.new_email) is not None:
            raise model.EmailTaken(change.new_email)
        await uow.members.save(member)
        uow.emit(
            contracts.MEMBER_EMAIL_CHANGE_REQUESTED,
            contracts.MemberEmailChangeRequestedV1(
                member_id=member.member_id,
                name=member.name,
                language=member.language,
                new_email=change.new_email,
                token=token,
                expires_at=change.expires_at,
                requested_at=now,
            ),
        )
        await uow.commit()
    # The token goes only to the new address: replied, it would let the requester confirm a mailbox not theirs.
    return contracts.EmailChangeRequested(
        member_id=member.member_id, new_email=change.new_email, expires_at=change.expires_at
    )


async def confirm_email_change(
    command: contracts.ConfirmEmailChange, uow: MembersUnitOfWork, clock: Clock
) -> contracts.MemberView:
    async with uow:
        member = await uow.members.get_by_email_token_hash(model.token_hash(command.token))
        if member is None:
            raise model.InvalidToken()
        previous = member.email
        member = model.confirm_email_change(member, token=command.token, now=clock())
        assert previous is not None, "only an erased member has no address"
        assert member.email is not None
        holder = await uow.members.get_by_email(member.email)
        if holder is not None and holder.member_id != member.member_id:
            raise model.EmailTaken(member.email)
        await uow.members.save(member)
        uow.emit(
            contracts.MEMBER_EMAIL_CHANGED,
            contracts.MemberEmailChangedV1(
                member_id=member.member_id,
                email=member.email,
                previous_email=previous,
                changed_at=member.updated_at or clock(),
            ),
        )
        await uow.commit()
    return _view(member)


async def suspend_member(
    command: contracts.SuspendMember, uow: MembersUnitOfWork, clock: Clock
) -> contracts.MemberView:
    async with uow:
        member = model.suspend(
            await _member(uow, command.member_id), requested_by=command.requested_by, reason=command.reason, now=clock()
        )
        change = _status_change(member)
        await uow.members.save(member)
        uow.emit(
            contracts.MEMBER_SUSPENDED,
            contracts.MemberSuspendedV1(
                member_id=member.member_id, reason=change.reason, suspended_by=change.by, suspended_at=change.at
            ),
        )
        await uow.commit()
    return _view(member)


async def reactivate_member(
    command: contracts.ReactivateMember, uow: MembersUnitOfWork, clock: Clock
) -> contracts.MemberView:
    async with uow:
        member = model.reactivate(
            await _member(uow, command.member_id), requested_by=command.requested_by, reason=command.reason, now=clock()
        )
        change = _status_change(member)
        await uow.members.save(member)
        uow.emit(
            contracts.MEMBER_REACTIVATED,
            contracts.MemberReactivatedV1(
                member_id=member.member_id, reason=change.reason, reactivated_by=change.by, reactivated_at=change.at
            ),
        )
        await uow.commit()
    return _view(member)


async def leave_network(command: contracts.LeaveNetwork, uow: MembersUnitOfWork, clock: Clock) -> contracts.MemberView:
    async with uow:
        member = model.leave(
            await _member(uow, command.member_id), requested_by=command.requested_by, reason=command.reason, now=clock()
        )
        change = _status_change(member)
        await uow.members.save(member)
        uow.emit(
            contracts.MEMBER_LEFT,
            contracts.MemberLeftV1(member_id=member.member_id, reason=change.reason, left_at=change.at),
        )
        await uow.commit()
    return _view(member)


async def erase_member(command: contracts.EraseMember, uow: MembersUnitOfWork, clock: Clock) -> contracts.MemberView:
    """Who may erase is the gateway's word (the member, or staff for them); NATS lets only it and operators ask."""
    async with uow:
        member, changed = model.erase(
            await _member(uow, command.member_id),
            requested_by=command.requested_by,
            now=clock(),
            unsubscribe_token=new_token(),
        )
        if changed:
            await uow.members.save(member)
            assert member.updated_at is not None
            uow.emit(
                contracts.MEMBER_ERASED,
                contracts.MemberErasedV1(member_id=member.member_id, erased_at=member.updated_at),
            )
            await uow.commit()
    return _view(member)


async def export_member(query: privacy.ExportMember, uow: MembersUnitOfWork) -> privacy.MembersPart:
    async with uow:
        member = await _member(uow, query.member_id)
    change = member.last_status_change
    return privacy.MembersPart(
        profile=_view(member),
        status_changed_by=change.by if change else None,
        status_reason=change.reason if change else "",
        status_changed_at=change.at if change else None,
        updated_at=member.updated_at,
    )


async def _member(uow: MembersUnitOfWork, member_id: str) -> model.Member:
    member = await uow.members.get(member_id)
    if member is None:
        raise model.UnknownMember(member_id)
    return member


async def _save_preferences(uow: MembersUnitOfWork, member: model.Member) -> None:
    await uow.members.save(member)
    _announce_preferences(uow, member)
    await uow.commit()


def _announce_preferences(uow: MembersUnitOfWork, member: model.Member) -> None:
    uow.emit(
        contracts.MEMBER_PREFERENCES_CHANGED,
        contracts.MemberPreferencesChangedV1(
            member_id=member.member_id,
            preferences=contracts.Preferences(**member.preferences),
            unsubscribe_token=member.unsubscribe_token,
            changed_at=member.updated_at or member.registered_at,
        ),
    )


def _status_change(member: model.Member) -> model.StatusChange:
    change = member.last_status_change
    assert change is not None, "a status change records who made it"
    return change


def _profile_updated(member: model.Member, changed: list[str]) -> contracts.MemberProfileUpdatedV1:
    return contracts.MemberProfileUpdatedV1.model_validate(
        {
            "member_id": member.member_id,
            "name": member.name,
            "company": member.company,
            "language": member.language,
            "timezone": member.timezone,
            "focus": list(member.focus),
            "changed": changed,
            "updated_at": member.updated_at,
        }
    )


def _registered(member: model.Member) -> dict[str, object]:
    return {
        "member_id": member.member_id,
        "name": member.name,
        "email": member.email,
        "company": member.company,
        "language": member.language,
        "focus": list(member.focus),
        "registered_at": member.registered_at,
    }


def _view(member: model.Member) -> contracts.MemberView:
    return contracts.MemberView.model_validate(
        {
            **_registered(member),
            "timezone": member.timezone,
            "status": member.status.value,
            "preferences": member.preferences,
            "pending_email": member.email_change.new_email if member.email_change else None,
        }
    )


def _summary(member: model.Member) -> contracts.MemberSummary:
    return contracts.MemberSummary.model_validate(
        {
            "member_id": member.member_id,
            "name": member.name,
            "email": member.email,
            "company": member.company,
            "language": member.language,
            "timezone": member.timezone,
            "focus": list(member.focus),
            "status": member.status.value,
        }
    )
