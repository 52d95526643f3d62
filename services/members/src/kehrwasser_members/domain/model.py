"""Members: who a founder is, how to reach them, and the direction they pull in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

LANGUAGES = ("de", "en")


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


@dataclass(frozen=True)
class Member:
    member_id: str
    name: str
    email: str
    company: str
    language: str
    focus: tuple[str, ...]
    registered_at: datetime


def normalize_email(email: str) -> str:
    """Emails are unique case-insensitively: the domain part is case-insensitive and people mix cases."""
    return email.strip().lower()


def normalize_focus(tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Focus tags compare case-insensitively and keep the order they were given in, without repeats."""
    return tuple(dict.fromkeys(tag.strip().lower() for tag in tags if tag.strip()))


def register(
    *, member_id: str, name: str, email: str, company: str, language: str, focus: list[str], now: datetime
) -> Member:
    if not name.strip():
        raise InvalidMember("a member needs a name")
    if language not in LANGUAGES:
        raise InvalidMember(f"language must be one of {', '.join(LANGUAGES)}")
    return Member(
        member_id=member_id,
        name=name.strip(),
        email=normalize_email(email),
        company=company.strip(),
        language=language,
        focus=normalize_focus(focus),
        registered_at=now,
    )
