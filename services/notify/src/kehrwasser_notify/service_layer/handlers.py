"""Use cases of the notify service: remember contacts, queue emails for events, deliver what is due."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage

from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as ledger_contracts
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.contracts.envelope import CloudEvent

from ..domain import emails, model
from .unit_of_work import MailSender, NotifyUnitOfWork

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MEMBERS_CONSUMER = "notify-from-members"
ALLIANCES_CONSUMER = "notify-from-alliances"
LEDGER_CONSUMER = "notify-from-ledger"


async def learn_contact(event: CloudEvent, data: member_contracts.MemberRegisteredV1, uow: NotifyUnitOfWork) -> None:
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        await uow.contacts.save(model.Contact(data.member_id, data.name, str(data.email), data.language))
        await uow.commit()


async def learn_alliance(event: CloudEvent, data: alliance_contracts.AllianceCreatedV1, uow: NotifyUnitOfWork) -> None:
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        await uow.alliances.save(data.alliance_id, data.name)
        await uow.commit()


async def warn_about_balance(
    event: CloudEvent, data: ledger_contracts.BalanceWarningV2, uow: NotifyUnitOfWork, sender: str, clock: Clock
) -> None:
    """Yellow goes to the member; red to the member and, escalated, to the alliance's other moderators."""
    async with uow:
        if not await uow.claim_event(LEDGER_CONSUMER, event.id):
            return
        contacts = await _contacts(uow, [data.member_id, *data.escalate_to])
        member = contacts[data.member_id]
        alliance_name = await uow.alliances.get(data.alliance_id) or data.alliance_id
        now = clock()
        delivery_id = model.delivery_id(event.id, data.member_id, "balance-warning")
        warning = emails.balance_warning(
            sender=sender,
            contact=member,
            alliance_name=alliance_name,
            balance=data.balance,
            threshold=data.threshold,
            light=data.light.value,
            message_id=_message_id(delivery_id),
            now=now,
        )
        deliveries = [_delivery(delivery_id, "balance-warning", member, warning, now)]
        for moderator_id in data.escalate_to:
            delivery_id = model.delivery_id(event.id, moderator_id, "balance-escalation")
            escalation = emails.red_escalation(
                sender=sender,
                moderator=contacts[moderator_id],
                member_name=member.name,
                alliance_name=alliance_name,
                balance=data.balance,
                threshold=data.threshold,
                message_id=_message_id(delivery_id),
                now=now,
            )
            deliveries.append(_delivery(delivery_id, "balance-escalation", contacts[moderator_id], escalation, now))
        await uow.deliveries.add(deliveries, due=now)
        await uow.commit()


async def invite_to_meeting(
    event: CloudEvent, data: alliance_contracts.MeetingScheduledV1, uow: NotifyUnitOfWork, sender: str, clock: Clock
) -> None:
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        contacts = await _contacts(uow, list(data.attendee_ids))
        organizer = (await uow.contacts.get_many([data.organizer_id])).get(data.organizer_id)
        meeting = emails.MeetingDetails(
            meeting_id=data.meeting_id,
            sequence=data.sequence,
            alliance_name=data.alliance_name,
            title=data.title,
            starts_at=data.starts_at.replace(tzinfo=None),
            timezone=data.timezone,
            duration_minutes=data.duration_minutes,
            location=data.location,
        )
        now = clock()
        deliveries = []
        for member_id in data.attendee_ids:
            delivery_id = model.delivery_id(event.id, member_id, "meeting-invitation")
            message = emails.meeting_invitation(
                sender=sender,
                contact=contacts[member_id],
                organizer=organizer,
                meeting=meeting,
                message_id=_message_id(delivery_id),
                now=now,
            )
            deliveries.append(_delivery(delivery_id, "meeting-invitation", contacts[member_id], message, now))
        await uow.deliveries.add(deliveries, due=now)
        await uow.commit()


async def deliver_due(
    uow_factory: Callable[[], NotifyUnitOfWork], mail: MailSender, clock: Clock, limit: int = 50
) -> int:
    """Send what is due; returns how many were sent.

    A delivery is leased before sending and marked sent after: a crash in between sends it again when the
    lease runs out (at least once, with the same Message-ID, so mail systems can recognise the repeat).
    """
    now = clock()
    async with uow_factory() as uow:
        due = await uow.deliveries.lease_due(now, now + model.SENDING_LEASE, limit)
        await uow.commit()
    sent = 0
    for delivery, attempts in due:
        try:
            await mail.send(delivery.recipient, delivery.message)
        except Exception as exc:
            attempt = attempts + 1
            retry_at = clock() + model.retry_delay(attempt) if attempt < model.SEND_ATTEMPTS else None
            log.warning(
                "delivery %s to %s failed (attempt %d): %r", delivery.delivery_id, delivery.recipient, attempt, exc
            )
            async with uow_factory() as uow:
                await uow.deliveries.mark_failed(delivery.delivery_id, repr(exc)[:1000], retry_at)
                await uow.commit()
            continue
        async with uow_factory() as uow:
            await uow.deliveries.mark_sent(delivery.delivery_id, clock())
            await uow.commit()
        sent += 1
    return sent


async def _contacts(uow: NotifyUnitOfWork, member_ids: list[str]) -> dict[str, model.Contact]:
    contacts = await uow.contacts.get_many(member_ids)
    for member_id in member_ids:
        if member_id not in contacts:
            raise model.ContactNotYetKnown(member_id)
    return contacts


def _message_id(delivery_id: str) -> str:
    return f"<{delivery_id}@kehrwasser>"


def _delivery(
    delivery_id: str, kind: str, contact: model.Contact, message: EmailMessage, now: datetime
) -> model.Delivery:
    return model.Delivery(
        delivery_id=delivery_id,
        kind=kind,
        member_id=contact.member_id,
        recipient=contact.email,
        message=message.as_bytes(),
        created_at=now,
    )
