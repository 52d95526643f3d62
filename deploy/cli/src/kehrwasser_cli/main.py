"""The ``kehrwasser`` operator CLI: run the network, run one service, drive the network by hand."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from kehrwasser_shared.contracts import alliances, ledger, members
from kehrwasser_shared.contracts.registry import CommandContract

from . import commands
from .settings import CliSettings

app = typer.Typer(help="Kehrwasser: the backend for networks of founder alliances.", no_args_is_help=True)
member_app = typer.Typer(help="Members: register and look up.", no_args_is_help=True)
alliance_app = typer.Typer(help="Alliances: found and join.", no_args_is_help=True)
meeting_app = typer.Typer(help="Meetings of an alliance.", no_args_is_help=True)
ledger_app = typer.Typer(help="The contribution ledger.", no_args_is_help=True)
app.add_typer(member_app, name="member")
app.add_typer(alliance_app, name="alliance")
app.add_typer(meeting_app, name="meeting")
app.add_typer(ledger_app, name="ledger")


class Service(StrEnum):
    members = "members"
    alliances = "alliances"
    ledger = "ledger"
    notify = "notify"


NatsUrl = Annotated[str | None, typer.Option("--nats-url", help="NATS to talk to (env KEHRWASSER_NATS_URL)")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (env KEHRWASSER_DATA_DIR)")]


def _settings(nats_url: str | None = None, data_dir: Path | None = None) -> CliSettings:
    overrides: dict[str, Any] = {}
    if nats_url:
        overrides["nats_url"] = nats_url
    if data_dir:
        overrides["data_dir"] = data_dir
    return CliSettings(**overrides)


def _send(nats_url: str | None, contract: CommandContract[Any, Any], **fields: Any) -> None:
    try:
        request = contract.request.model_validate(fields)
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}", err=True)
        raise typer.Exit(2) from exc
    raise typer.Exit(commands.run_command(_settings(nats_url).command_nats_url(), contract, request))


@app.command()
def up(data_dir: DataDir = None) -> None:
    """Start NATS, an SMTP sink and the four services on this machine; Ctrl-C stops them."""
    from .network import up as run_network

    raise typer.Exit(run_network(_settings(data_dir=data_dir)))


@app.command()
def demo(nats_url: NatsUrl = None, data_dir: DataDir = None) -> None:
    """Seed an alliance, push a member below the threshold and schedule a meeting (needs a running `up`)."""
    from .demo import demo as run_demo

    settings = _settings(nats_url, data_dir)
    asyncio.run(run_demo(settings.command_nats_url(), str(settings.data_dir.resolve() / "mail")))


@app.command()
def run(service: Service) -> None:
    """Run one service in the foreground (configured by KEHRWASSER_* variables)."""
    _exec_service(service.value, "serve")


@app.command()
def migrate(service: Service) -> None:
    """Apply a service's database migrations and exit."""
    _exec_service(service.value, "migrate")


def _exec_service(service: str, command: str) -> None:
    # exec, so signals and the exit code are the service's own, exactly as under a process supervisor.
    os.execv(sys.executable, [sys.executable, "-m", f"kehrwasser_{service}", command])


@app.command()
def docs(output: Annotated[Path, typer.Option(help="Where the docs live")] = Path("docs")) -> None:
    """Regenerate the AsyncAPI document and JSON Schemas from the contracts."""
    from kehrwasser_shared.contracts.documents import write_documents

    written = write_documents(output)
    typer.echo("\n".join(f"wrote {output / path}" for path in written) or "contract documents are current")


@member_app.command("register")
def member_register(
    name: Annotated[str, typer.Option()],
    email: Annotated[str, typer.Option()],
    company: Annotated[str, typer.Option()] = "",
    language: Annotated[str, typer.Option(help="de or en")] = "en",
    focus: Annotated[list[str] | None, typer.Option(help="Focus tag; repeat for several")] = None,
    nats_url: NatsUrl = None,
) -> None:
    """Register a member."""
    _send(nats_url, members.REGISTER, name=name, email=email, company=company, language=language, focus=focus or [])


@member_app.command("get")
def member_get(member_id: str, nats_url: NatsUrl = None) -> None:
    """Show a member."""
    _send(nats_url, members.GET, member_id=member_id)


@alliance_app.command("create")
def alliance_create(
    name: Annotated[str, typer.Option()],
    moderator: Annotated[str, typer.Option(help="Member id of the founding moderator")],
    purpose: Annotated[str, typer.Option()] = "",
    focus: Annotated[list[str] | None, typer.Option(help="Focus tag; repeat for several")] = None,
    threshold: Annotated[str, typer.Option(help="Balance warning threshold, e.g. -10")] = "-10",
    nats_url: NatsUrl = None,
) -> None:
    """Found an alliance."""
    _send(
        nats_url,
        alliances.CREATE,
        name=name,
        purpose=purpose,
        focus=focus or [],
        warning_threshold=Decimal(threshold),
        moderator_id=moderator,
    )


