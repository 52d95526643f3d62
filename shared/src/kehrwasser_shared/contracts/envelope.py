"""CloudEvents 1.0 envelope in structured JSON mode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

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
