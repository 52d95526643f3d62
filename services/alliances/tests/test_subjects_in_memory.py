"""Each family of subjects is wired to its use case through the real composition root, on FastStream's
TestNatsBroker with the in-memory unit of work: a membership transition, a paged query, a meeting command and
a resource command. The rules themselves are proved elsewhere; these prove the subject, the payload's parsing
and the reply (result or structured error) and the events the use case emitted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faststream.nats import TestNatsBroker

from kehrwasser_alliances.bootstrap import bootstrap
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_shared.contracts import alliances as contracts

from .test_handlers import FakeAlliancesUnitOfWork

Ask = Callable[[Any, dict[str, Any]], Awaitable[dict[str, Any]]]
NEXT_YEAR = datetime.now(UTC).year + 1


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[tuple[Ask, FakeAlliancesUnitOfWork, str]]:
    """The service in memory, with Hamburg founded by Ada and Grace, Linus and Kim known."""
    uow = FakeAlliancesUnitOfWork("ada", "grace", "linus", "kim")
    parts = bootstrap(AlliancesSettings(data_dir=tmp_path), uow=lambda: uow)
    async with TestNatsBroker(parts.broker) as broker:

        async def ask(contract: Any, request: dict[str, Any]) -> dict[str, Any]:
            return json.loads((await broker.request(request, contract.subject)).body)  # type: ignore[no-any-return]

        founded = await ask(contracts.CREATE, {"name": "Hamburg Founders", "moderator_ids": ["ada"]})
        yield ask, uow, founded["result"]["alliance_id"]


async def test_a_membership_transition_answers_its_result_its_events_and_its_refusals(
    service: tuple[Ask, FakeAlliancesUnitOfWork, str],
) -> None:
    ask, uow, hamburg = service
    invited = await ask(contracts.INVITE, {"alliance_id": hamburg, "member_id": "linus", "requested_by": "ada"})
    declined = await ask(
        contracts.DECLINE_INVITATION, {"alliance_id": hamburg, "member_id": "linus", "reason": "too far"}
    )
    again = await ask(contracts.DECLINE_INVITATION, {"alliance_id": hamburg, "member_id": "linus"})
    misspelt = await ask(contracts.DECLINE_INVITATION, {"alliance_id": hamburg, "member": "linus"})
    assert invited["result"]["status"] == "invited"
    assert (declined["result"]["status"], declined["result"]["reason"]) == ("invitation-declined", "too far")
    assert uow.emitted_types()[-2:] == [contracts.MEMBER_INVITED.type, contracts.INVITATION_DECLINED.type]
    assert again["error"]["code"] == "nothing-pending"
    assert misspelt["error"]["code"] == "invalid-command"
    assert uow.alliances.stored[hamburg].roster["linus"].status == "invitation-declined"


async def test_a_paged_query_hands_its_cursor_to_the_next_page(
    service: tuple[Ask, FakeAlliancesUnitOfWork, str],
) -> None:
    ask, _, hamburg = service
    for member_id in ("linus", "kim", "grace"):
        await ask(contracts.REQUEST, {"alliance_id": hamburg, "member_id": member_id})
    pages, cursor = [], None
    while True:
        page = (
            await ask(
                contracts.PENDING_REQUESTS,
                {"alliance_id": hamburg, "requested_by": "ada", "limit": 2, "cursor": cursor},
            )
        )["result"]
        pages.append([item["member_id"] for item in page["items"]])
        if (cursor := page["next_cursor"]) is None:
            break
    assert pages == [["linus", "kim"], ["grace"]]
    refused = await ask(contracts.PENDING_REQUESTS, {"alliance_id": hamburg, "requested_by": "linus"})
    assert refused["error"]["code"] == "not-a-moderator"


async def test_a_meeting_command_reaches_the_meeting(service: tuple[Ask, FakeAlliancesUnitOfWork, str]) -> None:
    ask, uow, hamburg = service
    scheduled = await ask(
        contracts.SCHEDULE_MEETING,
        {
            "alliance_id": hamburg,
            "requested_by": "ada",
            "title": "Course check",
            "starts_at": f"{NEXT_YEAR}-01-12T18:00",
        },
    )
    meeting_id = scheduled["result"]["meeting_id"]
    cancelled = await ask(contracts.CANCEL_MEETING, {"meeting_id": meeting_id, "requested_by": "ada", "reason": "snow"})
    unknown = await ask(contracts.CANCEL_MEETING, {"meeting_id": "nowhere", "requested_by": "ada"})
    assert uow.emitted_types()[-1] == contracts.MEETING_CANCELLED.type
    assert cancelled["result"]["status"] == "cancelled"
    assert unknown["error"]["code"] == "unknown-meeting"


async def test_a_resource_command_shares_and_the_catalogue_lists_it(
    service: tuple[Ask, FakeAlliancesUnitOfWork, str],
) -> None:
    ask, uow, hamburg = service
    shared = await ask(
        contracts.ADD_RESOURCE,
        {"alliance_id": hamburg, "owner_id": "ada", "kind": "tool", "title": "Pricing sheet"},
    )
    by_stranger = await ask(
        contracts.ADD_RESOURCE, {"alliance_id": hamburg, "owner_id": "kim", "kind": "tool", "title": "Shoes"}
    )
    listed = await ask(contracts.RESOURCES, {"alliance_id": hamburg})
    assert uow.emitted_types()[-1] == contracts.RESOURCE_SHARED.type
    assert by_stranger["error"]["code"] == "not-a-member"
    assert [r["title"] for r in listed["result"]["items"]] == ["Pricing sheet"]
    assert list(uow.resources.stored) == [shared["result"]["resource_id"]]
