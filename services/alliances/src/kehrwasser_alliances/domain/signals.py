"""What the network already knows of each member, weighed: points to discuss and the "needs a word" list.

The seed warns that alliances get taken over for pure sales. Nobody can see intent, but the network has
signals: the ledger's traffic light and balance, its one-way flows (someone who receives from others and gives
back less than a tenth), the member's direction alignment, and whether they come to the meetings. Each signal
that speaks against a member is a *reason*, with a weight; a member's *concern* is the sum of their reasons'
weights, and the list shows every member with at least one reason, most concern first (then by id):

=======================================================  ======
Reason                                                   Weight
=======================================================  ======
light red (balance below the red threshold, or inactive)    3
one-way flow (takes from others, gives back < a tenth)      3
light yellow                                                1
alignment below the alliance's threshold                    1
came to fewer than half of at least three recorded           1
occurrences they were invited to
=======================================================  ======

Red and one-way flow weigh most: they are what the ledger measures of giving and taking. A one-way flow with a
low alignment (4) is the pattern of someone who joined to sell. Attendance needs three recorded occurrences so
that one missed meeting of a new member says nothing. The same open balance issues (yellow, red, one-way flow)
are the points to discuss on the agenda of an alliance's next meeting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

GREEN, YELLOW, RED = "green", "yellow", "red"
ONE_WAY_FLOW = "one-way-flow"
WEIGHT_RED = 3
WEIGHT_ONE_WAY = 3
WEIGHT_YELLOW = 1
WEIGHT_LOW_ALIGNMENT = 1
WEIGHT_LOW_ATTENDANCE = 1
MIN_RECORDED_OCCURRENCES = 3
"""Attendance counts once at least this many occurrences the member was invited to have attendance recorded."""


@dataclass(frozen=True)
class LightSignal:
    """A member's light as the ledger's last light event about them left it."""

    member_id: str
    light: str
    balance: Decimal
    reason: str  # balance or inactivity: why it is not green
    since: datetime  # when this light began
    occurred_at: datetime  # of the event that set it: an older event arriving late changes nothing


@dataclass(frozen=True)
class FlowSignals:
    """The one-way flows of an alliance as its last alliance-health event lists them."""

    period_start: datetime
    one_way_since: Mapping[str, datetime]  # member id: since which health event they are listed

    def followed_by(self, period_start: datetime, members: Iterable[str], now: datetime) -> FlowSignals | None:
        """The flows after a newer health event, keeping since when each member has been listed; None if older."""
        if period_start < self.period_start:
            return None
        return FlowSignals(period_start, {m: self.one_way_since.get(m, now) for m in members})


@dataclass(frozen=True)
class AttendanceRecord:
    recorded: int  # occurrences with attendance recorded that the member was invited to
    attended: int


@dataclass(frozen=True)
class Point:
    """An open balance issue: for the agenda of the next meeting."""

    member_id: str
    issue: str  # yellow, red or one-way-flow
    text: str
    since: datetime


@dataclass(frozen=True)
class Concern:
    member_id: str
    concern: int
    reasons: tuple[str, ...]


def light_changed(current: LightSignal | None, new: LightSignal) -> LightSignal | None:
    """The light after a warning or recovery event; None when the event is older than what is known."""
    if current is not None and new.occurred_at < current.occurred_at:
        return None
    return new


def points_to_discuss(
    lights: Iterable[LightSignal], flows: FlowSignals | None, names: Mapping[str, str], members: Iterable[str]
) -> list[Point]:
    """Members (of ``members``) at red, then yellow, then one-way flows, each by name."""
    belonging = set(members)
    points = [
        Point(s.member_id, s.light, f"{_name(names, s.member_id)}: {s.light}, {_light_words(s)}", s.since)
        for s in sorted(lights, key=lambda s: (s.light != RED, s.balance, s.member_id))
        if s.member_id in belonging and s.light in (YELLOW, RED)
    ]
    if flows is not None:
        points += [
            Point(m, ONE_WAY_FLOW, f"{_name(names, m)}: {ONE_WAY_WORDS}", since)
            for m, since in sorted(flows.one_way_since.items())
            if m in belonging
        ]
    return points


ONE_WAY_WORDS = "one-way flow: receives from other members and gives back less than a tenth"


def concern_of(
    member_id: str,
    *,
    light: LightSignal | None,
    one_way: bool,
    alignment: int | None,
    alignment_threshold: int,
    attendance: AttendanceRecord,
) -> Concern:
    """A member's reasons for a word, weighed (the table in this module's docstring)."""
    weighed: list[tuple[int, str]] = []
    if light is not None and light.light == RED:
        weighed.append((WEIGHT_RED, f"light red: {_light_words(light)}"))
    if one_way:
        weighed.append((WEIGHT_ONE_WAY, ONE_WAY_WORDS))
    if light is not None and light.light == YELLOW:
        weighed.append((WEIGHT_YELLOW, f"light yellow: {_light_words(light)}"))
    if alignment is not None and alignment < alignment_threshold:
        weighed.append(
            (WEIGHT_LOW_ALIGNMENT, f"direction alignment {alignment} below the alliance's {alignment_threshold}")
        )
    if attendance.recorded >= MIN_RECORDED_OCCURRENCES and attendance.attended * 2 < attendance.recorded:
        weighed.append(
            (
                WEIGHT_LOW_ATTENDANCE,
                f"came to {attendance.attended} of {attendance.recorded} meetings with recorded attendance",
            )
        )
    return Concern(member_id, sum(w for w, _ in weighed), tuple(reason for _, reason in weighed))


def by_concern(concerns: Iterable[Concern]) -> list[Concern]:
    """Those with at least one reason, most concern first, then by member id."""
    return sorted((c for c in concerns if c.reasons), key=lambda c: (-c.concern, c.member_id))


def cursor_of(concern: Concern) -> str:
    return f"{concern.concern}:{concern.member_id}"


def after_cursor(concerns: list[Concern], cursor: str | None) -> list[Concern]:
    """The concerns that follow ``cursor`` in `by_concern` order (an unreadable cursor starts at the top)."""
    if cursor is None:
        return concerns
    score, _, member_id = cursor.partition(":")
    if not score.isdigit():
        return concerns
    return [c for c in concerns if (-c.concern, c.member_id) > (-int(score), member_id)]


def _light_words(signal: LightSignal) -> str:
    balance = f"balance {signal.balance:.2f}"
    return f"nothing given within the inactivity window, {balance}" if signal.reason == "inactivity" else balance


def _name(names: Mapping[str, str], member_id: str) -> str:
    return names.get(member_id) or member_id
