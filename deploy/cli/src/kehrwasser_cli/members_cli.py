"""`kehrwasser member …`: register, look up, list, and everything a member or an operator changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .sending import Paging, View, send
from .shell import (
    DEFAULT_TIMEOUT_SECONDS,
    All,
    Cursor,
    Focus,
    Json,
    Member,
    NatsUrl,
    Timeout,
    group,
    member_option,
    settings,
)
from .tables import Names, block, table
from .values import Language, MemberStatus, Unsubscribable

if TYPE_CHECKING:
    from kehrwasser_shared.contracts.members import MemberPage, MemberView, Unsubscribed

app = group("Members: register, look up, list; profile, mail, address and status.")
By = Annotated[str | None, member_option("--by", help_text="Who asks (id or email); the member themself by default")]
Reason = Annotated[str, typer.Option(help="Why (the member sees it)")]


def show_member(member: MemberView, _: Names) -> str:
    return block(
        {
            "name": member.name,
            "email": (member.email or "(erased)")
            + (f" (changing to {member.pending_email})" if member.pending_email else ""),
            "company": member.company,
            "language": member.language,
            "time zone": member.timezone,
            "focus": member.focus,
            "status": member.status,
            "mail": [category for category, on in member.preferences.model_dump().items() if on] or "none",
            "registered": member.registered_at,
            "id": member.member_id,
        }
    )


def show_page(page: MemberPage, _: Names) -> str:
    rows = [(m.name, m.email, m.status, m.language, m.focus, m.member_id) for m in page.members]
    return table(["NAME", "EMAIL", "STATUS", "LANG", "FOCUS", "ID"], rows, empty="(no members)")


MEMBER = View(show_member)
MEMBERS_PAGE = Paging(items="members")


@app.command("register")
def register(
    ctx: typer.Context,
    name: Annotated[str, typer.Option()],
    email: Annotated[str, typer.Option()],
    company: Annotated[str, typer.Option()] = "",
    language: Annotated[Language, typer.Option()] = "en",
    focus: Focus = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Register a member."""
    from kehrwasser_shared.contracts import members

    send(ctx, members.REGISTER, MEMBER, name=name, email=email, company=company, language=language, focus=focus or [])