@alliance_app.command("join")
def alliance_join(alliance_id: str, member_id: str, nats_url: NatsUrl = None) -> None:
    """Add a member to an alliance."""
    _send(nats_url, alliances.JOIN, alliance_id=alliance_id, member_id=member_id)


@app.command()
def contribute(
    alliance: Annotated[str, typer.Option()],
    giver: Annotated[str, typer.Option()],
    receiver: Annotated[str, typer.Option(help="Member id, or 'alliance' for the alliance itself")],
    kind: Annotated[ledger.ContributionKind, typer.Option()],
    value: Annotated[str, typer.Option(help="Points, e.g. 2.50")],
    note: Annotated[str, typer.Option()] = "",
    contribution_id: Annotated[
        str | None, typer.Option("--id", help="Your id for it; retrying with it is safe")
    ] = None,
    recorded_by: Annotated[
        str | None, typer.Option("--by", help="Who records it: giver (default), receiver or a moderator")
    ] = None,
    nats_url: NatsUrl = None,
) -> None:
    """Record a contribution (exactly once per id); in a confirming alliance a giver's record waits."""
    _send(
        nats_url,
        ledger.RECORD_CONTRIBUTION,
        contribution_id=contribution_id or str(uuid.uuid4()),
        alliance_id=alliance,
        giver_id=giver,
        receiver_id=receiver,
        kind=kind,
        value=Decimal(value),
        note=note,
        recorded_by=recorded_by,
    )


@ledger_app.command("reverse")
def ledger_reverse(
    contribution_id: str,
    by: Annotated[str, typer.Option(help="Moderator or original giver")],
    reason: Annotated[str, typer.Option()] = "",
    reversal_id: Annotated[str | None, typer.Option("--id")] = None,
    nats_url: NatsUrl = None,
) -> None:
    """Correct a contribution with a reversal entry."""
    _send(
        nats_url,
        ledger.REVERSE_CONTRIBUTION,
        reversal_id=reversal_id or str(uuid.uuid4()),
        contribution_id=contribution_id,
        requested_by=by,
        reason=reason,
    )


@ledger_app.command("verify")
def ledger_verify(
    alliance: Annotated[str | None, typer.Option(help="One alliance; all by default")] = None,
    nats_url: NatsUrl = None,
) -> None:
    """Recompute hash chains and balances from the entries and report any difference."""
    _send(nats_url, ledger.VERIFY, alliance_id=alliance)


@ledger_app.command("statement")
def ledger_statement(
    alliance_id: str,
    member_id: str,
    after_version: Annotated[
        int | None, typer.Option(help="Continue after this entry (the previous page's next_after_version)")
    ] = None,
    limit: Annotated[int, typer.Option(help="Entries per page")] = 50,
    order: Annotated[ledger.StatementOrder, typer.Option()] = ledger.StatementOrder.NEWEST_FIRST,
    nats_url: NatsUrl = None,
) -> None:
    """A member's entries in an alliance, a page at a time."""
    _send(
        nats_url,
        ledger.STATEMENT,
        alliance_id=alliance_id,
        member_id=member_id,
        after_version=after_version,
        limit=limit,
        order=order,
    )


@ledger_app.command("balance-at")
def ledger_balance_at(
    alliance_id: str,
    member_id: str,
    at: Annotated[str, typer.Argument(help="ISO time, e.g. 2026-11-24T12:00:00Z (no zone: UTC)")],
    nats_url: NatsUrl = None,
) -> None:
    """A member's balance in an alliance as of a past time."""
    _send(nats_url, ledger.BALANCE_AT, alliance_id=alliance_id, member_id=member_id, at=at)


@ledger_app.command("matrix")
def ledger_matrix(
    alliance_id: str,
    kind: Annotated[ledger.ContributionKind | None, typer.Option(help="Only this kind")] = None,
    nats_url: NatsUrl = None,
) -> None:
    """Who gave to whom in an alliance, by kind, with the one-way flows."""
    _send(nats_url, ledger.FLOW_MATRIX, alliance_id=alliance_id, kind=kind)


@ledger_app.command("health")
def ledger_health(alliance_id: str, nats_url: NatsUrl = None) -> None:
    """An alliance's reciprocity health: Gini coefficient of giving, active givers, one-way flows."""
    _send(nats_url, ledger.ALLIANCE_HEALTH, alliance_id=alliance_id)


