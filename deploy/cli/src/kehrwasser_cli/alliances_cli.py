"""`kehrwasser alliance …`: found, find and run alliances: membership, moderation, queries."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer

from .sending import Paging, View, send
from .shell import (
    DEFAULT_TIMEOUT_SECONDS,
    All,
    Alliance,
    Cursor,
    Focus,
    Json,
    Member,
    NatsUrl,
    Timeout,
    group,
    member_option,
    points_option,
)
from .tables import Names, block, table
from .values import ResourceKind

if TYPE_CHECKING:
    from kehrwasser_shared.contracts.alliances import (
        Alignment,
        AllianceDetails,
        AlliancePage,
        AllianceView,
        MembershipPage,
        MembershipView,
        NeedsAWordPage,
        PendingRequestPage,
        ResourcePage,
        ResourceUseView,
        ResourceView,
    )

app = group("Alliances: found, find, and run them (membership and moderation).")
Moderator = Annotated[str, member_option("--by", help_text="A moderator of the alliance (id or email)")]
PageSize = Annotated[int, typer.Option(help="Items per page (at most 100)")]
MEMBER_FIELDS = ("member_id", "requested_by")
Resource = Annotated[str, typer.Argument(metavar="RESOURCE", help="Resource id")]
OwnerOrModerator = Annotated[str, member_option("--by", help_text="The owner or a moderator (id or email)")]


def alignment(score: Alignment) -> str:
    return "-" if score.score is None else f"{score.score}%"


def show_alliance(alliance: AllianceView, names: Names) -> str:
    return block(
        {
            "name": alliance.name + (" (archived)" if alliance.archived else ""),
            "purpose": alliance.purpose,
            "focus": alliance.focus,
            "moderators": names.of(alliance.moderator_ids or [alliance.moderator_id]),
            "members": len(alliance.member_ids),
            "size limit": alliance.size_limit,
            "warning below": alliance.warning_threshold,
            "alignment needed": f"{alliance.alignment_threshold}%",
            "confirmation": alliance.requires_confirmation,
            "id": alliance.alliance_id,
        }
    )


def moderators_of(alliance: AllianceView) -> Iterable[str]:
    return alliance.moderator_ids or [alliance.moderator_id]


def show_details(details: AllianceDetails, names: Names) -> str:
    rows = [(m.name, m.role, m.joined_at, alignment(m.alignment), m.member_id) for m in details.members]
    members = table(["NAME", "ROLE", "JOINED", "ALIGNMENT", "ID"], rows, empty="(no members)")
    return f"{show_alliance(details.alliance, names)}\n\n{members}"


def show_alliances(page: AlliancePage, names: Names) -> str:
    rows = [
        (
            a.name,
            a.focus,
            len(a.member_ids),
            names.of(moderators_of(a)),
            "archived" if a.archived else "",
            a.alliance_id,
        )
        for a in page.items
    ]
    return table(["NAME", "FOCUS", "MEMBERS", "MODERATORS", "", "ID"], rows, empty="(no alliances)")


def show_membership(membership: MembershipView, names: Names) -> str:
    return block(
        {
            "member": names(membership.member_id),
            "alliance": membership.alliance_id,
            "role": membership.role,
            "status": membership.status,
            "since": membership.since,
            "decided by": names(membership.decided_by),
            "reason": membership.reason,
        }
    )


def show_memberships(page: MembershipPage, names: Names) -> str:
    rows = [(m.alliance_id, m.role, m.status, m.since, names(m.decided_by), m.reason) for m in page.items]
    return table(["ALLIANCE", "ROLE", "STATUS", "SINCE", "DECIDED BY", "REASON"], rows, empty="(no memberships)")


def show_requests(page: PendingRequestPage, _: Names) -> str:
    rows = [
        (
            r.name,
            r.requested_at,
            alignment(r.alignment),
            r.needs_override,
            r.alignment.matching,
            r.alignment.missing,
            r.message,
        )
        for r in page.items
    ]
    return table(
        ["NAME", "ASKED", "ALIGNMENT", "NEEDS OVERRIDE", "MATCHING", "MISSING", "MESSAGE"],
        rows,
        empty="(no pending requests)",
    )


ALLIANCE = View(show_alliance, moderators_of)
MEMBERSHIP = View(show_membership, lambda m: (m.member_id, m.decided_by or ""))


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option()],
    moderator_ids: Annotated[
        list[str], member_option("--moderator", help_text="A founding moderator (id or email); repeat for several")
    ],
    purpose: Annotated[str, typer.Option()] = "",
    focus: Focus = None,
    warning_threshold: Annotated[Decimal, points_option("Balance warning threshold", "--threshold")] = Decimal("-10"),
    requires_confirmation: Annotated[bool, typer.Option(help="Givers' records wait for the receiver")] = False,
    size_limit: Annotated[int | None, typer.Option(help="Most members it takes")] = None,
    alignment_threshold: Annotated[
        int, typer.Option(help="Alignment (0-100) below which approving needs a reason")
    ] = 30,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Found an alliance; the founders become its moderators."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.CREATE,
        ALLIANCE,
        members=("moderator_ids",),
        name=name,
        purpose=purpose,
        focus=focus or [],
        warning_threshold=warning_threshold,
        moderator_ids=moderator_ids,
        requires_confirmation=requires_confirmation,
        size_limit=size_limit,
        alignment_threshold=alignment_threshold,
    )


@app.command("get")
def get(
    ctx: typer.Context,
    alliance_id: Alliance,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """An alliance with its members, their roles and their direction alignment."""
    from kehrwasser_shared.contracts import alliances

    send(ctx, alliances.GET, View(show_details, lambda d: moderators_of(d.alliance)), alliance_id=alliance_id)


@app.command("list")
def list_alliances(
    ctx: typer.Context,
    member_id: Annotated[str | None, member_option("--member", help_text="Only this member's (id or email)")] = None,
    focus: Annotated[str | None, typer.Option(help="Only alliances with this focus tag")] = None,
    include_archived: Annotated[bool, typer.Option("--archived", help="Archived ones too")] = False,
    limit: PageSize = 20,
    cursor: Cursor = None,
    all_pages: All = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Alliances, a page at a time: a member's ("mine"), or by focus."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.LIST,
        View(show_alliances, lambda page: [m for a in page.items for m in moderators_of(a)]),
        members=("member_id",),
        paging=Paging(),
        member_id=member_id,
        focus=focus,
        include_archived=include_archived,
        limit=limit,
        cursor=cursor,
    )


@app.command("memberships")
def memberships(
    ctx: typer.Context,
    member_id: Member,
    limit: PageSize = 20,
    cursor: Cursor = None,
    all_pages: All = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Where a member stands with each alliance (pending, member, left, removed with the reason)."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.MEMBERSHIPS,
        View(show_memberships, lambda page: [m.decided_by or "" for m in page.items]),
        members=("member_id",),
        paging=Paging(),
        member_id=member_id,
        limit=limit,
        cursor=cursor,
    )


@app.command("pending-requests")
def pending_requests(
    ctx: typer.Context,
    alliance_id: Alliance,
    requested_by: Moderator,
    limit: PageSize = 20,
    cursor: Cursor = None,
    all_pages: All = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Requests to join waiting for a moderator, oldest first, each with its direction alignment."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.PENDING_REQUESTS,
        View(show_requests),
        members=("requested_by",),
        paging=Paging(),
        alliance_id=alliance_id,
        requested_by=requested_by,
        limit=limit,
        cursor=cursor,
    )


@app.command("update")
def update(
    ctx: typer.Context,
    alliance_id: Alliance,
    requested_by: Moderator,
    name: Annotated[str | None, typer.Option()] = None,
    purpose: Annotated[str | None, typer.Option()] = None,
    focus: Annotated[list[str] | None, typer.Option(help="Focus tag; repeat for several (replaces them all)")] = None,
    warning_threshold: Annotated[Decimal | None, points_option("Balance warning threshold", "--threshold")] = None,
    size_limit: Annotated[int | None, typer.Option(help="Most members it takes")] = None,
    alignment_threshold: Annotated[int | None, typer.Option(help="Alignment (0-100) needing no reason")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Change an alliance's details; options left out keep their value."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.UPDATE,
        ALLIANCE,
        members=("requested_by",),
        alliance_id=alliance_id,
        requested_by=requested_by,
        name=name,
        purpose=purpose,
        focus=focus,
        warning_threshold=warning_threshold,
        size_limit=size_limit,
        alignment_threshold=alignment_threshold,
    )


@app.command("archive")
def archive(
    ctx: typer.Context,
    alliance_id: Alliance,
    requested_by: Moderator,
    reason: Annotated[str, typer.Option()] = "",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Archive an alliance: no new members, contributions or meetings."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.ARCHIVE,
        ALLIANCE,
        members=("requested_by",),
        alliance_id=alliance_id,
        requested_by=requested_by,
        reason=reason,
    )


@app.command("join")
def join(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Deprecated (use request and approve, or invite): add a member at once."""
    from kehrwasser_shared.contracts import alliances

    send(ctx, alliances.JOIN, MEMBERSHIP, members=("member_id",), alliance_id=alliance_id, member_id=member_id)


