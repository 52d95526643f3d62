"""Alliances: who belongs, who moderates, and when they meet."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .alignment import Alignment

MODERATOR = "moderator"
MEMBER = "member"
DEFAULT_ALIGNMENT_THRESHOLD = 30
"""Below this alignment (0-100) approving a request needs an override reason, unless the alliance sets another."""


class AllianceError(Exception):
    code = "alliance-error"


class UnknownAlliance(AllianceError):
    code = "unknown-alliance"

    def __init__(self, alliance_id: str) -> None:
        super().__init__(f"no alliance with id {alliance_id}")


class UnknownMember(AllianceError):
    code = "unknown-member"

    def __init__(self, member_id: str) -> None:
        super().__init__(f"member {member_id} is not known (yet) to the alliances service")


class NotAModerator(AllianceError):
    code = "not-a-moderator"

    def __init__(self, member_id: str, alliance_id: str) -> None:
        super().__init__(f"member {member_id} is not a moderator of alliance {alliance_id}")


class InvalidTimezone(AllianceError):
    code = "invalid-timezone"

    def __init__(self, name: str) -> None:
        super().__init__(f"{name!r} is not an IANA time zone such as Europe/Berlin")


class InvalidAlliance(AllianceError):
    code = "invalid-alliance"


class InvalidMeetingTime(AllianceError):
    """A start in the past, beyond the planning horizon, or a wall-clock time the time zone skips."""

    code = "invalid-meeting-time"


class AllianceArchived(AllianceError):
    code = "alliance-archived"

    def __init__(self, alliance_id: str) -> None:
        super().__init__(f"alliance {alliance_id} is archived")


class AllianceFull(AllianceError):
    code = "alliance-full"

    def __init__(self, alliance_id: str, limit: int) -> None:
        super().__init__(f"alliance {alliance_id} has reached its size limit of {limit} members")


class AlreadyMember(AllianceError):
    code = "already-member"

    def __init__(self, member_id: str, alliance_id: str) -> None:
        super().__init__(f"{member_id} already belongs to alliance {alliance_id}")


class AlreadyPending(AllianceError):
    code = "already-pending"

    def __init__(self, member_id: str, status: str) -> None:
        what = "an invitation" if status == INVITED else "a request to join"
        super().__init__(f"{what} of {member_id} is already waiting")


class NothingPending(AllianceError):
    code = "nothing-pending"

    def __init__(self, member_id: str, wanted: str) -> None:
        what = "invitation" if wanted == INVITED else "request to join"
        super().__init__(f"no {what} of {member_id} is waiting")


class NotAMember(AllianceError):
    code = "not-a-member"

    def __init__(self, member_id: str, alliance_id: str) -> None:
        super().__init__(f"{member_id} is not a member of alliance {alliance_id}")


class LastModerator(AllianceError):
    code = "last-moderator"

    def __init__(self, member_id: str) -> None:
        super().__init__(f"{member_id} is the alliance's last moderator: promote another member first")


class AlignmentTooLow(AllianceError):
    code = "alignment-too-low"

    def __init__(self, score: int, threshold: int) -> None:
        super().__init__(
            f"the request's alignment {score} lies below the alliance's threshold {threshold}: "
            "approving it needs an override_reason"
        )


MEETING_HORIZON = timedelta(days=5 * 365)
"""How far ahead a meeting may be scheduled: beyond it, a date is far more likely a typo than a plan."""

# Where a member stands with an alliance. Only MEMBER belongs; the others are kept (with who decided and why) so
# that a member sees what became of a request, or why they were removed.
INVITED = "invited"
REQUESTED = "requested"
BELONGS = "member"
LEFT = "left"
REMOVED = "removed"
DECLINED = "declined"
INVITATION_DECLINED = "invitation-declined"
PENDING = (INVITED, REQUESTED)

FOUNDED = "founded"
JOINED = "joined"
APPROVED = "approved"
INVITATION = "invitation"


@dataclass(frozen=True)
class Membership:
    """One member's standing with one alliance; ``since`` is when the status began (a member's: joining)."""

    member_id: str
    role: str
    since: datetime
    status: str = BELONGS
    decided_by: str | None = None
    reason: str = ""
    message: str = ""
    admitted_via: str | None = None

    @property
    def belongs(self) -> bool:
        return self.status == BELONGS


@dataclass
class Alliance:
    alliance_id: str
    name: str
    purpose: str
    focus: tuple[str, ...]
    warning_threshold: Decimal
    founder_id: str
    created_at: datetime
    roster: dict[str, Membership] = field(default_factory=dict)
    """Everyone who belongs, belonged, was invited or asked to join, by member id."""
    requires_confirmation: bool = False
    size_limit: int | None = None
    alignment_threshold: int = DEFAULT_ALIGNMENT_THRESHOLD
    archived_at: datetime | None = None
    archived_by: str | None = None

    @property
    def members(self) -> dict[str, Membership]:
        """Those who belong now, in the order they joined."""
        return {m.member_id: m for m in sorted(self.roster.values(), key=lambda m: m.since) if m.belongs}

    @property
    def moderators(self) -> list[str]:
        return [m.member_id for m in self.members.values() if m.role == MODERATOR]

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def is_moderator(self, member_id: str) -> bool:
        membership = self.roster.get(member_id)
        return membership is not None and membership.belongs and membership.role == MODERATOR

    def admit(self, member_id: str, now: datetime) -> Membership | None:
        """The deprecated direct join: add a member at once; None when they already belong (idempotent)."""
        current = self.roster.get(member_id)
        if current is not None and current.belongs:
            return None
        self._check_open()
        return self._set(Membership(member_id, MEMBER, now, admitted_via=JOINED))

    def invite(self, member_id: str, *, by: str, message: str, now: datetime) -> Membership:
        check_moderator(self, by)
        self._check_new(member_id)
        return self._set(Membership(member_id, MEMBER, now, INVITED, decided_by=by, message=message.strip()))

    def accept_invitation(self, member_id: str, now: datetime) -> Membership:
        self._pending(member_id, INVITED)
        self._check_open()
        return self._set(Membership(member_id, MEMBER, now, admitted_via=INVITATION, decided_by=member_id))

    def decline_invitation(self, member_id: str, reason: str, now: datetime) -> Membership:
        self._pending(member_id, INVITED)
        return self._set(Membership(member_id, MEMBER, now, INVITATION_DECLINED, member_id, reason.strip()))

    def request(self, member_id: str, message: str, now: datetime) -> Membership:
        self._check_new(member_id)
        return self._set(Membership(member_id, MEMBER, now, REQUESTED, message=message.strip()))

    def approve(
        self, member_id: str, *, by: str, alignment: Alignment, override_reason: str | None, now: datetime
    ) -> Membership:
        check_moderator(self, by)
        self._pending(member_id, REQUESTED)
        self._check_open()
        reason = (override_reason or "").strip()
        if alignment.below(self.alignment_threshold) and not reason:
            raise AlignmentTooLow(alignment.score or 0, self.alignment_threshold)
        return self._set(Membership(member_id, MEMBER, now, decided_by=by, reason=reason, admitted_via=APPROVED))

    def decline(self, member_id: str, *, by: str, reason: str, now: datetime) -> Membership:
        check_moderator(self, by)
        self._pending(member_id, REQUESTED)
        return self._set(Membership(member_id, MEMBER, now, DECLINED, by, reason.strip()))

    def leave(self, member_id: str, now: datetime) -> Membership:
        current = self._belonging(member_id)
        self._keep_a_moderator(current)
        return self._set(Membership(member_id, current.role, now, LEFT, decided_by=member_id))

    def remove(self, member_id: str, *, by: str, reason: str, now: datetime) -> Membership:
        check_moderator(self, by)
        current = self._belonging(member_id)
        self._keep_a_moderator(current)
        return self._set(Membership(member_id, current.role, now, REMOVED, by, reason.strip()))

    def change_role(self, member_id: str, role: str, *, by: str) -> Membership | None:
        """Promote or demote; None when they hold the role already (idempotent). Joining time is kept."""
        check_moderator(self, by)
        current = self._belonging(member_id)
        if current.role == role:
            return None
        if role == MEMBER:
            self._keep_a_moderator(current)
        return self._set(replace(current, role=role, decided_by=by))

    def update(
        self,
        *,
        by: str,
        name: str | None,
        purpose: str | None,
        focus: list[str] | None,
        warning_threshold: Decimal | None,
        size_limit: int | None,
        alignment_threshold: int | None,
    ) -> None:
        check_moderator(self, by)
        self.check_not_archived()
        if name is not None:
            self.name = check_name(name)
        if purpose is not None:
            self.purpose = purpose.strip()
        if focus is not None:
            self.focus = normalised_focus(focus)
        if warning_threshold is not None:
            self.warning_threshold = warning_threshold
        if size_limit is not None:
            if size_limit < len(self.members):
                raise InvalidAlliance(f"the size limit {size_limit} lies below the {len(self.members)} members it has")
            self.size_limit = size_limit
        if alignment_threshold is not None:
            self.alignment_threshold = alignment_threshold

    def archive(self, *, by: str, now: datetime) -> bool:
        """Archive; False when it was archived already (idempotent)."""
        check_moderator(self, by)
        if self.archived:
            return False
        self.archived_at, self.archived_by = now, by
        return True

    def _set(self, membership: Membership) -> Membership:
        self.roster[membership.member_id] = membership
        return membership

    def check_not_archived(self) -> None:
        if self.archived:
            raise AllianceArchived(self.alliance_id)

    def _check_open(self) -> None:
        """Someone may become a member: not archived, and not full."""
        self.check_not_archived()
        if self.size_limit is not None and len(self.members) >= self.size_limit:
            raise AllianceFull(self.alliance_id, self.size_limit)

    def _check_new(self, member_id: str) -> None:
        """Someone may be invited or ask to join: the alliance takes members, they neither belong nor wait."""
        current = self.roster.get(member_id)
        if current is not None and current.belongs:
            raise AlreadyMember(member_id, self.alliance_id)
        if current is not None and current.status in PENDING:
            raise AlreadyPending(member_id, current.status)
        self._check_open()

    def _pending(self, member_id: str, status: str) -> Membership:
        current = self.roster.get(member_id)
        if current is None or current.status != status:
            raise NothingPending(member_id, status)
        return current

    def _belonging(self, member_id: str) -> Membership:
        current = self.roster.get(member_id)
        if current is None or not current.belongs:
            raise NotAMember(member_id, self.alliance_id)
        return current

    def _keep_a_moderator(self, leaving: Membership) -> None:
        if leaving.role == MODERATOR and self.moderators == [leaving.member_id]:
            raise LastModerator(leaving.member_id)


@dataclass(frozen=True)
class Meeting:
    meeting_id: str
    alliance_id: str
    title: str
    starts_at: datetime  # wall-clock time in `timezone`, without offset
    timezone: str
    duration_minutes: int
    location: str
    organizer_id: str
    attendee_ids: tuple[str, ...]
    sequence: int = 0


def check_name(name: str) -> str:
    if not name.strip():
        raise InvalidAlliance("an alliance needs a name")
    return name.strip()


def normalised_focus(focus: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(tag.strip().lower() for tag in focus if tag.strip()))


def found(
    *,
    alliance_id: str,
    name: str,
    purpose: str,
    focus: list[str],
    warning_threshold: Decimal,
    founder_ids: list[str],
    now: datetime,
    requires_confirmation: bool = False,
    size_limit: int | None = None,
    alignment_threshold: int = DEFAULT_ALIGNMENT_THRESHOLD,
) -> Alliance:
    """A new alliance whose founders are its first moderators."""
    if not founder_ids:
        raise InvalidAlliance("an alliance needs at least one founding moderator")
    if size_limit is not None and size_limit < len(founder_ids):
        raise InvalidAlliance(f"the size limit {size_limit} lies below its {len(founder_ids)} founders")
    alliance = Alliance(
        alliance_id=alliance_id,
        name=check_name(name),
        purpose=purpose.strip(),
        focus=normalised_focus(focus),
        warning_threshold=warning_threshold,
        founder_id=founder_ids[0],
        created_at=now,
        requires_confirmation=requires_confirmation,
        size_limit=size_limit,
        alignment_threshold=alignment_threshold,
    )
    for founder_id in founder_ids:
        alliance.roster[founder_id] = Membership(founder_id, MODERATOR, now, admitted_via=FOUNDED)
    return alliance


def check_moderator(alliance: Alliance, member_id: str) -> None:
    if not alliance.is_moderator(member_id):
        raise NotAModerator(member_id, alliance.alliance_id)


def check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidTimezone(name) from exc


def schedule_meeting(
    alliance: Alliance,
    *,
    meeting_id: str,
    requested_by: str,
    title: str,
    starts_at: datetime,
    timezone: str,
    duration_minutes: int,
    location: str,
    now: datetime,
) -> Meeting:
    """Every current member is invited; the start is kept as wall-clock time in the meeting's time zone."""
    check_moderator(alliance, requested_by)
    alliance.check_not_archived()
    check_timezone(timezone)
    wall_clock = local_start(starts_at, timezone)
    check_start(wall_clock, timezone, now)
    return Meeting(
        meeting_id=meeting_id,
        alliance_id=alliance.alliance_id,
        title=title.strip(),
        starts_at=wall_clock,
        timezone=timezone,
        duration_minutes=duration_minutes,
        location=location.strip(),
        organizer_id=requested_by,
        attendee_ids=tuple(alliance.members),
    )


