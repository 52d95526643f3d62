"""The balance policy of an alliance: traffic lights with hysteresis, the hard floor and newcomers' probation.

Green means the member keeps the balance of contribution; yellow that they drift (net balance in the yellow
band, or nothing given within the rolling window); red that they mostly take. A light worsens as soon as a
threshold is crossed, but improves only once the balance clears the threshold by the hysteresis margin, so a
balance oscillating around a threshold does not produce a stream of warnings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from .errors import BelowFloor, InvalidPolicy, ProbationLimitReached


class Light(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Light.GREEN: 0, Light.YELLOW: 1, Light.RED: 2}
DEFAULT_HYSTERESIS = Decimal("1.00")
DEFAULT_PENDING_EXPIRY = timedelta(days=14)
DEFAULT_ATTENDANCE_POINTS = Decimal("1.00")


@dataclass(frozen=True)
class BalancePolicy:
    """What an alliance considers a worrying balance, and what it refuses outright."""

    red_below: Decimal
    yellow_below: Decimal | None = None
    floor: Decimal | None = None
    inactivity_window: timedelta | None = None
    hysteresis: Decimal = DEFAULT_HYSTERESIS
    probation_limit: Decimal | None = None
    requires_confirmation: bool = False
    pending_expiry: timedelta = DEFAULT_PENDING_EXPIRY
    book_attendance: bool = False  # each recorded attendance of a meeting is an attendance contribution
    attendance_points: Decimal = DEFAULT_ATTENDANCE_POINTS

    def __post_init__(self) -> None:
        check_policy(self)

    def light_for(self, balance: Decimal, inactive: bool) -> Light:
        """The light a balance deserves, without regard to where it came from."""
        if balance < self.red_below:
            return Light.RED
        if (self.yellow_below is not None and balance < self.yellow_below) or inactive:
            return Light.YELLOW
        return Light.GREEN

    def next_light(self, current: Light, balance: Decimal, inactive: bool) -> Light:
        """Worsen at once; improve only as far as the balance clears each threshold by the hysteresis."""
        deserved = self.light_for(balance, inactive)
        if deserved.severity >= current.severity:
            return deserved
        settled = self.light_for(balance - self.hysteresis, inactive)
        return settled if settled.severity < current.severity else current

    def threshold_of(self, light: Light) -> Decimal | None:
        if light is Light.RED:
            return self.red_below
        if light is Light.YELLOW:
            return self.yellow_below
        return None

    def is_inactive(self, opened_at: datetime | None, last_given_at: datetime | None, now: datetime) -> bool:
        """Nothing given within the window, by a member who has been in the alliance for at least the window."""
        if self.inactivity_window is None or opened_at is None:
            return False
        horizon = now - self.inactivity_window
        return opened_at <= horizon and (last_given_at is None or last_given_at < horizon)


def check_policy(policy: BalancePolicy) -> None:
    if policy.yellow_below is not None and policy.yellow_below < policy.red_below:
        raise InvalidPolicy("the yellow band must start at or above the red threshold")
    if policy.floor is not None and policy.floor > policy.red_below:
        raise InvalidPolicy("the hard floor must lie at or below the red threshold")
    if policy.hysteresis < 0:
        raise InvalidPolicy("the hysteresis cannot be negative")
    if policy.probation_limit is not None and policy.probation_limit < 0:
        raise InvalidPolicy("the probation limit cannot be negative")
    if policy.inactivity_window is not None and policy.inactivity_window <= timedelta(0):
        raise InvalidPolicy("the inactivity window must be positive")
    if policy.pending_expiry <= timedelta(0):
        raise InvalidPolicy("pending contributions must expire after a positive time")
    if policy.attendance_points <= 0:
        raise InvalidPolicy("an attended meeting must be worth more than 0 points")


def check_may_take(policy: BalancePolicy, *, balance_after: Decimal, given: Decimal, received_after: Decimal) -> None:
    """Refuse a contribution whose receiver would pass the hard floor, or a newcomer past their probation."""
    if policy.floor is not None and balance_after < policy.floor:
        raise BelowFloor(balance_after, policy.floor)
    if policy.probation_limit is not None and given == 0 and received_after > policy.probation_limit:
        raise ProbationLimitReached(received_after, policy.probation_limit)
