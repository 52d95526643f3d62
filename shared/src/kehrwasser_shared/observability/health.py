"""``/livez``, ``/readyz`` and ``/metrics`` over HTTP/1.1, on `asyncio.start_server`.

Three fixed GET routes do not justify a web framework and its server: this handler reads one bounded request
(8 KiB of head, 5 s to send it), answers it and closes the connection. It runs in the service's own event loop,
so ``/livez`` answering at all shows that the loop turns, and ``/readyz`` checks the service's real NATS
connection and database engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from .metrics import ServiceMetrics

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 8192
REQUEST_SECONDS = 5.0
DATABASE_CHECK_SECONDS = 1.0

ReadinessCheck = Callable[[], Awaitable[str | None]]
"""Returns None when ready, else the reason why not (one line)."""


@dataclass
class Readiness:
    """Whether the service may take traffic: started, not stopping, NATS connected, the database answering."""

    engine: AsyncEngine
    nats_connected: Callable[[], bool]
    started: bool = False
    stopping: bool = False
    database_timeout: float = DATABASE_CHECK_SECONDS

    async def __call__(self) -> str | None:
        if self.stopping:
            return "stopping"
        if not self.started:
            return "starting"
        if not self.nats_connected():
            return "NATS is not connected"
        return await database_unavailable(self.engine, self.database_timeout)


async def database_unavailable(engine: AsyncEngine, timeout: float = DATABASE_CHECK_SECONDS) -> str | None:
    """None if the database answers ``SELECT 1`` within ``timeout`` seconds, else why not."""

    async def ask() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(ask(), timeout)
    except TimeoutError:
        return f"the database did not answer within {timeout:g}s"
    except Exception as exc:  # whatever the driver raises for a database that is away
        return f"the database is unavailable: {_one_line(repr(exc))}"
    return None


class HealthServer:
    """Serves the three routes on ``host:port`` until stopped."""

    def __init__(self, host: str, port: int, readiness: ReadinessCheck, metrics: ServiceMetrics) -> None:
        self._host = host
        self._port = port
        self._readiness = readiness
        self._metrics = metrics
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose, if configured as such)."""
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, limit=MAX_HEAD_BYTES, reuse_address=True
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_SECONDS)
            except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                await _respond(writer, 400, "text/plain", b"bad request\n")
                return
            status, content_type, body = await self._answer(head.split(b"\r\n", 1)[0])
            await _respond(writer, status, content_type, body, head_only=head.startswith(b"HEAD "))
        except (ConnectionError, TimeoutError):
            pass
        except Exception:
            log.exception("health endpoint failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, request_line: bytes) -> tuple[int, str, bytes]:
        parts = request_line.split(b" ")
        if len(parts) != 3 or parts[0] not in (b"GET", b"HEAD"):
            return 405, "text/plain", b"only GET\n"
        path = parts[1].split(b"?", 1)[0]
        if path == b"/livez":
            return 200, "text/plain", b"ok\n"
        if path == b"/readyz":
            reason = await self._readiness()
            self._metrics.ready.set(reason is None)
            if reason is None:
                return 200, "application/json", b'{"ready":true}\n'
            return 503, "application/json", json.dumps({"ready": False, "reason": _one_line(reason)}).encode() + b"\n"
        if path == b"/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._metrics.registry)
        return 404, "text/plain", b"not found\n"


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


async def _respond(
    writer: asyncio.StreamWriter, status: int, content_type: str, body: bytes, *, head_only: bool = False
) -> None:
    head = (
        f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode("ascii") + (b"" if head_only else body))
    await asyncio.wait_for(writer.drain(), REQUEST_SECONDS)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
