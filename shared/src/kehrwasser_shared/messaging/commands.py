"""Request/reply command endpoints on FastStream: every request gets a typed reply, the result or a structured error.

A service's endpoints are one `NatsRouter`: a core NATS subscriber per command, in the service's queue group, whose
handler takes the command's pydantic model and answers ``{"ok": true, "result": ...}``. FastStream validates the
request against the model; an `ExceptionMiddleware` turns what goes wrong into the reply an outside client can
program against: a request that does not validate into ``invalid-command`` with a detail per field, an expected
error (anything with a ``code``) into that code, and anything else into ``internal-error`` (logged with its
traceback, for the operator).

A reply names the events its command published (``events``), and a command that names events in ``after``
is handled only once the service has consumed them (`causality`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream import BaseMiddleware, ExceptionMiddleware
from faststream.message import StreamMessage
from faststream.nats import NatsRouter
from pydantic import BaseModel, ValidationError

from ..contracts.common import EventRef
from ..contracts.errors import INTERNAL_ERROR, INVALID_COMMAND, NOT_CAUGHT_UP
from ..contracts.registry import CommandContract
from ..contracts.replies import ErrorReply, FieldError, OkReply, error_reply
from ..observability import logs, metrics
from .causality import InboxWatch, collecting_published

log = logging.getLogger(__name__)

CommandHandler = Callable[[Any], Awaitable[BaseModel]]
REQUEST = "request"  # the handler's parameter FastStream fills with the validated command


class CommandRejected(Exception):
    """Base for errors a handler may raise to answer with a structured error instead of a result.

    Domain error trees need not inherit from it: `CommandEndpoints` also accepts any exception type
    listed as expected and reads its ``code`` attribute.
    """

    code = "rejected"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class CommandEndpoints:
    """Binds command contracts to handlers on one router, in a queue group so that instances share the load."""

    def __init__(self, *, queue: str, expected_errors: tuple[type[Exception], ...] = ()):
        self._queue = queue
        self._subjects: set[str] = set()
        # Outermost first: the outcomes are counted from the reply the error middleware made.
        self.router = NatsRouter(
            middlewares=[Correlated, CountedOutcomes, _error_replies((CommandRejected, *expected_errors))]
        )
        self._watch: InboxWatch | None = None
        self._catch_up_seconds = 0.0

    def catch_up_with(self, watch: InboxWatch, seconds: float) -> None:
        """Let commands wait, up to ``seconds``, for the events they name in ``after`` (the composition root
        calls this once it knows the service's database and consumers)."""
        self._watch, self._catch_up_seconds = watch, seconds

    async def _caught_up(self, request: BaseModel) -> None:
        after: list[EventRef] = getattr(request, "after", None) or []
        if not after or self._watch is None:
            return
        awaited = self._watch.awaited(after)
        if awaited and (missing := await self._watch.wait_for(awaited, self._catch_up_seconds)):
            raise CommandRejected(
                f"{missing} of the events named in `after` not consumed by this service within "
                f"{self._catch_up_seconds:g} s; nothing changed, send the command again",
                code=NOT_CAUGHT_UP,
            )

    def bind(self, contract: CommandContract[Any, Any], handler: CommandHandler) -> None:
        if contract.subject in self._subjects:
            raise ValueError(f"{contract.subject} is bound twice")
        self._subjects.add(contract.subject)

        async def answer(request: BaseModel) -> OkReply[Any]:
            await self._caught_up(request)
            with collecting_published() as published:
                result = await handler(request)
            return OkReply(result=result, events=published)

        # FastStream reads the request's model from the signature; the contract names it only at run time.
        answer.__annotations__ = {REQUEST: contract.request, "return": OkReply[Any]}
        answer.__name__ = answer.__qualname__ = contract.name.replace("-", "_")
        self.router.subscriber(
            contract.subject, queue=self._queue, title=contract.subject, description=contract.description
        )(answer)

    @property
    def subjects(self) -> list[str]:
        return sorted(self._subjects)


class Correlated(BaseMiddleware):
    """Names the request in the log lines written while it is handled (`logs.handling`): the client's
    ``correlation_id`` header, else a hash of the reply subject."""

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        correlation = msg.headers.get("correlation_id") or (
            logs.reply_correlation(msg.reply_to) if msg.reply_to else None
        )
        with logs.handling(correlation_id=correlation):
            return await call_next(msg)


class CountedOutcomes(BaseMiddleware):
    """Counts every answered command by subject and outcome: ``ok`` or the reply's error code."""

    async def consume_scope(
        self, call_next: Callable[[StreamMessage[Any]], Awaitable[Any]], msg: StreamMessage[Any]
    ) -> Any:
        reply = await call_next(msg)
        outcome = reply.error.code if isinstance(reply, ErrorReply) else "ok"
        metrics.current().commands.labels(msg.raw_message.subject, outcome).inc()
        return reply


def _error_replies(expected: tuple[type[Exception], ...]) -> ExceptionMiddleware:
    def invalid(exc: ValidationError) -> ErrorReply:
        return error_reply(INVALID_COMMAND, "the command is not valid", field_errors(exc))

    def rejected(exc: Exception) -> ErrorReply:
        return error_reply(getattr(exc, "code", "rejected"), str(exc))

    def failed(exc: Exception) -> ErrorReply:
        log.error("a command failed", exc_info=exc)
        return error_reply(INTERNAL_ERROR, "the service could not process the command; try again")

    return ExceptionMiddleware(
        publish_handlers={ValidationError: invalid, **dict.fromkeys(expected, rejected), Exception: failed}
    )


def field_errors(exc: ValidationError) -> list[FieldError]:
    """A detail per field, named as in the request (FastStream reports them under the handler's parameter)."""
    details = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        location = [str(part) for part in error.get("loc", ())]
        if location[:1] == [REQUEST]:
            location = location[1:]
        message = error.get("msg", "")
        if error.get("type") == "model_type" and not location:
            message = "the request must be a JSON object"
        details.append(FieldError(field=".".join(location) or "<root>", message=message))
    return details
