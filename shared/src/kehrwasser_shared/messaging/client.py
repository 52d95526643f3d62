"""Send commands over NATS request/reply and get typed results (used by the CLI, tests and services)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypeVar

from nats.aio.client import Client
from pydantic import BaseModel

from ..contracts.common import EventRef
from ..contracts.registry import CommandContract
from ..contracts.replies import CommandFailed, ErrorBody

ResultT = TypeVar("ResultT", bound=BaseModel)

# Error codes that mean "not known here yet" rather than "wrong": the event announcing the entity is on its way.
EVENTUALLY_CONSISTENT_CODES = frozenset({"unknown-member", "unknown-alliance", "not-a-member"})


class CommandClient:
    def __init__(self, nc: Client, *, timeout: float = 10.0) -> None:
        self._nc = nc
        self._timeout = timeout

    async def send(self, contract: CommandContract[Any, ResultT], request: BaseModel) -> ResultT:
        """Send a command; returns its result or raises `CommandFailed` with the structured error."""
        result, _ = await self.send_for_events(contract, request)
        return result

    async def send_for_events(
        self, contract: CommandContract[Any, ResultT], request: BaseModel
    ) -> tuple[ResultT, list[EventRef]]:
        """Send a command; its result and the ids of the events it published (for a later command's ``after``)."""
        raw = await self.send_raw(contract.subject, request.model_dump_json().encode())
        reply = json.loads(raw)
        if reply.get("ok") is True:
            events = [EventRef.model_validate(event) for event in reply.get("events", [])]
            return contract.result.model_validate(reply["result"]), events
        raise CommandFailed(ErrorBody.model_validate(reply["error"]))

    async def send_when_known(
        self,
        contract: CommandContract[Any, ResultT],
        request: BaseModel,
        *,
        waiting_for: frozenset[str] = EVENTUALLY_CONSISTENT_CODES,
        timeout: float = 15.0,
    ) -> ResultT:
        """Send, retrying while the service answers that it has not yet learned of an entity.

        Services learn of each other's entities from events, so right after a member registers, the
        alliances service may not know the member for a few milliseconds.
        """
        result, _ = await self.send_when_known_for_events(contract, request, waiting_for=waiting_for, timeout=timeout)
        return result

    async def send_when_known_for_events(
        self,
        contract: CommandContract[Any, ResultT],
        request: BaseModel,
        *,
        waiting_for: frozenset[str] = EVENTUALLY_CONSISTENT_CODES,
        timeout: float = 15.0,
    ) -> tuple[ResultT, list[EventRef]]:
        """`send_when_known`, with the ids of the events the command published (for a later command's
        ``after``)."""
        deadline = asyncio.get_running_loop().time() + timeout
        delay = 0.05
        while True:
            try:
                return await self.send_for_events(contract, request)
            except CommandFailed as failure:
                if failure.code not in waiting_for or asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def send_raw(self, subject: str, payload: bytes) -> bytes:
        msg = await self._nc.request(subject, payload, timeout=self._timeout)
        return msg.data
