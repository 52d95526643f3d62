"""The composition root of the members service: the only place that builds engines, brokers and clients."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.contracts import privacy
from kehrwasser_shared.messaging.commands import CommandEndpoints
from kehrwasser_shared.runtime import ServiceParts, assemble, build_plumbing

from .adapters.tables import messaging
from .adapters.unit_of_work import SqlMembersUnitOfWork
from .config import SERVICE, MembersSettings
from .domain.model import MemberError
from .service_layer import handlers
from .service_layer.unit_of_work import MembersUnitOfWork

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def utc_now() -> datetime:
    return datetime.now(UTC)


def bootstrap(
    settings: MembersSettings,
    uow: Callable[[], MembersUnitOfWork] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> ServiceParts:
    """The service, on SQL and NATS; a test may hand in its own unit of work (a fake) and clock instead."""
    plumbing = build_plumbing(settings, messaging)

    def sql_uow() -> SqlMembersUnitOfWork:
        return SqlMembersUnitOfWork(
            plumbing.engine, messaging, source=f"/{SERVICE}", on_events_committed=plumbing.relay.hand_over
        )

    uow = uow or sql_uow

    endpoints = CommandEndpoints(queue=SERVICE, expected_errors=(MemberError,))
    endpoints.bind(contracts.REGISTER, lambda cmd: handlers.register_member(cmd, uow(), clock))
    endpoints.bind(contracts.GET, lambda cmd: handlers.get_member(cmd, uow()))
    endpoints.bind(contracts.GET_BY_EMAIL, lambda cmd: handlers.get_member_by_email(cmd, uow()))
    endpoints.bind(contracts.LIST, lambda cmd: handlers.list_members(cmd, uow()))
    endpoints.bind(contracts.UPDATE_PROFILE, lambda cmd: handlers.update_profile(cmd, uow(), clock))
    endpoints.bind(contracts.SET_PREFERENCES, lambda cmd: handlers.set_preferences(cmd, uow(), clock))
    endpoints.bind(contracts.UNSUBSCRIBE, lambda cmd: handlers.unsubscribe(cmd, uow(), clock))
    endpoints.bind(contracts.REQUEST_EMAIL_CHANGE, lambda cmd: handlers.request_email_change(cmd, uow(), clock))
    endpoints.bind(contracts.CONFIRM_EMAIL_CHANGE, lambda cmd: handlers.confirm_email_change(cmd, uow(), clock))
    endpoints.bind(contracts.SUSPEND, lambda cmd: handlers.suspend_member(cmd, uow(), clock))
    endpoints.bind(contracts.REACTIVATE, lambda cmd: handlers.reactivate_member(cmd, uow(), clock))
    endpoints.bind(contracts.LEAVE, lambda cmd: handlers.leave_network(cmd, uow(), clock))
    endpoints.bind(contracts.ERASE, lambda cmd: handlers.erase_member(cmd, uow(), clock))
    endpoints.bind(privacy.MEMBERS_EXPORT, lambda query: handlers.export_member(query, uow()))
    return assemble(settings, plumbing, MIGRATIONS, endpoints)
