"""OpenTelemetry traces: exported over OTLP only when the standard ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is set.

Without an endpoint a service builds no tracer provider and installs no telemetry middleware: no spans, no
cost. With one, FastStream's `NatsTelemetryMiddleware` on the broker starts a span per message it consumes and
publishes, reading and writing the W3C ``traceparent`` header, and the spans go to the collector in batches
(`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` and the exporter's other standard variables apply).

Our own messaging carries the trace in the event itself, as the CloudEvents Distributed Tracing extension
does: an event emitted while a span is current gets that span's ``traceparent`` (and ``tracestate``) in its
envelope, which the outbox stores as it stores the rest of the payload, so no table changes. Our consumers
continue the trace from there (or from the ``traceparent`` header of a producer that sent none in the
envelope). Hot paths read `enabled`, a module-level flag, before they touch OpenTelemetry at all.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
INSTRUMENTATION = "kehrwasser"
REMEMBERED_EVENTS = 10_000
MESSAGE_ID = "messaging.message.id"  # OpenTelemetry's semantic conventions for messaging
BATCH_COUNT = "messaging.batch.message_count"

enabled = False
"""True while a service of this process traces; everything below costs nothing until then."""

_tracing_services = 0
_tracer: ContextVar[Tracer | None] = ContextVar("kehrwasser_tracer", default=None)
_propagator = TraceContextTextMapPropagator()
_handled_in: OrderedDict[str, SpanContext] = OrderedDict()


def tracing_configured(environ: Mapping[str, str] = os.environ) -> bool:
    return any(environ.get(variable) for variable in ENDPOINT_VARIABLES)


def tracer_provider(service: str, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """The service's tracer provider exporting to ``exporter`` or, by default, to the configured OTLP endpoint
    (None when there is none)."""
    if exporter is None:
        if not tracing_configured():
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"kehrwasser-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


@contextmanager
def tracing_into(provider: TracerProvider | None) -> Iterator[None]:
    """Make ``provider``'s tracer current here and in every task started meanwhile (`serve` does this), and
    turn `enabled` on while any service of the process traces. None: nothing changes."""
    global enabled, _tracing_services
    if provider is None:
        yield
        return
    token = _tracer.set(provider.get_tracer(INSTRUMENTATION))
    _tracing_services += 1
    enabled = True
    try:
        yield
    finally:
        _tracing_services -= 1
        enabled = _tracing_services > 0
        _tracer.reset(token)


def tracer() -> Tracer:
    """The tracer of the service whose `serve` runs this code (OpenTelemetry's global one outside)."""
    return _tracer.get() or trace.get_tracer(INSTRUMENTATION)


def current_context() -> tuple[str, str | None] | None:
    """The current span's ``traceparent`` and ``tracestate`` (None if empty); None without a span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    state = context.trace_state.to_header() if context.trace_state else None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}", state or None


def parent_from(carrier: Mapping[str, Any] | None) -> Context | None:
    """The trace context that ``traceparent``/``tracestate`` entries of ``carrier`` name, None if none."""
    if not carrier:
        return None
    parent = carrier.get(TRACEPARENT)
    if not isinstance(parent, str):
        return None
    entries = {TRACEPARENT: parent}
    if isinstance(state := carrier.get(TRACESTATE), str):
        entries[TRACESTATE] = state
    context = _propagator.extract(entries)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def event_parent(extensions: Mapping[str, Any] | None, headers: Mapping[str, str] | None) -> Context | None:
    """Where a consumed event's trace goes on: its envelope's extension first, else its NATS headers."""
    return parent_from(extensions) or parent_from(headers)


@contextmanager
def consuming(name: str, event_id: str, parent: Context | None) -> Iterator[None]:
    """A consumer span continuing ``parent``; work done under it (a mail sent later) can find it by event id.

    Under FastStream's own span of the same trace (its middleware read the ``traceparent`` header), a child of
    that span rather than a sibling."""
    if parent is not None:
        current = trace.get_current_span().get_span_context()
        if current.is_valid and current.trace_id == trace.get_current_span(parent).get_span_context().trace_id:
            parent = None
    attributes = {MESSAGE_ID: event_id}
    with tracer().start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes) as span:
        _remember(event_id, span.get_span_context())
        yield


@contextmanager
def consuming_batch(name: str, parents: list[Context], events: int) -> Iterator[None]:
    """A span for a batch of events: a batch has many parents, so it links to each and continues the first
    (so that the events it emits, one batch of one in the least, stay in their submitter's trace)."""
    spans = [trace.get_current_span(parent).get_span_context() for parent in parents]
    with tracer().start_as_current_span(
        name,
        context=parents[0] if parents else None,
        kind=SpanKind.CONSUMER,
        links=[Link(span) for span in spans],
        attributes={BATCH_COUNT: events},
    ):
        yield


@contextmanager
def following_event(name: str, event_id: str | None, **attributes: str) -> Iterator[None]:
    """A span for later work on behalf of an event this process consumed (say, the email it queued), in that
    event's trace; outside any trace if the process does not remember the event (it was restarted since)."""
    if not enabled:
        yield
        return
    remembered = _handled_in.get(event_id) if event_id is not None else None
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remembered)) if remembered is not None else None
    with tracer().start_as_current_span(name, context=parent, attributes=attributes):
        yield


def _remember(event_id: str, context: SpanContext) -> None:
    _handled_in[event_id] = context
    if len(_handled_in) > REMEMBERED_EVENTS:
        _handled_in.popitem(last=False)
