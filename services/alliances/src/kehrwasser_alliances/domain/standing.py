"""A member's standing in the network, as the alliances service last learned it from the members service.

The members service owns the status (`member-registered`, `-suspended`, `-reactivated`, `-left`, `-erased`);
alliances keeps its last word so that it may refuse, without asking, someone who may not take part now.
"""

from __future__ import annotations

from .model import MemberNotActive

ACTIVE = "active"
SUSPENDED = "suspended"
LEFT = "left"
ERASED = "erased"
STANDINGS = (ACTIVE, SUSPENDED, LEFT, ERASED)


def check_active(member_id: str, standing: str) -> None:
    """Only an active member may ask to join, be invited, accept an invitation or be approved."""
    if standing != ACTIVE:
        raise MemberNotActive(member_id, standing)


def after_reactivation(current: str) -> str:
    """Reactivation restores the active standing, except after erasure: an erased member never comes back."""
    return current if current == ERASED else ACTIVE
