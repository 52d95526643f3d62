"""The composition root of the alliances service: the only place that builds engines, brokers and clients."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kehrwasser_shared.contracts import alliances as contracts
from kehrwasser_shared.contracts import members as member_contracts
from kehrwasser_shared.contracts import privacy
from kehrwasser_shared.messaging.commands import CommandEndpoints
from kehrwasser_shared.messaging.consumer import EventConsumer, Subscription
from kehrwasser_shared.runtime import ServiceParts, assemble, build_plumbing

from .adapters.tables import messaging
from .adapters.unit_of_work import SqlAlliancesUnitOfWork
from .config import SERVICE, AlliancesSettings
from .domain.model import MEMBER, MODERATOR, AllianceError
from .service_layer import handlers, meetings, member_changes, resources, signals
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
    commands: list[tuple[Any, Callable[[Any, AlliancesUnitOfWork, handlers.Clock], Awaitable[Any]]]] = [
        (contracts.CREATE, handlers.create_alliance),
        (contracts.JOIN, handlers.join_alliance),
        (contracts.SCHEDULE_MEETING, meetings.schedule_meeting),
        (contracts.UPDATE, handlers.update_alliance),
        (contracts.ARCHIVE, handlers.archive_alliance),
        (contracts.INVITE, handlers.invite_member),
        (contracts.ACCEPT_INVITATION, handlers.accept_invitation),
        (contracts.DECLINE_INVITATION, handlers.decline_invitation),
        (contracts.REQUEST, handlers.request_membership),
        (contracts.APPROVE, handlers.approve_membership),
        (contracts.DECLINE, handlers.decline_membership),
        (contracts.LEAVE, handlers.leave_alliance),
        (contracts.REMOVE, handlers.remove_member),
        (contracts.PROMOTE, handlers.change_role(MODERATOR)),
        (contracts.DEMOTE, handlers.change_role(MEMBER)),
        (contracts.UPDATE_MEETING, meetings.update_meeting),
        (contracts.RESCHEDULE_OCCURRENCE, meetings.reschedule_occurrence),
        (contracts.CANCEL_MEETING, meetings.cancel_meeting),
        (contracts.CANCEL_OCCURRENCE, meetings.cancel_occurrence),
        (contracts.RECORD_ATTENDANCE, meetings.record_attendance),
        (contracts.ADD_RESOURCE, resources.add_resource),
        (contracts.UPDATE_RESOURCE, resources.update_resource),
        (contracts.REMOVE_RESOURCE, resources.remove_resource),
        (contracts.RECORD_RESOURCE_USE, resources.record_resource_use),
        # Queries that need the time (the next occurrences from now).
        (contracts.MEETINGS, meetings.list_meetings),
        (contracts.MEETING, meetings.get_meeting),
    ]
    for contract, handler in commands:
        endpoints.bind(contract, functools.partial(_command, handler, uow))
    queries: list[tuple[Any, Callable[[Any, AlliancesUnitOfWork], Awaitable[Any]]]] = [
        (contracts.GET, handlers.get_alliance),
        (contracts.LIST, handlers.list_alliances),
        (contracts.MEMBERSHIPS, handlers.list_memberships),
        (contracts.PENDING_REQUESTS, handlers.pending_requests),
        (contracts.NEEDS_A_WORD, signals.needs_a_word),
        (contracts.RESOURCES, resources.list_resources),
        (privacy.ALLIANCES_EXPORT, member_changes.export_member),
    ]
    for contract, query in queries:
        endpoints.bind(contract, functools.partial(_query, query, uow))
    members = EventConsumer(
        durable=handlers.MEMBERS_CONSUMER,
        source_service="members",
        subscriptions=[
            Subscription(member_contracts.MEMBER_REGISTERED, lambda e, d: handlers.learn_member(e, d, uow())),
            *member_changes.subscriptions(uow),
        ],
    )
    ledger = EventConsumer(
        durable=signals.LEDGER_CONSUMER, source_service="ledger", subscriptions=signals.subscriptions(uow)
    )
    return assemble(settings, plumbing, MIGRATIONS, endpoints, consumers=[members, ledger])


async def _command(
    handler: Callable[[Any, AlliancesUnitOfWork, handlers.Clock], Awaitable[Any]],
    uow: Callable[[], AlliancesUnitOfWork],
    command: Any,
) -> Any:
    return await handler(command, uow(), utc_now)


async def _query(
    handler: Callable[[Any, AlliancesUnitOfWork], Awaitable[Any]], uow: Callable[[], AlliancesUnitOfWork], query: Any
) -> Any:
    return await handler(query, uow())
