"""JetStream streams and durable consumers of the network, declared idempotently at service start."""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
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


def network_streams(replicas: int = 1) -> list[StreamConfig]:
    streams = [
        StreamConfig(
            name=stream_name(service),
            subjects=[stream_subjects(service)],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
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
            num_replicas=replicas,
            description="Events a consumer could not parse, validate or process, with the reason",
        )
    )
    return streams


async def ensure_streams(js: JetStreamContext, replicas: int = 1) -> None:
    for config in network_streams(replicas):
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
