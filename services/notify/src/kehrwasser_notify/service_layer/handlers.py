"""Use cases of the notify service: remember contacts, queue emails for events, show and retry deliveries."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from typing import Any, NamedTuple, Protocol

from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as ledger_contracts
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.contracts import notify as notify_contracts
from kehrwasser_shared.contracts.envelope import CloudEvent

from ..domain import calendars, emails, model
from .mailer import notification_failed
from .unit_of_work import NotifyUnitOfWork

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
        await uow.alliances.save(data.alliance_id, data.name, data.created_at)
        await uow.moderators.appoint(data.alliance_id, list(data.moderator_ids) or [data.moderator_id])
        await uow.commit()


async def learn_preferences(
    event: CloudEvent, data: member_contracts.MemberPreferencesChangedV1, uow: NotifyUnitOfWork
) -> None:
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        turned_off = frozenset(c for c in model.CATEGORIES if not getattr(data.preferences, c))
        await uow.preferences.save(model.MailPreferences(data.member_id, turned_off, data.unsubscribe_token))
        await uow.commit()


async def confirm_new_address(
    event: CloudEvent,
    data: member_contracts.MemberEmailChangeRequestedV1,
    uow: NotifyUnitOfWork,
    sender: str,
    clock: Clock,
    links: emails.MailLinks,
) -> None:
    """Mail the confirmation link to the new address: transactional, sent whatever the preferences say."""
    async with uow:
        if not await uow.claim_event(MEMBERS_CONSUMER, event.id):
            return
        now = clock()
        known = (await uow.contacts.get_many([data.member_id])).get(data.member_id)
        timezone = known.timezone if known is not None else model.DEFAULT_TIMEZONE
        recipient = model.Contact(data.member_id, data.name, str(data.new_email), data.language, timezone)

        def confirmation(contact: model.Contact, message_id: str, _: emails.Unsubscribe | None) -> EmailMessage:
            return emails.email_change(
                sender=sender,
                contact=contact,
                confirm_url=links.confirm_email(data.token),
                expires_at=data.expires_at,
                message_id=message_id,
                now=now,
            )

        await queue_deliveries(uow, [delivery_for(event, "email-change", recipient, confirmation, now)], now)
        await uow.commit()


async def warn_about_balance(
    event: CloudEvent,
    data: ledger_contracts.BalanceWarningV2,
    uow: NotifyUnitOfWork,
    sender: str,
    clock: Clock,
    links: emails.MailLinks | None = None,
    quiet_hours: model.QuietHours | None = None,
) -> None:
    """Yellow goes to the member; red to the member and, escalated, to the alliance's other moderators. Red is
    critical: it goes out even to one who turned balance mail off, and in their quiet hours."""
    async with uow:
        if not await uow.claim_event(LEDGER_CONSUMER, event.id):
            return
        contacts = await _contacts(uow, [data.member_id, *data.escalate_to])
        alliance_name = await _alliance_name(uow, data.alliance_id)
        member, now = contacts[data.member_id], clock()
        preferences = await uow.preferences.get_many([data.member_id, *data.escalate_to])
        red = data.light == ledger_contracts.TrafficLight.RED

        def warning(contact: model.Contact, message_id: str, unsubscribe: emails.Unsubscribe | None) -> EmailMessage:
            return emails.balance_warning(
                sender=sender,
                contact=contact,
                alliance_name=alliance_name,
                balance=data.balance,
                threshold=data.threshold,
                light=data.light.value,
                message_id=message_id,
                now=now,
                unsubscribe=unsubscribe,
            )

        def escalation(
            moderator: model.Contact, message_id: str, unsubscribe: emails.Unsubscribe | None
        ) -> EmailMessage:
            return emails.red_escalation(
                sender=sender,
                moderator=moderator,
                member_name=member.name,
                alliance_name=alliance_name,
                balance=data.balance,
                threshold=data.threshold,
                message_id=message_id,
                now=now,
                unsubscribe=unsubscribe,
            )

        balance = Preferred("balance", preferences, links, critical=red, quiet_hours=quiet_hours)
        deliveries = [delivery_for(event, "balance-warning", member, warning, now, balance)]
        deliveries += [
            delivery_for(event, "balance-escalation", contacts[m], escalation, now, balance) for m in data.escalate_to
        ]
        await queue_deliveries(uow, deliveries, now)
        await uow.commit()


async def invite_to_meeting(
    event: CloudEvent,
    data: alliance_contracts.MeetingScheduledV1,
    uow: NotifyUnitOfWork,
    sender: str,
    clock: Clock,
    links: emails.MailLinks | None = None,
    quiet_hours: model.QuietHours | None = None,
) -> None:
    if data.rrule is not None:
        # A series: the one-off invitation below has no RRULE, so members' calendars would hold its first
        # occurrence alone (and later RECURRENCE-IDs would name occurrences they never had). The iMIP builder
        # of the series events writes the rule.
        series = alliance_contracts.MeetingSeriesV1.model_validate(
            {**data.model_dump(), "uid": data.uid or f"{data.meeting_id}@kehrwasser", "exceptions": []}
        )
        mailing, recipients = Mailing(sender, clock, links, quiet_hours), list(data.attendee_ids)
        change = calendars.Change("REQUEST")
        await _send_calendar(event, series, uow, mailing, "meeting-invitation", change, recipients, {})
        return
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
            starts_at=data.starts_at,
            timezone=data.timezone,
            duration_minutes=data.duration_minutes,
            location=data.location,
        )
        now = clock()
        preferences = await uow.preferences.get_many(list(data.attendee_ids))
        meetings = Preferred("meetings", preferences, links, quiet_hours=quiet_hours)

        def invitation(contact: model.Contact, message_id: str, unsubscribe: emails.Unsubscribe | None) -> EmailMessage:
            return emails.meeting_invitation(
                sender=sender,
                contact=contact,
                organizer=organizer,
                meeting=meeting,
                message_id=message_id,
                now=now,
                unsubscribe=unsubscribe,
            )

        deliveries = [
            delivery_for(event, "meeting-invitation", contacts[m], invitation, now, meetings) for m in data.attendee_ids
        ]
        await queue_deliveries(uow, deliveries, now)
        await uow.commit()


class Mailing(NamedTuple):
    """What the handlers of notices share: who sends, the clock, the links of the unsubscribe headers, the quiet
    hours (None: none)."""

    sender: str
    clock: Clock
    links: emails.MailLinks | None = None
    quiet_hours: model.QuietHours | None = None


async def _notify(
    uow: NotifyUnitOfWork,
    event: CloudEvent,
    mailing: Mailing,
    kind: str,
    category: str,
    recipient_ids: list[str],
    context: dict[str, Any],
) -> None:
    """Queue a notice of ``kind`` to each recipient (within the caller's unit of work)."""
    if not recipient_ids:
        return
    contacts = await _contacts(uow, recipient_ids)
    preferences = await uow.preferences.get_many(recipient_ids)
    preferred = Preferred(category, preferences, mailing.links, quiet_hours=mailing.quiet_hours)
    now = mailing.clock()

    def build(contact: model.Contact, message_id: str, unsubscribe: emails.Unsubscribe | None) -> EmailMessage:
        return emails.notice(sender=mailing.sender, contact=contact, kind=kind, context=context,
                             message_id=message_id, now=now, unsubscribe=unsubscribe)  # fmt: skip

    deliveries = [delivery_for(event, kind, contacts[m], build, now, preferred) for m in recipient_ids]
    await queue_deliveries(uow, deliveries, now)


async def tell_of_recovery(event: CloudEvent, data: ledger_contracts.BalanceRecoveredV2, uow: NotifyUnitOfWork,
                           mailing: Mailing) -> None:  # fmt: skip
    """A better light: the member hears that their balance recovered."""
    async with uow:
        if not await uow.claim_event(LEDGER_CONSUMER, event.id):
            return
        context = {"alliance": await _alliance_name(uow, data.alliance_id), "light": data.light.value,
                   "balance": data.balance}  # fmt: skip
        await _notify(uow, event, mailing, "balance-recovered", "balance", [data.member_id], context)
        await uow.commit()


async def ask_to_confirm(event: CloudEvent, data: ledger_contracts.ContributionPendingV1, uow: NotifyUnitOfWork,
                         mailing: Mailing) -> None:  # fmt: skip
    """A giver's record waits for its receiver: ask them to confirm or reject it before it expires."""
    async with uow:
        if not await uow.claim_event(LEDGER_CONSUMER, event.id):
            return
        if data.receiver_id != ledger_contracts.ALLIANCE_ACCOUNT:  # the alliance's own account has no inbox
            giver = await _contacts(uow, [data.giver_id])
            context = {
                "alliance": await _alliance_name(uow, data.alliance_id),
                "giver": giver[data.giver_id].name,
                "kind": data.kind.value,
                "value": data.value,
                "note": data.note,
                "expires_at": data.expires_at,
                "contribution_id": data.contribution_id,
            }
            await _notify(uow, event, mailing, "contribution-pending", "balance", [data.receiver_id], context)
        await uow.commit()


async def tell_of_invitation(
    event: CloudEvent, data: alliance_contracts.MemberInvitedV1, uow: NotifyUnitOfWork, mailing: Mailing
) -> None:
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        inviter = (await _contacts(uow, [data.invited_by]))[data.invited_by].name
        context = {"alliance": await _alliance_name(uow, data.alliance_id), "inviter": inviter, "message": data.message}
        await _notify(uow, event, mailing, "member-invited", "membership", [data.member_id], context)
        await uow.commit()


async def ask_moderators(
    event: CloudEvent, data: alliance_contracts.MembershipRequestedV1, uow: NotifyUnitOfWork, mailing: Mailing
) -> None:
    """A request to join goes to the alliance's moderators, with the direction alignment."""
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        alignment = data.alignment
        context: dict[str, Any] = {
            "alliance": await _alliance_name(uow, data.alliance_id),
            "member": (await _contacts(uow, [data.member_id]))[data.member_id].name,
            "message": data.message,
            "score": alignment.score,
            "matching": alignment.matching,
            "missing": alignment.missing,
        }
        # Those who moderated when it was asked, not whoever does when a retry gets here (an event from an
        # older producer names none: then those notify knows).
        moderators = list(data.moderator_ids) or await uow.moderators.of(data.alliance_id)
        await _notify(uow, event, mailing, "membership-requested", "membership", moderators, context)
        await uow.commit()


async def welcome(
    event: CloudEvent, data: alliance_contracts.MemberJoinedV1, uow: NotifyUnitOfWork, mailing: Mailing
) -> None:
    """A new member is welcome (founders founded it: no mail); a founding moderator is remembered as one."""
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        if data.role == "moderator":
            await uow.moderators.appoint(data.alliance_id, [data.member_id])
        if data.admitted_via != "founded":
            context = {"alliance": await _alliance_name(uow, data.alliance_id)}
            await _notify(uow, event, mailing, "member-joined", "membership", [data.member_id], context)
        await uow.commit()


async def tell_of_decline(
    event: CloudEvent, data: alliance_contracts.MembershipDeclinedV1, uow: NotifyUnitOfWork, mailing: Mailing
) -> None:
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        context = {"alliance": await _alliance_name(uow, data.alliance_id), "reason": data.reason}
        await _notify(uow, event, mailing, "membership-declined", "membership", [data.member_id], context)
        await uow.commit()


async def tell_of_removal(
    event: CloudEvent, data: alliance_contracts.MemberRemovedV1, uow: NotifyUnitOfWork, mailing: Mailing
) -> None:
    """The removed member hears it with the moderators' reason."""
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        await uow.moderators.dismiss(data.alliance_id, data.member_id)
        context = {"alliance": await _alliance_name(uow, data.alliance_id), "reason": data.reason}
        await _notify(uow, event, mailing, "member-removed", "membership", [data.member_id], context)
        await uow.commit()


async def forget_moderator(event: CloudEvent, data: alliance_contracts.MemberLeftV1, uow: NotifyUnitOfWork) -> None:
    """One who left an alliance moderates it no more (no mail: they left themselves)."""
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        await uow.moderators.dismiss(data.alliance_id, data.member_id)
        await uow.commit()


async def tell_of_role(
    event: CloudEvent, data: alliance_contracts.RoleChangedV1, uow: NotifyUnitOfWork, mailing: Mailing
) -> None:
    """Promoted or demoted: the moderators follow, and the member hears it."""
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        if data.role == "moderator":
            await uow.moderators.appoint(data.alliance_id, [data.member_id])
        else:
            await uow.moderators.dismiss(data.alliance_id, data.member_id)
        context = {"alliance": await _alliance_name(uow, data.alliance_id), "role": data.role}
        await _notify(uow, event, mailing, "role-changed", "membership", [data.member_id], context)
        await uow.commit()


def _series(data: alliance_contracts.MeetingSeriesV1) -> calendars.Series:
    return calendars.Series(
        uid=data.uid,
        sequence=data.sequence,
        alliance_name=data.alliance_name,
        title=data.title,
        agenda=data.agenda,
        starts_at=data.starts_at,
        timezone=data.timezone,
        duration_minutes=data.duration_minutes,
        location=data.location,
        rrule=data.rrule,
        exceptions=tuple(
            calendars.Occurrence(o.recurrence_id, o.cancelled, o.starts_at, o.duration_minutes, o.location)
            for o in data.exceptions
        ),
    )


async def _send_calendar(
    event: CloudEvent,
    data: alliance_contracts.MeetingSeriesV1,
    uow: NotifyUnitOfWork,
    mailing: Mailing,
    kind: str,
    change: calendars.Change,
    recipient_ids: list[str],
    context: dict[str, Any],
) -> None:
    """One iMIP message of ``change`` to each recipient, once per event."""
    async with uow:
        if not await uow.claim_event(ALLIANCES_CONSUMER, event.id):
            return
        contacts = await _contacts(uow, recipient_ids)
        organizer = (await uow.contacts.get_many([data.organizer_id])).get(data.organizer_id)
        preferences = await uow.preferences.get_many(recipient_ids)
        preferred = Preferred("meetings", preferences, mailing.links, quiet_hours=mailing.quiet_hours)
        series, now = _series(data), mailing.clock()

        def build(contact: model.Contact, message_id: str, unsubscribe: emails.Unsubscribe | None) -> EmailMessage:
            return calendars.message(sender=mailing.sender, contact=contact, organizer=organizer, series=series,
                                     change=change, kind=kind, context=context, message_id=message_id, now=now,
                                     unsubscribe=unsubscribe)  # fmt: skip

        deliveries = [delivery_for(event, kind, contacts[m], build, now, preferred) for m in recipient_ids]
        await queue_deliveries(uow, deliveries, now)
        await uow.commit()


async def update_meeting(
    event: CloudEvent, data: alliance_contracts.MeetingUpdatedV1, uow: NotifyUnitOfWork, mailing: Mailing
) -> None:
    """The changed series, as a REQUEST with the event's SEQUENCE, to every attendee."""
    change = calendars.Change("REQUEST")
    await _send_calendar(event, data, uow, mailing, "meeting-updated", change, list(data.attendee_ids), {})


async def move_occurrence(
    event: CloudEvent, data: alliance_contracts.OccurrenceRescheduledV1, uow: NotifyUnitOfWork, mailing: Mailing
) -> None:
    """The moved occurrence alone (RECURRENCE-ID its original start), as a REQUEST to every attendee."""
    moved = calendars.Occurrence(
        data.recurrence_id, False, data.occurrence_starts_at, data.occurrence_duration_minutes, data.occurrence_location
    )
    change = calendars.Change("REQUEST", moved)
    await _send_calendar(event, data, uow, mailing, "occurrence-rescheduled", change, list(data.attendee_ids), {})


async def cancel_meeting(
    event: CloudEvent, data: alliance_contracts.MeetingCancelledV1, uow: NotifyUnitOfWork, mailing: Mailing
) -> None:
    """The whole meeting or series, as a CANCEL (STATUS:CANCELLED) to every attendee."""
    recipients, context = list(data.attendee_ids), {"reason": data.reason}
    await _send_calendar(
        event, data, uow, mailing, "meeting-cancelled", calendars.Change("CANCEL"), recipients, context
    )


async def cancel_occurrence(
    event: CloudEvent, data: alliance_contracts.OccurrenceCancelledV1, uow: NotifyUnitOfWork, mailing: Mailing
) -> None:
    """One occurrence, as a CANCEL with its RECURRENCE-ID to every attendee."""
    change = calendars.Change("CANCEL", calendars.Occurrence(data.recurrence_id, True))
    recipients, context = list(data.attendee_ids), {"reason": data.reason}
    await _send_calendar(event, data, uow, mailing, "occurrence-cancelled", change, recipients, context)


async def add_attendee(
    event: CloudEvent, data: alliance_contracts.MeetingAttendeeAddedV1, uow: NotifyUnitOfWork, mailing: Mailing
) -> None:
    """A new member gets the series with its exceptions, as a REQUEST to them alone."""
    change = calendars.Change("REQUEST")
    await _send_calendar(event, data, uow, mailing, "meeting-invitation", change, [data.member_id], {})


async def remove_attendee(
    event: CloudEvent, data: alliance_contracts.MeetingAttendeeRemovedV1, uow: NotifyUnitOfWork, mailing: Mailing
) -> None:
    """One who left the alliance gets the meeting's CANCEL, to them alone."""
    change = calendars.Change("CANCEL")
    await _send_calendar(event, data, uow, mailing, "meeting-attendee-removed", change, [data.member_id], {})


async def mail_log(command: notify_contracts.MailLog, uow: NotifyUnitOfWork) -> notify_contracts.MailLogPage:
    """The delivery log, newest first; one more row than asked tells whether a next page exists."""
    after = notify_contracts.decode_cursor(command.cursor) if command.cursor else None
    async with uow:
        records = await uow.deliveries.log(
            member_id=command.member_id, status=command.status, limit=command.limit + 1, after=after
        )
    page = records[: command.limit]
    more = len(records) > command.limit
    return notify_contracts.MailLogPage(
        deliveries=[_view(record) for record in page],
        next_cursor=notify_contracts.encode_cursor(page[-1].queued_at, page[-1].delivery_id) if more else None,
    )


async def retry_delivery(
    command: notify_contracts.RetryDelivery, uow: NotifyUnitOfWork, clock: Clock
) -> notify_contracts.DeliveryView:
    """Queue a failed delivery again, due now (the same message, so the same Message-ID)."""
    async with uow:
        record = await uow.deliveries.get(command.delivery_id)
        if record is None:
            raise model.UnknownDelivery(command.delivery_id)
        if record.status != "failed":
            raise model.NotFailed(command.delivery_id, record.log_status)
        await uow.deliveries.requeue(command.delivery_id, clock())
        requeued = await uow.deliveries.get(command.delivery_id)
        await uow.commit()
    assert requeued is not None
    log.info("delivery %s queued again by %s", command.delivery_id, command.requested_by)
    return _view(requeued)


def _view(record: model.DeliveryRecord) -> notify_contracts.DeliveryView:
    pending = record.status == "pending"
    return notify_contracts.DeliveryView(
        delivery_id=record.delivery_id,
        kind=record.kind,
        member_id=record.member_id,
        recipient=record.recipient,
        status=record.log_status,
        attempts=record.attempts,
        queued_at=record.queued_at,
        next_attempt_at=record.next_attempt_at if pending else None,
        sent_at=record.sent_at,
        last_error=record.last_error,
        caused_by=record.caused_by,
    )


async def queue_deliveries(uow: NotifyUnitOfWork, deliveries: list[model.Delivery], now: datetime) -> None:
    """Queue the deliveries; one that could not be built is recorded failed and announced as such."""
    await uow.deliveries.add(deliveries, due=now)
    for delivery in deliveries:
        if delivery.problem is not None:
            uow.emit(
                notify_contracts.NOTIFICATION_FAILED,
                notification_failed(delivery.delivery_id, delivery.kind, delivery.member_id, delivery.problem,
                                    True, 0, delivery.caused_by, now, now),
            )  # fmt: skip


async def _contacts(uow: NotifyUnitOfWork, member_ids: list[str]) -> dict[str, model.Contact]:
    contacts = await uow.contacts.get_many(member_ids)
    for member_id in member_ids:
        if member_id not in contacts:
            raise model.ContactNotYetKnown(member_id)
    return contacts


async def _alliance_name(uow: NotifyUnitOfWork, alliance_id: str) -> str:
    name = await uow.alliances.get(alliance_id)
    if name is None:
        raise model.AllianceNotYetKnown(alliance_id)
    return name


def _message_id(delivery_id: str) -> str:
    return f"<{delivery_id}@kehrwasser>"


class Preferred(NamedTuple):
    """A category of mail, what each recipient wants of it, and the links of its unsubscribe headers."""

    category: str
    preferences: dict[str, model.MailPreferences]
    links: emails.MailLinks | None
    critical: bool = False
    """Sent even to a recipient who turned the category off, and in their quiet hours (a red warning)."""
    quiet_hours: model.QuietHours | None = None
    """When a message that is not critical waits, on each recipient's clocks (None: never)."""

    def may_send_at(self, contact: model.Contact, now: datetime) -> datetime | None:
        """When the message to ``contact`` may go: None at once, else the end of their quiet hours."""
        at = model.may_send_at(now, contact.timezone, self.quiet_hours, urgent=self.critical)
        return None if at == now else at

    def unsubscribe(self, member_id: str) -> emails.Unsubscribe | None:
        preferences = self.preferences.get(member_id)
        if preferences is None or self.links is None:
            return None  # no token known yet (a member registered before preferences were announced)
        return self.links.unsubscribe(preferences.unsubscribe_token, self.category)

    def suppressed(self, member_id: str) -> bool:
        preferences = self.preferences.get(member_id)
        return preferences is not None and not preferences.wants(self.category)


class Cause(Protocol):
    """What a delivery is written for: an event, or a digest (`digest.DigestCause`); its id keys the delivery."""

    @property
    def id(self) -> str: ...


def delivery_for(
    event: Cause,
    kind: str,
    contact: model.Contact,
    build: Callable[[model.Contact, str, emails.Unsubscribe | None], EmailMessage],
    now: datetime,
    preferred: Preferred | None = None,
) -> model.Delivery:
    """The delivery of one recipient's message: suppressed if they turned its category off (unless it is
    critical), recorded failed with the reason if it cannot be built, held until the end of their quiet hours
    (unless it is critical); ``preferred`` None: transactional, so neither suppressed nor held."""
    delivery_id = model.delivery_id(event.id, contact.member_id, kind)
    if preferred is not None and preferred.suppressed(contact.member_id):
        if not preferred.critical:
            reason = f"suppressed: the member turned off {preferred.category} mail"
            log.info("%s of event %s to member %r %s", kind, event.id, contact.member_id, reason)
            return model.Delivery(
                delivery_id, kind, contact.member_id, contact.email, b"", now, caused_by=event.id, suppressed=reason
            )
        log.info("%s of event %s to member %r is critical: sent although %s mail is off", kind, event.id,
                 contact.member_id, preferred.category)  # fmt: skip
    unsubscribe = preferred.unsubscribe(contact.member_id) if preferred is not None else None
    rendered = emails.render(lambda: build(contact, _message_id(delivery_id), unsubscribe))
    if isinstance(rendered, emails.NotRendered):
        log.warning("%s of event %s to member %r: %s", kind, event.id, contact.member_id, rendered.reason)
        problem = rendered.reason[: model.LONGEST_ERROR]
        return model.Delivery(delivery_id, kind, contact.member_id, contact.email, b"", now, problem, event.id)
    not_before = preferred.may_send_at(contact, now) if preferred is not None else None
    if not_before is not None:
        log.info("%s of event %s to member %r held until %s: their quiet hours", kind, event.id, contact.member_id,
                 not_before.isoformat())  # fmt: skip
    return model.Delivery(
        delivery_id, kind, contact.member_id, rendered.recipient, rendered.message, now, caused_by=event.id,
        not_before=not_before,
    )  # fmt: skip
