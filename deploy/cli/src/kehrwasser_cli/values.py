"""Option values the CLI reads itself, so that a bad one is click's usage error naming the option (exit 2).

Only the standard library and typer here: every start of the CLI imports this module, and a person waits for it.
The choices mirror the contracts' enums without importing them (the contracts cost a fifth of a second);
tests/cli/test_option_values.py checks that both agree.
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Literal, get_args

import typer

ContributionKind = Literal["advice", "introduction", "referral", "resource", "knowledge", "hosting", "attendance"]
StatementOrder = Literal["newest-first", "oldest-first"]
Language = Literal["de", "en"]
PolicyLimit = Literal["yellow_below", "floor", "inactivity_days", "probation_limit"]
Service = Literal["members", "alliances", "ledger", "notify"]
MemberStatus = Literal["active", "suspended", "left"]
MailCategory = Literal["balance", "meetings", "membership", "digest"]
Unsubscribable = Literal["balance", "meetings", "membership", "digest", "all"]
ResourceKind = Literal["domain", "analysis", "knowledge", "network", "tool"]
DeliveryState = Literal["queued", "retrying", "sent", "failed", "suppressed"]


def policy_limit(text: str) -> str:
    """One of the policy's optional limits (typer has no choices for repeated options, so checked here)."""
    limits: tuple[str, ...] = get_args(PolicyLimit)
    if text not in limits:
        raise typer.BadParameter(f"{text!r} is not one of {', '.join(limits)}")
    return text


POLICY_LIMITS_METAVAR = "[" + "|".join(get_args(PolicyLimit)) + "]"


def points(text: str | Decimal) -> Decimal:
    """A number of points such as ``3``, ``-10`` or ``2.50``; the contract checks its range and precision."""
    if isinstance(text, Decimal):  # an option's default: click passes it through the parser too
        return text
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise typer.BadParameter(f"{text!r} is not a number") from None
    if not value.is_finite():  # Decimal reads 'NaN' and 'Infinity', which no balance can be
        raise typer.BadParameter(f"{text!r} is not a number")
    return value


def date_time(text: str) -> datetime:
    """An ISO 8601 date-time; an offset (``Z``, ``+05:00``) is kept as given, for the service to interpret."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an ISO 8601 date-time (e.g. 2026-12-01T18:00 or 2026-12-01T18:00+01:00)"
        ) from None


def seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise typer.BadParameter(f"{text!r} is not a positive number of seconds")
    return value
