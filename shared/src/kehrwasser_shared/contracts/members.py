"""Contracts owned by the members service."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, EmailStr, Field

from .common import Command, FocusTag, Identifier, Instant, Language, Name, ShortLine
from .registry import CommandContract, EventContract

SERVICE = "members"


class MemberRegisteredV1(BaseModel):
    member_id: Identifier
    name: Name
    email: EmailStr
    company: ShortLine
    language: Language
    focus: list[FocusTag] = Field(max_length=20)
    registered_at: Instant


class RegisterMember(Command):
    name: Name
    email: EmailStr
    company: ShortLine = ""
    language: Language = "en"
    focus: list[FocusTag] = Field(default_factory=list, max_length=20)


class GetMember(Command):
    member_id: Identifier


class MemberView(BaseModel):
    member_id: str
    name: str
    email: EmailStr
    company: str
    language: Language
    focus: list[str]
    registered_at: Instant


MEMBER_REGISTERED = EventContract(
    SERVICE,
    "member-registered",
    1,
    MemberRegisteredV1,
    "A founder registered as a member of the network.",
    consumed_by=("alliances", "notify"),
)
REGISTER = CommandContract(
    SERVICE,
    "register",
    RegisterMember,
    MemberView,
    "Register a member; the email must be unused.",
    errors=("email-taken", "invalid-member"),
)
GET = CommandContract(SERVICE, "get", GetMember, MemberView, "Look up a member by id.", errors=("unknown-member",))

EVENTS: list[EventContract[Any]] = [MEMBER_REGISTERED]
COMMANDS: list[CommandContract[Any, Any]] = [REGISTER, GET]
