"""The ``kehrwasser`` operator CLI: run the network, run one service, drive the network by hand.

A person waits for every start of this program, so only typer and the standard library are imported here;
the contracts, NATS, pydantic and the settings come in with the command that needs them.
"""

from __future__ import annotations

import os
import sys
import uuid
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from .exit_codes import EXIT_CODES_HELP, ExitCode
from .values import (
    POLICY_LIMITS_METAVAR,
    ContributionKind,
    Language,
    Service,
    StatementOrder,
    date_time,
    points,
    policy_limit,
    seconds,
)

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    from kehrwasser_shared.contracts.registry import CommandContract

    from .settings import CliSettings

DEBUG_VARIABLE = "KEHRWASSER_DEBUG"


class KehrwasserApp(typer.Typer):
    """A typer app that ends even an unforeseen error with one line, not a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            first_line = next(iter(str(exc).splitlines()), "")
            print(
                f"unexpected error: {type(exc).__name__}: {first_line} ({DEBUG_VARIABLE}=1 shows the traceback)",
                file=sys.stderr,
            )
            sys.exit(ExitCode.FAILED)


def _group(help_text: str, **kwargs: Any) -> KehrwasserApp:
    # Plain help and errors: rich draws usage errors in a box of several lines and costs start-up time.
    return KehrwasserApp(help=help_text, no_args_is_help=True, rich_markup_mode=None, **kwargs)


app = _group("Kehrwasser: the backend for networks of founder alliances.", epilog=EXIT_CODES_HELP)
member_app = _group("Members: register and look up.")
alliance_app = _group("Alliances: found and join.")
meeting_app = _group("Meetings of an alliance.")
ledger_app = _group("The contribution ledger.")
security_app = _group("NATS identities and permissions of a deployment (docs/security.md).")
app.add_typer(member_app, name="member")
app.add_typer(alliance_app, name="alliance")
app.add_typer(meeting_app, name="meeting")
app.add_typer(ledger_app, name="ledger")
app.add_typer(security_app, name="security")

DEFAULT_TIMEOUT_SECONDS = 10.0
LONG_TIMEOUT_SECONDS = 60.0

NatsUrl = Annotated[str | None, typer.Option("--nats-url", help="NATS to talk to (env KEHRWASSER_NATS_URL)")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (env KEHRWASSER_DATA_DIR)")]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        parser=seconds,
        metavar="SECONDS",
        help="How long to wait for the service's answer (exit code 4 when none comes)",
    ),
]


def points_option(help_text: str, *names: str) -> Any:
    """An option holding points, read as a Decimal (never a float) by `values.points`."""
    return typer.Option(*names, parser=points, metavar="POINTS", help=help_text)


def _settings(nats_url: str | None = None, data_dir: Path | None = None) -> CliSettings:
    from pydantic import ValidationError

    from .settings import CliSettings

    overrides: dict[str, Any] = {}
    if nats_url:
        overrides["nats_url"] = nats_url
    if data_dir:
        overrides["data_dir"] = data_dir
    try:
        return CliSettings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = f"KEHRWASSER_{'_'.join(str(part) for part in error['loc']).upper()}"
        raise typer.BadParameter(f"{error['input']!r}: {error['msg']}", param_hint=variable) from None


def _send(ctx: typer.Context, contract: CommandContract[Any, Any], **fields: Any) -> NoReturn:
    """Send ``fields`` as the contract's request and exit with the outcome's code.

    Every command that sends takes the same ``--nats-url`` and ``--timeout`` options, read here from the
    context. Its parameters are named after the request's fields, so that a field the contract refuses is
    reported as a usage error naming the option it came from.
    """
    from .commands import run_command

    request = _request(ctx, contract, fields)
    settings = _settings(ctx.params["nats_url"])
    raise typer.Exit(
        run_command(settings.command_nats_url(), contract, request, ctx.params["timeout"], settings.command_identity())
    )


def _request(ctx: typer.Context, contract: CommandContract[Any, Any], fields: dict[str, Any]) -> BaseModel:
    from pydantic import ValidationError

    try:
        request: BaseModel = contract.request.model_validate(fields)
        return request
    except ValidationError as exc:
        raise _bad_parameter(ctx, exc) from None


def _bad_parameter(ctx: typer.Context, exc: ValidationError) -> typer.BadParameter:
    """The first field the contract refused, as click's usage error naming its option (exit code 2)."""
    error = exc.errors()[0]
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


@app.command()
def up(data_dir: DataDir = None) -> None:
    """Start NATS, an SMTP sink and the four services on this machine; Ctrl-C stops them."""
    from .network import up as run_network

    raise typer.Exit(run_network(_settings(data_dir=data_dir)))


