"""Send one command the way every command of the CLI does: check the options against the contract, look up
members given by email, send, follow pages if asked, and print a table with names (or the JSON result).

Only typer and the standard library at import time; pydantic, NATS and the contracts come in with `send`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

import typer

from .shell import settings
from .tables import Names

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    from kehrwasser_shared.contracts.registry import CommandContract
    from kehrwasser_shared.messaging.client import CommandClient

ResultT = TypeVar("ResultT")
LOOKUP_CONCURRENCY = 16
EMAIL_PLACEHOLDER = "member-given-by-email"
"""Stands in for an email while the other options are checked, before anything is sent."""


def _no_members(_: Any) -> Iterable[str]:
    return ()


@dataclass(frozen=True)
class View(Generic[ResultT]):
    """How a person sees a command's result: ``render`` draws it with the names of the ``members`` it names."""

    render: Callable[[ResultT, Names], str]
    members: Callable[[ResultT], Iterable[str]] = _no_members


@dataclass(frozen=True)
class Paging:
    """Where a paginated result keeps its items and the next page's cursor, and which request field takes it."""

    items: str = "items"
    next: str = "next_cursor"
    cursor: str = "cursor"
    option: str = "--cursor"


def send(
    ctx: typer.Context,
    contract: CommandContract[Any, Any],
    view: View[Any],
    *,
    members: Iterable[str] = (),
    paging: Paging | None = None,
    follow: Callable[[CommandClient, Any], Awaitable[Any]] | None = None,
    **fields: Any,
) -> NoReturn:
    """Send ``fields`` as the contract's request and exit with the outcome's code.

    Every command that sends takes the same ``--nats-url``, ``--timeout`` and ``--json`` options, read here from
    the context. Its parameters are named after the request's fields, so that a field the contract refuses is
    reported as a usage error naming the option it came from. ``members`` names the fields that hold a member:
    an id, or an email (anything with '@') looked up with ``members.get-by-email`` before the command is sent.
    ``follow`` takes the answer of a command that starts a job and returns the job's last state, which is shown.
    """
    from .commands import run_session

    members = tuple(members)
    emails = _emails(ctx, fields, members)
    _request(ctx, contract, _with_ids(fields, members, dict.fromkeys(emails, EMAIL_PLACEHOLDER)))  # before NATS
    as_json = bool(ctx.params.get("json_output"))
    every_page = bool(ctx.params.get("all_pages"))

    async def work(client: CommandClient) -> None:
        ids = {email: await member_id_of(client, email) for email in emails}
        request = _request(ctx, contract, _with_ids(fields, members, ids))
        result = await client.send(contract, request)
        if follow is not None:
            result = await follow(client, result)
        if paging is not None and every_page:
            result = await _every_page(client, contract, request, result, paging)
        if as_json:
            print(result.model_dump_json(indent=2))
            return
        print(view.render(result, await names_of(client, view.members(result))))
        if paging is not None and (after := getattr(result, paging.next)) is not None:
            print(f"\nmore: {paging.option} {after} for the next page, or --all for every page")

    cli_settings = settings(ctx.params["nats_url"])
    raise typer.Exit(
        run_session(cli_settings.command_nats_url(), ctx.params["timeout"], work, cli_settings.command_identity())
    )


async def member_id_of(client: CommandClient, email: str) -> str:
    """The id of the member with this email; an unknown one fails the command (`unknown-member`, exit 1)."""
    from kehrwasser_shared.contracts import members

    return (await client.send(members.GET_BY_EMAIL, members.GetMemberByEmail(email=email))).member_id


async def names_of(client: CommandClient, member_ids: Iterable[str]) -> Names:
    """The names of these members, asked of the members service at once; one it cannot name keeps its id.

    A name is a courtesy: a result is shown even when the members service is not running or forgot someone.
    """
    import asyncio

    from pydantic import ValidationError

    from kehrwasser_shared.contracts import ledger, members
    from kehrwasser_shared.contracts.replies import CommandFailed

    from .commands import NoAnswer, NotPermitted

    gate = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def name(member_id: str) -> tuple[str, str] | None:
        async with gate:
            try:
                found = await client.send(members.GET, members.GetMember(member_id=member_id))
            except (CommandFailed, NoAnswer, NotPermitted, ValidationError):
                return None
        return member_id, found.name

    wanted = [each for each in dict.fromkeys(member_ids) if each and each != ledger.ALLIANCE_ACCOUNT]
    found = await asyncio.gather(*(name(each) for each in wanted))
    return Names({ledger.ALLIANCE_ACCOUNT: "(the alliance)", **dict(pair for pair in found if pair is not None)})


async def _every_page(
    client: CommandClient, contract: CommandContract[Any, Any], request: BaseModel, first: BaseModel, paging: Paging
) -> BaseModel:
    items, page = list(getattr(first, paging.items)), first
    while (after := getattr(page, paging.next)) is not None:
        page = await client.send(contract, request.model_copy(update={paging.cursor: after}))
        items += getattr(page, paging.items)
    return page.model_copy(update={paging.items: items, paging.next: None})


def _given(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _emails(ctx: typer.Context, fields: dict[str, Any], members: tuple[str, ...]) -> list[str]:
    """The emails given for members, each once; one that is no email address is a usage error naming its option."""
    from pydantic import ValidationError

    from kehrwasser_shared.contracts.members import GetMemberByEmail

    emails: list[str] = []
    for field in members:
        for value in _given(fields.get(field)):
            if isinstance(value, str) and "@" in value and value not in emails:
                try:
                    GetMemberByEmail(email=value)
                except ValidationError as exc:
                    raise _bad_parameter(ctx, exc, field) from None
                emails.append(value)
    return emails


def _with_ids(fields: dict[str, Any], members: tuple[str, ...], ids: dict[str, str]) -> dict[str, Any]:
    """``fields`` with every email of a member field replaced by that member's id."""
    swapped = {
        field: [ids.get(each, each) for each in value] if isinstance(value, list) else ids.get(value, value)
        for field, value in fields.items()
        if field in members and value is not None
    }
    return {**fields, **swapped}


def _request(ctx: typer.Context, contract: CommandContract[Any, Any], fields: dict[str, Any]) -> BaseModel:
    from pydantic import ValidationError

    try:
        request: BaseModel = contract.request.model_validate(fields)
        return request
    except ValidationError as exc:
        raise _bad_parameter(ctx, exc) from None


def _bad_parameter(ctx: typer.Context, exc: ValidationError, field: str | None = None) -> typer.BadParameter:
    """The first field the contract refused, as click's usage error naming its option (exit code 2)."""
    error = exc.errors()[0]
    if field is None:
        field = str(error["loc"][0]) if error["loc"] else ""
    problem = str(error["msg"]).removeprefix("Value error, ")
    if (given := _as_typed(error.get("input"))) is not None:
        problem = f"{given}: {problem}"
    names = next((p.opts for p in ctx.command.params if p.name == field), [field])
    return typer.BadParameter(problem, ctx=ctx, param_hint=names)


def _as_typed(value: object) -> str | None:
    """A value as the person typed it, or None for one they did not type (a whole list, a missing field)."""
    if isinstance(value, datetime):
        return repr(value.isoformat())
    if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool):
        return repr(str(value))
    return None
