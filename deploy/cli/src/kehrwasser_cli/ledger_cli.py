"""`kehrwasser ledger …`, `contribute` and `balance`: the contribution ledger."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer

from .sending import Paging, View, send
from .shell import (
    DEFAULT_TIMEOUT_SECONDS,
    All,
    Alliance,
    Json,
    Member,
    NatsUrl,
    Timeout,
    group,
    member_option,
    points_option,
)
from .tables import Names, block, table
from .values import POLICY_LIMITS_METAVAR, ContributionKind, StatementOrder, date_time, policy_limit

if TYPE_CHECKING:
    from kehrwasser_shared.contracts.ledger import (
        AllianceHealthView,
        BalanceAtView,
        BalanceView,
        ContributionResult,
        Disputes,
        FlowMatrixView,
        LedgerVerification,
        MemberStatement,
        PendingContributionView,
        PolicyView,
        TrafficLights,
    )
    from kehrwasser_shared.messaging.client import CommandClient

app = group("The contribution ledger.")
Moderator = Annotated[str, member_option("--by", help_text="A moderator of the alliance (id or email)")]
NOTHING = Decimal("0.00")
VERIFY_POLL_SECONDS = 1.0


def show_contribution(c: ContributionResult, names: Names) -> str:
    return block(
        {
            "status": c.status,
            "giver": f"{names(c.giver_id)} (balance {c.giver_balance})",
            "receiver": f"{names(c.receiver_id)} (balance {c.receiver_balance})",
            "kind": c.kind,
            "value": c.value,
            "note": c.note,
            "reverses": c.reverses,
            "recorded": c.recorded_at,
            "id": c.contribution_id,
        }
    )


def show_pending(p: PendingContributionView, names: Names) -> str:
    return block(
        {
            "status": p.status,
            "giver": names(p.giver_id),
            "receiver": names(p.receiver_id),
            "kind": p.kind,
            "value": p.value,
            "note": p.note,
            "decided by": names(p.decided_by),
            "reason": p.reason,
            "expires": p.expires_at,
            "id": p.contribution_id,
        }
    )


CONTRIBUTION = View(show_contribution, lambda c: (c.giver_id, c.receiver_id))


def show_balance(b: BalanceView, names: Names) -> str:
    return block(
        {
            "member": names(b.member_id),
            "balance": b.balance,
            "given": b.given,
            "received": b.received,
            "light": b.light,
            "red below": b.threshold,
        }
    )


def show_verification(v: LedgerVerification, _: Names) -> str:
    counts = block(
        {
            "run": v.run_id,
            "state": v.state,
            "ok": v.ok,
            "from": "genesis" if v.full else "checkpoints",
            "alliances": f"{v.alliances_checked} of {v.alliances_total}",
            "contributions": v.contributions_checked,
            "entries": v.entries_checked,
            "problems": v.problem_count,
            "started": v.started_at,
            "finished": v.finished_at,
        }
    )
    shown = [f"problem: {problem}" for problem in v.problems]
    if v.problem_count > len(v.problems):
        shown.append(f"... and {v.problem_count - len(v.problems)} more (ledger-inconsistency events name each)")
    return "\n".join([counts, *shown])


def progress(v: LedgerVerification) -> str:
    """One line on a run under way, its pace measured by the ledger's own clock (a restarted CLI sees the same)."""
    seconds = max((v.updated_at - v.started_at).total_seconds(), 0.001)
    return (
        f"{v.state} {v.run_id}: {v.alliances_checked}/{v.alliances_total} alliances, "
        f"{v.entries_checked} entries ({v.entries_checked / seconds:,.0f} entries/s), {v.problem_count} problems"
    )


async def follow_run(client: CommandClient, run: LedgerVerification) -> LedgerVerification:
    """Ask for the run's state every second until it is done, a progress line on stderr each time."""
    import asyncio
    import sys

    from kehrwasser_shared.contracts import ledger

    # A terminal sees one line rewritten in place; a log gets a line per poll.
    end = "\r" if sys.stderr.isatty() else "\n"
    while run.state != ledger.VerifyRunState.DONE:
        print(progress(run), end=end, file=sys.stderr, flush=True)
        await asyncio.sleep(VERIFY_POLL_SECONDS)
        run = await client.send(ledger.VERIFY_STATUS, ledger.QueryVerifyRun(run_id=run.run_id))
    print(progress(run), file=sys.stderr, flush=True)
    return run


