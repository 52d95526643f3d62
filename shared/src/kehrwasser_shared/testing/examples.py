"""Readable example events for tests: the same founders in every test that needs one."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from ..contracts import alliances as alliance_contracts
from ..contracts import members as member_contracts

REGISTERED_AT = datetime(2026, 11, 25, 9, 0, 0, 123456, tzinfo=UTC)


def member_registered(name: str, *, focus: tuple[str, ...] = ()) -> member_contracts.MemberRegisteredV1:
    """``member-registered`` data of a founder called ``name`` (id and email derived from it)."""
    return member_contracts.MemberRegisteredV1(
        member_id=name.lower(),
        name=name,
        email=f"{name.lower()}@example.org",
        company="",
        language="en",
        focus=list(focus),
        registered_at=REGISTERED_AT,
    )


def alliance_created(
    alliance_id: str = "hamburg", *, threshold: str = "-5", moderator: str = "ada", at: datetime = REGISTERED_AT
) -> alliance_contracts.AllianceCreatedV1:
    """``alliance-created`` data of Hamburg Founders (or another id), founded by Ada unless told otherwise."""
    return alliance_contracts.AllianceCreatedV1(
        alliance_id=alliance_id,
        name="Hamburg Founders",
        purpose="",
        focus=[],
        warning_threshold=Decimal(threshold),
        moderator_id=moderator,
        created_at=at,
    )
