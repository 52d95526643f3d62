"""CloudEvents 1.0 envelope in structured JSON mode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from .subjects import PREFIX


class CloudEvent(BaseModel):
    """A structured-mode CloudEvent; ``data`` is validated separately against the type's contract."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1, pattern=rf"^{PREFIX}\.[a-z]+\.[a-z0-9-]+\.v[0-9]+$")
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]


def new_event_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_event(
    *, type_: str, source: str, data: BaseModel, subject: str | None = None, id_: str | None = None
) -> CloudEvent:
    # Constructed, not validated: the type comes from a contract and the data from a model, and services emit
    # one of these per state change on their hot paths. Consumers validate what they receive.
    return CloudEvent.model_construct(
        id=id_ or new_event_id(),
        source=source,
        type=type_,
        time=utcnow(),
        subject=subject,
        data=data.model_dump(mode="json"),
    )


def encode_event(
    *, type_: str, source: str, data: BaseModel, subject: str | None = None, id_: str | None = None
) -> tuple[str, bytes]:
    """The id and JSON bytes of a new CloudEvent, the same document ``make_event(...).model_dump_json()`` gives.

    For the outbox, which stores events as bytes: the data is serialised once by pydantic (in Rust) and
    spliced into the envelope by orjson, without building a CloudEvent model and a dict of the data first.
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
        "data": orjson.Fragment(data.model_dump_json()),
    }
    return event_id, orjson.dumps(envelope, option=orjson.OPT_UTC_Z)
