"""The work behind `kehrwasser streams|dlq|drain|resume`: JetStream's own API, spoken as the operator.

Imported by those commands only (it brings NATS and the shared library in); `operations_cli` holds the options.
docs/operations.md ("Streams, dead letters and maintenance", "Retention") says what each command is for.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from kehrwasser_shared.config import StreamSettings
from kehrwasser_shared.contracts.subjects import DEADLETTER_STREAM, DEADLETTER_SUBJECTS, SERVICES, deadletter_subject
from kehrwasser_shared.messaging.consumer import (
    ATTEMPTS_HEADER,
    CONSUMER_HEADER,
    ORIGINAL_SEQUENCE_HEADER,
    ORIGINAL_SUBJECT_HEADER,
    REASON_HEADER,
    consumer_sources,
)
from kehrwasser_shared.messaging.publish import MSG_ID_HEADER
from kehrwasser_shared.messaging.streams import ensure_consumer, ensure_streams
from kehrwasser_shared.security.permissions import CONSUMERS, consumed_events

from .commands import CannotConnect, connect
from .exit_codes import ExitCode
from .shell import settings

JS_API = "$JS.API"
NANOSECONDS = 1_000_000_000
PAUSED_UNTIL = "9999-12-31T23:59:59Z"
"""A drained consumer is paused until `resume`: JetStream takes a time, so one that never comes."""
REPLAY_OF_HEADER = "Kehrwasser-Replay-Of"
"""On a replayed event: the dead letter's sequence in the dead-letter stream."""

Work = Callable[[Client, JetStreamContext], Awaitable[None]]


class OperationFailed(Exception):
    """The operation cannot be done; the message says why in one line."""


def run(nats_url: str | None, timeout: float, work: Work) -> ExitCode:
    """Run ``work`` signed in as the CLI's identity (the operator); any failure becomes one line on stderr."""
    cli_settings = settings(nats_url)
    url = cli_settings.command_nats_url()
    try:
        asyncio.run(_connected(url, cli_settings.command_identity(), timeout, work))
    except CannotConnect as exc:
        return _fail(ExitCode.NATS_UNREACHABLE, f"cannot connect to NATS at {url}: {exc}")
    except nats.errors.NoRespondersError:
        return _fail(ExitCode.NO_ANSWER, f"JetStream does not answer at {url}: is it enabled (nats-server -js)?")
    except nats.errors.TimeoutError:
        return _fail(
            ExitCode.NO_ANSWER,
            f"JetStream did not answer within {timeout:g} s at {url} (or refused this identity: "
            "these commands need the operator's)",
        )
    except nats.js.errors.APIError as exc:
        return _fail(ExitCode.FAILED, f"JetStream refused: {exc.description} (error {exc.err_code})")
    except OperationFailed as exc:
        return _fail(ExitCode.FAILED, str(exc))
    except KeyboardInterrupt:
        return _fail(ExitCode.INTERRUPTED, "interrupted")
    return ExitCode.OK


async def _connected(url: str, identity: dict[str, Any], timeout: float, work: Work) -> None:
    nc = await connect(url, identity)
    try:
        await work(nc, nc.jetstream(timeout=timeout))
    finally:
        await nc.close()


def _fail(code: ExitCode, message: str) -> ExitCode:
    print(message, file=sys.stderr)
    return code


async def api(nc: Client, subject: str, request: dict[str, Any] | None = None, timeout: float = 10.0) -> Any:
    """One JetStream API request, answered as JSON; an error answer raises nats-py's error for it."""
    answer = await nc.request(f"{JS_API}.{subject}", json.dumps(request).encode() if request else b"", timeout)
    body = json.loads(answer.data)
    if "error" in body:
        raise nats.js.errors.APIError.from_error(body["error"])
    return body


async def listed(nc: Client, subject: str, key: str, timeout: float) -> list[dict[str, Any]]:
    """Every item of a paged JetStream listing (``STREAM.LIST``, ``CONSUMER.LIST.<stream>``)."""
    items: list[dict[str, Any]] = []
    while True:
        page = await api(nc, subject, {"offset": len(items)}, timeout)
        items += page.get(key) or []
        if not page.get(key) or len(items) >= page.get("total", 0):
            return items


