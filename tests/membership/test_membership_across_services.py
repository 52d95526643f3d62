"""Membership and moderation over a real nats-server: alliances decides, the ledger and notify follow its events.

Ask to join with the alignment shown, approve, invite and accept, promote, a red warning escalated to the newly
promoted moderator, leave (the ledger refuses what the one who left gives), remove with a reason the member
sees, archive (the ledger refuses every contribution). Each service has a database of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import nats
import pytest

from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_notify.bootstrap import bootstrap as notify_service
from kehrwasser_notify.config import NotifySettings
from kehrwasser_shared.contracts import alliances, ledger, make_event, members
from kehrwasser_shared.contracts.common import EventRef
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import running, service_events
from kehrwasser_shared.testing.databases import service_databases

pytestmark = pytest.mark.integration

FOCUS = {"ada": ["compute", "saas"], "grace": ["compute"], "linus": ["kernels"], "kim": ["saas"]}


@pytest.fixture
def databases(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The ledger on the parametrised database, alliances and notify on one each of the same kind."""
    with service_databases(database_url, tmp_path, ("alliances", "ledger", "notify"), on_parametrised="ledger") as urls:
        yield urls


async def register(js: Any, member_id: str) -> None:
    data = members.MemberRegisteredV1(
        member_id=member_id,
        name=member_id.title(),
        email=f"{member_id}@example.org",
        company="",
        language="en",
        focus=FOCUS[member_id],
        registered_at=datetime.now(UTC),
    )
    event = make_event(type_=members.MEMBER_REGISTERED.type, source="/members", data=data)
    await js.publish(
        members.MEMBER_REGISTERED.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id}
    )


def gift(
    alliance_id: str, giver_id: str, receiver_id: str, value: str, *, after: list[EventRef] | None = None
) -> ledger.RecordContribution:
    return ledger.RecordContribution(
        after=after or [],
        contribution_id=str(uuid.uuid4()),
        alliance_id=alliance_id,
        giver_id=giver_id,
        receiver_id=receiver_id,
        kind="advice",
        value=Decimal(value),
    )


