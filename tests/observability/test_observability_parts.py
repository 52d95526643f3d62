"""The parts of observability that need no NATS: the HTTP handler, readiness, metrics contexts, logs, tracing."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import create_async_engine

from kehrwasser_shared.embedded.nats_server import free_port
from kehrwasser_shared.observability import metrics
from kehrwasser_shared.observability.health import MAX_HEAD_BYTES, HealthServer, Readiness, database_unavailable
from kehrwasser_shared.observability.logs import JsonFormatter
from kehrwasser_shared.observability.metrics import ServiceMetrics
from kehrwasser_shared.observability.tracing import tracer_provider, tracing_configured


async def exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return answer


async def not_ready() -> str | None:
    return "the database is unavailable: it is\nmaintenance night"


async def test_the_health_server_answers_its_three_routes_and_refuses_the_rest() -> None:
    service = ServiceMetrics("members")
    server = HealthServer("127.0.0.1", 0, not_ready, service)
    await server.start()
    try:
        port = server.port
        assert (await exchange(port, b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")).startswith(b"HTTP/1.1 200 OK\r\n")
        ready = await exchange(port, b"GET /readyz HTTP/1.1\r\n\r\n")
        assert ready.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
        reason = json.loads(ready.split(b"\r\n\r\n", 1)[1])
        assert reason == {"ready": False, "reason": "the database is unavailable: it is maintenance night"}
        scraped = await exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n")
        assert b"kehrwasser_ready 0.0" in scraped
        assert b"# TYPE kehrwasser_events_consumed_total counter" in scraped
        assert (await exchange(port, b"HEAD /livez HTTP/1.1\r\n\r\n")).endswith(b"\r\n\r\n")
        assert (await exchange(port, b"GET /admin HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404")
        assert (await exchange(port, b"POST /livez HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 405")
        oversized = b"GET /livez HTTP/1.1\r\nX-Filler: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n"
        assert (await exchange(port, oversized)).startswith(b"HTTP/1.1 400")
        assert (await exchange(port, b"GET /livez HTTP/1.1\r\n")).startswith(b"HTTP/1.1 400")  # cut short
    finally:
        await server.stop()


async def test_readiness_names_what_is_missing(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'ready.db'}")
    connected = False
    readiness = Readiness(engine, nats_connected=lambda: connected)
    try:
        assert await readiness() == "starting"
        readiness.started = True
        assert await readiness() == "NATS is not connected"
        connected = True
        assert await readiness() is None
        readiness.stopping = True
        assert await readiness() == "stopping"
    finally:
        await engine.dispose()


async def test_a_database_nobody_listens_on_is_reported_within_the_timeout() -> None:
    engine = create_async_engine(f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/nothing")
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        reason = await database_unavailable(engine, timeout=1.0)
        assert reason is not None
        assert reason.startswith("the database")
        assert loop.time() - started < 3
    finally:
        await engine.dispose()


async def test_two_services_in_one_process_count_apart() -> None:
    members, notify = ServiceMetrics("members"), ServiceMetrics("notify")

    async def sends_mail(into: ServiceMetrics, emails: int) -> None:
        with metrics.counting_into(into):
            await asyncio.create_task(_send(emails))  # a task started meanwhile counts into the same service

    await asyncio.gather(sends_mail(members, 1), sends_mail(notify, 3))
    assert members.emails_sent._value.get() == 1
    assert notify.emails_sent._value.get() == 3
    assert metrics.current() not in (members, notify)


async def _send(emails: int) -> None:
    for _ in range(emails):
        await asyncio.sleep(0)
        metrics.current().emails_sent.inc()


def test_a_json_log_line_carries_the_current_trace() -> None:
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    formatter = JsonFormatter("ledger")
    record = logging.LogRecord("kehrwasser.test", logging.WARNING, __file__, 1, "booked %d", (3,), None)
    plain = json.loads(formatter.format(record))
    assert plain.keys() == {"time", "level", "service", "logger", "message"}
    assert (plain["level"], plain["service"], plain["logger"], plain["message"]) == (
        "WARNING",
        "ledger",
        "kehrwasser.test",
        "booked 3",
    )
    with provider.get_tracer("test").start_as_current_span("book") as span:
        traced = json.loads(formatter.format(record))
    assert traced["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "\n" not in formatter.format(record)


def test_no_tracing_without_an_otlp_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert tracer_provider("ledger") is None
    assert tracing_configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    provider = tracer_provider("ledger", InMemorySpanExporter())
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "kehrwasser-ledger"
    provider.shutdown()
