"""The health and metrics server of a running service, over real HTTP, with a real nats-server and database."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kehrwasser_members.bootstrap import bootstrap as members_bootstrap
from kehrwasser_members.config import MembersSettings
from kehrwasser_notify.bootstrap import bootstrap as notify_bootstrap
from kehrwasser_notify.config import NotifySettings
from kehrwasser_notify.service_layer import handlers as notify_handlers
from kehrwasser_notify.service_layer.unit_of_work import MailSender
from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.embedded.nats_server import NatsServer, free_port
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.runtime import ServiceParts, serve
from kehrwasser_shared.testing.processes import ServiceProcess, service_env

pytestmark = pytest.mark.integration

TIMEOUT = 20.0


class KeptMail(MailSender):
    async def send(self, recipient: str, message: bytes) -> None:
        pass


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = TIMEOUT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        assert loop.time() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.1)


async def status_is(port: int, path: str, expected: int) -> bool:
    status, _ = await asyncio.to_thread(get, port, path)
    return status == expected


async def sample(port: int, name: str, **labels: str) -> float | None:
    """The value of one sample on /metrics (None if absent)."""
    _, text = await asyncio.to_thread(get, port, "/metrics")
    for family in text_string_to_metric_families(text):
        for metric in family.samples:
            if metric.name == name and all(metric.labels.get(k) == v for k, v in labels.items()):
                return float(metric.value)
    return None


@asynccontextmanager
async def served(parts: ServiceParts) -> AsyncIterator[ServiceParts]:
    stop, ready = asyncio.Event(), asyncio.Event()
    service = asyncio.create_task(serve(parts, stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 60)
        yield parts
    finally:
        stop.set()
        await asyncio.wait_for(service, 60)


async def test_readiness_follows_nats_away_and_back(nats_server: NatsServer, database_url: str, tmp_path: Path) -> None:
    port = free_port()
    settings = MembersSettings(
        nats_url=nats_server.url,
        database_url=database_url,
        data_dir=tmp_path,
        health_host="127.0.0.1",
        health_port=port,
    )
    async with served(members_bootstrap(settings)):
        assert await asyncio.to_thread(get, port, "/livez") == (200, "ok\n")
        assert await asyncio.to_thread(get, port, "/readyz") == (200, '{"ready":true}\n')

        await asyncio.to_thread(nats_server.stop)
        await until(lambda: status_is(port, "/readyz", 503), "/readyz 503 after NATS stopped", timeout=5)
        status, body = await asyncio.to_thread(get, port, "/readyz")
        assert status == 503
        assert json.loads(body) == {"ready": False, "reason": "NATS is not connected"}
        assert await asyncio.to_thread(get, port, "/livez") == (200, "ok\n")  # alive, only not ready

        await asyncio.to_thread(nats_server.start)
        await until(lambda: status_is(port, "/readyz", 200), "/readyz 200 after NATS came back")
    with pytest.raises(urllib.error.URLError):
        await asyncio.to_thread(get, port, "/livez")  # the server stopped with the service


async def test_metrics_count_commands_and_consumed_events(
    nats_server: NatsServer, database_url: str, tmp_path: Path
) -> None:
    members_port, notify_port = free_port(), free_port()
    members = MembersSettings(
        nats_url=nats_server.url,
        database_url=database_url,
        data_dir=tmp_path,
        health_host="127.0.0.1",
        health_port=members_port,
        outbox_poll_seconds=0.2,
    )
    notify = NotifySettings(
        nats_url=nats_server.url, data_dir=tmp_path, health_host="127.0.0.1", health_port=notify_port
    )
    register = contracts.REGISTER.subject
    async with served(members_bootstrap(members)), served(notify_bootstrap(notify, mail_sender=KeptMail())):
        assert await sample(members_port, "kehrwasser_commands_total", subject=register, outcome="ok") is None
        nc = await nats.connect(nats_server.url)
        try:
            client = CommandClient(nc, timeout=10)
            await client.send(
                contracts.REGISTER, contracts.RegisterMember(name="Ada Lovelace", email="ada@example.org")
            )
            with pytest.raises(CommandFailed):
                await client.send(
                    contracts.REGISTER, contracts.RegisterMember(name="Ada again", email="ada@example.org")
                )
        finally:
            await nc.close()

        assert await sample(members_port, "kehrwasser_commands_total", subject=register, outcome="ok") == 1
        assert await sample(members_port, "kehrwasser_commands_total", subject=register, outcome="email-taken") == 1
        # FastStream's own middleware counts into the same registry.
        assert (await sample(members_port, "faststream_received_messages_total", handler=register) or 0) >= 2

        # A registration publishes member-registered and the member's first member-preferences-changed.
        async def notify_consumed_the_registration() -> bool:
            consumed = notify_handlers.MEMBERS_CONSUMER
            return await sample(notify_port, "kehrwasser_events_consumed_total", consumer=consumed) == 2

        await until(notify_consumed_the_registration, "notify counted the registration's two events")
        handled = await sample(
            notify_port, "kehrwasser_event_handler_seconds_count", consumer=notify_handlers.MEMBERS_CONSUMER
        )
        assert handled == 2

        # Sampled every few seconds: the outbox emptied, the consumer caught up.
        async def lag_sampled() -> bool:
            durable = notify_handlers.MEMBERS_CONSUMER
            return await sample(notify_port, "kehrwasser_consumer_pending", durable=durable) == 0

        await until(lag_sampled, "notify's lag sampled")
        assert await sample(members_port, "kehrwasser_outbox_backlog") == 0


async def test_a_service_process_logs_json_lines_and_serves_its_health(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **service_env("members", nats_url=nats_url, data_dir=tmp_path, database_url=database_url),
        "KEHRWASSER_LOG_FORMAT": "json",
        "KEHRWASSER_HEALTH_HOST": "127.0.0.1",
        "KEHRWASSER_HEALTH_PORT": str(port),
    }
    members = ServiceProcess("members", env, tmp_path / "logs").start()
    try:
        await asyncio.to_thread(members.wait_ready)
        await until(lambda: status_is(port, "/readyz", 200), "the process is ready")
    finally:
        assert members.stop() == 0, members.log()
    lines = [json.loads(line) for line in members.log().splitlines() if line.strip()]
    assert {line["service"] for line in lines} == {"members"}
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any("service ready" in line["message"] for line in lines)
