"""With tracing on, a command's W3C trace context, sent in its NATS headers, is continued by the service."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from kehrwasser_members.bootstrap import bootstrap
from kehrwasser_members.config import MembersSettings
from kehrwasser_shared import runtime
from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.runtime import serve

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_a_command_continues_the_trace_its_headers_carry(
    nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exported = InMemorySpanExporter()

    def in_memory(service: str) -> TracerProvider:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exported))
        return provider

    monkeypatch.setattr(runtime, "tracer_provider", in_memory)
    parts = bootstrap(MembersSettings(nats_url=nats_url, data_dir=tmp_path))
    stop, ready = asyncio.Event(), asyncio.Event()
    service = asyncio.create_task(serve(parts, stop, ready))
    nc = await nats.connect(nats_url)
    try:
        await asyncio.wait_for(ready.wait(), 60)
        request = contracts.RegisterMember(name="Grace Hopper", email="grace@example.org")
        await nc.request(
            contracts.REGISTER.subject,
            request.model_dump_json().encode(),
            timeout=10,
            headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
        )
    finally:
        await nc.close()
        stop.set()
        await asyncio.wait_for(service, 60)
    handled = [span for span in exported.get_finished_spans() if contracts.REGISTER.subject in span.name]
    assert handled, [span.name for span in exported.get_finished_spans()]
    assert {format(span.context.trace_id, "032x") for span in handled} == {TRACE_ID}