@app.command("get")
def get(
    ctx: typer.Context,
    member_id: Member,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Show a member, by id or by email."""
    from kehrwasser_shared.contracts import members

    if "@" in member_id:
        send(ctx, members.GET_BY_EMAIL, MEMBER, email=member_id)
    else:
        send(ctx, members.GET, MEMBER, member_id=member_id)


@app.command("list")
def list_members(
    ctx: typer.Context,
    status: Annotated[MemberStatus | None, typer.Option()] = None,
    language: Annotated[Language | None, typer.Option()] = None,
    focus: Annotated[str | None, typer.Option(help="Only members with this focus tag")] = None,
    name_prefix: Annotated[str | None, typer.Option("--name", help="Names starting with this")] = None,
    email_prefix: Annotated[str | None, typer.Option("--email", help="Emails starting with this")] = None,
    limit: Annotated[int, typer.Option(help="Members per page")] = 50,
    cursor: Cursor = None,
    all_pages: All = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Members by name, a page at a time."""
    from kehrwasser_shared.contracts import members

    send(
        ctx,
        members.LIST,
        View(show_page),
        paging=MEMBERS_PAGE,
        status=status,
        language=language,
        focus=focus,
        name_prefix=name_prefix,
        email_prefix=email_prefix,
        limit=limit,
        cursor=cursor,
    )


@app.command("update-profile")
def update_profile(
    ctx: typer.Context,
    member_id: Member,
    requested_by: By = None,
    name: Annotated[str | None, typer.Option()] = None,
    company: Annotated[str | None, typer.Option()] = None,
    language: Annotated[Language | None, typer.Option()] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone, e.g. Europe/Berlin")] = None,
    focus: Annotated[list[str] | None, typer.Option(help="Focus tag; repeat for several (replaces them all)")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Change a member's profile; options left out keep their value."""
    from kehrwasser_shared.contracts import members

    send(
        ctx,
        members.UPDATE_PROFILE,
        MEMBER,
        members=("member_id", "requested_by"),
        member_id=member_id,
        requested_by=requested_by or member_id,
        name=name,
        company=company,
        language=language,
        timezone=timezone,
        focus=focus,
    )


@app.command("set-preferences")
def set_preferences(
    ctx: typer.Context,
    member_id: Member,
    requested_by: By = None,
    balance: Annotated[bool | None, typer.Option(help="Balance warnings")] = None,
    meetings: Annotated[bool | None, typer.Option(help="Meeting invitations")] = None,
    membership: Annotated[bool | None, typer.Option(help="Membership news")] = None,
    digest: Annotated[bool | None, typer.Option(help="The digest")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Turn categories of mail on or off; categories left out keep their setting."""
    from kehrwasser_shared.contracts import members

    send(
        ctx,
        members.SET_PREFERENCES,
        MEMBER,
        members=("member_id", "requested_by"),
        member_id=member_id,
        requested_by=requested_by or member_id,
        balance=balance,
        meetings=meetings,
        membership=membership,
        digest=digest,
    )


def show_unsubscribed(done: Unsubscribed, _: Names) -> str:
    return block(done.preferences.model_dump())


@app.command("unsubscribe")
def unsubscribe(
    ctx: typer.Context,
    token: Annotated[str, typer.Argument(help="The token of the mail's unsubscribe link")],
    category: Annotated[Unsubscribable, typer.Option()] = "all",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Turn off one category of mail, or all, by an unsubscribe link's token."""
    from kehrwasser_shared.contracts import members

    send(ctx, members.UNSUBSCRIBE, View(show_unsubscribed), token=token, category=category)


@app.command("request-email-change")
def request_email_change(
    ctx: typer.Context,
    member_id: Member,
    new_email: Annotated[str, typer.Argument(metavar="NEW_EMAIL")],
    requested_by: By = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Ask to change a member's address: a token is mailed to the new one."""
    from kehrwasser_shared.contracts import members

    def show(requested: members.EmailChangeRequested, _: Names) -> str:
        return block({"new email": requested.new_email, "confirm by": requested.expires_at})

    send(
        ctx,
        members.REQUEST_EMAIL_CHANGE,
        View(show),
        members=("member_id", "requested_by"),
        member_id=member_id,
        requested_by=requested_by or member_id,
        new_email=new_email,
    )


@app.command("confirm-email-change")
def confirm_email_change(
    ctx: typer.Context,
    token: Annotated[str, typer.Argument(help="The token mailed to the new address")],
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Confirm a new address with the token mailed to it."""
    from kehrwasser_shared.contracts import members

    send(ctx, members.CONFIRM_EMAIL_CHANGE, MEMBER, token=token)


@app.command("suspend")
def suspend(
    ctx: typer.Context,
    member_id: Member,
    requested_by: Annotated[str, member_option("--by", help_text="The operator or staff member (id or email)")],
    reason: Reason,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Suspend an active member, with a reason."""
    from kehrwasser_shared.contracts import members

    send(
        ctx,
        members.SUSPEND,
        MEMBER,
        members=("member_id", "requested_by"),
        member_id=member_id,
        requested_by=requested_by,
        reason=reason,
    )


@app.command("reactivate")
def reactivate(
    ctx: typer.Context,
    member_id: Member,
    requested_by: Annotated[str, member_option("--by", help_text="The operator or staff member (id or email)")],
    reason: Reason,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Reactivate a suspended member or one who left, with a reason."""
    from kehrwasser_shared.contracts import members

    send(
        ctx,
        members.REACTIVATE,
        MEMBER,
        members=("member_id", "requested_by"),
        member_id=member_id,
        requested_by=requested_by,
        reason=reason,
    )


@app.command("leave")
def leave(
    ctx: typer.Context,
    member_id: Member,
    requested_by: By = None,
    reason: Annotated[str, typer.Option()] = "",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A member leaves the network (their address stays reserved)."""
    from kehrwasser_shared.contracts import members

    send(
        ctx,
        members.LEAVE,
        MEMBER,
        members=("member_id", "requested_by"),
        member_id=member_id,
        requested_by=requested_by or member_id,
        reason=reason,
    )


@app.command("erase")
def erase(
    ctx: typer.Context,
    member_id: Member,
    requested_by: Annotated[
        str | None, member_option("--by", help_text="The staff member erasing for them (id or email); else themself")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask first (erasure cannot be undone)")] = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Erase a member's personal data for good; the id stays as a pseudonym and the address is free again."""
    from kehrwasser_shared.contracts import members

    if not yes:
        typer.confirm(f"Erase the personal data of {member_id} for good?", abort=True)
    send(
        ctx,
        members.ERASE,
        MEMBER,
        members=("member_id", "requested_by"),
        member_id=member_id,
        requested_by=requested_by or member_id,
    )


@app.command("export")
def export(
    member_id: Member,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
) -> None:
    """Everything the four services hold about a member, as one JSON document (GDPR art. 15/20)."""
    import json

    from pydantic import ValidationError

    from kehrwasser_shared.contracts.members import GetMemberByEmail
    from kehrwasser_shared.contracts.privacy import ExportMember
    from kehrwasser_shared.messaging.client import CommandClient
    from kehrwasser_shared.privacy import export_member

    from .commands import run_session
    from .sending import member_id_of

    try:  # checked before anything is sent, as `send` does for every other command
        GetMemberByEmail(email=member_id) if "@" in member_id else ExportMember(member_id=member_id)
    except ValidationError as exc:
        problem = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise typer.BadParameter(f"{member_id!r}: {problem}", param_hint="MEMBER") from None

    async def work(client: CommandClient) -> None:
        found = await member_id_of(client, member_id) if "@" in member_id else member_id
        print(json.dumps(await export_member(client, found), indent=2, ensure_ascii=False))

    cli_settings = settings(nats_url)
    raise typer.Exit(run_session(cli_settings.command_nats_url(), timeout, work, cli_settings.command_identity()))
