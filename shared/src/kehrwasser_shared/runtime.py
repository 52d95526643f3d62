"""Lifecycle of one service process: migrate, connect, declare streams and consumers, serve, stop cleanly."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats.errors
from faststream.nats import NatsBroker, NatsRouter
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.prometheus import NatsPrometheusMiddleware
from faststream.nats.security import NatsCredentials, NatsNKey, NatsSecurity
from nats.aio.client import Client
from nats.js import JetStreamContext
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncEngine

from .config import ServiceSettings
from .contracts.registry import all_events
from .messaging.causality import InboxWatch
from .messaging.commands import CommandEndpoints
from .messaging.consumer import BatchEventConsumer, EventConsumer
from .messaging.outbox_relay import OutboxRelay
from .messaging.streams import ensure_streams
from .messaging.tables import MessagingTables
from .observability import metrics as service_metrics
from .observability import tracing
from .observability.health import HealthServer, Readiness
from .observability.logs import JsonFormatter
from .observability.metrics import ServiceMetrics
from .observability.sampling import sample_until_stopped
from .observability.tracing import tracer_provider
from .persistence.database import create_engine, create_reading_engine
from .persistence.migrations import upgrade_to_head, upgrade_to_head_async
from .security.connection import inbox_prefix, tls_context

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 10.0
# Batches allocate thousands of short-lived containers that reference counting frees; with the default first
# threshold (700) the collector ran 1,270 times in 30 booked batches (1.1 s), with these 7 times (0.16 s).
GC_THRESHOLDS = (50_000, 20, 100)
BackgroundLoop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def every(seconds: float, work: Callable[[], Awaitable[object]], what: str) -> BackgroundLoop:
    """A background loop doing ``work`` now and then every ``seconds`` until the service stops.

    A failed round is logged and retried at the next one: a database outage must not stop the service.
    """

    async def loop(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await work()
            except Exception:
                log.exception("%s failed; retrying in %.0fs", what, seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=seconds)

    return loop


@dataclass
class ServiceParts:
    """What a composition root hands to the runtime."""

    name: str
    settings: ServiceSettings
    database_url: str
    migrations: Path
    engine: AsyncEngine
    reading_engine: AsyncEngine
    endpoints: CommandEndpoints
    relay: OutboxRelay
    broker: NatsBroker
    """Connects the service to NATS and runs its FastStream subscribers (the command endpoints' router)."""
    consumers: Sequence[EventConsumer] = ()
    background: Sequence[BackgroundLoop] = field(default_factory=list)
    metrics: ServiceMetrics | None = None
    """The service's registry (FastStream's Prometheus middleware on ``broker`` counts into it too)."""
    tracing: TracerProvider | None = None
    """Exports the spans of FastStream's telemetry middleware on ``broker``; None: no tracing."""


@dataclass(frozen=True)
class Plumbing:
    """The database engines and outbox relay every service builds the same way."""

    database_url: str
    engine: AsyncEngine
    reading_engine: AsyncEngine
    """For request/reply reads; see `create_reading_engine`."""
    relay: OutboxRelay
    tables: MessagingTables


def build_plumbing(settings: ServiceSettings, tables: MessagingTables) -> Plumbing:
    database_url = settings.resolved_database_url()
    engine = create_engine(database_url)
    return Plumbing(
        database_url,
        engine,
        create_reading_engine(database_url, engine),
        OutboxRelay(engine, tables, poll_interval=settings.outbox_poll_seconds),
        tables,
    )


def assemble(
    settings: ServiceSettings,
    plumbing: Plumbing,
    migrations: Path,
    endpoints: CommandEndpoints,
    consumers: Sequence[EventConsumer] = (),
    background: Sequence[BackgroundLoop] = (),
) -> ServiceParts:
    broker = make_broker(settings, settings.SERVICE)
    metrics = ServiceMetrics(settings.SERVICE)
    tracing = tracer_provider(settings.SERVICE)
    if tracing is not None:
        broker.add_middleware(NatsTelemetryMiddleware(tracer_provider=tracing))
    broker.add_middleware(NatsPrometheusMiddleware(registry=metrics.registry, app_name=settings.SERVICE))
    watch = InboxWatch(
        plumbing.reading_engine,
        plumbing.tables.inbox,
        [consumer.durable for consumer in consumers],
        [contract.type for contract in all_events() if settings.SERVICE in contract.consumed_by],
    )
    endpoints.catch_up_with(watch, settings.catch_up_seconds)
    broker.include_router(endpoints.router)
    subscribers = NatsRouter()
    for consumer in consumers:
        consumer.subscribe(subscribers, inbox_prefix=f"{inbox_prefix(settings.SERVICE)}.".encode())
    broker.include_router(subscribers)
    return ServiceParts(
        name=settings.SERVICE,
        settings=settings,
        database_url=plumbing.database_url,
        migrations=migrations,
        engine=plumbing.engine,
        reading_engine=plumbing.reading_engine,
        endpoints=endpoints,
        relay=plumbing.relay,
        broker=broker,
        consumers=consumers,
        background=background,
        metrics=metrics,
        tracing=tracing,
    )


def make_broker(settings: ServiceSettings, name: str) -> NatsBroker:
    servers = [s.strip() for s in settings.nats_url.split(",") if s.strip()]
    return NatsBroker(
        servers,
        name=f"kehrwasser-{name}",
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        graceful_timeout=15.0,
        # One access-log line per message drowns the logs; keep them for DEBUG.
        log_level=logging.DEBUG,
        # The service signs in as itself and reads replies on its own inbox, the only one its permissions allow
        # (security/permissions.py).
        security=nats_identity(settings),
        inbox_prefix=inbox_prefix(name),
    )


def nats_identity(settings: ServiceSettings) -> NatsSecurity | None:
    """How a service signs in to NATS: JWT credentials, an nkey seed file or the seed itself (the first one
    configured), over TLS with the configured CA and client certificate if any; None: an open server without
    TLS settings (e.g. in tests; nats-py still upgrades to TLS if that server requires it)."""
    context = tls_context(settings.nats_tls_ca, settings.nats_tls_cert, settings.nats_tls_key)
    first = settings.nats_tls_handshake_first
    if settings.nats_creds is not None:
        return NatsCredentials.from_file(settings.nats_creds, ssl_context=context, tls_handshake_first=first)
    if (seed_file := settings.nkey_seed_file()) is not None:
        return NatsNKey.from_file(seed_file, ssl_context=context, tls_handshake_first=first)
    if settings.nats_nkey_seed is not None:
        seed = settings.nats_nkey_seed.get_secret_value()
        return NatsNKey.from_seed(seed, ssl_context=context, tls_handshake_first=first)
    if context is None and not first:
        return None
    return NatsSecurity(ssl_context=context, tls_handshake_first=first)


async def serve(parts: ServiceParts, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
    """Run the service until ``stop`` is set; its health server answers from the start (not ready until
    ``ready`` is set) and stops last. Metrics count into ``parts.metrics`` in every task started here."""
    metrics = parts.metrics or ServiceMetrics(parts.name)
    readiness = Readiness(parts.engine, nats_connected=lambda: False)
    health = await _start_health(parts, readiness, metrics)
    try:
        with service_metrics.counting_into(metrics), tracing.tracing_into(parts.tracing):
            await _serve(parts, stop, ready, readiness)
    finally:
        if health is not None:
            await health.stop()
        if parts.tracing is not None:
            parts.tracing.shutdown()


async def _start_health(parts: ServiceParts, readiness: Readiness, metrics: ServiceMetrics) -> HealthServer | None:
    settings = parts.settings
    if not settings.health_port:
        return None
    server = HealthServer(settings.health_host, settings.health_port, readiness, metrics)
    try:
        await server.start()
    except OSError as exc:
        # Several services on one host (`kehrwasser up`) need a port each; the service runs all the same.
        log.error("health server not started on %s:%d: %s", settings.health_host, settings.health_port, exc)
        return None
    log.info("health and metrics on http://%s:%d (/livez /readyz /metrics)", settings.health_host, server.port)
    return server


async def _serve(parts: ServiceParts, stop: asyncio.Event, ready: asyncio.Event | None, readiness: Readiness) -> None:
    if parts.settings.migrate_on_start:
        await upgrade_to_head_async(parts.migrations, parts.database_url)
    broker = parts.broker
    nc = await broker.connect()
    readiness.nats_connected = lambda: nc.is_connected
    js: JetStreamContext = nc.jetstream()
    settings = parts.settings
    await ensure_streams(js, settings.stream_replicas, owner=parts.name, retention=settings.stream_retention())
    for consumer in parts.consumers:
        await consumer.declare(nc)
    await broker.start()
    relay = asyncio.create_task(parts.relay.run(nc), name=f"{parts.name}-outbox-relay")
    workers = [
        asyncio.create_task(consumer.run(stop), name=consumer.durable)
        for consumer in parts.consumers
        if isinstance(consumer, BatchEventConsumer)
    ]
    workers += [asyncio.create_task(loop(stop), name=f"{parts.name}-background") for loop in parts.background]
    sampling = sample_until_stopped(stop, service_metrics.current(), parts.relay.backlog, js, parts.consumers)
    workers.append(asyncio.create_task(sampling, name=f"{parts.name}-sampling"))
    log.info(
        "%s service ready (NATS %s, database %s)",
        parts.name,
        parts.settings.nats_url,
        _redact(parts.database_url),
    )
    # What start-up allocated (modules, pydantic and SQLAlchemy structures) lives as long as the process;
    # frozen, the collector's full passes no longer walk it, which shortens the pauses they put into requests.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    readiness.started = True
    if ready is not None:
        ready.set()
    try:
        await _until_stopped(stop, [relay, *workers])
    finally:
        log.info("%s service stopping", parts.name)
        readiness.stopping = True
        stop.set()
        # Consumers finish the batch in hand, then the relay publishes what their last commits handed over;
        # what outlasts the grace is cancelled and, being uncommitted, unacknowledged or unsent, done again
        # after the restart. All of them stop before the broker drains the connection: a drain waits for
        # every subscription, the pullers' included.
        await asyncio.gather(*(consumer.stop() for consumer in parts.consumers), return_exceptions=True)
        await _finish(workers, SHUTDOWN_GRACE_SECONDS)
        parts.relay.stop()
        await _finish([relay], SHUTDOWN_GRACE_SECONDS)
        await _stop_broker(broker, nc)
        await parts.engine.dispose()
        await parts.reading_engine.dispose()
        log.info("%s service stopped", parts.name)


async def _stop_broker(broker: NatsBroker, nc: Client) -> None:
    """Drain the connection; with NATS away there is nothing to drain (nats-py refuses while reconnecting), so
    the connection is closed instead and the service still stops cleanly: what it had not acknowledged is
    delivered again after the restart."""
    try:
        await broker.stop()
    except nats.errors.Error as exc:  # reconnecting, closed, a drain that timed out
        log.warning("NATS unavailable while stopping (%r); closing the connection", exc)
        with contextlib.suppress(Exception):
            await nc.close()


async def _finish(tasks: list[asyncio.Task[None]], grace: float) -> None:
    """Let ``tasks`` end on their own within ``grace`` seconds, then cancel the rest."""
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _until_stopped(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    for task in done:
        if task is not waiter and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def configure_logging(level: str, name: str, log_format: str = "plain") -> None:
    """Plain lines (or JSON objects, ``log_format="json"``) with the service's name, from every logger,
    FastStream's included.

    FastStream gives its loggers handlers that colour the level name whatever the output is: raw ANSI escapes
    in log files and in `kehrwasser up`, which reads the services' output through a pipe. So ``faststream``
    hands its records to the root logger, and the broker's access logger (which the broker creates later and
    gives a colouring handler unless it finds a StreamHandler on stdout there) gets a plain one first.
    """
    import sys  # here, with the rest of the logging set-up

    formatter = (
        JsonFormatter(name)
        if log_format == "json"
        else logging.Formatter(f"%(asctime)s %(levelname)-7s [{name}] %(name)s: %(message)s")
    )
    logging.basicConfig(level=level.upper())
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)
    framework = logging.getLogger("faststream")
    for handler in list(framework.handlers):
        framework.removeHandler(handler)
    framework.propagate = True
    access = logging.getLogger("faststream.access.nats")
    for handler in list(access.handlers):
        access.removeHandler(handler)
    plain = logging.StreamHandler(sys.stdout)
    plain.setFormatter(formatter)
    access.addHandler(plain)


def service_main(
    settings_type: type[ServiceSettings],
    bootstrap: Callable[[Any], ServiceParts],
    migrations: Path,
    argv: list[str] | None = None,
) -> None:
    """Entry point of a service process: ``kehrwasser-<service> [serve|migrate]``."""
    name = settings_type.SERVICE
    parser = argparse.ArgumentParser(prog=f"kehrwasser-{name}")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args(argv)
    settings = settings_type()
    configure_logging(settings.log_level, name, settings.log_format)
    if args.command == "migrate":
        upgrade_to_head(migrations, settings.resolved_database_url())
        return

    async def run(stop: asyncio.Event) -> None:
        await serve(bootstrap(settings), stop)

    run_until_signalled(run)


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main`` until SIGINT or SIGTERM, then let it shut down gracefully."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    with asyncio.Runner(loop_factory=event_loop_factory()) as loop_runner:
        loop_runner.run(runner())


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it exists: the services spend much of their time in the loop, NATS and asyncpg I/O, and
    uvloop does that work in C (the ledger's intake books a fifth more per second with it)."""
    try:
        import uvloop
    except ImportError:  # Windows has no uvloop; the standard loop works, only slower
        return None
    return uvloop.new_event_loop