# --- streams apply ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceConsumer:
    """One durable consumer a service reads (a partitioned one's per partition)."""

    service: str
    stream: str
    durable: str
    filter_subjects: list[str]


def service_consumers(service: str | None = None) -> list[ServiceConsumer]:
    """The durables of the services (or of one), as their composition roots declare them."""
    from kehrwasser_shared.contracts.subjects import stream_name

    return [
        ServiceConsumer(each, stream_name(source), durable.durable, durable.filter_subjects)
        for each in SERVICES
        if service in (None, each)
        for logical, source in CONSUMERS.get(each, {}).items()
        for durable in consumer_sources(logical, consumed_events(each, source))
    ]


async def apply(nc: Client, js: JetStreamContext, stream_settings: StreamSettings, timeout: float) -> dict[str, Any]:
    """Create or update every stream (with the configured limits) and every service's durable consumer, and
    say which of them this changed."""
    streams_before = {s["config"]["name"]: s["config"] for s in await listed(nc, "STREAM.LIST", "streams", timeout)}
    consumers = service_consumers()
    consumers_before = {(c.stream, c.durable): await _consumer_config(nc, c, timeout) for c in consumers}
    await ensure_streams(js, stream_settings.stream_replicas, owner=None, retention=stream_settings.stream_retention())
    for each in consumers:
        await ensure_consumer(js, stream=each.stream, durable=each.durable, filter_subjects=each.filter_subjects)
    streams = []
    for stream in await listed(nc, "STREAM.LIST", "streams", timeout):
        config = stream["config"]
        streams.append(
            {
                "stream": config["name"],
                "outcome": _outcome(streams_before.get(config["name"]), config),
                "max_age_days": config["max_age"] / NANOSECONDS / 86400 or None,
                "max_bytes": None if config["max_bytes"] < 0 else config["max_bytes"],
                "replicas": config["num_replicas"],
            }
        )
    applied = [
        {
            "consumer": each.durable,
            "stream": each.stream,
            "service": each.service,
            "outcome": _outcome(consumers_before[each.stream, each.durable], await _consumer_config(nc, each, timeout)),
        }
        for each in consumers
    ]
    return {"streams": streams, "consumers": applied}


async def _consumer_config(nc: Client, consumer: ServiceConsumer, timeout: float) -> dict[str, Any] | None:
    try:
        info = await api(nc, f"CONSUMER.INFO.{consumer.stream}.{consumer.durable}", timeout=timeout)
    except nats.js.errors.NotFoundError:
        return None
    config: dict[str, Any] = info["config"]
    return config


