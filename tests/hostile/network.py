"""The four services over one real nats-server, run in a thread of their own, for hostile-input tests.

Hypothesis drives a plain (synchronous) test function, one example at a time; the network keeps running in
its own event loop between examples, and each example hands its work over with `HostileNetwork.run`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import nats
from nats.aio.client import Client

from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_members.bootstrap import bootstrap as members_service
from kehrwasser_members.config import MembersSettings
from kehrwasser_notify.bootstrap import bootstrap as notify_service
from kehrwasser_notify.config import NotifySettings
from kehrwasser_shared.contracts import alliances, ledger, members
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import running
from kehrwasser_shared.testing.databases import fresh_postgres_database, postgres_url_from_environment

T = TypeVar("T")
SERVICES = ("members", "alliances", "ledger", "notify")


class TracebackCollector(logging.Handler):
    """Every log record of the services that carries a traceback: an exception nobody handled as expected."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.CRITICAL:
            self.records.append(record)

    def report(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}\n{self.format(r)}" for r in self.records]


@dataclass
class Seeded:
    """What the network holds before the hostile traffic starts: ids a valid command can name."""

    ada: str = ""
    grace: str = ""
    linus: str = ""
    alliance: str = ""
    contributions: list[str] = field(default_factory=list)


class HostileNetwork:
    def __init__(self, loop: asyncio.AbstractEventLoop, nc: Client, seeded: Seeded, logs: TracebackCollector):
        self._loop, self.nc, self.seeded, self.logs = loop, nc, seeded, logs
        self.client = CommandClient(nc)

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result(timeout)


@contextmanager
def database_urls(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A database per service on the backend ``database_url`` stands for (each service migrates its own)."""
    if database_url.startswith("sqlite"):
        yield {service: f"sqlite+aiosqlite:///{tmp_path / f'{service}.db'}" for service in SERVICES}
        return
    with contextlib.ExitStack() as stack:
        admin = postgres_url_from_environment() or database_url
        urls = {service: stack.enter_context(fresh_postgres_database(admin)) for service in SERVICES[1:]}
        yield {"members": database_url, **urls}


@contextmanager
def hostile_network(nats_url: str, database_url: str, smtp_port: int, tmp_path: Path) -> Iterator[HostileNetwork]:
    logs = TracebackCollector()
    root = logging.getLogger()
    root.addHandler(logs)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="hostile-network", daemon=True)
    thread.start()
    stack = AsyncExitStack()
    try:
        with database_urls(database_url, tmp_path) as urls:
            common: dict[str, Any] = {
                "nats_url": nats_url,
                "data_dir": tmp_path,
                "outbox_poll_seconds": 0.2,
                # A valid event whose handler keeps failing is dead-lettered in a second, not a minute.
                "consumer_backoff_seconds": [0.05],
                "consumer_max_attempts": 3,
            }
            parts = [
                members_service(MembersSettings(database_url=urls["members"], **common)),
                alliances_service(AlliancesSettings(database_url=urls["alliances"], **common)),
                ledger_service(LedgerSettings(database_url=urls["ledger"], **common)),
                notify_service(
                    NotifySettings(database_url=urls["notify"], smtp_port=smtp_port, mail_poll_seconds=0.2, **common)
                ),
            ]

            async def start() -> tuple[Client, Seeded]:
                for service in parts:
                    await stack.enter_async_context(running(service))
                nc = await nats.connect(nats_url)
                stack.push_async_callback(nc.close)
                return nc, await seed(CommandClient(nc))

            nc, seeded = asyncio.run_coroutine_threadsafe(start(), loop).result(120)
            try:
                yield HostileNetwork(loop, nc, seeded, logs)
            finally:
                asyncio.run_coroutine_threadsafe(stack.aclose(), loop).result(120)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
        root.removeHandler(logs)


async def seed(client: CommandClient) -> Seeded:
    seeded = Seeded()
    for name in ("Ada", "Grace", "Linus"):
        member = await client.send(
            members.REGISTER, members.RegisterMember(name=f"{name} Hostile", email=f"{name.lower()}@example.org")
        )
        setattr(seeded, name.lower(), member.member_id)
    alliance = await client.send_when_known(
        alliances.CREATE,
        alliances.CreateAlliance(name="Hamburg Founders", moderator_id=seeded.ada, warning_threshold=Decimal("-50")),
    )
    seeded.alliance = alliance.alliance_id
    for member_id in (seeded.grace, seeded.linus):
        await client.send_when_known(
            alliances.JOIN, alliances.JoinAlliance(alliance_id=seeded.alliance, member_id=member_id)
        )
    for number, (giver, receiver) in enumerate(((seeded.linus, seeded.ada), (seeded.ada, seeded.grace))):
        contribution_id = f"seed-{number}"
        await client.send_when_known(
            ledger.RECORD_CONTRIBUTION,
            ledger.RecordContribution(
                contribution_id=contribution_id,
                alliance_id=seeded.alliance,
                giver_id=giver,
                receiver_id=receiver,
                kind=ledger.ContributionKind.ADVICE,
                value=Decimal("1"),
            ),
        )
        seeded.contributions.append(contribution_id)
    return seeded
