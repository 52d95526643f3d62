"""Notify killed with SIGKILL while it sends a batch of mail, then restarted: no email is lost, and the only
repeats are the messages the server had accepted when the kill came before their "sent" mark was committed.

The service runs as its own OS process (signing in to a real nats-server as itself) and sends to a real SMTP
server (aiosmtpd). A meeting with 300 attendees queues 300 invitations in one transaction; the test kills
the service once the sink holds some of them, asserts its premise from the database (some deliveries still
pending, some of them claimed by the dead process), restarts the service and waits until every delivery is
marked sent: from then on nothing can send again, so what the sink holds is final.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import nats
import pytest
from sqlalchemy import select
from test_notify_over_nats import consumer_reaches, course_check, publish, registered, settled

from kehrwasser_notify.adapters.tables import deliveries
from kehrwasser_notify.service_layer import handlers
from kehrwasser_shared.contracts import alliances, members
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.testing.processes import ServiceProcess, service_env

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ATTENDEES = 300
KILL_AFTER = 60
"""Invitations the sink must hold before the kill: the mailer is well into the batch, and far from its end."""
SEND_TIMEOUT_SECONDS = 2
"""Short, so that the dead process's claim (8 sends x this + 30 s margin, `DeliverySettings.claim`) runs out
within the test; long enough that a send to a local server never times out by accident (a send timed out
after the server accepted it would be repeated for a reason other than the kill)."""


def recipient(message: EmailMessage) -> str:
    return str(message["To"].addresses[0].addr_spec)


async def pending_at(database_url: str) -> tuple[set[str], set[str]]:
    """Recipients of the deliveries not marked sent: all of them, and those a claim holds past now."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(deliveries.c.recipient, deliveries.c.next_attempt_at).where(deliveries.c.status == "pending")
                )
            ).all()
    finally:
        await engine.dispose()
    now = datetime.now(UTC)
    claimed = {r.recipient for r in rows if _aware(r.next_attempt_at) > now}
    return {r.recipient for r in rows}, claimed


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # SQLite keeps no zone


async def until_all_sent(database_url: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending := (await pending_at(database_url))[0]:
        assert loop.time() < deadline, f"{len(pending)} deliveries still pending after {timeout}s"
        await asyncio.sleep(0.2)


async def test_notify_killed_mid_batch_sends_every_invitation_after_restart_repeating_only_unmarked_ones(
    nats_url: str, database_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    env = {
        **service_env("notify", nats_url=nats_url, data_dir=tmp_path, database_url=database_url),
        "KEHRWASSER_SMTP_HOST": mail_sink.host,
        "KEHRWASSER_SMTP_PORT": str(mail_sink.port),
        "KEHRWASSER_SMTP_TIMEOUT_SECONDS": str(SEND_TIMEOUT_SECONDS),
        # A cap well below what the machine sends, so that the kill comes mid-batch however fast it reacts.
        "KEHRWASSER_MAIL_PER_SECOND": "100",
        "KEHRWASSER_MAIL_POLL_SECONDS": "0.2",
    }
    attendees = [f"founder{n:03d}" for n in range(ATTENDEES)]
    expected = {f"{member_id}@example.org" for member_id in attendees}
    doomed = ServiceProcess("notify", env, tmp_path / "logs-1").start()
    try:
        await asyncio.to_thread(doomed.wait_ready)
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            for member_id in attendees:
                await publish(js, members.MEMBER_REGISTERED, registered(member_id, f"Founder {member_id}", "en"))
            await consumer_reaches(js, "members", handlers.MEMBERS_CONSUMER, settled(ATTENDEES), timeout=60)
            await publish(js, alliances.MEETING_SCHEDULED, course_check(attendees))
        finally:
            await nc.close()
        arrived = await asyncio.to_thread(
            mail_sink.wait_for_matching, lambda m: recipient(m) in expected, KILL_AFTER, 60.0
        )
        assert len(arrived) >= KILL_AFTER, doomed.log()
        assert doomed.process is not None
        doomed.process.kill()
        assert await asyncio.to_thread(doomed.wait_exit) == -9, doomed.log()
    finally:
        doomed.stop()

    # The premise: the kill came mid-batch, and the dead process held a claim on some deliveries.
    seen_before_restart = Counter(recipient(m) for m in mail_sink.messages)
    pending, claimed = await pending_at(database_url)
    assert len(seen_before_restart) < ATTENDEES
    assert pending
    assert claimed
    # Accepted by the server and not marked sent: these must arrive again. (The sink may still be reading
    # a message the dead process had written before the kill: the set is a lower bound.)
    unmarked = pending & set(seen_before_restart)

    survivor = ServiceProcess("notify", env, tmp_path / "logs-2").start()
    try:
        await asyncio.to_thread(survivor.wait_ready)
        # The dead process's claim runs out about 46 s after it was taken; then the survivor sends the rest.
        await until_all_sent(database_url, timeout=180)
    finally:
        survivor.stop()

    received = mail_sink.messages
    counted = Counter(recipient(m) for m in received)
    assert set(counted) == expected
    repeated = {r for r, n in counted.items() if n > 1}
    # Only a delivery the dead process had claimed and not marked can arrive twice: the rest it never started.
    assert unmarked <= repeated <= claimed
    assert set(counted.values()) <= {1, 2}
    # A repeat is the same message: mail programs recognise it by its Message-ID.
    ids: dict[str, set[str]] = {}
    for message in received:
        ids.setdefault(recipient(message), set()).add(str(message["Message-ID"]))
    assert all(len(message_ids) == 1 for message_ids in ids.values())
    assert len({next(iter(message_ids)) for message_ids in ids.values()}) == ATTENDEES