def _outcome(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    if before is None:
        return "created"
    return "unchanged" if before == after else "updated"


# --- streams show ----------------------------------------------------------------------------------------------


async def show(nc: Client, timeout: float) -> dict[str, Any]:
    """Each stream's size, time span and limits; each consumer's lag."""
    streams, consumers = [], []
    for stream in await listed(nc, "STREAM.LIST", "streams", timeout):
        config, state = stream["config"], stream["state"]
        streams.append(
            {
                "stream": config["name"],
                "messages": state["messages"],
                "bytes": state["bytes"],
                "first": _time(state.get("first_ts")) if state["messages"] else None,
                "last": _time(state.get("last_ts")) if state["messages"] else None,
                "max_age_days": config["max_age"] / NANOSECONDS / 86400 or None,
                "max_bytes": None if config["max_bytes"] < 0 else config["max_bytes"],
                "replicas": config["num_replicas"],
            }
        )
        for consumer in await listed(nc, f"CONSUMER.LIST.{config['name']}", "consumers", timeout):
            consumers.append(_consumer_state(consumer))
    return {"streams": streams, "consumers": consumers}


def _consumer_state(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "consumer": info["name"],
        "stream": info["stream_name"],
        "pending": info.get("num_pending", 0),
        "ack_pending": info.get("num_ack_pending", 0),
        "redelivered": info.get("num_redelivered", 0),
        "last_active": _time((info.get("delivered") or {}).get("last_active")),
        "paused": bool(info.get("paused")),
    }


def _time(text: str | None) -> datetime | None:
    """A JetStream timestamp (RFC 3339 with nanoseconds), to the microsecond; the zero time is none."""
    if not text or text.startswith("0001-01-01"):
        return None
    whole, _, fraction = text.rstrip("Z").partition(".")
    micros = (fraction + "000000")[:6]
    return datetime.fromisoformat(f"{whole}.{micros}").replace(tzinfo=UTC)


# --- dead letters ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    """A message of the dead-letter stream: why and where a consumer gave up on an event, and the event."""

    sequence: int
    consumer: str
    reason: str
    original_subject: str
    original_sequence: int | None
    attempts: int | None
    dead_lettered_at: datetime | None
    payload: bytes
    headers: dict[str, str]

    @classmethod
    def of(cls, message: RawStreamMsg) -> DeadLetter:
        headers = message.headers or {}
        return cls(
            sequence=message.seq or 0,
            consumer=headers.get(CONSUMER_HEADER, (message.subject or "").removeprefix("kehrwasser.dlq.")),
            reason=headers.get(REASON_HEADER, ""),
            original_subject=headers.get(ORIGINAL_SUBJECT_HEADER, ""),
            original_sequence=_number(headers.get(ORIGINAL_SEQUENCE_HEADER)),
            attempts=_number(headers.get(ATTEMPTS_HEADER)),
            dead_lettered_at=message.time,
            payload=message.data or b"",
            headers={str(key): str(value) for key, value in headers.items()},
        )

    def event(self) -> dict[str, Any] | None:
        """The payload as a JSON object, if it is one (a poison message may not be)."""
        try:
            event = json.loads(self.payload)
        except ValueError:
            return None
        return event if isinstance(event, dict) else None

    def event_id(self) -> str | None:
        event_id = (self.event() or {}).get("id")
        return event_id if isinstance(event_id, str) and event_id else None

    def summary(self, now: datetime) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "consumer": self.consumer,
            "reason": self.reason,
            "original_subject": self.original_subject,
            "original_sequence": self.original_sequence,
            "attempts": self.attempts,
            "event_id": self.event_id(),
            "dead_lettered_at": self.dead_lettered_at,
            "age_seconds": None if self.dead_lettered_at is None else (now - self.dead_lettered_at).total_seconds(),
        }


