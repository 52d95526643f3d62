"""`kehrwasser mail …`: the notify service's delivery log, and retrying an email it gave up."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from .sending import Paging, View, send
from .shell import DEFAULT_TIMEOUT_SECONDS, All, Cursor, Json, NatsUrl, Timeout, group, member_option
from .tables import Names, block, table
from .values import DeliveryState

if TYPE_CHECKING:
    from kehrwasser_shared.contracts.notify import DeliveryView, MailLogPage

app = group("Mail: the delivery log (queued, retrying, sent, failed, suppressed) and retrying a failed email.")


def show_log(page: MailLogPage, names: Names) -> str:
    rows = [
        (
            d.queued_at,
            d.kind,
            names(d.member_id),
            d.status,
            d.attempts,
            d.sent_at or d.next_attempt_at,
            d.last_error,
            d.delivery_id,
        )
        for d in page.deliveries
    ]
    headers = ["QUEUED", "KIND", "TO", "STATUS", "ATTEMPTS", "SENT / NEXT TRY", "LAST ERROR", "ID"]
    return table(headers, rows, empty="(no mail)")


def show_delivery(d: DeliveryView, names: Names) -> str:
    return block(
        {
            "kind": d.kind,
            "to": f"{names(d.member_id)} <{d.recipient}>",
            "status": d.status,
            "attempts": d.attempts,
            "queued": d.queued_at,
            "next try": d.next_attempt_at,
            "sent": d.sent_at,
            "last error": d.last_error,
            "written for": d.caused_by,
            "id": d.delivery_id,
        }
    )


@app.command("log")
def log(
    ctx: typer.Context,
    member_id: Annotated[
        str | None, member_option("--member", help_text="Only mail to this member (id or email)")
    ] = None,
    status: Annotated[DeliveryState | None, typer.Option(help="Only deliveries in this state")] = None,
    limit: Annotated[int, typer.Option(help="Deliveries per page (at most 200)")] = 50,
    cursor: Cursor = None,
    all_pages: All = False,
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """The delivery log, newest first, a page at a time."""
    from kehrwasser_shared.contracts import notify

    send(
        ctx,
        notify.MAIL_LOG,
        View(show_log, lambda page: [d.member_id for d in page.deliveries]),
        members=("member_id",),
        paging=Paging(items="deliveries"),
        member_id=member_id,
        status=status,
        limit=limit,
        cursor=cursor,
    )


@app.command("retry")
def retry(
    ctx: typer.Context,
    delivery_id: Annotated[str, typer.Argument(metavar="DELIVERY", help="The delivery's id (mail log shows it)")],
    requested_by: Annotated[str, typer.Option("--by", help="Who asks: your operator name (logged)")],
    nats_url: NatsUrl = None,
    timeout: Timeout = DEFAULT_TIMEOUT_SECONDS,
    json_output: Json = False,
) -> None:
    """Queue a failed email again, due now, as it was (same message); its attempts start afresh."""
    from kehrwasser_shared.contracts import notify

    send(
        ctx,
        notify.RETRY,
        View(show_delivery, lambda d: (d.member_id,)),
        delivery_id=delivery_id,
        requested_by=requested_by,
    )