def local_start(starts_at: datetime, timezone: str) -> datetime:
    """The wall-clock start in ``timezone``: a time without offset is one already; one with an offset names an
    instant, shown in the zone (so ``18:00+05:00`` keeps its meaning instead of losing its offset)."""
    if starts_at.tzinfo is None:
        return starts_at
    return starts_at.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


def instant_of(wall_clock: datetime, timezone: str) -> datetime:
    """The instant a wall-clock time in ``timezone`` stands for; of a time that occurs twice, the first."""
    return wall_clock.replace(tzinfo=ZoneInfo(timezone), fold=0)


def check_start(wall_clock: datetime, timezone: str, now: datetime) -> None:
    start = instant_of(wall_clock, timezone)
    # A time inside a daylight-saving gap does not survive the round trip through UTC (02:30 becomes 03:30).
    if start.astimezone(UTC).astimezone(start.tzinfo).replace(tzinfo=None) != wall_clock:
        raise InvalidMeetingTime(
            f"{wall_clock:%Y-%m-%d %H:%M} does not exist in {timezone}: the clocks skip it (daylight saving time)"
        )
    if start <= now:
        raise InvalidMeetingTime(f"the start {wall_clock:%Y-%m-%d %H:%M} ({timezone}) has passed")
    if start > now + MEETING_HORIZON:
        raise InvalidMeetingTime(
            f"the start {wall_clock:%Y-%m-%d %H:%M} is more than {MEETING_HORIZON.days} days ahead"
        )
