"""Members: who a founder is, how to reach them, the direction they pull in, and what mail they want."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

LANGUAGES = ("de", "en")
DEFAULT_TIMEZONE = "Europe/Berlin"
CATEGORIES = ("balance", "meetings", "membership", "digest")
PROFILE_FIELDS = ("name", "company", "language", "timezone", "focus")
EMAIL_CHANGE_VALIDITY = timedelta(hours=24)
MAX_FOCUS_TAGS = 20


class MemberError(Exception):
    code = "member-error"


class EmailTaken(MemberError):
    code = "email-taken"

    def __init__(self, email: str) -> None:
        super().__init__(f"a member with email {email} is already registered")


class UnknownMember(MemberError):
    code = "unknown-member"

    def __init__(self, member_id: str) -> None:
        super().__init__(f"no member with id {member_id}")


class InvalidMember(MemberError):
    code = "invalid-member"


class NotAllowed(MemberError):
    code = "not-allowed"


class InvalidToken(MemberError):
    code = "invalid-token"

    def __init__(self) -> None:
        # One message for unknown, used and expired: a guesser learns nothing about which tokens exist.
        super().__init__("the link's token is unknown, used or expired")


class InvalidStatusChange(MemberError):
    code = "invalid-status-change"


class Status(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    LEFT = "left"
    ERASED = "erased"


@dataclass(frozen=True)
class StatusChange:
    """Who changed a member's status last, when and why (suspensions must be explainable)."""

    by: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class EmailChange:
    """An address waiting for its confirmation: only the token's hash is kept, so a leaked table confirms nothing."""

    new_email: str
    token_hash: str
    expires_at: datetime


@dataclass(frozen=True)
class Member:
    member_id: str
    name: str
    email: str | None
    """None once erased: the address is free again."""
    company: str
    language: str
    focus: tuple[str, ...]
    registered_at: datetime
    unsubscribe_token: str = ""
    timezone: str = DEFAULT_TIMEZONE
    status: Status = Status.ACTIVE
    preferences: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, True))
    email_change: EmailChange | None = None
    last_status_change: StatusChange | None = None
    updated_at: datetime | None = None


def normalize_email(email: str) -> str:
    """Emails are unique case-insensitively, local part included: providers ignore its case and people mix it."""
    return email.strip().lower()


def focus_slug(tag: str) -> str:
    """A focus tag as stored: lower case, words joined by single hyphens (``"Real Estate"`` → ``real-estate``)."""
    return "-".join("".join(c if c.isalnum() else " " for c in tag.strip().lower()).split())


