"""JetStream streams and durable consumers of the network, declared idempotently at service start."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, NotFoundError

from ..contracts.subjects import (
    DEADLETTER_STREAM,
    DEADLETTER_SUBJECTS,
    SERVICES,
    stream_name,
    stream_subjects,
)

# JetStream drops a re-published event whose Nats-Msg-Id it saw within this window; the outbox relay
# re-publishes only rows it could not mark as sent, which happens within seconds of the first attempt.
DUPLICATE_WINDOW_SECONDS = 15 * 60.0
STREAM_NAME_IN_USE = 10058
DAY_SECONDS = 24 * 60 * 60.0
NO_LIMIT = -1


@dataclass(frozen=True)
class Retention:
    """How long the network's streams keep what they hold (docs/operations.md, "Retention").

    Age, not a count per subject: an event type's subject is shared by every alliance and member (health
    events have one subject per type), so ``max_msgs_per_subject`` would keep the last few of the whole
    network, not of each alliance. A stream's size limit, if set, drops its oldest events first.
    """

    max_age_seconds: float = 365 * DAY_SECONDS
    """Events of a service's stream older than this are removed (0: kept for ever)."""
    deadletter_max_age_seconds: float = 2 * 365 * DAY_SECONDS
    """Dead letters older than this are removed: longer, so that a forgotten one outlives its original."""
    max_bytes: int = NO_LIMIT
    """Size of each service's stream beyond which its oldest events are removed (-1: no limit)."""

    def duplicate_window(self) -> float:
        # JetStream refuses a duplicate window longer than the stream's maximum age.
        if self.max_age_seconds <= 0:
            return DUPLICATE_WINDOW_SECONDS
        return min(DUPLICATE_WINDOW_SECONDS, self.max_age_seconds)


def network_streams(replicas: int = 1, retention: Retention | None = None) -> list[StreamConfig]:
    retention = retention or Retention()
    streams = [
        StreamConfig(
            name=stream_name(service),
            subjects=[stream_subjects(service)],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=retention.max_age_seconds,
            max_bytes=retention.max_bytes,
            discard=DiscardPolicy.OLD,
            duplicate_window=retention.duplicate_window(),
            num_replicas=replicas,
            description=f"Events owned by the {service} service",
        )
        for service in SERVICES
    ]
    streams.append(
        StreamConfig(
            name=DEADLETTER_STREAM,
            subjects=[DEADLETTER_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=retention.deadletter_max_age_seconds,
            num_replicas=replicas,
            description="Events a consumer could not parse, validate or process, with the reason",
        )
    )
    return streams


async def ensure_streams(
    js: JetStreamContext, replicas: int = 1, *, owner: str | None = None, retention: Retention | None = None
) -> None:
    """Declare the network's streams: create each that is missing, so that the order in which services start
    does not matter, and bring the configuration of ``owner``'s own stream (every stream, for the operator:
    ``owner=None``) up to date. A service never changes a stream it does not own (its permissions refuse
    it): a lower limit set on another service's stream would delete that service's events. The limits of
    ``retention`` are those a stream is created with, and those its owner (or the operator) sets on it."""
    for config in network_streams(replicas, retention):
        if owner is None or config.name == stream_name(owner):
            await _create_or_update(js, config)
            continue
        try:
            await js.add_stream(config)
        except BadRequestError as exc:
            # JetStream answers 10058 when the stream exists with a configuration of its owner's (or the
            # operator's) making; creating one with an identical configuration succeeds silently.
            if exc.err_code != STREAM_NAME_IN_USE:
                raise


async def _create_or_update(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.stream_info(config.name or "")
        await js.update_stream(config)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Another service created it between our lookup and our add.
            await js.update_stream(config)


async def ensure_consumer(
    js: JetStreamContext,
    *,
    stream: str,
    durable: str,
    filter_subjects: list[str],
    ack_wait_seconds: float = 30.0,
    max_ack_pending: int = 10_000,
) -> None:
    """Create or update a durable pull consumer; redelivery limits are enforced by the EventConsumer."""
    config = ConsumerConfig(
        durable_name=durable,
        name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait_seconds,
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
        filter_subjects=filter_subjects,
    )
    await js.add_consumer(stream, config=config)
