"""`kehrwasser streams …`, `dlq …`, `drain` and `resume`: the operator's view of JetStream.

Only typer and the standard library at import time; the work (NATS, the shared library) is in `operations`,
imported by each command. docs/operations.md, "Streams, dead letters and maintenance", tells when to use which.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .shell import DEFAULT_TIMEOUT_SECONDS, Json, NatsUrl, Timeout, group
from .tables import block, table
from .values import Service, seconds

if TYPE_CHECKING:
    from nats.aio.client import Client
    from nats.js import JetStreamContext

    from kehrwasser_shared.config import StreamSettings

streams = group("The network's JetStream streams and the services' durable consumers.")
dlq = group("Dead letters: events a consumer gave up on, with the reason; list, show, replay after a fix, purge.")

DEFAULT_PAGE = 50
REASON_WIDTH = 60
DRAIN_WAIT_SECONDS = 30.0
ConsumerName = Annotated[
    str | None, typer.Option("--consumer", help="Only this consumer's dead letters (e.g. alliances-from-members)")
]
Sequence = Annotated[int, typer.Argument(metavar="SEQ", min=1, help="The dead letter's sequence (`dlq list`)")]


def _run(
    nats_url: str | None,
    timeout: float,
    work: Callable[[Client, JetStreamContext], Awaitable[Any]],
    render: Callable[[Any], str],
    as_json: bool,
) -> None:
    """Run ``work`` as the operator and print its result as a table, or as JSON."""
    from .operations import run

    async def work_and_print(nc: Client, js: JetStreamContext) -> None:
        result = await work(nc, js)
        print(json.dumps(result, indent=2, default=_plain) if as_json else render(result))

    raise typer.Exit(run(nats_url, timeout, work_and_print))


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _stream_settings() -> StreamSettings:
    from pydantic import ValidationError

    from kehrwasser_shared.config import StreamSettings

    try:
        return StreamSettings()
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = f"KEHRWASSER_{'_'.join(str(part) for part in error['loc']).upper()}"
        raise typer.BadParameter(f"{error['input']!r}: {error['msg']}", param_hint=variable) from None


# --- streams ---------------------------------------------------------------------------------------------------


@streams.command("apply")
def streams_apply(
    nats_url: NatsUrl = None, timeout: Timeout = DEFAULT_TIMEOUT_SECONDS, json_output: Json = False
) -> None:
    """Create or update every stream (replicas and retention from KEHRWASSER_STREAM_*) and every service's
    durable consumer; running it again changes nothing."""
    from .operations import apply

    stream_settings = _stream_settings()
    _run(nats_url, timeout, lambda nc, js: apply(nc, js, stream_settings, timeout), _show_applied, json_output)


def _show_applied(applied: dict[str, Any]) -> str:
    streams_table = table(
        ["STREAM", "OUTCOME", "MAX AGE", "MAX BYTES", "REPLICAS"],
        [
            [s["stream"], s["outcome"], _days(s["max_age_days"]), s["max_bytes"] or "no limit", s["replicas"]]
            for s in applied["streams"]
        ],
    )
    consumers_table = table(
        ["CONSUMER", "STREAM", "SERVICE", "OUTCOME"],
        [[c["consumer"], c["stream"], c["service"], c["outcome"]] for c in applied["consumers"]],
    )
    return f"{streams_table}\n\n{consumers_table}"


@streams.command("show")
def streams_show(
    nats_url: NatsUrl = None, timeout: Timeout = DEFAULT_TIMEOUT_SECONDS, json_output: Json = False
) -> None:
    """Each stream's messages, bytes, first and last event and retention; each consumer's lag (PENDING: not yet
    delivered), ACK PENDING (delivered, not yet acknowledged), redeliveries and last activity."""
    from .operations import show

    _run(nats_url, timeout, lambda nc, js: show(nc, timeout), _show_streams, json_output)


def _show_streams(shown: dict[str, Any]) -> str:
    streams_table = table(
        ["STREAM", "MESSAGES", "BYTES", "FIRST", "LAST", "MAX AGE", "REPLICAS"],
        [
            [s["stream"], s["messages"], s["bytes"], s["first"], s["last"], _days(s["max_age_days"]), s["replicas"]]
            for s in shown["streams"]
        ],
    )
    consumers_table = table(
        ["CONSUMER", "STREAM", "PENDING", "ACK PENDING", "REDELIVERED", "LAST ACTIVE", "PAUSED"],
        [
            [
                c["consumer"],
                c["stream"],
                c["pending"],
                c["ack_pending"],
                c["redelivered"],
                c["last_active"],
                c["paused"],
            ]
            for c in shown["consumers"]
        ],
    )
    return f"{streams_table}\n\n{consumers_table}"


def _days(days: float | None) -> str:
    if not days:
        return "for ever"
    return f"{days:g} days" if days >= 1 else _age(days * 86400)


# --- dead letters ----------------------------------------------------------------------------------------------


@dlq.command("list")
def dlq_list(
    consumer: ConsumerName = None,
    after: Annotated[
        int, typer.Option(min=0, metavar="SEQ", help="Continue after this sequence (the hint names it)")
    ] = 0,
    limit: Annotated[int, typer.Option(min=1, help="Dead letters on one page")] = DEFAULT_PAGE,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """The dead letters, oldest first: consumer, reason, original subject, attempts and age."""
    from .operations import dead_letters

    async def page(nc: Client, js: JetStreamContext) -> dict[str, Any]:
        letters = await dead_letters(js, consumer, after, limit + 1)
        now = datetime.now(UTC)
        more = letters[limit - 1].sequence if len(letters) > limit else None
        return {"items": [letter.summary(now) for letter in letters[:limit]], "next_after": more}

    _run(nats_url, timeout, page, _show_letters, json_output)


def _show_letters(page: dict[str, Any]) -> str:
    shown = table(
        ["SEQ", "CONSUMER", "REASON", "ORIGINAL SUBJECT", "ATTEMPTS", "AGE"],
        [
            [
                letter["sequence"],
                letter["consumer"],
                _shortened(letter["reason"]),
                letter["original_subject"],
                letter["attempts"],
                _age(letter["age_seconds"]),
            ]
            for letter in page["items"]
        ],
        empty="(no dead letters)",
    )
    if page["next_after"] is not None:
        shown += f"\n\nmore: --after {page['next_after']} for the next page"
    return shown


def _shortened(text: str) -> str:
    return text if len(text) <= REASON_WIDTH else text[: REASON_WIDTH - 1] + "…"


def _age(age_seconds: float | None) -> str:
    if age_seconds is None:
        return "-"
    whole = int(age_seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size:
            rest = whole % size
            smaller = {"d": (3600, "h"), "h": (60, "m"), "m": (1, "s")}[unit]
            return f"{whole // size}{unit}" + (f" {rest // smaller[0]}{smaller[1]}" if rest >= smaller[0] else "")
    return f"{whole}s"


@dlq.command("show")
def dlq_show(
    sequence: Sequence, nats_url: NatsUrl = None, timeout: Timeout = DEFAULT_TIMEOUT_SECONDS, json_output: Json = False
) -> None:
    """One dead letter: its headers and its payload (pretty-printed when it is JSON)."""
    from .operations import dead_letter, shown

    async def one(nc: Client, js: JetStreamContext) -> dict[str, Any]:
        return shown(await dead_letter(js, sequence))

    _run(nats_url, timeout, one, _show_letter, json_output)


def _show_letter(letter: dict[str, Any]) -> str:
    summary = block(
        {
            "sequence": letter["sequence"],
            "consumer": letter["consumer"],
            "reason": letter["reason"],
            "original subject": letter["original_subject"],
            "original sequence": letter["original_sequence"],
            "attempts": letter["attempts"],
            "event id": letter["event_id"],
            "dead-lettered": letter["dead_lettered_at"],
            "age": _age(letter["age_seconds"]),
        }
    )
    headers = block(letter["headers"]) if letter["headers"] else "(none)"
    payload = letter["payload"]
    body = json.dumps(payload, indent=2, ensure_ascii=False) if not isinstance(payload, str) else payload
    return f"{summary}\n\nheaders:\n{headers}\n\npayload:\n{body}"


@dlq.command("replay")
def dlq_replay(
    sequence: Annotated[int | None, typer.Argument(metavar="[SEQ]", min=1, help="The dead letter to replay")] = None,
    every: Annotated[bool, typer.Option("--all", help="Replay every dead letter (of --consumer, if given)")] = False,
    consumer: ConsumerName = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """After a fix: publish a dead letter's event again on its original subject, with its event id unchanged,
    and delete the dead letter. Every consumer of that subject receives it again; those that handled it
    already skip it (their inbox knows its id)."""
    from .operations import OperationFailed, dead_letter, replay, replay_all

    if (sequence is None) == (not every):
        raise typer.BadParameter("give a dead letter's SEQ or --all, not both", param_hint="SEQ / --all")
    if sequence is not None and consumer is not None:
        raise typer.BadParameter("--consumer goes with --all", param_hint="--consumer")

    async def replayed(nc: Client, js: JetStreamContext) -> None:
        done = (
            [await replay(js, await dead_letter(js, sequence))]
            if sequence is not None
            else await replay_all(js, consumer)
        )
        print(json.dumps(done, indent=2, default=_plain) if json_output else _show_replayed(done))
        if failed := [each for each in done if not each.done]:
            raise OperationFailed(f"{len(failed)} of {len(done)} dead letters not replayed")

    from .operations import run

    raise typer.Exit(run(nats_url, timeout, replayed))


def _show_replayed(done: list[Any]) -> str:
    return table(
        ["SEQ", "EVENT ID", "SUBJECT", "OUTCOME", "STREAM SEQ"],
        [[each.sequence, each.event_id, each.subject, each.outcome, each.stream_sequence] for each in done],
        empty="(no dead letters)",
    )


@dlq.command("purge")
def dlq_purge(
    consumer: ConsumerName = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Delete the dead letters (of --consumer, or all) for good."""
    from .operations import count, purge

    async def purged(nc: Client, js: JetStreamContext) -> None:
        there = await count(nc, consumer, timeout)
        whose = f"of {consumer} " if consumer else ""
        if there == 0:
            print(f"no dead letters {whose}to purge")
            return
        if not yes and not typer.confirm(f"delete {there} dead letters {whose}for good?"):
            raise typer.Abort
        print(f"purged {await purge(nc, consumer, timeout)} dead letters {whose}".rstrip())

    from .operations import run

    raise typer.Exit(run(nats_url, timeout, purged))