def show_statement(s: MemberStatement, names: Names) -> str:
    rows = [
        (i.version, i.recorded_at, i.role, names(i.counterparty_id), i.kind, i.amount, i.balance_after, i.note)
        for i in s.items
    ]
    headers = ["#", "RECORDED", "SIDE", "WITH", "KIND", "AMOUNT", "BALANCE", "NOTE"]
    return f"{names(s.member_id)} in {s.alliance_id}\n" + table(headers, rows, empty="(no entries)")


def show_balance_at(b: BalanceAtView, names: Names) -> str:
    return block({"member": names(b.member_id), "at": b.at, "balance": b.balance, "after entry": b.version})


def show_matrix(m: FlowMatrixView, names: Names) -> str:
    cells = table(
        ["GIVER", "RECEIVER", "KIND", "VALUE", "COUNT"],
        [(names(c.giver_id), names(c.receiver_id), c.kind, c.value, c.contributions) for c in m.cells],
        empty="(nothing given)",
    )
    totals = table(
        ["MEMBER", "GIVEN", "RECEIVED"],
        [
            (names(member), m.given.get(member, NOTHING), m.received.get(member, NOTHING))
            for member in dict.fromkeys([*m.given, *m.received])
        ],
    )
    one_way = table(
        ["ONE-WAY", "RECEIVED", "GIVEN", "REFERRALS", "SOURCES"],
        [(names(o.member_id), o.received, o.given, o.referrals_received, o.sources) for o in m.one_way],
        empty="(no one-way flows)",
    )
    return f"{cells}\n\n{totals}\ntotal {m.total}\n\n{one_way}"


def show_health(h: AllianceHealthView, names: Names) -> str:
    return block(
        {
            "members": h.members,
            "active givers": h.active_givers,
            "total given": h.total_given,
            "gini": h.gini,
            "one-way": names.of(h.one_way_members),
            "computed": h.computed_at,
        }
    )


def show_disputes(d: Disputes, names: Names) -> str:
    parts = []
    for title, items in (("pending", d.pending), ("rejected", d.rejected), ("expired", d.expired)):
        rows = [(names(p.giver_id), names(p.receiver_id), p.kind, p.value, p.reason, p.contribution_id) for p in items]
        parts.append(f"{title}:\n" + table(["GIVER", "RECEIVER", "KIND", "VALUE", "REASON", "ID"], rows))
    return "\n\n".join(parts)


def show_policy(p: PolicyView, _: Names) -> str:
    return block({key.replace("_", " "): value for key, value in p.model_dump().items() if key != "alliance_id"})


def show_lights(lights: TrafficLights, names: Names) -> str:
    rows = [
        (names(m.member_id), m.light, m.balance, m.given, m.received, m.inactive, m.on_probation, m.last_given_at)
        for m in lights.members
    ]
    headers = ["MEMBER", "LIGHT", "BALANCE", "GIVEN", "RECEIVED", "INACTIVE", "PROBATION", "LAST GIVEN"]
    return table(headers, rows, empty="(no members)")


