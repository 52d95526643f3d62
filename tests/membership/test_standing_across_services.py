"""A member's standing in the network, over a real nats-server: the members service decides, alliances and the
ledger follow. Each step waits for what it depends on with `after` (README, "Acting on what was just done
elsewhere"), never by retrying.

Leaving the network ends every alliance membership (alliances' own `member-left`; the ledger refuses what they
give; they are taken off upcoming meetings); a suspended member's waiting request is declined and a new one
refused, and once reactivated they may ask again; an alliance whose last member leaves is archived. Along the
way `update`, `invite`/`decline-invitation`, `promote`/`demote` run over NATS as well.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest

from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_members.bootstrap import bootstrap as members_service
from kehrwasser_members.config import MembersSettings
from kehrwasser_shared.contracts import alliances, ledger, members
from kehrwasser_shared.contracts.common import EventRef
from kehrwasser_shared.contracts.registry import EventContract
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import fetch_exactly, running
from kehrwasser_shared.testing.databases import service_databases

pytestmark = pytest.mark.integration

SERVICES = ("members", "alliances", "ledger")
NEXT_YEAR = datetime.now(UTC).year + 1


@pytest.fixture
def databases(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """Alliances on the parametrised database, the others on one each of the same kind."""
    with service_databases(database_url, tmp_path, SERVICES, on_parametrised="alliances") as urls:
        yield urls


def network(nats_url: str, databases: dict[str, str], tmp_path: Path) -> list[Any]:
    common: dict[str, Any] = {"nats_url": nats_url, "outbox_poll_seconds": 0.2, "consumer_backoff_seconds": [0.2]}
    return [
        members_service(MembersSettings(data_dir=tmp_path / "m", database_url=databases["members"], **common)),
        alliances_service(AlliancesSettings(data_dir=tmp_path / "a", database_url=databases["alliances"], **common)),
        ledger_service(LedgerSettings(data_dir=tmp_path / "l", database_url=databases["ledger"], **common)),
    ]


class AlliancesEvents:
    """Alliances' events of one type, in the order published: what it did on its own, following another
    service's event, named for a later command's `after`."""

    def __init__(self, js: Any, contract: EventContract[Any]) -> None:
        self._js, self._contract, self._subscription = js, contract, None

    async def next(self, count: int = 1) -> list[dict[str, Any]]:
        if self._subscription is None:
            self._subscription = await self._js.pull_subscribe(self._contract.subject, stream=stream_name("alliances"))
        return [json.loads(m.data) for m in await fetch_exactly(self._subscription, count)]


def refs(events: list[dict[str, Any]]) -> list[EventRef]:
    return [EventRef(id=e["id"], type=e["type"]) for e in events]


def gift(alliance_id: str, giver_id: str, receiver_id: str, after: list[EventRef]) -> ledger.RecordContribution:
    return ledger.RecordContribution(
        contribution_id=str(uuid.uuid4()),
        alliance_id=alliance_id,
        giver_id=giver_id,
        receiver_id=receiver_id,
        kind="advice",
        value=Decimal("1"),
        after=after,
    )


async def refused(client: CommandClient, contract: Any, request: Any) -> str:
    with pytest.raises(CommandFailed) as failure:
        await client.send(contract, request)
    return failure.value.code


async def test_leaving_suspension_and_reactivation_reach_alliances_and_the_ledger(
    nats_url: str, databases: dict[str, str], tmp_path: Path
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        for part in network(nats_url, databases, tmp_path):
            await stack.enter_async_context(running(part))
        nc = await nats.connect(nats_url)
        stack.push_async_callback(nc.close)
        js, client = nc.jetstream(), CommandClient(nc)
        left_events = AlliancesEvents(js, alliances.MEMBER_LEFT)
        archived_events = AlliancesEvents(js, alliances.ALLIANCE_ARCHIVED)

        ids: dict[str, str] = {}
        registered: list[EventRef] = []
        for name in ("Ada", "Grace", "Linus", "Kim"):
            member, events = await client.send_for_events(
                members.REGISTER, members.RegisterMember(name=name, email=f"{name.lower()}@example.org")
            )
            ids[name.lower()] = member.member_id
            registered += events
        ada, grace, linus, kim = ids["ada"], ids["grace"], ids["linus"], ids["kim"]

        hamburg, created = await client.send_for_events(
            alliances.CREATE,
            alliances.CreateAlliance(
                name="Hamburg Founders", moderator_ids=[ada], warning_threshold=Decimal("-5"), after=registered
            ),
        )
        alliance_id = hamburg.alliance_id

        # Update, and the membership commands that were proved only on fakes so far.
        updated = await client.send(
            alliances.UPDATE, alliances.UpdateAlliance(alliance_id=alliance_id, requested_by=ada, size_limit=10)
        )
        assert (updated.size_limit, updated.name) == (10, "Hamburg Founders")
        assert (
            await refused(
                client, alliances.UPDATE, alliances.UpdateAlliance(alliance_id=alliance_id, requested_by=grace)
            )
            == "not-a-moderator"
        )
        await client.send(
            alliances.INVITE, alliances.InviteMember(alliance_id=alliance_id, member_id=kim, requested_by=ada)
        )
        declined = await client.send(
            alliances.DECLINE_INVITATION,
            alliances.AnswerInvitation(alliance_id=alliance_id, member_id=kim, reason="not now"),
        )
        assert (declined.status, declined.reason) == ("invitation-declined", "not now")
        await client.send(alliances.JOIN, alliances.JoinAlliance(alliance_id=alliance_id, member_id=grace))
        await client.send(
            alliances.PROMOTE, alliances.ChangeRole(alliance_id=alliance_id, member_id=grace, requested_by=ada)
        )
        demoted = await client.send(
            alliances.DEMOTE, alliances.ChangeRole(alliance_id=alliance_id, member_id=grace, requested_by=ada)
        )
        assert demoted.role == "member"
        assert (
            await refused(
                client,
                alliances.DEMOTE,
                alliances.ChangeRole(alliance_id=alliance_id, member_id=ada, requested_by=ada),
            )
            == "last-moderator"
        )

        # Linus joins, is invited to the meeting and gives; then he leaves the network.
        await client.send(alliances.REQUEST, alliances.RequestMembership(alliance_id=alliance_id, member_id=linus))
        _, approved = await client.send_for_events(
            alliances.APPROVE, alliances.ApproveMembership(alliance_id=alliance_id, member_id=linus, requested_by=ada)
        )
        meeting = await client.send(
            alliances.SCHEDULE_MEETING,
            alliances.ScheduleMeeting(
                alliance_id=alliance_id,
                requested_by=ada,
                title="Course check",
                starts_at=datetime(NEXT_YEAR, 1, 12, 18, 0),
            ),
        )
        assert sorted(meeting.attendee_ids) == sorted([ada, grace, linus])
        await client.send(ledger.RECORD_CONTRIBUTION, gift(alliance_id, linus, ada, [*created, *approved]))

        _, leaving = await client.send_for_events(
            members.LEAVE, members.LeaveNetwork(member_id=linus, requested_by=linus)
        )
        standing = await client.send(alliances.MEMBERSHIPS, alliances.ListMemberships(member_id=linus, after=leaving))
        assert [(s.alliance_id, s.status) for s in standing.items] == [(alliance_id, "left")]
        details = await client.send(alliances.MEETING, alliances.GetMeeting(meeting_id=meeting.meeting_id))
        assert sorted(details.meeting.attendee_ids) == sorted([ada, grace])
        (left,) = await left_events.next()
        assert (left["data"]["member_id"], left["data"]["alliance_id"]) == (linus, alliance_id)
        assert await refused(client, ledger.RECORD_CONTRIBUTION, gift(alliance_id, linus, ada, refs([left]))) == (
            "not-a-member"
        )
        assert (
            await refused(
                client, alliances.REQUEST, alliances.RequestMembership(alliance_id=alliance_id, member_id=linus)
            )
            == "member-not-active"
        )

        # Kim asks to join and is suspended while she waits: declined, and she may not ask again until reactivated.
        await client.send(alliances.REQUEST, alliances.RequestMembership(alliance_id=alliance_id, member_id=kim))
        _, suspension = await client.send_for_events(
            members.SUSPEND, members.SuspendMember(member_id=kim, requested_by="staff", reason="spam")
        )
        waiting = await client.send(
            alliances.PENDING_REQUESTS,
            alliances.PendingRequests(alliance_id=alliance_id, requested_by=ada, after=suspension),
        )
        assert waiting.items == []
        kims = await client.send(alliances.MEMBERSHIPS, alliances.ListMemberships(member_id=kim))
        assert [(s.status, s.decided_by) for s in kims.items] == [("declined", "staff")]
        ask = alliances.RequestMembership(alliance_id=alliance_id, member_id=kim)
        assert await refused(client, alliances.REQUEST, ask) == "member-not-active"
        invite = alliances.InviteMember(alliance_id=alliance_id, member_id=kim, requested_by=ada)
        assert await refused(client, alliances.INVITE, invite) == "member-not-active"
        _, reactivation = await client.send_for_events(
            members.REACTIVATE, members.ReactivateMember(member_id=kim, requested_by="staff", reason="cleared")
        )
        asked = await client.send(alliances.REQUEST, ask.model_copy(update={"after": reactivation}))
        assert asked.status == "requested"

        # Grace founds an alliance of her own and leaves the network: it is archived, by her departure.
        solo, solo_created = await client.send_for_events(
            alliances.CREATE, alliances.CreateAlliance(name="Grace's Circle", moderator_ids=[grace])
        )
        _, grace_leaving = await client.send_for_events(
            members.LEAVE, members.LeaveNetwork(member_id=grace, requested_by=grace)
        )
        gone = await client.send(
            alliances.GET, alliances.GetAlliance(alliance_id=solo.alliance_id, after=grace_leaving)
        )
        assert (gone.alliance.archived, gone.members) == (True, [])
        hamburg_now = await client.send(alliances.GET, alliances.GetAlliance(alliance_id=alliance_id))
        assert (hamburg_now.alliance.archived, [m.member_id for m in hamburg_now.members]) == (False, [ada])
        (archived,) = await archived_events.next()
        assert (archived["data"]["alliance_id"], archived["data"]["archived_by"]) == (solo.alliance_id, grace)
        late_gift = gift(solo.alliance_id, grace, ada, [*solo_created, *refs([archived])])
        assert await refused(client, ledger.RECORD_CONTRIBUTION, late_gift) == "alliance-archived"
