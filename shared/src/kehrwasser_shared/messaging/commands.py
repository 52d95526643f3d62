"""Request/reply command endpoints: every request gets a typed reply, the result or a structured error."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from faststream import Context
from faststream.nats import NatsRouter
from pydantic import BaseModel, ValidationError

from ..contracts.registry import CommandContract
from ..contracts.replies import ErrorReply, OkReply, error_reply, field_errors_from_pydantic

log = logging.getLogger(__name__)

CommandHandler = Callable[[Any], Awaitable[BaseModel]]


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
    """Binds command contracts to handlers on a router, with queue groups so instances share the load."""

    def __init__(self, router: NatsRouter, *, queue: str, expected_errors: tuple[type[Exception], ...] = ()):
        self._router = router
        self._queue = queue
        self._expected: tuple[type[Exception], ...] = (CommandRejected, *expected_errors)

    def bind(self, contract: CommandContract[Any, Any], handler: CommandHandler) -> None:
        async def respond(message: Annotated[Any, Context("message")]) -> bytes:
            reply = await self.answer(contract, handler, message.body)
            return reply.model_dump_json().encode()

        self._router.subscriber(contract.subject, queue=self._queue, title=contract.subject)(respond)

    async def answer(
        self, contract: CommandContract[Any, Any], handler: CommandHandler, body: bytes
    ) -> OkReply[Any] | ErrorReply:
        try:
            request = contract.request.model_validate_json(body)
        except ValidationError as exc:
            return error_reply(
                "invalid-command",
                f"the {contract.name} command is not valid",
                field_errors_from_pydantic(exc.errors()),
            )
        try:
            result = await handler(request)
        except self._expected as exc:
            return error_reply(getattr(exc, "code", "rejected"), str(exc))
        except Exception:
            log.exception("command %s failed", contract.subject)
            return error_reply("internal-error", "the service could not process the command; try again")
        return OkReply(result=result)
