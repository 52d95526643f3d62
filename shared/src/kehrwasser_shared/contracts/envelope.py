"""CloudEvents 1.0 envelope in structured JSON mode."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from .common import SINGLE_LINE, Identifier, Instant
from .subjects import PREFIX


class CloudEvent(BaseModel):
    """A structured-mode CloudEvent; ``data`` is validated separately against the type's contract."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = Field(description="Required by CloudEvents 1.0")
    id: Identifier = Field(description="Unique per event; publish it as the Nats-Msg-Id header too")
    source: str = Field(min_length=1, max_length=200, pattern=SINGLE_LINE)
    type: str = Field(min_length=1, max_length=200, pattern=rf"^{PREFIX}\.[a-z]+\.[a-z0-9-]+\.v[0-9]+$")
    time: Instant
    subject: str | None = Field(None, max_length=200, pattern=SINGLE_LINE)
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]


class SerializedData:
    """An event's data as JSON, serialised by the emitter itself.

    For a hot path that writes the JSON cheaper than building and dumping the contract's model (the ledger's
    ``contribution-recorded``, once per contribution); the emitter's tests check it against the model.
    """

    __slots__ = ("json",)

    def __init__(self, json: bytes) -> None:
        self.json = json


def new_event_id() -> str:
    """A random (version 4) UUID, as ``str(uuid.uuid4())`` gives but four times cheaper: one per event."""
    global _random_ids
    if _random_ids is None:
        _random_ids = _uuid4_strings()
    return next(_random_ids)


_random_ids: Iterator[str] | None = None
RANDOM_BLOCK = 4096  # bytes of os.urandom per system call: 256 ids


def _uuid4_strings() -> Iterator[str]:
    """``uuid.uuid4()`` makes a system call for its 16 random bytes and builds a UUID object to format them;
    this reads the same randomness 256 ids at a time and formats the hex directly."""
    while True:
        digits = os.urandom(RANDOM_BLOCK).hex()
        for i in range(0, len(digits), 32):
            # Version 4 in the 13th digit, RFC 4122 variant (8, 9, a or b) in the 17th.
            yield (
                f"{digits[i : i + 8]}-{digits[i + 8 : i + 12]}-4{digits[i + 13 : i + 16]}-"
                f"{_VARIANT[int(digits[i + 16], 16) & 3]}{digits[i + 17 : i + 20]}-{digits[i + 20 : i + 32]}"
            )


_VARIANT = "89ab"


def _forget_random_ids() -> None:
    # A forked child must not hand out the ids left in its parent's buffer.
    global _random_ids
    _random_ids = None


os.register_at_fork(after_in_child=_forget_random_ids)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_event(
    *, type_: str, source: str, data: BaseModel, subject: str | None = None, id_: str | None = None
) -> CloudEvent:
    # Constructed, not validated: the type comes from a contract and the data from a model, and services emit
    # one of these per state change on their hot paths. Consumers validate what they receive.
    return CloudEvent.model_construct(
        specversion="1.0",
        id=id_ or new_event_id(),
        source=source,
        type=type_,
        time=utcnow(),
        subject=subject,
        data=data.model_dump(mode="json"),
    )


def encode_event(
    *,
    type_: str,
    source: str,
    data: BaseModel | SerializedData,
    subject: str | None = None,
    id_: str | None = None,
    trace_context: tuple[str, str | None] | None = None,
) -> tuple[str, bytes]:
    """The id and JSON bytes of a new CloudEvent, the same document ``make_event(...).model_dump_json()`` gives.

    For the outbox, which stores events as bytes: the data is serialised once by pydantic (in Rust) and
    spliced into the envelope by orjson, without building a CloudEvent model and a dict of the data first.
    ``trace_context`` (``traceparent`` and ``tracestate`` or None) goes into the envelope as the CloudEvents
    Distributed Tracing extension (`observability.tracing.current_context` gives it while tracing).
    """
    event_id = id_ or new_event_id()
    envelope = {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": type_,
        "time": utcnow(),
        "subject": subject,
        "datacontenttype": "application/json",
        "data": orjson.Fragment(data.json if isinstance(data, SerializedData) else data.model_dump_json()),
    }
    if trace_context is not None:
        envelope["traceparent"], state = trace_context
        if state:
            envelope["tracestate"] = state
    return event_id, orjson.dumps(envelope, option=orjson.OPT_UTC_Z)
