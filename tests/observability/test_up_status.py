"""`kehrwasser up`'s status lines: read from a service's health port, printed only when something changed."""

from __future__ import annotations

import asyncio

from kehrwasser_cli.status import ServiceStatus, StatusBoard, poll, queued
from kehrwasser_shared.observability.health import HealthServer
from kehrwasser_shared.observability.metrics import ServiceMetrics

METRICS = """# HELP kehrwasser_outbox_backlog Outbox rows not yet published (sampled)
# TYPE kehrwasser_outbox_backlog gauge
kehrwasser_outbox_backlog 12.0
kehrwasser_consumer_pending{durable="ledger-intake-00"} 300.0
kehrwasser_consumer_pending{durable="ledger-intake-01"} 45.0
kehrwasser_consumer_ack_pending{durable="ledger-intake-00"} 99.0
"""


def test_the_backlog_and_the_pending_of_every_durable_are_read_from_the_metrics_page() -> None:
    assert queued(METRICS) == (12, 345)
    assert queued("") == (0, 0)


def test_a_line_per_change_and_a_summary_only_while_something_waits() -> None:
    board = StatusBoard(summary_seconds=30)
    starting = {"ledger": ServiceStatus(False, "starting")}
    ready = {"ledger": ServiceStatus(True, "", 0, 0)}
    busy = {"ledger": ServiceStatus(True, "", 0, 345)}
    busier = {"ledger": ServiceStatus(True, "", 3, 1200)}
    assert board.lines(starting, 0) == ["ledger: NOT READY (starting), outbox backlog ?, consumer pending ?"]
    assert board.lines(starting, 3) == []
    assert board.lines(ready, 6) == ["ledger: ready, outbox backlog 0, consumer pending 0"]
    assert board.lines(busy, 9) == ["ledger: ready, outbox backlog 0, consumer pending 345"]
    assert board.lines(busier, 12) == ["ledger: ready, outbox backlog 3, consumer pending 1200"]
    assert board.lines(busier, 15) == []  # the numbers move, the shape does not: no line
    assert board.lines(busier, 42) == ["status: ledger ready, backlog 3, pending 1200"]
    assert board.lines(ready, 45) == ["ledger: ready, outbox backlog 0, consumer pending 0"]
    assert board.lines(ready, 200) == []  # idle: no summaries
    failed = {"ledger": ServiceStatus(True, "", 0, 0, "outbox relay round failed; retrying")}
    assert board.lines(failed, 203) == [
        "ledger: ready, outbox backlog 0, consumer pending 0; last error: outbox relay round failed; retrying"
    ]


async def test_a_poll_reads_readiness_and_queues_from_a_real_health_port() -> None:
    metrics = ServiceMetrics("ledger")
    metrics.outbox_backlog.set(7)
    metrics.consumer_pending.labels("ledger-intake-00").set(5)
    reason: list[str | None] = ["the database did not answer within 1s"]

    async def readiness() -> str | None:
        return reason[0]

    server = HealthServer("127.0.0.1", 0, readiness, metrics)
    await server.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        assert await asyncio.to_thread(poll, url) == ServiceStatus(False, reason[0] or "", 7, 5)
        reason[0] = None
        assert await asyncio.to_thread(poll, url, "boom") == ServiceStatus(True, "", 7, 5, "boom")
    finally:
        await server.stop()
    gone = await asyncio.to_thread(poll, url)
    assert not gone.ready
    assert gone.reason.startswith("health port not answering")
