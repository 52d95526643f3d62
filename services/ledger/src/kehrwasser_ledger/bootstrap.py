"""The composition root of the ledger service: the only place that builds engines, brokers and clients."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts import privacy
from kehrwasser_shared.messaging.commands import CommandEndpoints
from kehrwasser_shared.messaging.consumer import BatchCommit, BatchEventConsumer, Delivery, EventConsumer, Subscription
from kehrwasser_shared.persistence.database import is_unavailable, retried_on_lost_connection
from kehrwasser_shared.runtime import ServiceParts, assemble, build_plumbing, every

from .adapters.member_export import SqlMemberRecords
from .adapters.read_model import SqlLedgerReadModel
from .adapters.tables import messaging
from .adapters.unit_of_work import SqlLedgerUnitOfWork
from .config import SERVICE, LedgerSettings
from .domain.errors import LedgerError
from .service_layer import alliance_bookings, confirmations, handlers, member_export, policies, queries
from .service_layer.booking import Booked, Outcome
from .service_layer.health import PeriodicHealth
from .service_layer.intake import PipelinedIntake
from .service_layer.maintenance import maintain
from .service_layer.read_model import LedgerReadModel
from .service_layer.unit_of_work import IntakeUnitOfWork
from .service_layer.verification import VerificationRuns

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def utc_now() -> datetime:
    return datetime.now(UTC)


def bootstrap(
    settings: LedgerSettings,
    uow: Callable[[], IntakeUnitOfWork] | None = None,
    read_model: Callable[[], LedgerReadModel] | None = None,
) -> ServiceParts:
    """The service, on SQL and NATS; a test may hand in its own unit of work and read model (fakes) instead."""
    plumbing = build_plumbing(settings, messaging)

    def sql_uow() -> SqlLedgerUnitOfWork:
        return SqlLedgerUnitOfWork(
            plumbing.engine, messaging, source=f"/{SERVICE}", on_events_committed=plumbing.relay.hand_over
        )

    def sql_read_model() -> SqlLedgerReadModel:
        return SqlLedgerReadModel(plumbing.reading_engine)

    uow = uow or sql_uow
    read_model = read_model or sql_read_model

    endpoints = CommandEndpoints(queue=SERVICE, expected_errors=(LedgerError,))
    endpoints.bind(contracts.RECORD_CONTRIBUTION, lambda cmd: handlers.record_contribution(cmd, uow(), utc_now))
    endpoints.bind(contracts.REVERSE_CONTRIBUTION, lambda cmd: handlers.reverse_contribution(cmd, uow(), utc_now))
    # SQLite has one writer at a time: walks in parallel would only queue for it (and time out under load).
    parallel = 1 if plumbing.engine.dialect.name == "sqlite" else settings.verify_parallel
    verification = VerificationRuns(uow, read_model, utc_now, parallel=parallel, slice_size=settings.verify_slice)
    endpoints.bind(contracts.VERIFY, verification.start)
    endpoints.bind(contracts.VERIFY_STATUS, verification.status)
    endpoints.bind(contracts.CONFIRM_CONTRIBUTION, lambda cmd: confirmations.confirm_contribution(cmd, uow(), utc_now))
    endpoints.bind(contracts.REJECT_CONTRIBUTION, lambda cmd: confirmations.reject_contribution(cmd, uow(), utc_now))
    endpoints.bind(contracts.DISPUTES, lambda query: confirmations.disputes(query, uow()))
    endpoints.bind(contracts.SET_POLICY, lambda cmd: policies.set_policy(cmd, uow(), utc_now))
    endpoints.bind(contracts.POLICY, lambda query: policies.policy(query, uow()))
    endpoints.bind(contracts.TRAFFIC_LIGHT, lambda query: policies.traffic_lights(query, uow(), utc_now))
    maintenance = every(
        settings.maintenance_interval_seconds, lambda: maintain(uow, utc_now), "expiring and re-lighting"
    )

    def bind_read(contract: Any, read: Callable[[Any], Awaitable[Any]]) -> None:
        endpoints.bind(contract, retried_on_lost_connection(read))

    bind_read(contracts.BALANCE, lambda query: queries.balance(query, read_model()))
    bind_read(contracts.STATEMENT, lambda query: queries.statement(query, read_model()))
    bind_read(contracts.BALANCE_AT, lambda query: queries.balance_at(query, read_model()))
    recent_matrices = queries.RecentMatrices()
    bind_read(contracts.FLOW_MATRIX, lambda query: queries.flow_matrix(query, read_model(), recent_matrices))
    bind_read(contracts.ALLIANCE_HEALTH, lambda query: queries.alliance_health(query, read_model(), utc_now))
    member_records = SqlMemberRecords(plumbing.reading_engine)
    bind_read(privacy.LEDGER_EXPORT, lambda query: member_export.export_member(query, member_records))
    health = PeriodicHealth(
        period=timedelta(seconds=settings.health_interval_seconds), read_model=read_model, uow=uow, clock=utc_now
    )
    alliances = EventConsumer(
        durable=handlers.ALLIANCES_CONSUMER,
        source_service="alliances",
        max_attempts=settings.consumer_max_attempts,
        backoff_seconds=settings.consumer_backoff_seconds,
        subscriptions=[
            Subscription(alliance_contracts.ALLIANCE_CREATED, lambda e, d: handlers.learn_alliance(e, d, uow())),
            Subscription(alliance_contracts.MEMBER_JOINED, lambda e, d: handlers.learn_membership(e, d, uow())),
            Subscription(alliance_contracts.MEMBER_LEFT, lambda e, d: handlers.end_membership(e, d, uow())),
            Subscription(alliance_contracts.MEMBER_REMOVED, lambda e, d: handlers.end_membership(e, d, uow())),
            Subscription(alliance_contracts.ROLE_CHANGED, lambda e, d: handlers.change_role(e, d, uow())),
            Subscription(alliance_contracts.ALLIANCE_ARCHIVED, lambda e, d: handlers.archive_books(e, d, uow())),
            Subscription(
                alliance_contracts.ATTENDANCE_RECORDED,
                lambda e, d: alliance_bookings.book_attendance(e, d, uow(), utc_now),
            ),
            Subscription(
                alliance_contracts.RESOURCE_SHARED,
                lambda e, d: alliance_bookings.book_shared_resource(e, d, uow(), utc_now),
            ),
            Subscription(
                alliance_contracts.RESOURCE_USED, lambda e, d: alliance_bookings.book_resource_use(e, d, uow(), utc_now)
            ),
        ],
    )

    pipeline = PipelinedIntake(uow, utc_now, max_known_accounts=settings.intake_known_accounts)

    async def prepare_submissions(batch: list[Delivery]) -> BatchCommit:
        commit = await pipeline.prepare(
            [delivery.data for delivery in batch], [not delivery.last_attempt for delivery in batch]
        )

        async def book_submissions() -> list[int]:
            return _deferred(await commit())

        return book_submissions

    async def book_plainly(batch: list[Delivery]) -> list[int]:
        # The parts of a batch that failed, booked outside the pipeline until the culprit stands alone.
        outcomes = await handlers.record_contributions(
            [delivery.data for delivery in batch],
            uow(),
            utc_now,
            announce_rejections=True,
            may_defer=[not delivery.last_attempt for delivery in batch],
        )
        return _deferred(outcomes)

    intake = BatchEventConsumer(
        durable=handlers.INTAKE_CONSUMER,
        source_service="ledger",
        subscriptions=[Subscription(contracts.CONTRIBUTION_SUBMITTED, _never_called)],
        partitions=settings.owned_partitions(),
        batch_preparer=prepare_submissions,
        batch_handler=book_plainly,
        is_unavailable=is_unavailable,
        batch_size=settings.intake_batch_size,
        puller=settings.intake_puller,
        fetch_timeout=settings.intake_fetch_seconds,
        max_attempts=settings.consumer_max_attempts,
        backoff_seconds=settings.consumer_backoff_seconds,
    )
    return assemble(
        settings,
        plumbing,
        MIGRATIONS,
        endpoints,
        consumers=[alliances, intake],
        background=[
            health.loop(),
            maintenance,
            every(settings.maintenance_interval_seconds, verification.resume_abandoned, "resuming verification runs"),
        ],
    )


def _deferred(outcomes: list[Outcome]) -> list[int]:
    return [position for position, outcome in enumerate(outcomes) if outcome.status is Booked.DEFERRED]


async def _never_called(event: Any, data: Any) -> None:
    raise AssertionError("the intake consumer books whole batches")
