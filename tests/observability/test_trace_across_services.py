"""One trace from a contribution's publisher through the ledger's intake to the warning email notify sends.

Four services in this process over a real nats-server, tracing into one in-memory exporter: the test submits
a contribution as an outside producer would (contribution-submitted with a ``traceparent`` header from a span
of its own) that drives the receiver red; the span of the warning email's send carries the test's trace id,
and so do the hops between: the intake's batch, notify's handling of balance-warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_members.bootstrap import bootstrap as members_service
from kehrwasser_members.config import MembersSettings
from kehrwasser_notify.bootstrap import bootstrap as notify_service
from kehrwasser_notify.config import NotifySettings
from kehrwasser_shared import runtime
from kehrwasser_shared.contracts import alliances, ledger, make_event, members
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import running

pytestmark = pytest.mark.integration


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Every service's spans, in memory instead of over OTLP."""
    exporter = InMemorySpanExporter()

    def in_memory(service: str) -> TracerProvider:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider

    monkeypatch.setattr(runtime, "tracer_provider", in_memory)
    return exporter


async def caught_up(js: Any, stream: str, durable: str) -> None:
    for _ in range(400):
        info = await js.consumer_info(stream, durable)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{durable} did not catch up with {stream}")


async def mail_sends(exporter: InMemorySpanExporter, kind: str, seconds: float = 30.0) -> list[ReadableSpan]:
    """The spans of the sends of ``kind`` mail, once there is one."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        spans = exporter.get_finished_spans()
        if found := [s for s in spans if s.name == "notify send-mail" and (s.attributes or {}).get("kind") == kind]:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} mail sent; spans: {sorted({s.name for s in exporter.get_finished_spans()})}")


def trace_ids(spans: list[ReadableSpan]) -> set[str]:
    return {format(span.context.trace_id, "032x") for span in spans if span.context is not None}


async def test_the_warning_email_is_sent_in_the_trace_of_the_contribution_that_caused_it(
    nats_url: str, tmp_path: Path, mail_sink: MailSink, exported: InMemorySpanExporter
) -> None:
    common: dict[str, Any] = {"nats_url": nats_url, "outbox_poll_seconds": 0.2, "consumer_backoff_seconds": [0.2]}
    services = [
        members_service(MembersSettings(data_dir=tmp_path / "m", **common)),
        alliances_service(AlliancesSettings(data_dir=tmp_path / "a", **common)),
        ledger_service(LedgerSettings(data_dir=tmp_path / "l", **common)),
        notify_service(
            NotifySettings(
                data_dir=tmp_path / "n",
                smtp_host=mail_sink.host,
                smtp_port=mail_sink.port,
                mail_poll_seconds=0.2,
                **common,
            )
        ),
    ]
    async with contextlib.AsyncExitStack() as stack:
        for parts in services:
            await stack.enter_async_context(running(parts))
        nc = await nats.connect(nats_url)
        stack.push_async_callback(nc.close)
        js, client = nc.jetstream(), CommandClient(nc)
        ada = await client.send(members.REGISTER, members.RegisterMember(name="Ada Lovelace", email="ada@example.org"))
        linus = await client.send(
            members.REGISTER, members.RegisterMember(name="Linus Torvalds", email="linus@example.org")
        )
        founded = await client.send_when_known(
            alliances.CREATE,
            alliances.CreateAlliance(
                name="Hamburg Founders",
                moderator_ids=[ada.member_id],
                warning_threshold=Decimal("-5"),
                size_limit=4,
            ),
        )
        await client.send_when_known(
            alliances.JOIN, alliances.JoinAlliance(alliance_id=founded.alliance_id, member_id=linus.member_id)
        )
        await caught_up(js, stream_name("alliances"), "ledger-from-alliances")

        # The producer: a span of its own, whose context travels in the submission's headers.
        producer = TracerProvider()
        producer.add_span_processor(SimpleSpanProcessor(exported))
        with producer.get_tracer("a producer").start_as_current_span("submit contribution") as submitting:
            submission = ledger.RecordContribution(
                contribution_id=str(uuid.uuid4()),
                alliance_id=founded.alliance_id,
                giver_id=ada.member_id,
                receiver_id=linus.member_id,
                kind="advice",
                value=Decimal("6"),
            )
            event = make_event(type_=ledger.CONTRIBUTION_SUBMITTED.type, source="/a-producer", data=submission)
            headers = {"Nats-Msg-Id": event.id}
            TraceContextTextMapPropagator().inject(headers)
            await js.publish(
                ledger.CONTRIBUTION_SUBMITTED.subject_for(submission),
                event.model_dump_json().encode(),
                headers=headers,
            )
        the_trace = format(submitting.get_span_context().trace_id, "032x")

        warned = await mail_sends(exported, "balance-warning")
        # The send's span ends once the sink has taken the mail: Linus's own warning is there now.
        [_warning] = mail_sink.wait_for_matching(
            lambda m: m["To"].addresses[0].addr_spec == "linus@example.org" and "is red" in str(m["Subject"]), 1, 10
        )

    assert trace_ids(warned) == {the_trace}
    every = exported.get_finished_spans()
    intake = [s for s in every if s.name.startswith("ledger-intake") and s.name.endswith(" batch")]
    assert the_trace in trace_ids(intake), "the ledger's intake continues the producer's trace"
    assert any(link.context.span_id == submitting.get_span_context().span_id for s in intake for link in s.links)
    handled = [s for s in every if s.name.endswith(ledger.BALANCE_WARNING.type) and s.resource is not None]
    assert the_trace in trace_ids(handled), "notify's handling of balance-warning continues it too"