@ledger_app.command("confirm")
def ledger_confirm(
    contribution_id: str, by: Annotated[str, typer.Option(help="The receiver or a moderator")], nats_url: NatsUrl = None
) -> None:
    """Confirm a pending contribution: it is posted now."""
    _send(nats_url, ledger.CONFIRM_CONTRIBUTION, contribution_id=contribution_id, confirmed_by=by)


@ledger_app.command("reject")
def ledger_reject(
    contribution_id: str,
    by: Annotated[str, typer.Option(help="The receiver or a moderator")],
    reason: Annotated[str, typer.Option()] = "",
    nats_url: NatsUrl = None,
) -> None:
    """Reject a pending contribution; it becomes a dispute the moderators see."""
    _send(nats_url, ledger.REJECT_CONTRIBUTION, contribution_id=contribution_id, rejected_by=by, reason=reason)


@ledger_app.command("disputes")
def ledger_disputes(
    alliance_id: str, by: Annotated[str, typer.Option(help="A moderator of the alliance")], nats_url: NatsUrl = None
) -> None:
    """Pending, rejected and expired contributions of an alliance."""
    _send(nats_url, ledger.DISPUTES, alliance_id=alliance_id, requested_by=by)


@ledger_app.command("policy")
def ledger_policy(alliance_id: str, nats_url: NatsUrl = None) -> None:
    """An alliance's balance policy."""
    _send(nats_url, ledger.POLICY, alliance_id=alliance_id)


@ledger_app.command("set-policy")
def ledger_set_policy(
    alliance_id: str,
    by: Annotated[str, typer.Option(help="A moderator of the alliance")],
    red_below: Annotated[str | None, typer.Option(help="Red below this balance")] = None,
    yellow_below: Annotated[str | None, typer.Option(help="Yellow below this balance")] = None,
    floor: Annotated[str | None, typer.Option(help="Refuse contributions taking a receiver below this")] = None,
    inactivity_days: Annotated[int | None, typer.Option(help="Yellow after this many days without giving")] = None,
    hysteresis: Annotated[str | None, typer.Option(help="Margin a light must clear to improve")] = None,
    probation_limit: Annotated[str | None, typer.Option(help="What a newcomer may take before giving")] = None,
    requires_confirmation: Annotated[bool | None, typer.Option(help="Givers' records wait for the receiver")] = None,
    pending_expiry_hours: Annotated[int | None, typer.Option(help="Pending contributions expire after")] = None,
    clear: Annotated[list[str] | None, typer.Option(help="Remove an optional limit (repeatable)")] = None,
    nats_url: NatsUrl = None,
) -> None:
    """Change an alliance's balance policy; options left out keep their value."""
    points = {"red_below": red_below, "yellow_below": yellow_below, "floor": floor}
    points |= {"hysteresis": hysteresis, "probation_limit": probation_limit}
    _send(
        nats_url,
        ledger.SET_POLICY,
        alliance_id=alliance_id,
        requested_by=by,
        inactivity_days=inactivity_days,
        requires_confirmation=requires_confirmation,
        pending_expiry_hours=pending_expiry_hours,
        clear=clear or [],
        **{name: None if value is None else Decimal(value) for name, value in points.items()},
    )


@ledger_app.command("lights")
def ledger_lights(
    alliance_id: str,
    member_id: Annotated[str | None, typer.Argument(help="One member; every member by default")] = None,
    nats_url: NatsUrl = None,
) -> None:
    """Traffic lights (green, yellow, red) of an alliance's members."""
    _send(nats_url, ledger.TRAFFIC_LIGHT, alliance_id=alliance_id, member_id=member_id)


@app.command()
def balance(alliance_id: str, member_id: str, nats_url: NatsUrl = None) -> None:
    """A member's balance of contribution in an alliance."""
    _send(nats_url, ledger.BALANCE, alliance_id=alliance_id, member_id=member_id)


@meeting_app.command("schedule")
def meeting_schedule(
    alliance: Annotated[str, typer.Option()],
    by: Annotated[str, typer.Option(help="Member id of a moderator")],
    title: Annotated[str, typer.Option()],
    start: Annotated[datetime, typer.Option(help="Wall-clock start, e.g. 2026-12-01T18:00")],
    timezone: Annotated[str, typer.Option()] = "Europe/Berlin",
    duration: Annotated[int, typer.Option(help="Minutes")] = 60,
    location: Annotated[str, typer.Option(help="Place or link")] = "",
    nats_url: NatsUrl = None,
) -> None:
    """Schedule a meeting; every member gets an invitation."""
    _send(
        nats_url,
        alliances.SCHEDULE_MEETING,
        alliance_id=alliance,
        requested_by=by,
        title=title,
        starts_at=start,
        timezone=timezone,
        duration_minutes=duration,
        location=location,
    )
