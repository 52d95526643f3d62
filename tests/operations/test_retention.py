"""Streams keep events for a set age: older ones go, newer ones stay; the dead letters are kept longer."""

from __future__ import annotations

import asyncio

import nats
import pytest
from nats.js.errors import NotFoundError

from kehrwasser_shared.config import StreamSettings
from kehrwasser_shared.contracts.subjects import DEADLETTER_STREAM, stream_name
from kehrwasser_shared.messaging.streams import DUPLICATE_WINDOW_SECONDS, Retention, ensure_streams, network_streams

pytestmark = pytest.mark.integration

HEALTH_SUBJECT = "kehrwasser.evt.ledger.alliance-health.v1"


def test_service_streams_keep_a_year_and_dead_letters_two_by_default() -> None:
    streams = {config.name: config for config in network_streams(retention=StreamSettings().stream_retention())}

    assert streams[stream_name("ledger")].max_age == 365 * 24 * 3600
    assert streams[stream_name("ledger")].max_msgs_per_subject in (None, -1)  # one subject holds every alliance
    assert streams[DEADLETTER_STREAM].max_age == 2 * 365 * 24 * 3600
    assert streams[stream_name("ledger")].duplicate_window == DUPLICATE_WINDOW_SECONDS


def test_retention_is_read_in_days_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEHRWASSER_STREAM_MAX_AGE_DAYS", "30")
    monkeypatch.setenv("KEHRWASSER_DEADLETTER_MAX_AGE_DAYS", "90")
    monkeypatch.setenv("KEHRWASSER_STREAM_MAX_BYTES", "1000000")

    retention = StreamSettings().stream_retention()

    assert retention == Retention(
        max_age_seconds=30 * 86400.0, deadletter_max_age_seconds=90 * 86400.0, max_bytes=1_000_000
    )


async def test_events_older_than_the_max_age_go_and_newer_ones_stay(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await ensure_streams(js, retention=Retention(max_age_seconds=2.0, deadletter_max_age_seconds=2.0))
        old = [(await js.publish(HEALTH_SUBJECT, f"old {n}".encode())).seq for n in range(3)]
        # Newer events keep arriving until the server has removed every old one.
        loop = asyncio.get_running_loop()
        deadline, new = loop.time() + 20.0, []
        while (await js.stream_info(stream_name("ledger"))).state.first_seq <= old[-1]:
            assert loop.time() < deadline, "the old events outlived their max age"
            new.append((await js.publish(HEALTH_SUBJECT, b"new")).seq)
            await asyncio.sleep(0.1)
        state = (await js.stream_info(stream_name("ledger"))).state
        for seq in old:
            with pytest.raises(NotFoundError):
                await js.get_msg(stream_name("ledger"), seq)
        assert state.messages >= 1
        assert (await js.get_msg(stream_name("ledger"), new[-1])).data == b"new"
    finally:
        await nc.close()


async def test_a_service_sets_the_max_age_on_its_own_stream_only(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        await ensure_streams(js)
        await ensure_streams(js, owner="ledger", retention=Retention(max_age_seconds=3600.0))

        assert (await js.stream_info(stream_name("ledger"))).config.max_age == 3600.0
        assert (await js.stream_info(stream_name("members"))).config.max_age == 365 * 86400.0
    finally:
        await nc.close()
