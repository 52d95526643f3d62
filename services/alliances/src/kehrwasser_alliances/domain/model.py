"""Alliances: who belongs, who moderates, and when they meet."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import recurrence
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


class InvalidRecurrence(AllianceError):
    """A recurrence rule that is not RFC 5545, uses a forbidden part, misses its start, or ends beyond the horizon."""

    code = "invalid-recurrence"


class UnknownMeeting(AllianceError):
    code = "unknown-meeting"

    def __init__(self, meeting_id: str) -> None:
        super().__init__(f"no meeting with id {meeting_id}")


class UnknownOccurrence(AllianceError):
    code = "unknown-occurrence"

    def __init__(self, meeting_id: str, recurrence_id: datetime, timezone: str) -> None:
        super().__init__(
            f"meeting {meeting_id} has no (remaining) occurrence starting {recurrence_id:%Y-%m-%d %H:%M} ({timezone})"
        )


class MeetingCancelled(AllianceError):
    code = "meeting-cancelled"

    def __init__(self, meeting_id: str) -> None:
        super().__init__(f"meeting {meeting_id} was cancelled")


class InvalidAttendance(AllianceError):
    code = "invalid-attendance"


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


class MemberNotActive(AllianceError):
    code = "member-not-active"

    def __init__(self, member_id: str, standing: str) -> None:
        super().__init__(
            f"{member_id} is not active in the network ({standing}): only an active member may ask to join, "
            "be invited, accept an invitation or be approved"
        )


class ConflictingUse(AllianceError):
    code = "conflict"

    def __init__(self, use_id: str) -> None:
        super().__init__(f"the use {use_id} was recorded before with other fields; a retry must repeat it exactly")


class UnknownResource(AllianceError):
    code = "unknown-resource"

    def __init__(self, resource_id: str) -> None:
        super().__init__(f"no shared resource {resource_id}")


class NotAllowed(AllianceError):
    code = "not-allowed"


class InvalidResourceUse(AllianceError):
    code = "invalid-resource-use"


MEETING_HORIZON = timedelta(days=5 * 365)
"""How far ahead a meeting may be scheduled: beyond it, a date is far more likely a typo than a plan. A series
that ends (COUNT, UNTIL) must end within it too."""
OCCURRENCE_HORIZON = timedelta(days=366)
"""How far ahead the occurrences of a series are computed (queries, invitations of new members, occurrences that
may be moved or cancelled): an unending series is planned one year ahead at a time."""
MAX_SHOWN = 50

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


SCHEDULED = "scheduled"
RESCHEDULED = "rescheduled"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class OccurrenceChange:
    """One occurrence of a series that differs from its rule, keyed by its original start (RECURRENCE-ID)."""

    recurrence_id: datetime  # wall-clock original start in the meeting's time zone
    cancelled: bool
    decided_by: str
    starts_at: datetime | None = None  # a moved occurrence's new wall-clock start
    duration_minutes: int | None = None
    location: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Occurrence:
    recurrence_id: datetime
    starts_at: datetime
    duration_minutes: int
    location: str
    status: str

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)


@dataclass(frozen=True)
class Attendance:
    recurrence_id: datetime
    attended_ids: tuple[str, ...]
    absent_ids: tuple[str, ...]
    recorded_by: str
    recorded_at: datetime


@dataclass
class Meeting:
    """A one-off meeting or a series (an RFC 5545 RRULE from its first start), with the occurrences moved or
    cancelled. Its ``sequence`` (iCalendar SEQUENCE) grows with every change of the series or an occurrence."""

    meeting_id: str
    alliance_id: str
    title: str
    starts_at: datetime  # wall-clock time in `timezone`, without offset: the first occurrence of a series
    timezone: str
    duration_minutes: int
    location: str
    organizer_id: str
    attendee_ids: tuple[str, ...]
    sequence: int = 0
    agenda: str = ""
    rrule: str | None = None
    exceptions: dict[datetime, OccurrenceChange] = field(default_factory=dict)
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    cancel_reason: str = ""

    @property
    def uid(self) -> str:
        """iCalendar UID, the same for the life of the meeting (notify used this form before it was sent)."""
        return f"{self.meeting_id}@kehrwasser"

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None

    def original_starts(self, until: datetime) -> Iterator[datetime]:
        """The wall-clock starts the rule gives, up to ``until`` (wall-clock), exceptions not applied."""
        if self.rrule is None:
            return iter([self.starts_at] if self.starts_at <= until else [])
        return recurrence.starts(self.rrule, self.starts_at, self.timezone, until)

    def occurrences(self, now: datetime, limit: int) -> list[Occurrence]:
        """The next ``limit`` occurrences not yet over at ``now`` (cancelled ones included), by their start;
        an unending series is looked at `OCCURRENCE_HORIZON` ahead."""
        until = (now + OCCURRENCE_HORIZON).astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)
        found = [self._occurrence(start) for start in self.original_starts(until)]
        upcoming = [o for o in found if instant_of(o.ends_at, self.timezone) > now]
        return sorted(upcoming, key=lambda o: (o.starts_at, o.recurrence_id))[:limit]

    def is_upcoming(self, now: datetime) -> bool:
        return not self.cancelled and any(o.status != CANCELLED for o in self.occurrences(now, MAX_SHOWN))

    def occurrence(self, recurrence_id: datetime, now: datetime) -> Occurrence:
        """The occurrence whose original start is ``recurrence_id`` (wall-clock)."""
        until = max(recurrence_id, self.starts_at)
        if not any(start == recurrence_id for start in self.original_starts(until)):
            raise UnknownOccurrence(self.meeting_id, recurrence_id, self.timezone)
        return self._occurrence(recurrence_id)

    def update(
        self,
        *,
        by: str,
        title: str | None,
        agenda: str | None,
        starts_at: datetime | None,
        timezone: str | None,
        duration_minutes: int | None,
        location: str | None,
        rrule: str | None,
        now: datetime,
    ) -> None:
        """Change the series; a new start, time zone or rule drops the exceptions (their occurrences may be gone)."""
        self._check_open()
        zone = timezone or self.timezone
        check_timezone(zone)
        start = local_start(starts_at, zone) if starts_at is not None else self.starts_at
        rule = self.rrule if rrule is None else (check_rule(rrule, start, zone, now) if rrule else None)
        if starts_at is not None or timezone is not None:
            check_start(start, zone, now)
            if rule is not None:
                rule = check_rule(rule, start, zone, now)
        if (start, zone, rule) != (self.starts_at, self.timezone, self.rrule):
            self.exceptions = {}
        self.starts_at, self.timezone, self.rrule = start, zone, rule
        if title is not None:
            self.title = title.strip()
        if agenda is not None:
            self.agenda = agenda.strip()
        if duration_minutes is not None:
            self.duration_minutes = duration_minutes
        if location is not None:
            self.location = location.strip()
        self.organizer_id = by
        self.sequence += 1

    def reschedule(
        self,
        recurrence_id: datetime,
        *,
        by: str,
        starts_at: datetime | None,
        duration_minutes: int | None,
        location: str | None,
        now: datetime,
    ) -> OccurrenceChange:
        self._check_open()
        current = self._changeable(recurrence_id, now)
        start = local_start(starts_at, self.timezone) if starts_at is not None else current.starts_at
        check_start(start, self.timezone, now)
        change = OccurrenceChange(
            recurrence_id=recurrence_id,
            cancelled=False,
            decided_by=by,
            starts_at=start,
            duration_minutes=duration_minutes or current.duration_minutes,
            location=location.strip() if location is not None else current.location,
        )
        self.exceptions[recurrence_id] = change
        self.organizer_id = by
        self.sequence += 1
        return change

    def cancel_occurrence(self, recurrence_id: datetime, *, by: str, reason: str, now: datetime) -> bool:
        """Cancel one occurrence; False when it was cancelled already (idempotent)."""
        self._check_open()
        if self.occurrence(recurrence_id, now).status == CANCELLED:
            return False
        self._changeable(recurrence_id, now)
        self.exceptions[recurrence_id] = OccurrenceChange(recurrence_id, True, by, reason=reason.strip())
        self.organizer_id = by
        self.sequence += 1
        return True

    def cancel(self, *, by: str, reason: str, now: datetime) -> bool:
        """Cancel the meeting or the whole series; False when it was cancelled already (idempotent)."""
        if self.cancelled:
            return False
        self.cancelled_at, self.cancelled_by, self.cancel_reason = now, by, reason.strip()
        self.organizer_id = by
        self.sequence += 1
        return True

    def add_attendee(self, member_id: str) -> bool:
        """Invite a new member; the sequence stays (iTIP: adding an attendee is no change of the meeting)."""
        if member_id in self.attendee_ids:
            return False
        self.attendee_ids = (*self.attendee_ids, member_id)
        return True

    def remove_attendee(self, member_id: str) -> bool:
        if member_id not in self.attendee_ids:
            return False
        self.attendee_ids = tuple(a for a in self.attendee_ids if a != member_id)
        return True

    def record_attendance(
        self, recurrence_id: datetime | None, attended: list[str], *, by: str, now: datetime
    ) -> Attendance:
        """Who came to an occurrence that has begun; the other attendees were absent."""
        occurrence = self.occurrence(self.starts_at if recurrence_id is None else recurrence_id, now)
        if occurrence.status == CANCELLED:
            raise UnknownOccurrence(self.meeting_id, occurrence.recurrence_id, self.timezone)
        if instant_of(occurrence.starts_at, self.timezone) > now:
            raise InvalidAttendance(f"the occurrence of {occurrence.starts_at:%Y-%m-%d %H:%M} has not begun yet")
        strangers = sorted(set(attended) - set(self.attendee_ids))
        if strangers:
            raise InvalidAttendance(f"not invited to the meeting: {', '.join(strangers)}")
        came = tuple(dict.fromkeys(attended))
        absent = tuple(a for a in self.attendee_ids if a not in came)
        return Attendance(occurrence.recurrence_id, came, absent, by, now)

    def _occurrence(self, recurrence_id: datetime) -> Occurrence:
        change = self.exceptions.get(recurrence_id)
        if change is None:
            return Occurrence(recurrence_id, recurrence_id, self.duration_minutes, self.location, SCHEDULED)
        if change.cancelled:
            return Occurrence(recurrence_id, recurrence_id, self.duration_minutes, self.location, CANCELLED)
        return Occurrence(
            recurrence_id,
            change.starts_at or recurrence_id,
            change.duration_minutes or self.duration_minutes,
            self.location if change.location is None else change.location,
            RESCHEDULED,
        )

    def _changeable(self, recurrence_id: datetime, now: datetime) -> Occurrence:
        """An occurrence that may still be moved or cancelled: not cancelled, not begun."""
        current = self.occurrence(recurrence_id, now)
        if current.status == CANCELLED:
            raise UnknownOccurrence(self.meeting_id, recurrence_id, self.timezone)
        if instant_of(current.starts_at, self.timezone) <= now:
            raise InvalidMeetingTime(f"the occurrence of {current.starts_at:%Y-%m-%d %H:%M} has begun already")
        return current

    def _check_open(self) -> None:
        if self.cancelled:
            raise MeetingCancelled(self.meeting_id)


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
    agenda: str = "",
    rrule: str | None = None,
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
        agenda=agenda.strip(),
        rrule=None if rrule is None else check_rule(rrule, wall_clock, timezone, now),
    )


def check_rule(rule: str, start: datetime, timezone: str, now: datetime) -> str:
    """The rule, normalised, if a series may follow it from ``start``: its first occurrence is the start, and
    one that ends does so within `MEETING_HORIZON`."""
    try:
        normalised = recurrence.normalised(rule)
        horizon = (now + MEETING_HORIZON).astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
        first_two = list(itertools.islice(recurrence.starts(normalised, start, timezone, horizon), 2))
        if not first_two:
            raise recurrence.RuleError("the rule yields no occurrence within the horizon")
        if first_two[0] != start:
            raise recurrence.RuleError(
                f"the start {start:%Y-%m-%d %H:%M} must be the rule's first occurrence "
                f"(it gives {first_two[0]:%Y-%m-%d %H:%M}); e.g. a Tuesday for BYDAY=TU"
            )
        if recurrence.ends_after(normalised, start, timezone, horizon):
            raise recurrence.RuleError(
                f"the series ends more than {MEETING_HORIZON.days} days ahead: end it sooner, or leave out "
                "COUNT and UNTIL (an unending series is planned one year ahead at a time)"
            )
    except recurrence.RuleError as exc:
        raise InvalidRecurrence(str(exc)) from exc
    return normalised


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
