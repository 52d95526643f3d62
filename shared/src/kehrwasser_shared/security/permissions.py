"""Who may publish and subscribe to what on NATS: one permission set per service and per client role.

Every list is derived from the contracts (`contracts.registry`), so a new command or event changes the
permissions with it: a service publishes only its own events and its dead letters, answers only its own
commands (``allow_responses``: the reply subject of a request it received, once), subscribes to its commands
and to the events its contracts say it consumes, and calls the JetStream API only for the streams of the
network and for its own durable consumers. Replies arrive on an inbox of the identity's own
(``_INBOX.<identity>.>``; clients set ``inbox_prefix`` to `inbox_prefix`), so nobody can listen to another
identity's replies.

Roles of clients (docs/security.md): ``operator`` everything; ``gateway`` every command and query (it
authenticates people and says who acts, ``requested_by``); ``producer`` publishes ``contribution-submitted``
and reads its outcomes; ``reader`` queries without personal data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..contracts import ledger
from ..contracts.registry import CommandContract, EventContract, all_commands, all_events
from ..contracts.subjects import DEADLETTER_STREAM, SERVICES, stream_name, stream_subjects
from ..messaging.consumer import consumer_sources
from .connection import inbox_prefix

JS_API = "$JS.API"
CLIENT_ROLES = ("operator", "gateway", "producer", "reader")
IDENTITIES = (*SERVICES, *CLIENT_ROLES)

CONSUMERS: dict[str, dict[str, str]] = {
    "alliances": {"alliances-from-members": "members", "alliances-from-ledger": "ledger"},
    "ledger": {"ledger-from-alliances": "alliances", "ledger-intake": "ledger"},
    "notify": {"notify-from-members": "members", "notify-from-alliances": "alliances", "notify-from-ledger": "ledger"},
}
"""Each service's logical durable consumers and the service whose stream each reads (the events it takes are
those of that stream the contracts say the service consumes). tests/security checks these against the durables
the services' composition roots declare."""

PRODUCER_OUTCOMES: tuple[EventContract[Any], ...] = (
    ledger.CONTRIBUTION_RECORDED,
    ledger.CONTRIBUTION_PENDING,
    ledger.CONTRIBUTION_REJECTED,
)
"""What becomes of a submitted contribution: the events a producer may read."""

PRODUCER_DURABLE = "producer-outcomes"
"""The producer's durable consumer on the ledger's stream: outcomes published while it was away wait there."""

READER_QUERIES: tuple[CommandContract[Any, Any], ...] = (
    ledger.BALANCE,
    ledger.BALANCE_AT,
    ledger.STATEMENT,
    ledger.TRAFFIC_LIGHT,
    ledger.FLOW_MATRIX,
    ledger.ALLIANCE_HEALTH,
    ledger.POLICY,
)
"""Queries whose answers carry ids and numbers, never a person's name, email or profile."""


@dataclass(frozen=True)
class Permissions:
    """What one identity may publish and subscribe to (NATS subject patterns)."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False
    """May answer requests it received (publish once to their reply subject) without a publish permission."""


def event_pattern(contract: EventContract[Any]) -> str:
    """The subject pattern of every subject an event of this contract may be published on."""
    return contract.subject if contract.partition_key is None else f"{contract.subject}.*"


def consumed_events(service: str, source: str) -> list[EventContract[Any]]:
    """The events of ``source``'s stream that ``service`` consumes, by the contracts."""
    return [c for c in all_events() if c.service == source and service in c.consumed_by]


def durables(service: str) -> dict[str, list[str]]:
    """Each durable consumer name a service uses (partitioned ones one per partition), by its stream."""
    by_stream: dict[str, list[str]] = {}
    for logical, source in CONSUMERS.get(service, {}).items():
        sources = consumer_sources(logical, consumed_events(service, source))
        by_stream.setdefault(stream_name(source), []).extend(s.durable for s in sources)
    return by_stream


def durable_api(stream: str, durable: str) -> tuple[str, ...]:
    """The JetStream API subjects to create, look up, fetch from and acknowledge one durable pull consumer."""
    return (
        f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}",
        f"{JS_API}.CONSUMER.CREATE.{stream}.{durable}.>",
        f"{JS_API}.CONSUMER.INFO.{stream}.{durable}",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    )


def service_permissions(service: str) -> Permissions:
    if service not in SERVICES:
        raise ValueError(f"not a service of the network: {service!r}")
    own_durables = durables(service)
    consumer_api = [
        subject
        for stream, names in own_durables.items()
        for durable in names
        for subject in durable_api(stream, durable)
    ]
    # Every service creates the streams of the network that are missing at start (messaging/streams.py), so
    # that start order does not matter; it may change the configuration of its own stream only, and delete or
    # purge none: a compromised service cannot shorten another's history. The dead letters' stream is the
    # operator's to change.
    streams = [*(stream_name(s) for s in SERVICES), DEADLETTER_STREAM]
    stream_api = [f"{JS_API}.STREAM.{verb}.{stream}" for stream in streams for verb in ("INFO", "CREATE")]
    stream_api.append(f"{JS_API}.STREAM.UPDATE.{stream_name(service)}")
    dead_letters = [f"kehrwasser.dlq.{logical}" for logical in CONSUMERS.get(service, {})]
    own_commands = [c.subject for c in all_commands() if c.service == service]
    consumed = [event_pattern(c) for c in all_events() if service in c.consumed_by]
    return Permissions(
        publish=_unique([stream_subjects(service), *dead_letters, *stream_api, *consumer_api]),
        subscribe=_unique([*own_commands, *consumed, f"{inbox_prefix(service)}.>"]),
        allow_responses=True,
    )


def role_permissions(role: str) -> Permissions:
    if role == "operator":
        return Permissions(publish=(">",), subscribe=(">",), allow_responses=True)
    inbox = f"{inbox_prefix(role)}.>"
    if role == "gateway":
        return Permissions(publish=_unique(c.subject for c in all_commands()), subscribe=(inbox,))
    if role == "producer":
        # A JetStream publish waits for the stream's acknowledgement, which arrives on the producer's inbox.
        return Permissions(
            publish=(
                event_pattern(ledger.CONTRIBUTION_SUBMITTED),
                *durable_api(stream_name("ledger"), PRODUCER_DURABLE),
            ),
            subscribe=_unique([*(event_pattern(c) for c in PRODUCER_OUTCOMES), inbox]),
        )
    if role == "reader":
        return Permissions(publish=_unique(c.subject for c in READER_QUERIES), subscribe=(inbox,))
    raise ValueError(f"not a client role: {role!r} (one of {', '.join(CLIENT_ROLES)})")


def permissions_of(identity: str) -> Permissions:
    """The permission set of a service or a client role."""
    return service_permissions(identity) if identity in SERVICES else role_permissions(identity)


def _unique(subjects: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(subjects))
