"""The composition root of the notify service: the only place that builds engines, brokers and clients."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as ledger_contracts
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.contracts import notify as notify_contracts
from kehrwasser_shared.contracts import privacy
from kehrwasser_shared.messaging.commands import CommandEndpoints
from kehrwasser_shared.messaging.consumer import EventConsumer, Subscription
from kehrwasser_shared.messaging.outbox_relay import OutgoingEvent
from kehrwasser_shared.runtime import ServiceParts, assemble, build_plumbing

from .adapters.digest import SqlDigestUnitOfWork
from .adapters.member_changes import SqlMemberChangesUnitOfWork
from .adapters.smtp import SmtpMailSender
from .adapters.tables import messaging
from .adapters.unit_of_work import SqlNotifyUnitOfWork
from .config import SERVICE, NotifySettings
from .domain.model import DeliveryLogError
from .service_layer import digest, handlers, member_changes
from .service_layer.handlers import Clock
from .service_layer.mailer import DeliverySettings, Mailer
from .service_layer.unit_of_work import MailSender

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def utc_now() -> datetime:
    return datetime.now(UTC)


def mail_delivery(
    engine: AsyncEngine,
    sender: MailSender,
    clock: Clock,
    poll_seconds: float,
    delivery: DeliverySettings = DeliverySettings(),
    on_events_committed: Callable[[Sequence[OutgoingEvent]], Awaitable[None]] | None = None,
) -> tuple[Callable[[], SqlNotifyUnitOfWork], Mailer]:
    """The units of work of the handlers and the mailer that sends what they queue."""
    mailer: Mailer

    def uow() -> SqlNotifyUnitOfWork:
        # Deliveries are this service's outbox for mail: a commit that queued some wakes the mailer.
        return SqlNotifyUnitOfWork(
            engine,
            messaging,
            source=f"/{SERVICE}",
            on_deliveries_queued=lambda: mailer.wake(),
            on_events_committed=on_events_committed,
        )

    mailer = Mailer(uow, sender, clock, poll_seconds, delivery)
    return uow, mailer


def bootstrap(settings: NotifySettings, mail_sender: MailSender | None = None, clock: Clock = utc_now) -> ServiceParts:
    """The notify service; ``clock`` is the time its handlers and mailer read (a test's may stand still)."""
    plumbing = build_plumbing(settings, messaging)
    sender = mail_sender or SmtpMailSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        start_tls=settings.smtp_starttls,
        use_tls=settings.smtp_tls,
        timeout=settings.smtp_timeout_seconds,
        connections=settings.smtp_connections,
    )
    uow, mailer = mail_delivery(
        plumbing.engine,
        sender,
        clock,
        settings.mail_poll_seconds,
        settings.delivery(),
        on_events_committed=plumbing.relay.hand_over,
    )
    mail_from = settings.mail_from
    links, quiet_hours = settings.links(), settings.quiet_hours()
    mailing = handlers.Mailing(mail_from, clock, links, quiet_hours)

    def notices(handle: Callable[..., Awaitable[None]]) -> Callable[[Any, Any], Awaitable[None]]:
        return lambda e, d: handle(e, d, uow(), mailing)

    def digest_uow() -> SqlDigestUnitOfWork:
        return SqlDigestUnitOfWork(
            plumbing.engine,
            messaging,
            source=f"/{SERVICE}",
            on_deliveries_queued=mailer.wake,
            on_events_committed=plumbing.relay.hand_over,
        )

    def noted(
        note: Callable[[Any, Any, SqlDigestUnitOfWork], Awaitable[None]], handle: Callable[[Any, Any], Awaitable[None]]
    ) -> Callable[[Any, Any], Awaitable[None]]:
        """Note what the digest keeps of the event (claimed on its own), then handle it as before."""

        async def both(event: Any, data: Any) -> None:
            await note(event, data, digest_uow())
            await handle(event, data)

        return both

    meeting = functools.partial(noted, digest.note_meeting)

    def reading_uow() -> SqlNotifyUnitOfWork:
        return SqlNotifyUnitOfWork(plumbing.reading_engine, messaging, source=f"/{SERVICE}")

    def consumer(durable: str, source: str, subscriptions: list[Subscription]) -> EventConsumer:
        return EventConsumer(
            durable=durable,
            source_service=source,
            subscriptions=subscriptions,
            backoff_seconds=settings.consumer_backoff_seconds,
            max_attempts=settings.consumer_max_attempts,
        )

    def member_changes_uow() -> SqlMemberChangesUnitOfWork:
        # Erasure and address changes queue no mail; they change contacts and suppress what waits.
        return SqlMemberChangesUnitOfWork(plumbing.engine, messaging, source=f"/{SERVICE}")

    consumers = [
        consumer(
            handlers.MEMBERS_CONSUMER,
            "members",
            [
                Subscription(member_contracts.MEMBER_REGISTERED, lambda e, d: handlers.learn_contact(e, d, uow())),
                Subscription(
                    member_contracts.MEMBER_PREFERENCES_CHANGED, lambda e, d: handlers.learn_preferences(e, d, uow())
                ),
                Subscription(
                    member_contracts.MEMBER_EMAIL_CHANGE_REQUESTED,
                    lambda e, d: handlers.confirm_new_address(e, d, uow(), mail_from, clock, links),
                ),
                *member_changes.subscriptions(member_changes_uow),
            ],
        ),
        consumer(
            handlers.ALLIANCES_CONSUMER,
            "alliances",
            [
                Subscription(alliance_contracts.ALLIANCE_CREATED, lambda e, d: handlers.learn_alliance(e, d, uow())),
                Subscription(alliance_contracts.MEMBER_INVITED, notices(handlers.tell_of_invitation)),
                Subscription(
                    alliance_contracts.MEMBERSHIP_REQUESTED,
                    noted(digest.note_request, notices(handlers.ask_moderators)),
                ),
                Subscription(alliance_contracts.MEMBER_JOINED, noted(digest.note_joined, notices(handlers.welcome))),
                Subscription(
                    alliance_contracts.MEMBERSHIP_DECLINED,
                    noted(digest.note_declined, notices(handlers.tell_of_decline)),
                ),
                Subscription(
                    alliance_contracts.MEMBER_REMOVED, noted(digest.note_departure, notices(handlers.tell_of_removal))
                ),
                Subscription(
                    alliance_contracts.MEMBER_LEFT,
                    noted(digest.note_departure, lambda e, d: handlers.forget_moderator(e, d, uow())),
                ),
                Subscription(alliance_contracts.ROLE_CHANGED, notices(handlers.tell_of_role)),
                Subscription(alliance_contracts.MEETING_UPDATED, meeting(notices(handlers.update_meeting))),
                Subscription(alliance_contracts.OCCURRENCE_RESCHEDULED, meeting(notices(handlers.move_occurrence))),
                Subscription(alliance_contracts.MEETING_CANCELLED, meeting(notices(handlers.cancel_meeting))),
                Subscription(alliance_contracts.OCCURRENCE_CANCELLED, meeting(notices(handlers.cancel_occurrence))),
                Subscription(alliance_contracts.MEETING_ATTENDEE_ADDED, meeting(notices(handlers.add_attendee))),
                Subscription(alliance_contracts.MEETING_ATTENDEE_REMOVED, meeting(notices(handlers.remove_attendee))),
                Subscription(
                    alliance_contracts.MEETING_SCHEDULED,
                    meeting(lambda e, d: handlers.invite_to_meeting(e, d, uow(), mail_from, clock, links, quiet_hours)),
                ),
                Subscription(
                    alliance_contracts.ALLIANCE_ARCHIVED,
                    lambda e, d: digest.note_archived(e, d, digest_uow(), handlers.ALLIANCES_CONSUMER),
                ),
            ],
        ),
        consumer(
            handlers.LEDGER_CONSUMER,
            "ledger",
            [
                Subscription(
                    ledger_contracts.BALANCE_WARNING,
                    noted(
                        digest.note_light,
                        lambda e, d: handlers.warn_about_balance(e, d, uow(), mail_from, clock, links, quiet_hours),
                    ),
                ),
                Subscription(
                    ledger_contracts.BALANCE_RECOVERED, noted(digest.note_light, notices(handlers.tell_of_recovery))
                ),
                Subscription(
                    ledger_contracts.ALLIANCE_HEALTH_PUBLISHED,
                    lambda e, d: digest.note_health(e, d, digest_uow(), handlers.LEDGER_CONSUMER),
                ),
                Subscription(ledger_contracts.CONTRIBUTION_PENDING, notices(handlers.ask_to_confirm)),
            ],
        ),
    ]
    endpoints = CommandEndpoints(queue=SERVICE, expected_errors=(DeliveryLogError,))
    endpoints.bind(notify_contracts.MAIL_LOG, lambda cmd: handlers.mail_log(cmd, reading_uow()))
    endpoints.bind(notify_contracts.RETRY, lambda cmd: handlers.retry_delivery(cmd, uow(), clock))
    endpoints.bind(privacy.NOTIFY_EXPORT, lambda query: member_changes.export_member(query, member_changes_uow()))
    weekly = digest.WeeklyDigest(settings.digest_schedule(), digest_uow, mailing, settings.digest_tick_seconds)
    return assemble(
        settings,
        plumbing,
        MIGRATIONS,
        endpoints,
        consumers=consumers,
        background=[mailer.run, *([weekly.loop()] if settings.digest_enabled else [])],
    )
