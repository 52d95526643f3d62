"""The composition root of the alliances service: the only place that builds engines, brokers and clients."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from kehrwasser_shared.contracts import alliances as contracts
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.messaging.commands import CommandEndpoints
from kehrwasser_shared.messaging.consumer import EventConsumer, Subscription
from kehrwasser_shared.runtime import ServiceParts, assemble, build_plumbing

from .adapters.tables import messaging
from .adapters.unit_of_work import SqlAlliancesUnitOfWork
from .config import SERVICE, AlliancesSettings
from .domain.model import AllianceError
from .service_layer import handlers
from .service_layer.unit_of_work import AlliancesUnitOfWork

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def utc_now() -> datetime:
    return datetime.now(UTC)


def bootstrap(settings: AlliancesSettings, uow: Callable[[], AlliancesUnitOfWork] | None = None) -> ServiceParts:
    """The service, on SQL and NATS; a test may hand in its own unit of work (a fake) instead."""
    plumbing = build_plumbing(settings, messaging)

    def sql_uow() -> SqlAlliancesUnitOfWork:
        return SqlAlliancesUnitOfWork(
            plumbing.engine, messaging, source=f"/{SERVICE}", on_events_committed=plumbing.relay.hand_over
        )

    uow = uow or sql_uow

    endpoints = CommandEndpoints(queue=SERVICE, expected_errors=(AllianceError,))
    endpoints.bind(contracts.CREATE, lambda cmd: handlers.create_alliance(cmd, uow(), utc_now))
    endpoints.bind(contracts.JOIN, lambda cmd: handlers.join_alliance(cmd, uow(), utc_now))
    endpoints.bind(contracts.SCHEDULE_MEETING, lambda cmd: handlers.schedule_meeting(cmd, uow(), utc_now))
    members = EventConsumer(
        durable=handlers.MEMBERS_CONSUMER,
        source_service="members",
        subscriptions=[
            Subscription(member_contracts.MEMBER_REGISTERED, lambda e, d: handlers.learn_member(e, d, uow()))
        ],
    )
    return assemble(settings, plumbing, MIGRATIONS, endpoints, consumers=[members])
