"""The one subject scheme of the network.

- Events:   ``kehrwasser.evt.<service>.<event-name>.v<N>`` — persisted in the owning service's stream.
  A partitioned event adds its partition: ``kehrwasser.evt.<service>.<event-name>.v<N>.<partition>``, one of
  `PARTITIONS`, computed from a key in its data by `partition_of`, so that a consumer can be split across
  processes by key (the ledger's intake by alliance) with every key's events in one process, in order.
- Commands: ``kehrwasser.cmd.<service>.<command>`` — core NATS request/reply, never persisted (a stream
  capturing a request subject would answer the requester with a PubAck instead of the service's reply).
- Dead letters: ``kehrwasser.dlq.<consumer>`` — persisted in the ``KEHRWASSER_DEADLETTER`` stream.

CloudEvents ``type`` is ``kehrwasser.<service>.<event-name>.v<N>``; its subject is derived from it.
"""

from __future__ import annotations

import zlib

SERVICES = ("members", "alliances", "ledger", "notify")
PREFIX = "kehrwasser"
DEADLETTER_STREAM = "KEHRWASSER_DEADLETTER"
DEADLETTER_SUBJECTS = f"{PREFIX}.dlq.>"

PARTITIONS = 16
"""Partitions of a partitioned event, fixed for the network: the most processes one consumer can be split into.
Changing it moves keys between partitions, so it is part of the subject scheme, not a setting."""


def event_type(service: str, name: str, version: int) -> str:
    """CloudEvents type, e.g. ``kehrwasser.ledger.balance-warning.v2``."""
    return f"{PREFIX}.{service}.{name}.v{version}"


def event_subject(type_: str) -> str:
    """The subject an event of this CloudEvents type is published on."""
    prefix, service, rest = type_.split(".", 2)
    if prefix != PREFIX:
        raise ValueError(f"not a Kehrwasser event type: {type_!r}")
    return f"{PREFIX}.evt.{service}.{rest}"


def type_of_subject(subject: str) -> str:
    """The CloudEvents type of the event published on ``subject`` (a partition's included)."""
    prefix, kind, service, name, version, *_ = subject.split(".")
    if (prefix, kind) != (PREFIX, "evt"):
        raise ValueError(f"not an event subject: {subject!r}")
    return event_type(service, name, int(version.removeprefix("v")))


def partition_of(key: str) -> int:
    """The partition of a key: CRC-32 (as zlib, IEEE 802.3) of its UTF-8 bytes, modulo `PARTITIONS`.

    Any producer can compute it (every language has CRC-32); it is stable across processes and releases,
    unlike Python's ``hash``.
    """
    return zlib.crc32(key.encode()) % PARTITIONS


def partition_subject(subject: str, partition: int) -> str:
    """The subject of one partition of a partitioned event."""
    if not 0 <= partition < PARTITIONS:
        raise ValueError(f"partition {partition} is not in 0..{PARTITIONS - 1}")
    return f"{subject}.{partition}"


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
