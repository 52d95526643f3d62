"""Field types shared by several contracts: the network's one input discipline.

Everything that crosses NATS is untrusted, so every field is bounded here, at the contract, where the JSON
Schema shows it to outside clients too:

* text has a maximum length and no control characters: NUL and the C0/C1 controls, DEL, and the Unicode line
  and paragraph separators are refused; single-line fields (names, titles, places) refuse CR, LF and tab as
  well, so that nothing can smuggle a header line into a mail or a calendar; multi-line text (notes,
  purposes, reasons) may keep line breaks and tabs;
* identifiers are short and plain (letters, digits, ``.``, ``_``, ``:``, ``-``), so that they fit into
  Message-IDs, calendar UIDs and log lines as they are;
* numbers have documented bounds that the databases can hold, sums included;
* times lie between 1970 and 2100, so that any time-zone arithmetic on them stays within Python's range.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

SINGLE_LINE = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
"""No control character at all: no NUL, no CR, LF or tab, no DEL, no C1 control, no Unicode line separator."""
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]*$"
"""As `SINGLE_LINE`, but line feeds, carriage returns and tabs are kept."""
IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"

Language = Literal["de", "en"]
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=IDENTIFIER)]
FocusTag = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=40, pattern=SINGLE_LINE)
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=SINGLE_LINE)]
"""A person's, company's or alliance's name, or a meeting's title: one line, 1-200 characters."""
ShortLine = Annotated[str, StringConstraints(max_length=200, pattern=SINGLE_LINE)]
"""A single-line text that may be empty (a company): up to 200 characters."""
Line = Annotated[str, StringConstraints(max_length=500, pattern=SINGLE_LINE)]
"""A single-line text that may be empty (a place or a link): up to 500 characters."""
Text = Annotated[str, StringConstraints(max_length=2000, pattern=MULTI_LINE)]
"""A free text (a note, a purpose, a reason): line breaks and tabs allowed, up to 2,000 characters."""
Message = Annotated[str, StringConstraints(max_length=4000, pattern=MULTI_LINE)]
"""A message a service writes about something (why a contribution was refused): up to 4,000 characters."""

MAX_POINTS = Decimal("1000000000")
"""Thresholds, floors and limits lie within ±10^9 points."""
MAX_CONTRIBUTION_VALUE = Decimal("1000000")
"""One contribution is worth at most 10^6 points (10^8 cents): a balance overflows 64-bit cents only after 9 x 10^10."""
MAX_VERSION = 2_147_483_647
"""An account's entries are numbered in a 32-bit column (2^31 - 1 entries per member and alliance)."""

Points = Annotated[Decimal, Field(max_digits=18, decimal_places=2, description="Points with two decimal places")]
PointsSetting = Annotated[
    Decimal,
    Field(
        max_digits=18,
        decimal_places=2,
        ge=-MAX_POINTS,
        le=MAX_POINTS,
        description="Points with two decimal places, within ±1,000,000,000",
    ),
]
ContributionValue = Annotated[
    Decimal,
    Field(
        max_digits=18,
        decimal_places=2,
        gt=0,
        le=MAX_CONTRIBUTION_VALUE,
        description="Points with two decimal places, more than 0 and at most 1,000,000",
    ),
]
Version = Annotated[int, Field(ge=0, le=MAX_VERSION)]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def check_time_range(value: datetime) -> datetime:
    """A time (with offset, or without: read as UTC) from 1970 up to, not including, 2100."""
    instant = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not EARLIEST <= instant < LATEST:
        raise ValueError("must lie between 1970-01-01 and 2100-01-01")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(check_time_range)]
"""A point in time, RFC 3339 with its offset, from 1970 up to 2100: every time an event or reply carries."""
Timestamp = Annotated[datetime, AfterValidator(check_time_range)]
"""A time a command gives, from 1970 up to 2100; the command says what a time without offset means."""


@cache
def time_zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def check_time_zone(name: str) -> str:
    # Looked up in the list of known names, never opened as a file path (ZoneInfo would try `../../x`).
    if name not in time_zone_names():
        raise ValueError("must be an IANA time zone name such as Europe/Berlin")
    return name


TimeZoneName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_+\-/]+$"),
    AfterValidator(check_time_zone),
    Field(description="IANA time zone name, e.g. Europe/Berlin"),
]


MAX_AFTER_EVENTS = 16
EVENT_TYPE = r"^kehrwasser\.[a-z]+\.[a-z0-9-]+\.v[0-9]+$"


class EventRef(BaseModel):
    """An event a command published (a reply's ``events``), for a later command's ``after``."""

    id: Identifier
    type: Annotated[str, StringConstraints(max_length=128, pattern=EVENT_TYPE)] = Field(
        description="CloudEvents type, e.g. kehrwasser.members.member-registered.v1"
    )


class Command(BaseModel):
    """A command's request: unknown fields are refused, so that a misspelt field never goes unnoticed."""

    model_config = ConfigDict(extra="forbid")

    after: list[EventRef] = Field(
        default_factory=list,
        max_length=MAX_AFTER_EVENTS,
        description="Events (an earlier reply's `events`, passed on as they are) this service must have consumed "
        "before it acts: it waits for those it consumes a bounded time, then answers `not-caught-up`; the "
        "others it ignores",
    )
