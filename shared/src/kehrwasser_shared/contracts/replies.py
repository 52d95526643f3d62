"""Typed replies of request/reply commands: the result, or a structured error."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from .common import EventRef

ResultT = TypeVar("ResultT", bound=BaseModel)


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code, e.g. 'invalid-command', 'email-taken'")
    message: str
    details: list[FieldError] = Field(default_factory=list)


class OkReply(BaseModel, Generic[ResultT]):
    ok: Literal[True] = True
    result: ResultT
    events: list[EventRef] = Field(
        default_factory=list,
        description="The events the command published; pass them on in a later command's `after` to another "
        "service so that it acts only once it has consumed them",
    )


class ErrorReply(BaseModel):
    ok: Literal[False] = False
    error: ErrorBody


class CommandFailed(Exception):
    """Raised on the caller's side when a command's reply is an error."""

    def __init__(self, error: ErrorBody) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error

    @property
    def code(self) -> str:
        return self.error.code


def error_reply(code: str, message: str, details: list[FieldError] | None = None) -> ErrorReply:
    return ErrorReply(error=ErrorBody(code=code, message=message, details=details or []))