def contribute(
    ctx: typer.Context,
    alliance_id: Annotated[str, typer.Option("--alliance")],
    giver_id: Annotated[str, member_option("--giver")],
    receiver_id: Annotated[
        str, member_option("--receiver", help_text="Member id or email, or 'alliance' for the alliance itself")
    ],
    kind: Annotated[ContributionKind, typer.Option()],
    value: Annotated[Decimal, points_option("Points, e.g. 2.50")],
    note: Annotated[str, typer.Option()] = "",
    contribution_id: Annotated[
        str | None, typer.Option("--id", help="Your id for it; retrying with it is safe")
    ] = None,
    recorded_by: Annotated[
        str | None, member_option("--by", help_text="Who records it: giver (default), receiver or a moderator")
    ] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Record a contribution (exactly once per id); in a confirming alliance a giver's record waits."""
    from kehrwasser_shared.contracts import ledger

    send(
        ctx,
        ledger.RECORD_CONTRIBUTION,
        CONTRIBUTION,
        members=("giver_id", "receiver_id", "recorded_by"),
        contribution_id=contribution_id or str(uuid.uuid4()),
        alliance_id=alliance_id,
        giver_id=giver_id,
        receiver_id=receiver_id,
        kind=kind,
        value=value,
        note=note,
        recorded_by=recorded_by,
    )


def balance(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A member's balance of contribution in an alliance."""
    from kehrwasser_shared.contracts import ledger

    view = View(show_balance, lambda b: (b.member_id,))
    send(ctx, ledger.BALANCE, view, members=("member_id",), alliance_id=alliance_id, member_id=member_id)


@app.command("reverse")
def reverse(
    ctx: typer.Context,
    contribution_id: str,
    requested_by: Annotated[str, member_option("--by", help_text="Moderator or original giver (id or email)")],
    reason: Annotated[str, typer.Option()] = "",
    reversal_id: Annotated[str | None, typer.Option("--id")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Correct a contribution with a reversal entry."""
    from kehrwasser_shared.contracts import ledger

    send(
        ctx,
        ledger.REVERSE_CONTRIBUTION,
        CONTRIBUTION,
        members=("requested_by",),
        reversal_id=reversal_id or str(uuid.uuid4()),
        contribution_id=contribution_id,
        requested_by=requested_by,
        reason=reason,
    )


@app.command("verify")
def verify(
    ctx: typer.Context,
    alliance_id: Annotated[str | None, typer.Option("--alliance", help="One alliance; all by default")] = None,
    full: Annotated[bool, typer.Option(help="From genesis, not from each alliance's last verified checkpoint")] = False,
    detach: Annotated[bool, typer.Option(help="Print the run and return at once (verify-status follows it)")] = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Start a verification run (hash chains and balances recomputed) and follow it to its summary."""
    from kehrwasser_shared.contracts import ledger

    follow = None if detach else follow_run
    send(ctx, ledger.VERIFY, View(show_verification), follow=follow, alliance_id=alliance_id, full=full)


@app.command("verify-status")
def verify_status(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="The run's id (ledger verify prints it)")],
    follow: Annotated[bool, typer.Option(help="Follow the run until it is done")] = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """The state and progress of a verification run, with its findings."""
    from kehrwasser_shared.contracts import ledger

    send(ctx, ledger.VERIFY_STATUS, View(show_verification), follow=follow_run if follow else None, run_id=run_id)


@app.command("statement")
def statement(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    after_version: Annotated[
        int | None, typer.Option(help="Continue after this entry (the previous page's next_after_version)")
    ] = None,
    limit: Annotated[int, typer.Option(help="Entries per page")] = 50,
    order: Annotated[StatementOrder, typer.Option()] = "newest-first",
    all_pages: All = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A member's entries in an alliance, a page at a time."""
    from kehrwasser_shared.contracts import ledger

    send(
        ctx,
        ledger.STATEMENT,
        View(show_statement, lambda s: [s.member_id, *(i.counterparty_id for i in s.items)]),
        members=("member_id",),
        paging=Paging(next="next_after_version", cursor="after_version", option="--after-version"),
        alliance_id=alliance_id,
        member_id=member_id,
        after_version=after_version,
        limit=limit,
        order=order,
    )


@app.command("balance-at")
def balance_at(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Member,
    at: Annotated[
        datetime,
        typer.Argument(parser=date_time, metavar="AT", help="ISO 8601 time, e.g. 2026-11-24T12:00:00Z (no zone: UTC)"),
    ],
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """A member's balance in an alliance as of a past time."""
    from kehrwasser_shared.contracts import ledger

    view = View(show_balance_at, lambda b: (b.member_id,))
    send(ctx, ledger.BALANCE_AT, view, members=("member_id",), alliance_id=alliance_id, member_id=member_id, at=at)


@app.command("matrix")
def matrix(
    ctx: typer.Context,
    alliance_id: Alliance,
    kind: Annotated[ContributionKind | None, typer.Option(help="Only this kind")] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Who gave to whom in an alliance, by kind, with the one-way flows."""
    from kehrwasser_shared.contracts import ledger

    view = View(show_matrix, lambda m: [*m.given, *m.received])
    send(ctx, ledger.FLOW_MATRIX, view, alliance_id=alliance_id, kind=kind)


@app.command("health")
def health(
    ctx: typer.Context,
    alliance_id: Alliance,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """An alliance's reciprocity health: Gini coefficient of giving, active givers, one-way flows."""
    from kehrwasser_shared.contracts import ledger

    send(ctx, ledger.ALLIANCE_HEALTH, View(show_health, lambda h: h.one_way_members), alliance_id=alliance_id)


@app.command("confirm")
def confirm(
    ctx: typer.Context,
    contribution_id: str,
    confirmed_by: Annotated[str, member_option("--by", help_text="The receiver or a moderator (id or email)")],
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Confirm a pending contribution: it is posted now."""
    from kehrwasser_shared.contracts import ledger

    send(
        ctx,
        ledger.CONFIRM_CONTRIBUTION,
        CONTRIBUTION,
        members=("confirmed_by",),
        contribution_id=contribution_id,
        confirmed_by=confirmed_by,
    )


@app.command("reject")
def reject(
    ctx: typer.Context,
    contribution_id: str,
    rejected_by: Annotated[str, member_option("--by", help_text="The receiver or a moderator (id or email)")],
    reason: Annotated[str, typer.Option()] = "",
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Reject a pending contribution; it becomes a dispute the moderators see."""
    from kehrwasser_shared.contracts import ledger

    send(
        ctx,
        ledger.REJECT_CONTRIBUTION,
        View(show_pending, lambda p: (p.giver_id, p.receiver_id, p.decided_by or "")),
        members=("rejected_by",),
        contribution_id=contribution_id,
        rejected_by=rejected_by,
        reason=reason,
    )


@app.command("disputes")
def disputes(
    ctx: typer.Context,
    alliance_id: Alliance,
    requested_by: Moderator,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Pending, rejected and expired contributions of an alliance."""
    from kehrwasser_shared.contracts import ledger

    def involved(d: Disputes) -> list[str]:
        return [m for p in (*d.pending, *d.rejected, *d.expired) for m in (p.giver_id, p.receiver_id)]

    send(
        ctx,
        ledger.DISPUTES,
        View(show_disputes, involved),
        members=("requested_by",),
        alliance_id=alliance_id,
        requested_by=requested_by,
    )


@app.command("policy")
def policy(
    ctx: typer.Context,
    alliance_id: Alliance,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """An alliance's balance policy."""
    from kehrwasser_shared.contracts import ledger

    send(ctx, ledger.POLICY, View(show_policy), alliance_id=alliance_id)


@app.command("set-policy")
def set_policy(
    ctx: typer.Context,
    alliance_id: Alliance,
    requested_by: Moderator,
    red_below: Annotated[Decimal | None, points_option("Red below this balance")] = None,
    yellow_below: Annotated[Decimal | None, points_option("Yellow below this balance")] = None,
    floor: Annotated[Decimal | None, points_option("Refuse contributions taking a receiver below this")] = None,
    inactivity_days: Annotated[int | None, typer.Option(help="Yellow after this many days without giving")] = None,
    hysteresis: Annotated[Decimal | None, points_option("Margin a light must clear to improve")] = None,
    probation_limit: Annotated[Decimal | None, points_option("What a newcomer may take before giving")] = None,
    requires_confirmation: Annotated[bool | None, typer.Option(help="Givers' records wait for the receiver")] = None,
    pending_expiry_hours: Annotated[int | None, typer.Option(help="Pending contributions expire after")] = None,
    book_attendance: Annotated[
        bool | None, typer.Option(help="Book each recorded meeting attendance as a contribution to the alliance")
    ] = None,
    attendance_points: Annotated[
        Decimal | None, points_option("What one attended occurrence is worth (with --book-attendance)")
    ] = None,
    clear: Annotated[
        list[str] | None,
        typer.Option(parser=policy_limit, metavar=POLICY_LIMITS_METAVAR, help="Remove an optional limit (repeatable)"),
    ] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Change an alliance's balance policy; options left out keep their value."""
    from kehrwasser_shared.contracts import ledger

    send(
        ctx,
        ledger.SET_POLICY,
        View(show_policy),
        members=("requested_by",),
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
        book_attendance=book_attendance,
        attendance_points=attendance_points,
        clear=clear or [],
    )


@app.command("lights")
def lights(
    ctx: typer.Context,
    alliance_id: Alliance,
    member_id: Annotated[
        str | None, typer.Argument(metavar="[MEMBER]", help="One member (id or email); every member by default")
    ] = None,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Traffic lights (green, yellow, red) of an alliance's members."""
    from kehrwasser_shared.contracts import ledger

    view = View(show_lights, lambda t: [m.member_id for m in t.members])
    send(ctx, ledger.TRAFFIC_LIGHT, view, members=("member_id",), alliance_id=alliance_id, member_id=member_id)