@app.command()
def demo(nats_url: NatsUrl = None, data_dir: DataDir = None, timeout: Timeout = DEFAULT_TIMEOUT_SECONDS) -> None:
    """Seed an alliance, push a member below the threshold and schedule a meeting (needs a running `up`)."""
    from .commands import run_session
    from .demo import demo as run_demo

    settings = _settings(nats_url, data_dir)
    mail_dir = str(settings.data_dir.resolve() / "mail")
    raise typer.Exit(
        run_session(
            settings.command_nats_url(), timeout, lambda client: run_demo(client, mail_dir), settings.command_identity()
        )
    )


IdentitiesDir = Annotated[Path, typer.Argument(help="Where the seeds and the nats-server configuration go")]


@security_app.command("init")
def security_init(directory: IdentitiesDir) -> None:
    """Create an nkey per service and client role (seeds kept if present) and the nats-server permissions."""
    from kehrwasser_shared.security import identities

    for identity in identities.init(directory):
        print(f"{identity.name:<10} {identity.public_key}  {identity.seed_file}")
    include, config = directory / identities.AUTHORIZATION_FILE, directory / identities.SERVER_CONFIG_FILE
    print(f"nats-server: include {include} in its configuration (or run it with -c {config})")


@security_app.command("rotate")
def security_rotate(
    directory: IdentitiesDir,
    identity: Annotated[str, typer.Argument(help="The service or client role whose seed is replaced")],
) -> None:
    """Replace one identity's seed, leaving the others; reload nats-server afterwards (nats-server --signal reload)."""
    from kehrwasser_shared.security import identities

    try:
        rotated = identities.rotate(directory, identity)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="IDENTITY") from None
    print(f"{rotated.name:<10} {rotated.public_key}  {rotated.seed_file}")


@app.command()
def run(service: Service) -> None:
    """Run one service in the foreground (configured by KEHRWASSER_* variables)."""
    _exec_service(service, "serve")


