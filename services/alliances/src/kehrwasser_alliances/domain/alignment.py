"""Direction alignment: how well a member's focus matches an alliance's direction, explained.

The seed's first condition for an alliance that works is that its members pull in similar directions. The
score compares focus tags, the only direction the network knows of a member:

    score = 100 * (0.6 * J(member, alliance focus) + 0.4 * mean over the other members m of J(member, m's focus))

where J is the Jaccard overlap |A and B| / |A or B| of two tag sets (0 when both are empty). A part whose
reference declares no tags (an alliance without focus, members without focus) is left out and the other
part's weight becomes 1: a missing declaration says nothing about direction. When nothing is declared at all
the score is None and no threshold applies. The score is rounded half up to a whole number, so identical tags
score 100 and disjoint tags 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

ALLIANCE_WEIGHT = Fraction(3, 5)
MEMBERS_WEIGHT = Fraction(2, 5)


@dataclass(frozen=True)
class Alignment:
    score: int | None
    alliance_overlap: int
    members_overlap: int
    matching: tuple[str, ...]
    missing: tuple[str, ...]

    def below(self, threshold: int) -> bool:
        return self.score is not None and self.score < threshold


def jaccard(a: Iterable[str], b: Iterable[str]) -> Fraction:
    first, second = set(a), set(b)
    union = first | second
    if not union:
        return Fraction(0)
    return Fraction(len(first & second), len(union))


def percent(share: Fraction) -> int:
    """0..1 as 0..100, rounded half up (``round`` would round 62.5 to 62)."""
    return int(share * 100 + Fraction(1, 2))


def align(
    member_focus: Iterable[str], alliance_focus: Iterable[str], members_focus: Sequence[Iterable[str]]
) -> Alignment:
    """The member's alignment with the alliance; ``members_focus`` are the other members' focus tags."""
    member = tuple(dict.fromkeys(member_focus))
    alliance = tuple(dict.fromkeys(alliance_focus))
    others = [set(focus) for focus in members_focus]
    declared = [focus for focus in others if focus]
    with_alliance = jaccard(member, alliance)
    with_members = sum((jaccard(member, focus) for focus in declared), Fraction(0)) / max(len(declared), 1)
    if alliance and declared:
        share: Fraction | None = ALLIANCE_WEIGHT * with_alliance + MEMBERS_WEIGHT * with_members
    elif alliance:
        share = with_alliance
    elif declared:
        share = with_members
    else:
        share = None
    shared = set(alliance).union(*declared) if declared else set(alliance)
    return Alignment(
        score=None if share is None else percent(share),
        alliance_overlap=percent(with_alliance),
        members_overlap=percent(with_members),
        matching=tuple(tag for tag in member if tag in shared),
        missing=tuple(tag for tag in alliance if tag not in member),
    )
