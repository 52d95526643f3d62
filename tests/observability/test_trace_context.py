"""Trace context in the event envelope and event and correlation ids in JSON logs, without NATS."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import orjson
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kehrwasser_shared.contracts import members
from kehrwasser_shared.contracts.envelope import CloudEvent
from kehrwasser_shared.messaging.outbox_relay import _recovered
from kehrwasser_shared.messaging.unit_of_work import EventBuffer
from kehrwasser_shared.observability import logs, tracing
from kehrwasser_shared.observability.logs import JsonFormatter

GRACE = members.MemberRegisteredV1(
    member_id="grace",
    name="Grace Hopper",
    email="grace@example.org",
    company="",
    language="en",
    focus=[],
    registered_at=datetime(2026, 3, 1, tzinfo=UTC),
)


def a_provider() -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    return provider


def test_an_event_emitted_in_a_span_carries_its_traceparent_in_envelope_and_outgoing_event() -> None:
    provider = a_provider()
    buffer = EventBuffer("/members")
    with tracing.tracing_into(provider), tracing.tracer().start_as_current_span("register") as span:
        assert tracing.enabled
        buffer.emit(members.MEMBER_REGISTERED, GRACE)
    assert not tracing.enabled
    (event,) = buffer.events
    context = span.get_span_context()
    expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert event.traceparent == expected
    envelope = CloudEvent.model_validate_json(event.payload)
    assert (envelope.model_extra or {}).get("traceparent") == expected
    assert envelope.data == orjson.loads(GRACE.model_dump_json())
    # Read back by the recovery round, the header comes from the envelope.
    with tracing.tracing_into(provider):
        assert _recovered(event.event_id, event.subject, event.payload).traceparent == expected


def test_without_tracing_an_event_carries_no_trace_context_even_under_a_span() -> None:
    buffer = EventBuffer("/members")
    with a_provider().get_tracer("test").start_as_current_span("register"):
        buffer.emit(members.MEMBER_REGISTERED, GRACE)
    (event,) = buffer.events
    assert event.traceparent is None
    assert b"traceparent" not in event.payload
    assert _recovered(event.event_id, event.subject, event.payload).traceparent is None


def test_a_consumed_event_continues_the_envelope_before_the_header() -> None:
    in_envelope = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    in_header = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}

    def trace_of(extensions: dict[str, str] | None, headers: dict[str, str] | None) -> str | None:
        parent = tracing.event_parent(extensions, headers)
        return None if parent is None else f"{trace.get_current_span(parent).get_span_context().trace_id:032x}"

    assert trace_of(in_envelope, in_header) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_of(None, in_header) == "0af7651916cd43dd8448eb211c80319c"
    assert trace_of({"traceparent": "not a trace"}, None) is None
    assert trace_of(None, None) is None


def test_a_json_log_line_names_the_event_and_correlation_in_hand() -> None:
    formatter = JsonFormatter("notify")
    record = logging.LogRecord("kehrwasser.test", logging.INFO, __file__, 1, "queued", (), None)
    with logs.handling(event_id="evt-1", correlation_id="evt-1"):
        inside = json.loads(formatter.format(record))
    outside = json.loads(formatter.format(record))
    assert (inside["service"], inside["event_id"], inside["correlation_id"]) == ("notify", "evt-1", "evt-1")
    assert "event_id" not in outside
    assert "correlation_id" not in outside
    assert (
        logs.reply_correlation("_INBOX.abc.1")
        == logs.reply_correlation("_INBOX.abc.1")
        != logs.reply_correlation("_INBOX.abc.2")
    )