def _number(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def letters_subject(consumer: str | None) -> str:
    return deadletter_subject(consumer) if consumer else DEADLETTER_SUBJECTS


async def dead_letters(
    js: JetStreamContext, consumer: str | None, after: int = 0, limit: int | None = None
) -> list[DeadLetter]:
    """The dead letters after sequence ``after`` (of one consumer, or all), oldest first, at most ``limit``."""
    found: list[DeadLetter] = []
    async for letter in _letters(js, consumer, after):
        found.append(letter)
        if limit is not None and len(found) >= limit:
            break
    return found


async def _letters(
    js: JetStreamContext, consumer: str | None, after: int, up_to: int | None = None
) -> AsyncIterator[DeadLetter]:
    subject = letters_subject(consumer)
    while True:
        try:
            message = await js.get_msg(DEADLETTER_STREAM, seq=after + 1, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            return
        letter = DeadLetter.of(message)
        if up_to is not None and letter.sequence > up_to:
            return
        after = letter.sequence
        yield letter


async def dead_letter(js: JetStreamContext, sequence: int) -> DeadLetter:
    try:
        message = await js.get_msg(DEADLETTER_STREAM, seq=sequence)
    except nats.js.errors.NotFoundError:
        raise OperationFailed(f"no dead letter {sequence} (`kehrwasser dlq list` shows those there are)") from None
    return DeadLetter.of(message)


def shown(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter in full: its headers and its payload, decoded if it is JSON."""
    event = letter.event()
    return {
        **letter.summary(datetime.now(UTC)),
        "headers": letter.headers,
        "payload": event if event is not None else letter.payload.decode(errors="replace"),
    }


@dataclass(frozen=True)
class Replayed:
    sequence: int
    event_id: str | None
    subject: str
    outcome: str
    """``replayed``, ``already replayed`` (JetStream had the replay already) or why it was not replayed."""
    stream_sequence: int | None = None

    @property
    def done(self) -> bool:
        return self.outcome in ("replayed", "already replayed")


def replay_msg_id(event_id: str, letter_sequence: int) -> str:
    """The ``Nats-Msg-Id`` of a replay: not the event id, which the stream saw when the event was first
    published and would drop within its duplicate window, but one per dead letter, so that replaying the same
    letter twice (a replay whose deletion failed) is dropped by JetStream, while the CloudEvent inside keeps
    its id and every consumer's inbox recognises an event it has already handled."""
    return f"{event_id}:replay:{letter_sequence}"


async def replay(js: JetStreamContext, letter: DeadLetter) -> Replayed:
    """Publish a dead letter's event again on its original subject, unchanged, then delete the letter."""
    event_id = letter.event_id()
    if event_id is None:
        return Replayed(letter.sequence, None, letter.original_subject, "not a CloudEvent with an id: purge it")
    if not letter.original_subject.startswith("kehrwasser.evt."):
        return Replayed(letter.sequence, event_id, letter.original_subject, "no original event subject")
    headers = {MSG_ID_HEADER: replay_msg_id(event_id, letter.sequence), REPLAY_OF_HEADER: str(letter.sequence)}
    ack = await js.publish(letter.original_subject, letter.payload, headers=headers)
    await js.delete_msg(DEADLETTER_STREAM, letter.sequence)
    outcome = "already replayed" if ack.duplicate else "replayed"
    return Replayed(letter.sequence, event_id, letter.original_subject, outcome, ack.seq)


async def replay_all(js: JetStreamContext, consumer: str | None) -> list[Replayed]:
    """Replay the dead letters there are now; one that fails again and comes back is left for another look."""
    last = (await js.stream_info(DEADLETTER_STREAM)).state.last_seq
    return [await replay(js, letter) async for letter in _letters(js, consumer, 0, up_to=last)]


async def purge(nc: Client, consumer: str | None, timeout: float) -> int:
    """Delete the dead letters (of one consumer, or all); returns how many went."""
    request = {"filter": deadletter_subject(consumer)} if consumer else None
    answer = await api(nc, f"STREAM.PURGE.{DEADLETTER_STREAM}", request, timeout)
    return int(answer.get("purged", 0))


async def count(nc: Client, consumer: str | None, timeout: float) -> int:
    """How many dead letters there are (of one consumer, or all)."""
    info = await api(nc, f"STREAM.INFO.{DEADLETTER_STREAM}", {"subjects_filter": letters_subject(consumer)}, timeout)
    return sum((info["state"].get("subjects") or {}).values())


# --- drain and resume ------------------------------------------------------------------------------------------


async def pause(js: JetStreamContext, service: str, *, paused: bool) -> None:
    """Pause (until `resume`) or resume every durable consumer of ``service``."""
    consumers = service_consumers(service)
    if not consumers:
        raise OperationFailed(f"the {service} service consumes no events: nothing to drain or resume")
    for each in consumers:
        try:
            if paused:
                await js.pause_consumer(each.stream, each.durable, PAUSED_UNTIL)
            else:
                await js.resume_consumer(each.stream, each.durable)
        except nats.js.errors.NotFoundError:
            raise OperationFailed(
                f"{each.durable} does not exist on {each.stream}: has {service} ever run? "
                "(`kehrwasser streams apply` creates it)"
            ) from None


async def consumer_states(nc: Client, service: str, timeout: float) -> list[dict[str, Any]]:
    return [
        _consumer_state(await api(nc, f"CONSUMER.INFO.{each.stream}.{each.durable}", timeout=timeout))
        for each in service_consumers(service)
    ]


async def drained(nc: Client, service: str, timeout: float, wait: float) -> list[dict[str, Any]]:
    """The service's consumers' states once none has a message out (delivered, not yet acknowledged), or
    after ``wait`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        states = await consumer_states(nc, service, timeout)
        if all(state["ack_pending"] == 0 for state in states) or loop.time() >= deadline:
            return states
        await asyncio.sleep(0.2)