async def test_membership_transitions_drive_the_ledger_and_notify(
    nats_url: str, databases: dict[str, str], tmp_path: Path, mail_sink: MailSink
) -> None:
    common: dict[str, Any] = {"nats_url": nats_url, "outbox_poll_seconds": 0.2, "consumer_backoff_seconds": [0.2]}
    parts = [
        alliances_service(AlliancesSettings(data_dir=tmp_path / "a", database_url=databases["alliances"], **common)),
        ledger_service(LedgerSettings(data_dir=tmp_path / "l", database_url=databases["ledger"], **common)),
        notify_service(
            NotifySettings(
                data_dir=tmp_path / "n",
                database_url=databases["notify"],
                smtp_host=mail_sink.host,
                smtp_port=mail_sink.port,
                mail_poll_seconds=0.2,
                **common,
            )
        ),
    ]
    async with contextlib.AsyncExitStack() as stack:
        for part in parts:
            await stack.enter_async_context(running(part))
        nc = await nats.connect(nats_url)
        stack.push_async_callback(nc.close)
        js, client = nc.jetstream(), CommandClient(nc)
        for member_id in FOCUS:
            await register(js, member_id)
        founded = await client.send_when_known(
            alliances.CREATE,
            alliances.CreateAlliance(
                name="Hamburg Founders",
                moderator_ids=["ada"],
                focus=["compute", "saas"],
                warning_threshold=Decimal("-5"),
                size_limit=4,
            ),
        )
        hamburg = founded.alliance_id

        # Ask to join: the moderators see the alignment; a poor match needs an override.
        await client.send_when_known(
            alliances.REQUEST, alliances.RequestMembership(alliance_id=hamburg, member_id="kim")
        )
        await client.send(alliances.REQUEST, alliances.RequestMembership(alliance_id=hamburg, member_id="grace"))
        with pytest.raises(CommandFailed) as twice:
            await client.send(alliances.REQUEST, alliances.RequestMembership(alliance_id=hamburg, member_id="grace"))
        assert twice.value.code == "already-pending"
        with pytest.raises(CommandFailed) as not_moderating:
            await client.send(
                alliances.PENDING_REQUESTS, alliances.PendingRequests(alliance_id=hamburg, requested_by="kim")
            )
        assert not_moderating.value.code == "not-a-moderator"
        first = await client.send(
            alliances.PENDING_REQUESTS, alliances.PendingRequests(alliance_id=hamburg, requested_by="ada", limit=1)
        )
        rest = await client.send(
            alliances.PENDING_REQUESTS,
            alliances.PendingRequests(alliance_id=hamburg, requested_by="ada", cursor=first.next_cursor),
        )
        assert [r.member_id for r in first.items + rest.items] == ["kim", "grace"]
        assert rest.next_cursor is None
        assert first.items[0].alignment.matching == ["saas"]
        approved = await client.send(
            alliances.APPROVE, alliances.ApproveMembership(alliance_id=hamburg, member_id="grace", requested_by="ada")
        )
        assert approved.status == "member"
        await client.send(
            alliances.DECLINE,
            alliances.DeclineMembership(alliance_id=hamburg, member_id="kim", requested_by="ada", reason="later"),
        )

        # Grace moderates from now on; Linus comes by invitation.
        await client.send(
            alliances.PROMOTE, alliances.ChangeRole(alliance_id=hamburg, member_id="grace", requested_by="ada")
        )
        await client.send(
            alliances.INVITE, alliances.InviteMember(alliance_id=hamburg, member_id="linus", requested_by="grace")
        )
        await client.send(
            alliances.ACCEPT_INVITATION, alliances.AnswerInvitation(alliance_id=hamburg, member_id="linus")
        )

        # Linus receives until red: the warning is escalated to both moderators, Grace among them.
        await client.send_when_known(ledger.RECORD_CONTRIBUTION, gift(hamburg, "ada", "linus", "6"))
        # (Requests, invitations and welcomes were mailed too; only the red ones are counted here.)
        mails = await asyncio.to_thread(mail_sink.wait_for_matching, about_red, 3, 20.0)
        assert sorted(m["To"].addresses[0].addr_spec for m in mails) == [
            "ada@example.org",
            "grace@example.org",
            "linus@example.org",
        ]
        to_grace = next(m for m in mails if m["To"].addresses[0].addr_spec == "grace@example.org")
        assert "Linus" in str(to_grace["Subject"])

        # Linus leaves: the ledger refuses what he gives, and nothing is booked.
        _, left = await client.send_for_events(
            alliances.LEAVE, alliances.LeaveAlliance(alliance_id=hamburg, member_id="linus")
        )
        with pytest.raises(CommandFailed) as gone:  # once the ledger has consumed the leave (`after`)
            await client.send(ledger.RECORD_CONTRIBUTION, gift(hamburg, "linus", "ada", "1", after=left))
        assert gone.value.code == "not-a-member"
        balance = await client.send(ledger.BALANCE, ledger.QueryBalance(alliance_id=hamburg, member_id="linus"))
        assert balance.balance == Decimal("-6")

        # Kim is let in directly (deprecated join) and removed with a reason she can read.
        await client.send(alliances.JOIN, alliances.JoinAlliance(alliance_id=hamburg, member_id="kim"))
        await client.send(
            alliances.REMOVE,
            alliances.RemoveMember(alliance_id=hamburg, member_id="kim", requested_by="ada", reason="only sells"),
        )
        standing = await client.send(alliances.MEMBERSHIPS, alliances.ListMemberships(member_id="kim"))
        assert [(s.status, s.decided_by, s.reason) for s in standing.items] == [("removed", "ada", "only sells")]

        details = await client.send(alliances.GET, alliances.GetAlliance(alliance_id=hamburg))
        assert {m.member_id: m.role for m in details.members} == {"ada": "moderator", "grace": "moderator"}
        assert {m.member_id: m.alignment.score for m in details.members} == {"ada": 80, "grace": 50}

        # Archived: nobody joins, the ledger books nothing more.
        _, archiving = await client.send_for_events(
            alliances.ARCHIVE, alliances.ArchiveAlliance(alliance_id=hamburg, requested_by="ada")
        )
        with pytest.raises(CommandFailed) as archived:
            await client.send(
                alliances.INVITE, alliances.InviteMember(alliance_id=hamburg, member_id="linus", requested_by="ada")
            )
        assert archived.value.code == "alliance-archived"
        with pytest.raises(CommandFailed) as closed:
            await client.send(ledger.RECORD_CONTRIBUTION, gift(hamburg, "ada", "grace", "1", after=archiving))
        assert closed.value.code == "alliance-archived"
        listed = await client.send(alliances.LIST, alliances.ListAlliances(member_id="ada"))
        assert listed.items == []
        listed = await client.send(alliances.LIST, alliances.ListAlliances(member_id="ada", include_archived=True))
        assert [a.alliance_id for a in listed.items] == [hamburg]

        types = [e["type"].split(".")[2] for e in await service_events(js, "alliances", 13)]
        assert types == [
            "alliance-created",
            "member-joined",
            "membership-requested",
            "membership-requested",
            "member-joined",
            "membership-declined",
            "role-changed",
            "member-invited",
            "member-joined",
            "member-left",
            "member-joined",
            "member-removed",
            "alliance-archived",
        ]


def about_red(message: EmailMessage) -> bool:
    """A mail about a red light: the warning, in English or German, or its escalation."""
    return re.search(r"\b(red|rot)\b", str(message["Subject"]), re.IGNORECASE) is not None
