"""What becomes of someone's standing in an alliance when the members service says they left the network, were
suspended or erased: these are facts from elsewhere, so nothing here refuses; the alliance adapts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .model import DECLINED, INVITATION_DECLINED, INVITED, LEFT, MODERATOR, REQUESTED, Alliance, Membership


@dataclass(frozen=True)
class Departure:
    """A member who belonged has gone; ``successor`` took over moderating if they were the last moderator;
    ``archived``: they were its last member, so the alliance was archived."""

    left: Membership
    successor: Membership | None = None
    archived: bool = False


def depart(alliance: Alliance, member_id: str, now: datetime) -> Departure | None:
    """End the membership of one who left the network, as if they had left the alliance; None: not a member.

    The rule that an alliance keeps a moderator cannot refuse a departure from the network, so the last
    moderator's place goes to the longest-standing other member (the succession names the one who left as its
    decider: their departure decided it). An alliance its last member leaves is archived, decided by them: with
    nobody left to moderate, nobody could archive it, and nobody could join it (no moderator to approve).
    """
    current = alliance.roster.get(member_id)
    if current is None or not current.belongs:
        return None
    successor = None
    if current.role == MODERATOR and alliance.moderators == [member_id]:
        others = [m for m in alliance.members.values() if m.member_id != member_id]
        if others:
            successor = replace(others[0], role=MODERATOR, decided_by=member_id)
            alliance.roster[successor.member_id] = successor
    left = Membership(member_id, current.role, now, LEFT, decided_by=member_id)
    alliance.roster[member_id] = left
    archived = False
    if not alliance.members and not alliance.archived:
        alliance.archived_at, alliance.archived_by, archived = now, member_id, True
    return Departure(left, successor, archived)


def withdraw(alliance: Alliance, member_id: str, *, decided_by: str, reason: str, now: datetime) -> Membership | None:
    """End a waiting invitation (declined) or request (declined by ``decided_by``); None: nothing waits."""
    current = alliance.roster.get(member_id)
    if current is None or current.status not in (INVITED, REQUESTED):
        return None
    status = INVITATION_DECLINED if current.status == INVITED else DECLINED
    ended = Membership(member_id, current.role, now, status, decided_by, reason)
    alliance.roster[member_id] = ended
    return ended


def forget_words(alliance: Alliance, member_id: str) -> Membership | None:
    """Their standing without the words about them (their request's message, a moderator's reason): kept are
    the status, role, dates and who decided. None: nothing to forget."""
    current = alliance.roster.get(member_id)
    if current is None or (not current.message and not current.reason):
        return None
    forgotten = replace(current, message="", reason="")
    alliance.roster[member_id] = forgotten
    return forgotten
