"""A real nats-server running the permissions `kehrwasser security init` generates, clients signed in as its
identities that record every permissions violation the server reports to them, and the four services in
process, each signed in as itself."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client

from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_members.bootstrap import bootstrap as members_service
from kehrwasser_members.config import MembersSettings
from kehrwasser_notify.bootstrap import bootstrap as notify_service
from kehrwasser_notify.config import NotifySettings
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.embedded.nats_server import NatsServer
from kehrwasser_shared.messaging.streams import ensure_streams
from kehrwasser_shared.runtime import ServiceParts
from kehrwasser_shared.security import identities
from kehrwasser_shared.security.connection import connect_options
from kehrwasser_shared.testing import running


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


@pytest.fixture
async def network(
    secured_nats: NatsServer, identities_dir: Path, mail_sink: MailSink, tmp_path: Path
) -> AsyncIterator[list[ServiceParts]]:
    """The four services on the secured server, each signed in as itself; notify mails to ``mail_sink``."""

    def common(service: str) -> dict[str, Any]:
        return {
            "nats_url": secured_nats.url,
            "nats_nkey_seed_file": identities.seed_file(identities_dir, service),
            "data_dir": tmp_path,
            "database_url": f"sqlite+aiosqlite:///{tmp_path / f'{service}.db'}",
            "outbox_poll_seconds": 0.2,
        }

    parts = [
        members_service(MembersSettings(**common("members"))),
        alliances_service(AlliancesSettings(**common("alliances"))),
        ledger_service(LedgerSettings(**common("ledger"))),
        notify_service(NotifySettings(smtp_port=mail_sink.port, mail_poll_seconds=0.2, **common("notify"))),
    ]
    async with AsyncExitStack() as stack:
        for service in parts:
            await stack.enter_async_context(running(service))
        yield parts


def violations_in(log: Path) -> list[str]:
    """The permissions violations the server logged."""
    return [line for line in log.read_text().splitlines() if re.search(r"(Publish|Subscription) Violation", line)]
