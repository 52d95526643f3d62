"""The Prometheus metrics of one service process, in a registry of its own.

`serve` makes a `ServiceMetrics` current for the service it runs (a context variable, which every task it
starts inherits), and code that counts asks for `current()`. A handler or loop running outside `serve` (a
unit test) counts into a registry nobody reads. The context variable keeps the counting out of the ports and
constructors of the services' own code: two services served in one test process still count apart.

Counting costs a context-variable read and an increment; the ledger's intake counts per batch, not per
message (docs/performance.md has the benchmark).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

HANDLER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ConsumerMeters(NamedTuple):
    """One consumer's metrics, bound to its label once instead of looked up per message."""

    consumed: Counter
    failed: Counter
    dead_lettered: Counter
    handler_seconds: Histogram
    batch_seconds: Histogram


class ServiceMetrics:
    """Every metric a Kehrwasser service exposes (FastStream's middleware adds its own to ``registry``)."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_consumed = Counter(
            "kehrwasser_events_consumed", "Events handled and acknowledged", ["consumer"], registry=r
        )
        self.events_failed = Counter(
            "kehrwasser_events_failed",
            "Handler failures (the event is retried, or dead-lettered)",
            ["consumer"],
            registry=r,
        )
        self.events_dead_lettered = Counter(
            "kehrwasser_events_dead_lettered", "Events moved to the dead-letter stream", ["consumer"], registry=r
        )
        self.handler_seconds = Histogram(
            "kehrwasser_event_handler_seconds",
            "Time to handle and settle one event",
            ["consumer"],
            buckets=HANDLER_BUCKETS,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "kehrwasser_event_batch_seconds",
            "Time from fetching a batch to settling it (batch consumers: the ledger's intake)",
            ["consumer"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.consumer_pending = Gauge(
            "kehrwasser_consumer_pending",
            "Messages in the stream not yet delivered to the durable consumer (num_pending; sampled)",
            ["durable"],
            registry=r,
        )
        self.consumer_ack_pending = Gauge(
            "kehrwasser_consumer_ack_pending",
            "Messages delivered to the durable consumer and not yet acknowledged (sampled)",
            ["durable"],
            registry=r,
        )
        self.outbox_backlog = Gauge("kehrwasser_outbox_backlog", "Outbox rows not yet published (sampled)", registry=r)
        self.commands = Counter(
            "kehrwasser_commands",
            "Commands answered, by subject and outcome (ok or the error code)",
            ["subject", "outcome"],
            registry=r,
        )
        self.emails_sent = Counter("kehrwasser_emails_sent", "Emails handed to the SMTP server", registry=r)
        self.emails_failed = Counter("kehrwasser_emails_failed", "Attempts to send an email that failed", registry=r)
        self.contributions_booked = Counter(
            "kehrwasser_contributions_booked",
            "Contributions the ledger's intake booked (new entries; rate() gives contributions per second)",
            registry=r,
        )
        self.ready = Gauge("kehrwasser_ready", "1 while the service answers /readyz with 200", registry=r)

    def consumer(self, name: str) -> ConsumerMeters:
        return ConsumerMeters(
            self.events_consumed.labels(name),
            self.events_failed.labels(name),
            self.events_dead_lettered.labels(name),
            self.handler_seconds.labels(name),
            self.batch_seconds.labels(name),
        )


_current: ContextVar[ServiceMetrics | None] = ContextVar("kehrwasser_metrics", default=None)
_unserved: list[ServiceMetrics] = []


def current() -> ServiceMetrics:
    """The metrics of the service whose `serve` runs this code; outside one, metrics nobody reads."""
    metrics = _current.get()
    if metrics is not None:
        return metrics
    if not _unserved:
        _unserved.append(ServiceMetrics("unserved"))
    return _unserved[0]


@contextmanager
def counting_into(metrics: ServiceMetrics) -> Iterator[ServiceMetrics]:
    """Make ``metrics`` current here and in every task started meanwhile."""
    token = _current.set(metrics)
    try:
        yield metrics
    finally:
        _current.reset(token)
