"""Contracts owned by the members service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, EmailStr, Field

from .common import FocusTag, Identifier, Language
from .registry import CommandContract, EventContract

SERVICE = "members"


class MemberRegisteredV1(BaseModel):
    member_id: Identifier
    name: str
    email: EmailStr
    company: str
    language: Language
    focus: list[FocusTag]
    registered_at: datetime


class RegisterMember(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    company: str = Field(default="", max_length=200)
    language: Language = "en"
    focus: list[FocusTag] = Field(default_factory=list, max_length=20)


class GetMember(BaseModel):
    member_id: Identifier


class MemberView(BaseModel):
    member_id: str
    name: str
    email: EmailStr
    company: str
    language: Language
    focus: list[str]
    registered_at: datetime


MEMBER_REGISTERED = EventContract(
    SERVICE, "member-registered", 1, MemberRegisteredV1, "A founder registered as a member of the network."
)
REGISTER = CommandContract(
    SERVICE, "register", RegisterMember, MemberView, "Register a member; the email must be unused."
)
GET = CommandContract(SERVICE, "get", GetMember, MemberView, "Look up a member by id.")

EVENTS: list[EventContract[Any]] = [MEMBER_REGISTERED]
COMMANDS: list[CommandContract[Any, Any]] = [REGISTER, GET]
