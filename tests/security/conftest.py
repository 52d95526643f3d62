"""A real nats-server running the permissions `kehrwasser security init` generates, and clients signed in as
its identities that record every permissions violation the server reports to them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from kehrwasser_shared.embedded.nats_server import NatsServer
from kehrwasser_shared.messaging.streams import ensure_streams
from kehrwasser_shared.security import identities
from kehrwasser_shared.security.connection import connect_options


class Violations:
    """The permissions violations the server reported to one client (nats-py hands them to ``error_cb``)."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self._changed = asyncio.Condition()

    async def record(self, error: Exception) -> None:
        async with self._changed:
            self.messages.append(str(error))
            self._changed.notify_all()

    async def wait_for(self, kind: str, subject: str, timeout: float = 5.0) -> None:
        """Until the server reported that ``kind`` ("Publish", "Subscription") to ``subject`` was refused."""
        # nats-py hands the server's -ERR line over in lower case.
        expected = f'permissions violation for {kind} to "{subject}"'.lower()

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: any(expected in m for m in self.messages)), timeout)


class SignedIn:
    def __init__(self, nc: Client, violations: Violations) -> None:
        self.nc, self.violations = nc, violations

    async def refused_publish(self, subject: str, payload: bytes = b"{}", *, as_request: bool = False) -> None:
        """Publish to ``subject`` (as a request: with a reply inbox) and wait for the server to refuse it."""
        reply = self.nc.new_inbox() if as_request else ""
        await self.nc.publish(subject, payload, reply=reply)
        await self.nc.flush()
        await self.violations.wait_for("Publish", subject)

    async def nothing_refused(self) -> None:
        """The server has processed everything sent so far (a flush is its PONG) and refused none of it."""
        await self.nc.flush()
        assert self.violations.messages == []


SignIn = Callable[[str], AbstractAsyncContextManager[SignedIn]]


@pytest.fixture
def identities_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "identities"
    identities.init(directory)
    return directory


@pytest.fixture
def secured_nats(tmp_path: Path, identities_dir: Path) -> Iterator[NatsServer]:
    config = identities_dir / identities.SERVER_CONFIG_FILE
    with NatsServer(tmp_path / "nats", log_file=tmp_path / "nats.log", config=config) as server:
        yield server


@pytest.fixture
def sign_in(secured_nats: NatsServer, identities_dir: Path) -> SignIn:
    @asynccontextmanager
    async def signed_in(identity: str) -> AsyncIterator[SignedIn]:
        violations = Violations()
        options = connect_options(identity, seed_file=identities.seed_file(identities_dir, identity))
        nc = await nats.connect(
            secured_nats.url, error_cb=violations.record, allow_reconnect=False, max_reconnect_attempts=1, **options
        )
        try:
            yield SignedIn(nc, violations)
        finally:
            await nc.close()

    return signed_in


@pytest.fixture
async def streams(sign_in: SignIn) -> None:
    """The network's streams, declared by the operator (each service would declare them at start)."""
    async with sign_in("operator") as operator:
        await ensure_streams(operator.nc.jetstream())