def normalize_focus(tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Focus tags compare as slugs and keep the order they were given in, without repeats or empty ones."""
    return tuple(dict.fromkeys(slug for slug in map(focus_slug, tags) if slug))


def name_key(text: str) -> str:
    """The form names are sorted and searched by (a prefix too): case does not matter."""
    return text.casefold()


def token_hash(token: str) -> str:
    """SHA-256 suffices: the tokens are 256 random bits, so there is nothing to stretch against guessing."""
    return hashlib.sha256(token.encode()).hexdigest()


def register(
    *,
    member_id: str,
    name: str,
    email: str,
    company: str,
    language: str,
    focus: list[str],
    now: datetime,
    unsubscribe_token: str = "",
) -> Member:
    return Member(
        member_id=member_id,
        name=check_name(name),
        email=normalize_email(email),
        company=company.strip(),
        language=check_language(language),
        focus=normalize_focus(focus),
        registered_at=now,
        unsubscribe_token=unsubscribe_token,
        updated_at=now,
    )


def check_name(name: str) -> str:
    if not name.strip():
        raise InvalidMember("a member needs a name")
    return name.strip()


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise InvalidMember(f"language must be one of {', '.join(LANGUAGES)}")
    return language


def check_self(member: Member, requested_by: str) -> None:
    if requested_by != member.member_id:
        raise NotAllowed(f"only the member {member.member_id} may do this for themself")


def check_not_left(member: Member) -> None:
    if member.status is Status.ERASED:
        raise InvalidStatusChange(f"member {member.member_id} was erased")
    if member.status is Status.LEFT:
        raise InvalidStatusChange(f"member {member.member_id} has left the network")


def update_profile(
    member: Member,
    *,
    requested_by: str,
    now: datetime,
    name: str | None = None,
    company: str | None = None,
    language: str | None = None,
    timezone: str | None = None,
    focus: list[str] | None = None,
) -> tuple[Member, list[str]]:
    """The member with the given fields changed, and the names of those that really changed (none: no event)."""
    check_self(member, requested_by)
    check_not_left(member)
    updated = replace(
        member,
        name=member.name if name is None else check_name(name),
        company=member.company if company is None else company.strip(),
        language=member.language if language is None else check_language(language),
        timezone=member.timezone if timezone is None else timezone,
        focus=member.focus if focus is None else normalize_focus(focus),
    )
    if len(updated.focus) > MAX_FOCUS_TAGS:
        raise InvalidMember(f"at most {MAX_FOCUS_TAGS} focus tags")
    changed = [field for field in PROFILE_FIELDS if getattr(updated, field) != getattr(member, field)]
    if not changed:
        return member, []
    return replace(updated, updated_at=now), changed


def set_preferences(
    member: Member, *, requested_by: str, choices: dict[str, bool], now: datetime
) -> tuple[Member, bool]:
    """The member with their choices applied, and whether anything changed."""
    check_self(member, requested_by)
    check_not_left(member)
    return _with_preferences(member, choices, now)


def unsubscribe(member: Member, *, category: str, now: datetime) -> tuple[Member, bool]:
    """Turn off one category (or ``all``); a member who left may still unsubscribe, and again changes nothing."""
    categories = CATEGORIES if category == "all" else (category,)
    return _with_preferences(member, dict.fromkeys(categories, False), now)


def _with_preferences(member: Member, choices: dict[str, bool], now: datetime) -> tuple[Member, bool]:
    unknown = set(choices) - set(CATEGORIES)
    if unknown:
        raise InvalidMember(f"no such mail categories: {', '.join(sorted(unknown))}")
    preferences = {**member.preferences, **choices}
    if preferences == member.preferences:
        return member, False
    return replace(member, preferences=preferences, updated_at=now), True


def request_email_change(member: Member, *, requested_by: str, new_email: str, token: str, now: datetime) -> Member:
    """Keep the new address waiting for the token mailed to it; a second request replaces the first."""
    check_self(member, requested_by)
    check_not_left(member)
    address = normalize_email(new_email)
    if address == member.email:
        raise InvalidMember(f"{address} is already the member's address")
    change = EmailChange(new_email=address, token_hash=token_hash(token), expires_at=now + EMAIL_CHANGE_VALIDITY)
    return replace(member, email_change=change, updated_at=now)


def confirm_email_change(member: Member, *, token: str, now: datetime) -> Member:
    change = member.email_change
    if change is None or change.token_hash != token_hash(token) or now >= change.expires_at:
        raise InvalidToken()
    if member.status in (Status.LEFT, Status.ERASED):  # leaving withdraws the change; a later token is used up
        raise InvalidToken()
    return replace(member, email=change.new_email, email_change=None, updated_at=now)


def suspend(member: Member, *, requested_by: str, reason: str, now: datetime) -> Member:
    _check_staff(member, requested_by, reason)
    if member.status is not Status.ACTIVE:
        raise InvalidStatusChange(f"member {member.member_id} is {member.status}, not active")
    return _with_status(member, Status.SUSPENDED, requested_by, reason, now)


def reactivate(member: Member, *, requested_by: str, reason: str, now: datetime) -> Member:
    _check_staff(member, requested_by, reason)
    if member.status is Status.ACTIVE:
        raise InvalidStatusChange(f"member {member.member_id} is already active")
    if member.status is Status.ERASED:
        raise InvalidStatusChange(f"member {member.member_id} was erased: nobody is left to reactivate")
    return _with_status(member, Status.ACTIVE, requested_by, reason, now)


def leave(member: Member, *, requested_by: str, reason: str, now: datetime) -> Member:
    """Leaving withdraws a pending address change: nobody should confirm an address for someone gone."""
    check_self(member, requested_by)
    check_not_left(member)
    left = _with_status(member, Status.LEFT, requested_by, reason.strip(), now)
    return replace(left, email_change=None)


def _check_staff(member: Member, requested_by: str, reason: str) -> None:
    # Without this, a suspended member could lift their own suspension through the gateway.
    if requested_by == member.member_id:
        raise NotAllowed("a member cannot suspend or reactivate themself")
    if not reason.strip():
        raise InvalidMember("a suspension or reactivation needs a reason")


def _with_status(member: Member, status: Status, by: str, reason: str, now: datetime) -> Member:
    return replace(
        member, status=status, last_status_change=StatusChange(by=by, reason=reason.strip(), at=now), updated_at=now
    )


def pseudonym(member_id: str) -> str:
    """What stands in for an erased member's name: derived from the id alone, so it says nothing about them."""
    return f"erased-{hashlib.sha256(member_id.encode()).hexdigest()[:12]}"


def erase(member: Member, *, requested_by: str, now: datetime, unsubscribe_token: str) -> tuple[Member, bool]:
    """The member without personal data, and whether anything changed (erasing twice changes nothing).

    The id, the status ``erased`` and the registration time stay, so the id is never given out again and the
    other services keep their records under it. The address is released; name, company, focus, time zone and
    preferences are replaced by neutral values, a pending address change and the reason of the last status change
    (an operator's words about the member) are dropped. ``unsubscribe_token`` replaces the old one, which the
    member's mail carried: it is new, never announced, so no link works any more.
    """
    if member.status is Status.ERASED:
        return member, False
    erased = Member(
        member_id=member.member_id,
        name=pseudonym(member.member_id),
        email=None,
        company="",
        language=LANGUAGES[1],
        focus=(),
        registered_at=member.registered_at,
        unsubscribe_token=unsubscribe_token,
        status=Status.ERASED,
        preferences=dict.fromkeys(CATEGORIES, False),
        last_status_change=StatusChange(by=requested_by, reason="", at=now),
        updated_at=now,
    )
    return erased, True
