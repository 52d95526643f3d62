"""The one subject scheme of the network.

- Events:   ``kehrwasser.evt.<service>.<event-name>.v<N>`` — persisted in the owning service's stream.
- Commands: ``kehrwasser.cmd.<service>.<command>`` — core NATS request/reply, never persisted (a stream
  capturing a request subject would answer the requester with a PubAck instead of the service's reply).
- Dead letters: ``kehrwasser.dlq.<consumer>`` — persisted in the ``KEHRWASSER_DEADLETTER`` stream.

CloudEvents ``type`` is ``kehrwasser.<service>.<event-name>.v<N>``; its subject is derived from it.
"""

from __future__ import annotations

SERVICES = ("members", "alliances", "ledger", "notify")
PREFIX = "kehrwasser"
DEADLETTER_STREAM = "KEHRWASSER_DEADLETTER"
DEADLETTER_SUBJECTS = f"{PREFIX}.dlq.>"


def event_type(service: str, name: str, version: int) -> str:
    """CloudEvents type, e.g. ``kehrwasser.ledger.balance-warning.v2``."""
    return f"{PREFIX}.{service}.{name}.v{version}"


def event_subject(type_: str) -> str:
    """The subject an event of this CloudEvents type is published on."""
    prefix, service, rest = type_.split(".", 2)
    if prefix != PREFIX:
        raise ValueError(f"not a Kehrwasser event type: {type_!r}")
    return f"{PREFIX}.evt.{service}.{rest}"


def command_subject(service: str, command: str) -> str:
    """Request/reply subject of a command, e.g. ``kehrwasser.cmd.members.register``."""
    return f"{PREFIX}.cmd.{service}.{command}"


def stream_name(service: str) -> str:
    """The JetStream stream that holds the events a service owns."""
    return f"KEHRWASSER_{service.upper()}"


def stream_subjects(service: str) -> str:
    return f"{PREFIX}.evt.{service}.>"


def deadletter_subject(consumer: str) -> str:
    return f"{PREFIX}.dlq.{consumer}"
