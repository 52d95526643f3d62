"""Notify follows what happens to members elsewhere in the network, and answers their data export.

- ``member-email-changed``: mail goes to the new address from then on (mail already queued keeps its address).
- ``member-profile-updated``: the name, language and time zone of the mail follow (the zone its times are shown
  in and the member's quiet hours are kept in; `Europe/Berlin` until a profile names one).
- ``member-erased``: the contact keeps its id without name or address, mail still waiting for the member is
  suppressed, and the deliveries already made keep only their id, kind, state and times (the messages and the
  address are dropped). A mail queued for them later is suppressed as it is queued (an empty address is what
  marks an erased contact, see `ERASED_ADDRESS`).

Leaving the network and suspension change no mail here: leaving ends the member's alliance memberships (notify
follows alliances' events), and a suspended member still belongs to their alliances and hears about them.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.contracts import privacy
from kehrwasser_shared.contracts.envelope import CloudEvent
from kehrwasser_shared.messaging.consumer import Subscription

from .handlers import MEMBERS_CONSUMER
from .unit_of_work import NotifyUnitOfWork

ERASED_ADDRESS = ""
"""The address of an erased member's contact: nothing can be sent to it."""
ERASED_REASON = "the member's data was erased"


class ContactChanges(abc.ABC):
    @abc.abstractmethod
    async def follow_address(self, member_id: str, email: str) -> None: ...

    @abc.abstractmethod
    async def follow_profile(self, member_id: str, name: str, language: str, timezone: str) -> None: ...

    @abc.abstractmethod
    async def forget(self, member_id: str) -> None:
        """Drop the name and address, suppress waiting mail, strip delivered mail to its id, kind and times."""

    @abc.abstractmethod
    async def export(self, member_id: str) -> privacy.NotifyPart: ...


class MemberChangesUnitOfWork(NotifyUnitOfWork):
    contact_changes: ContactChanges


def subscriptions(uow: Callable[[], MemberChangesUnitOfWork]) -> list[Subscription]:
    """The member changes notify follows, on its consumer of the members stream (`MEMBERS_CONSUMER`)."""
    return [
        Subscription(member_contracts.MEMBER_EMAIL_CHANGED, lambda e, d: follow_address(e, d, uow())),
        Subscription(member_contracts.MEMBER_PROFILE_UPDATED, lambda e, d: follow_profile(e, d, uow())),
        Subscription(member_contracts.MEMBER_ERASED, lambda e, d: forget_member(e, d, uow())),
    ]


async def follow_address(
    event: CloudEvent, data: member_contracts.MemberEmailChangedV1, uow: MemberChangesUnitOfWork
) -> None:
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        await uow.contact_changes.follow_address(data.member_id, str(data.email))
        await uow.commit()


async def follow_profile(
    event: CloudEvent, data: member_contracts.MemberProfileUpdatedV1, uow: MemberChangesUnitOfWork
) -> None:
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        await uow.contact_changes.follow_profile(data.member_id, data.name, data.language, data.timezone)
        await uow.commit()


async def forget_member(event: CloudEvent, data: member_contracts.MemberErasedV1, uow: MemberChangesUnitOfWork) -> None:
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        await uow.contact_changes.forget(data.member_id)
        await uow.commit()


async def export_member(query: privacy.ExportMember, uow: MemberChangesUnitOfWork) -> privacy.NotifyPart:
    async with uow:
        return await uow.contact_changes.export(query.member_id)