@app.command("invite")
def invite(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    requested_by: Moderator,
    message: Annotated[str, typer.Option()] = "",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A moderator invites a member; they accept or decline."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.INVITE,
        MEMBERSHIP,
        members=MEMBER_FIELDS,
        alliance_id=alliance_id,
        member_id=member_id,
        requested_by=requested_by,
        message=message,
    )


@app.command("accept-invitation")
def accept_invitation(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """The invited member accepts and becomes a member."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.ACCEPT_INVITATION,
        MEMBERSHIP,
        members=MEMBER_FIELDS,
        alliance_id=alliance_id,
        member_id=member_id,
    )


@app.command("decline-invitation")
def decline_invitation(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    reason: Annotated[str, typer.Option()] = "",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """The invited member declines."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.DECLINE_INVITATION,
        MEMBERSHIP,
        members=MEMBER_FIELDS,
        alliance_id=alliance_id,
        member_id=member_id,
        reason=reason,
    )


@app.command("request")
def request(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    message: Annotated[str, typer.Option()] = "",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A member asks to join; the moderators see the request with its direction alignment."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.REQUEST,
        MEMBERSHIP,
        members=MEMBER_FIELDS,
        alliance_id=alliance_id,
        member_id=member_id,
        message=message,
    )


@app.command("approve")
def approve(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    requested_by: Moderator,
    override_reason: Annotated[str | None, typer.Option(help="Needed below the alignment threshold")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A moderator approves a request to join."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.APPROVE,
        MEMBERSHIP,
        members=MEMBER_FIELDS,
        alliance_id=alliance_id,
        member_id=member_id,
        requested_by=requested_by,
        override_reason=override_reason,
    )


@app.command("decline")
def decline(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    requested_by: Moderator,
    reason: Annotated[str, typer.Option()],
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A moderator declines a request to join, with a reason."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.DECLINE,
        MEMBERSHIP,
        members=MEMBER_FIELDS,
        alliance_id=alliance_id,
        member_id=member_id,
        requested_by=requested_by,
        reason=reason,
    )


@app.command("leave")
def leave(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A member leaves an alliance (the last moderator cannot)."""
    from kehrwasser_shared.contracts import alliances

    send(ctx, alliances.LEAVE, MEMBERSHIP, members=MEMBER_FIELDS, alliance_id=alliance_id, member_id=member_id)


@app.command("remove")
def remove(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    requested_by: Moderator,
    reason: Annotated[str, typer.Option(help="Shown to the removed member")],
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A moderator removes a member, with a reason the member sees."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.REMOVE,
        MEMBERSHIP,
        members=MEMBER_FIELDS,
        alliance_id=alliance_id,
        member_id=member_id,
        requested_by=requested_by,
        reason=reason,
    )


@app.command("promote")
def promote(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    requested_by: Moderator,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A moderator makes a member a moderator."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.PROMOTE,
        MEMBERSHIP,
        members=MEMBER_FIELDS,
        alliance_id=alliance_id,
        member_id=member_id,
        requested_by=requested_by,
    )


@app.command("demote")
def demote(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    requested_by: Moderator,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A moderator makes a moderator a plain member (the last moderator stays)."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.DEMOTE,
        MEMBERSHIP,
        members=MEMBER_FIELDS,
        alliance_id=alliance_id,
        member_id=member_id,
        requested_by=requested_by,
    )


def show_needs_a_word(page: NeedsAWordPage, _: Names) -> str:
    rows = [
        (
            m.name,
            m.concern,
            m.light,
            m.balance,
            m.one_way_flow,
            "-" if m.alignment is None else f"{m.alignment}%",
            f"{m.meetings_attended}/{m.meetings_recorded}",
            "; ".join(m.reasons),
        )
        for m in page.items
    ]
    headers = ["NAME", "CONCERN", "LIGHT", "BALANCE", "ONE-WAY", "ALIGNMENT", "ATTENDED", "REASONS"]
    return table(headers, rows, empty="(nobody needs a word)")


def show_resource(r: ResourceView, names: Names) -> str:
    return block(
        {
            "title": r.title + (" (removed)" if r.removed else ""),
            "kind": r.kind,
            "owner": names(r.owner_id),
            "link": r.link,
            "description": r.description,
            "uses": r.uses,
            "added": r.added_at,
            "alliance": r.alliance_id,
            "id": r.resource_id,
        }
    )


def show_resources(page: ResourcePage, names: Names) -> str:
    rows = [(r.title, r.kind, names(r.owner_id), r.uses, r.link, r.resource_id) for r in page.items]
    return table(["TITLE", "KIND", "OWNER", "USES", "LINK", "ID"], rows, empty="(no resources)")


def show_resource_use(u: ResourceUseView, names: Names) -> str:
    return block(
        {"resource": u.resource_id, "used by": names(u.used_by), "note": u.note, "used": u.used_at, "id": u.use_id}
    )


RESOURCE = View(show_resource, lambda r: (r.owner_id,))


@app.command("needs-a-word")
def needs_a_word(
    ctx: typer.Context,
    alliance_id: Alliance,
    requested_by: Moderator,
    limit: PageSize = 20,
    cursor: Cursor = None,
    all_pages: All = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """For moderators: members whose signals call for a word, most concern first, with the reasons."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.NEEDS_A_WORD,
        View(show_needs_a_word),
        members=("requested_by",),
        paging=Paging(),
        alliance_id=alliance_id,
        requested_by=requested_by,
        limit=limit,
        cursor=cursor,
    )


@app.command("add-resource")
def add_resource(
    ctx: typer.Context,
    alliance_id: Alliance,
    owner_id: Annotated[str, member_option("--by", help_text="The member who shares it (id or email)")],
    kind: Annotated[ResourceKind, typer.Option()],
    title: Annotated[str, typer.Option()],
    description: Annotated[str, typer.Option()] = "",
    link: Annotated[str, typer.Option(help="http(s) address")] = "",
    value: Annotated[
        Decimal | None, points_option("Book sharing it as a contribution of this value to the alliance")
    ] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A member shares a resource (domain, analysis, knowledge, network, tool) with the alliance."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.ADD_RESOURCE,
        RESOURCE,
        members=("owner_id",),
        alliance_id=alliance_id,
        owner_id=owner_id,
        kind=kind,
        title=title,
        description=description,
        link=link,
        value=value,
    )


@app.command("update-resource")
def update_resource(
    ctx: typer.Context,
    resource_id: Resource,
    requested_by: OwnerOrModerator,
    kind: Annotated[ResourceKind | None, typer.Option()] = None,
    title: Annotated[str | None, typer.Option()] = None,
    description: Annotated[str | None, typer.Option()] = None,
    link: Annotated[str | None, typer.Option(help="http(s) address")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Change a resource; options left out keep their value."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.UPDATE_RESOURCE,
        RESOURCE,
        members=("requested_by",),
        resource_id=resource_id,
        requested_by=requested_by,
        kind=kind,
        title=title,
        description=description,
        link=link,
    )


@app.command("remove-resource")
def remove_resource(
    ctx: typer.Context,
    resource_id: Resource,
    requested_by: OwnerOrModerator,
    reason: Annotated[str, typer.Option()] = "",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Remove a resource from the alliance's catalogue."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.REMOVE_RESOURCE,
        RESOURCE,
        members=("requested_by",),
        resource_id=resource_id,
        requested_by=requested_by,
        reason=reason,
    )


@app.command("record-resource-use")
def record_resource_use(
    ctx: typer.Context,
    resource_id: Resource,
    used_by: Annotated[str, member_option("--by", help_text="The member who used it (id or email), not its owner")],
    note: Annotated[str, typer.Option()] = "",
    value: Annotated[
        Decimal | None, points_option("Book the use as a thank-you of this value from the owner to the user")
    ] = None,
    use_id: Annotated[str | None, typer.Option("--id", help="Your id for this use; retrying with it is safe")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A member records that they used another member's resource (once per --id)."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.RECORD_RESOURCE_USE,
        View(show_resource_use, lambda u: (u.used_by,)),
        members=("used_by",),
        resource_id=resource_id,
        used_by=used_by,
        use_id=use_id,
        note=note,
        value=value,
    )


@app.command("resources")
def resources(
    ctx: typer.Context,
    alliance_id: Alliance,
    kind: Annotated[ResourceKind | None, typer.Option(help="Only this kind")] = None,
    limit: PageSize = 20,
    cursor: Cursor = None,
    all_pages: All = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """An alliance's catalogue of shared resources, a page at a time."""
    from kehrwasser_shared.contracts import alliances

    send(
        ctx,
        alliances.RESOURCES,
        View(show_resources, lambda page: [r.owner_id for r in page.items]),
        paging=Paging(),
        alliance_id=alliance_id,
        kind=kind,
        limit=limit,
        cursor=cursor,
    )
