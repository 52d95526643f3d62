"""The composition root of the notify service: the only place that builds engines, brokers and clients."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as ledger_contracts
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.messaging.commands import CommandEndpoints
from kehrwasser_shared.messaging.consumer import EventConsumer, Subscription
from kehrwasser_shared.runtime import ServiceParts, assemble, build_plumbing

from .adapters.smtp import SmtpMailSender
from .adapters.tables import messaging
from .adapters.unit_of_work import SqlNotifyUnitOfWork
from .config import SERVICE, NotifySettings
from .service_layer import handlers
from .service_layer.handlers import Clock
from .service_layer.mailer import Mailer
from .service_layer.unit_of_work import MailSender

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def utc_now() -> datetime:
    return datetime.now(UTC)


def mail_delivery(
    engine: AsyncEngine, sender: MailSender, clock: Clock, poll_seconds: float
) -> tuple[Callable[[], SqlNotifyUnitOfWork], Mailer]:
    """The units of work of the handlers and the mailer that sends what they queue."""
    mailer: Mailer

    def uow() -> SqlNotifyUnitOfWork:
        # Deliveries are this service's outbox for mail: a commit that queued some wakes the mailer.
        return SqlNotifyUnitOfWork(engine, messaging, source=f"/{SERVICE}", on_deliveries_queued=lambda: mailer.wake())

    mailer = Mailer(uow, sender, clock, poll_seconds)
    return uow, mailer


def bootstrap(settings: NotifySettings, mail_sender: MailSender | None = None) -> ServiceParts:
    plumbing = build_plumbing(settings, messaging)
    sender = mail_sender or SmtpMailSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.mail_from,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        start_tls=settings.smtp_starttls,
        use_tls=settings.smtp_tls,
    )
    uow, mailer = mail_delivery(plumbing.engine, sender, utc_now, settings.mail_poll_seconds)
    mail_from = settings.mail_from

    def consumer(durable: str, source: str, subscriptions: list[Subscription]) -> EventConsumer:
        return EventConsumer(
            durable=durable,
            source_service=source,
            subscriptions=subscriptions,
            backoff_seconds=settings.consumer_backoff_seconds,
            max_attempts=settings.consumer_max_attempts,
        )

    consumers = [
        consumer(
            handlers.MEMBERS_CONSUMER,
            "members",
            [Subscription(member_contracts.MEMBER_REGISTERED, lambda e, d: handlers.learn_contact(e, d, uow()))],
        ),
        consumer(
            handlers.ALLIANCES_CONSUMER,
            "alliances",
            [
                Subscription(alliance_contracts.ALLIANCE_CREATED, lambda e, d: handlers.learn_alliance(e, d, uow())),
                Subscription(
                    alliance_contracts.MEETING_SCHEDULED,
                    lambda e, d: handlers.invite_to_meeting(e, d, uow(), mail_from, utc_now),
                ),
            ],
        ),
        consumer(
            handlers.LEDGER_CONSUMER,
            "ledger",
            [
                Subscription(
                    ledger_contracts.BALANCE_WARNING,
                    lambda e, d: handlers.warn_about_balance(e, d, uow(), mail_from, utc_now),
                )
            ],
        ),
    ]
    return assemble(
        settings, plumbing, MIGRATIONS, CommandEndpoints(queue=SERVICE), consumers=consumers, background=[mailer.run]
    )