@app.command()
def migrate(service: Service) -> None:
    """Apply a service's database migrations and exit."""
    _exec_service(service, "migrate")


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
    ctx: typer.Context,
    name: Annotated[str, typer.Option()],
    email: Annotated[str, typer.Option()],
    company: Annotated[str, typer.Option()] = "",
    language: Annotated[Language, typer.Option()] = "en",
    focus: Annotated[list[str] | None, typer.Option(help="Focus tag; repeat for several")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Register a member."""
    from kehrwasser_shared.contracts import members

    _send(ctx, members.REGISTER, name=name, email=email, company=company, language=language, focus=focus or [])


@member_app.command("get")
def member_get(
    ctx: typer.Context, member_id: str, nats_url: NatsUrl = None, timeout: Timeout = DEFAULT_TIMEOUT_SECONDS
) -> None:
    """Show a member."""
    from kehrwasser_shared.contracts import members

    _send(ctx, members.GET, member_id=member_id)


@alliance_app.command("create")
def alliance_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option()],
    moderator_id: Annotated[str, typer.Option("--moderator", help="Member id of the founding moderator")],
    purpose: Annotated[str, typer.Option()] = "",
    focus: Annotated[list[str] | None, typer.Option(help="Focus tag; repeat for several")] = None,
    warning_threshold: Annotated[Decimal, points_option("Balance warning threshold", "--threshold")] = Decimal("-10"),
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Found an alliance."""
    from kehrwasser_shared.contracts import alliances

    _send(
        ctx,
        alliances.CREATE,
        name=name,
        purpose=purpose,
        focus=focus or [],
        warning_threshold=warning_threshold,
        moderator_id=moderator_id,
    )


@alliance_app.command("join")
def alliance_join(
    ctx: typer.Context,
    alliance_id: str,
    member_id: str,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Add a member to an alliance."""
    from kehrwasser_shared.contracts import alliances

    _send(ctx, alliances.JOIN, alliance_id=alliance_id, member_id=member_id)


@app.command()
def contribute(
    ctx: typer.Context,
    alliance_id: Annotated[str, typer.Option("--alliance")],
    giver_id: Annotated[str, typer.Option("--giver")],
    receiver_id: Annotated[str, typer.Option("--receiver", help="Member id, or 'alliance' for the alliance itself")],
    kind: Annotated[ContributionKind, typer.Option()],
    value: Annotated[Decimal, points_option("Points, e.g. 2.50")],
    note: Annotated[str, typer.Option()] = "",
    contribution_id: Annotated[
        str | None, typer.Option("--id", help="Your id for it; retrying with it is safe")
    ] = None,
    recorded_by: Annotated[
        str | None, typer.Option("--by", help="Who records it: giver (default), receiver or a moderator")
    ] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Record a contribution (exactly once per id); in a confirming alliance a giver's record waits."""
    from kehrwasser_shared.contracts import ledger

    _send(
        ctx,
        ledger.RECORD_CONTRIBUTION,
        contribution_id=contribution_id or str(uuid.uuid4()),
        alliance_id=alliance_id,
        giver_id=giver_id,
        receiver_id=receiver_id,
        kind=kind,
        value=value,
        note=note,
        recorded_by=recorded_by,
    )


@ledger_app.command("reverse")
def ledger_reverse(
    ctx: typer.Context,
    contribution_id: str,
    requested_by: Annotated[str, typer.Option("--by", help="Moderator or original giver")],
    reason: Annotated[str, typer.Option()] = "",
    reversal_id: Annotated[str | None, typer.Option("--id")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Correct a contribution with a reversal entry."""
    from kehrwasser_shared.contracts import ledger

    _send(
        ctx,
        ledger.REVERSE_CONTRIBUTION,
        reversal_id=reversal_id or str(uuid.uuid4()),
        contribution_id=contribution_id,
        requested_by=requested_by,
        reason=reason,
    )


@ledger_app.command("verify")
def ledger_verify(
    ctx: typer.Context,
    alliance_id: Annotated[str | None, typer.Option("--alliance", help="One alliance; all by default")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = LONG_TIMEOUT_SECONDS,
) -> None:
    """Recompute hash chains and balances from the entries and report any difference."""
    from kehrwasser_shared.contracts import ledger

    _send(ctx, ledger.VERIFY, alliance_id=alliance_id)


@ledger_app.command("statement")
def ledger_statement(
    ctx: typer.Context,
    alliance_id: str,
    member_id: str,
    after_version: Annotated[
        int | None, typer.Option(help="Continue after this entry (the previous page's next_after_version)")
    ] = None,
    limit: Annotated[int, typer.Option(help="Entries per page")] = 50,
    order: Annotated[StatementOrder, typer.Option()] = "newest-first",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """A member's entries in an alliance, a page at a time."""
    from kehrwasser_shared.contracts import ledger

    _send(
        ctx,
        ledger.STATEMENT,
        alliance_id=alliance_id,
        member_id=member_id,
        after_version=after_version,
        limit=limit,
        order=order,
    )


@ledger_app.command("balance-at")
def ledger_balance_at(
    ctx: typer.Context,
    alliance_id: str,
    member_id: str,
    at: Annotated[
        datetime,
        typer.Argument(parser=date_time, metavar="AT", help="ISO 8601 time, e.g. 2026-11-24T12:00:00Z (no zone: UTC)"),
    ],
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """A member's balance in an alliance as of a past time."""
    from kehrwasser_shared.contracts import ledger

    _send(ctx, ledger.BALANCE_AT, alliance_id=alliance_id, member_id=member_id, at=at)


@ledger_app.command("matrix")
def ledger_matrix(
    ctx: typer.Context,
    alliance_id: str,
    kind: Annotated[ContributionKind | None, typer.Option(help="Only this kind")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Who gave to whom in an alliance, by kind, with the one-way flows."""
    from kehrwasser_shared.contracts import ledger

    _send(ctx, ledger.FLOW_MATRIX, alliance_id=alliance_id, kind=kind)


@ledger_app.command("health")
def ledger_health(
    ctx: typer.Context, alliance_id: str, nats_url: NatsUrl = None, timeout: Timeout = DEFAULT_TIMEOUT_SECONDS
) -> None:
    """An alliance's reciprocity health: Gini coefficient of giving, active givers, one-way flows."""
    from kehrwasser_shared.contracts import ledger

    _send(ctx, ledger.ALLIANCE_HEALTH, alliance_id=alliance_id)


@ledger_app.command("confirm")
def ledger_confirm(
    ctx: typer.Context,
    contribution_id: str,
    confirmed_by: Annotated[str, typer.Option("--by", help="The receiver or a moderator")],
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Confirm a pending contribution: it is posted now."""
    from kehrwasser_shared.contracts import ledger

    _send(ctx, ledger.CONFIRM_CONTRIBUTION, contribution_id=contribution_id, confirmed_by=confirmed_by)


@ledger_app.command("reject")
def ledger_reject(
    ctx: typer.Context,
    contribution_id: str,
    rejected_by: Annotated[str, typer.Option("--by", help="The receiver or a moderator")],
    reason: Annotated[str, typer.Option()] = "",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Reject a pending contribution; it becomes a dispute the moderators see."""
    from kehrwasser_shared.contracts import ledger

    _send(ctx, ledger.REJECT_CONTRIBUTION, contribution_id=contribution_id, rejected_by=rejected_by, reason=reason)


@ledger_app.command("disputes")
def ledger_disputes(
    ctx: typer.Context,
    alliance_id: str,
    requested_by: Annotated[str, typer.Option("--by", help="A moderator of the alliance")],
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Pending, rejected and expired contributions of an alliance."""
    from kehrwasser_shared.contracts import ledger

    _send(ctx, ledger.DISPUTES, alliance_id=alliance_id, requested_by=requested_by)


@ledger_app.command("policy")
def ledger_policy(
    ctx: typer.Context, alliance_id: str, nats_url: NatsUrl = None, timeout: Timeout = DEFAULT_TIMEOUT_SECONDS
) -> None:
    """An alliance's balance policy."""
    from kehrwasser_shared.contracts import ledger

    _send(ctx, ledger.POLICY, alliance_id=alliance_id)


@ledger_app.command("set-policy")
def ledger_set_policy(
    ctx: typer.Context,
    alliance_id: str,
    requested_by: Annotated[str, typer.Option("--by", help="A moderator of the alliance")],
    red_below: Annotated[Decimal | None, points_option("Red below this balance")] = None,
    yellow_below: Annotated[Decimal | None, points_option("Yellow below this balance")] = None,
    floor: Annotated[Decimal | None, points_option("Refuse contributions taking a receiver below this")] = None,
    inactivity_days: Annotated[int | None, typer.Option(help="Yellow after this many days without giving")] = None,
    hysteresis: Annotated[Decimal | None, points_option("Margin a light must clear to improve")] = None,
    probation_limit: Annotated[Decimal | None, points_option("What a newcomer may take before giving")] = None,
    requires_confirmation: Annotated[bool | None, typer.Option(help="Givers' records wait for the receiver")] = None,
    pending_expiry_hours: Annotated[int | None, typer.Option(help="Pending contributions expire after")] = None,
    clear: Annotated[
        list[str] | None,
        typer.Option(parser=policy_limit, metavar=POLICY_LIMITS_METAVAR, help="Remove an optional limit (repeatable)"),
    ] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Change an alliance's balance policy; options left out keep their value."""
    from kehrwasser_shared.contracts import ledger

    _send(
        ctx,
        ledger.SET_POLICY,
        alliance_id=alliance_id,
        requested_by=requested_by,
        red_below=red_below,
        yellow_below=yellow_below,
        floor=floor,
        inactivity_days=inactivity_days,
        hysteresis=hysteresis,
        probation_limit=probation_limit,
        requires_confirmation=requires_confirmation,
        pending_expiry_hours=pending_expiry_hours,
        clear=clear or [],
    )


@ledger_app.command("lights")
def ledger_lights(
    ctx: typer.Context,
    alliance_id: str,
    member_id: Annotated[str | None, typer.Argument(help="One member; every member by default")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Traffic lights (green, yellow, red) of an alliance's members."""
    from kehrwasser_shared.contracts import ledger

    _send(ctx, ledger.TRAFFIC_LIGHT, alliance_id=alliance_id, member_id=member_id)


@app.command()
def balance(
    ctx: typer.Context,
    alliance_id: str,
    member_id: str,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """A member's balance of contribution in an alliance."""
    from kehrwasser_shared.contracts import ledger

    _send(ctx, ledger.BALANCE, alliance_id=alliance_id, member_id=member_id)


@meeting_app.command("schedule")
def meeting_schedule(
    ctx: typer.Context,
    alliance_id: Annotated[str, typer.Option("--alliance")],
    requested_by: Annotated[str, typer.Option("--by", help="Member id of a moderator")],
    title: Annotated[str, typer.Option()],
    starts_at: Annotated[
        datetime,
        typer.Option(
            "--start",
            parser=date_time,
            metavar="DATETIME",
            help="ISO 8601 start: 2026-12-01T18:00 is wall-clock time in --timezone; an offset (+01:00, Z) "
            "goes to the alliances service as given",
        ),
    ],
    timezone: Annotated[str, typer.Option(help="IANA time zone name")] = "Europe/Berlin",
    duration_minutes: Annotated[int, typer.Option("--duration", help="Minutes")] = 60,
    location: Annotated[str, typer.Option(help="Place or link")] = "",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Schedule a meeting; every member gets an invitation."""
    from kehrwasser_shared.contracts import alliances

    _send(
        ctx,
        alliances.SCHEDULE_MEETING,
        alliance_id=alliance_id,
        requested_by=requested_by,
        title=title,
        starts_at=starts_at,
        timezone=timezone,
        duration_minutes=duration_minutes,
        location=location,
    )