# --- maintenance -----------------------------------------------------------------------------------------------


def drain(
    service: Service,
    wait: Annotated[
        float,
        typer.Option(
            parser=seconds, metavar="SECONDS", help="How long to wait for the events it holds to be acknowledged"
        ),
    ] = DRAIN_WAIT_SECONDS,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Stop a service's consumption for maintenance: pause its durable consumers (until `resume`) and wait
    until it has acknowledged what it holds. Events keep arriving in the streams; commands are still answered."""
    from .operations import OperationFailed, drained, pause

    async def paused(nc: Client, js: JetStreamContext) -> list[dict[str, Any]]:
        await pause(js, service, paused=True)
        states = await drained(nc, service, timeout, wait)
        if busy := [state["consumer"] for state in states if state["ack_pending"]]:
            print(_show_consumers(states))
            raise OperationFailed(f"paused, but {', '.join(busy)} still hold unacknowledged events after {wait:g} s")
        return states

    _run(nats_url, timeout, paused, _show_consumers, json_output)


def resume(
    service: Service, nats_url: NatsUrl = None, timeout: Timeout = DEFAULT_TIMEOUT_SECONDS, json_output: Json = False
) -> None:
    """Let a drained service consume again: resume its durable consumers where they stopped."""
    from .operations import consumer_states, pause

    async def resumed(nc: Client, js: JetStreamContext) -> list[dict[str, Any]]:
        await pause(js, service, paused=False)
        return await consumer_states(nc, service, timeout)

    _run(nats_url, timeout, resumed, _show_consumers, json_output)


def _show_consumers(states: list[dict[str, Any]]) -> str:
    return table(
        ["CONSUMER", "STREAM", "PAUSED", "PENDING", "ACK PENDING"],
        [[s["consumer"], s["stream"], s["paused"], s["pending"], s["ack_pending"]] for s in states],
    )
