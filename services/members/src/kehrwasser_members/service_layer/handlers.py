"""Use cases of the members service: one small function per command."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from kehrwasser_shared.contracts import members as contracts

from ..domain import model
from .unit_of_work import MembersUnitOfWork

Clock = Callable[[], datetime]


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
        )
        await uow.members.add(member)
        uow.emit(contracts.MEMBER_REGISTERED, contracts.MemberRegisteredV1(**_fields(member)))
        await uow.commit()
    return contracts.MemberView(**_fields(member))


async def get_member(command: contracts.GetMember, uow: MembersUnitOfWork) -> contracts.MemberView:
    async with uow:
        member = await uow.members.get(command.member_id)
    if member is None:
        raise model.UnknownMember(command.member_id)
    return contracts.MemberView(**_fields(member))


def _fields(member: model.Member) -> dict[str, object]:
    return {
        "member_id": member.member_id,
        "name": member.name,
        "email": member.email,
        "company": member.company,
        "language": member.language,
        "focus": list(member.focus),
        "registered_at": member.registered_at,
    }
