"""OpenTelemetry traces: exported over OTLP only when the standard ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is set.

Without an endpoint a service builds no tracer provider and installs no telemetry middleware: no spans, no
cost. With one, FastStream's `NatsTelemetryMiddleware` on the broker starts a span per message it consumes and
publishes, reading and writing the W3C ``traceparent`` header, and the spans go to the collector in batches
(`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` and the exporter's other standard variables apply).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


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
