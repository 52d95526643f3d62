"""Membership and moderation: every transition through the real handlers on an in-memory unit of work."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kehrwasser_alliances.domain import model
from kehrwasser_alliances.service_layer import handlers
from kehrwasser_shared.contracts import alliances as contracts

from .test_handlers import NOON, FakeAlliancesUnitOfWork


async def founded(uow: FakeAlliancesUnitOfWork, **fields: object) -> str:
    command = contracts.CreateAlliance.model_validate(
        {
            "name": "Hamburg Founders",
            "moderator_ids": ["ada"],
            "focus": ["compute", "saas"],
            "warning_threshold": Decimal("-5"),
            **fields,
        }
    )
    return (await handlers.create_alliance(command, uow, lambda: NOON)).alliance_id


async def network() -> tuple[FakeAlliancesUnitOfWork, str]:
    uow = FakeAlliancesUnitOfWork()
    for member_id, focus in [("ada", ["compute", "saas"]), ("grace", ["compute"]), ("linus", ["kernels"])]:
        await uow.known_members.add(member_id, member_id.title(), focus)
    return uow, await founded(uow)


async def test_several_founders_all_moderate_and_each_is_announced_as_joined() -> None:
    uow = FakeAlliancesUnitOfWork("ada", "grace")
    alliance_id = await founded(uow, moderator_ids=["ada", "grace"], size_limit=5, requires_confirmation=True)
    created = uow.emitted[0][1]
    assert created.moderator_ids == ["ada", "grace"]  # type: ignore[attr-defined]
    assert created.requires_confirmation  # type: ignore[attr-defined]
    assert uow.emitted_types().count("kehrwasser.alliances.member-joined.v1") == 2
    assert sorted(uow.alliances.stored[alliance_id].moderators) == ["ada", "grace"]


def test_an_alliance_without_a_founding_moderator_is_refused_by_the_contract() -> None:
    with pytest.raises(ValueError, match="founding moderator"):
        contracts.CreateAlliance(name="Nobody's")


async def test_ask_to_join_shows_the_alignment_and_approving_a_poor_match_needs_a_reason() -> None:
    uow, alliance_id = await network()
    requested = await handlers.request_membership(
        contracts.RequestMembership(alliance_id=alliance_id, member_id="linus", message="Hi"), uow, lambda: NOON
    )
    assert requested.status == "requested"
    assert uow.emitted[-1][1].alignment.score == 0  # type: ignore[attr-defined]
    pending = await handlers.pending_requests(
        contracts.PendingRequests(alliance_id=alliance_id, requested_by="ada"), uow
    )
    [request] = pending.items
    assert (request.member_id, request.needs_override, request.alignment.missing) == (
        "linus",
        True,
        ["compute", "saas"],
    )
    approve = contracts.ApproveMembership(alliance_id=alliance_id, member_id="linus", requested_by="ada")
    with pytest.raises(model.AlignmentTooLow):
        await handlers.approve_membership(approve, uow, lambda: NOON)
    with pytest.raises(model.NotAModerator):
        await handlers.approve_membership(
            approve.model_copy(update={"requested_by": "grace", "override_reason": "x"}), uow, lambda: NOON
        )
    joined = await handlers.approve_membership(
        approve.model_copy(update={"override_reason": "kernels help our infra"}), uow, lambda: NOON
    )
    assert (joined.status, joined.decided_by) == ("member", "ada")
    event = uow.emitted[-1][1]
    assert (event.admitted_via, event.decided_by, event.override_reason) == (  # type: ignore[attr-defined]
        "approved",
        "ada",
        "kernels help our infra",
    )


async def test_a_request_twice_and_a_member_asking_again_are_refused() -> None:
    uow, alliance_id = await network()
    ask = contracts.RequestMembership(alliance_id=alliance_id, member_id="grace")
    await handlers.request_membership(ask, uow, lambda: NOON)
    with pytest.raises(model.AlreadyPending):
        await handlers.request_membership(ask, uow, lambda: NOON)
    with pytest.raises(model.AlreadyMember):
        await handlers.request_membership(ask.model_copy(update={"member_id": "ada"}), uow, lambda: NOON)


async def test_a_declined_request_keeps_who_declined_and_why() -> None:
    uow, alliance_id = await network()
    await handlers.request_membership(
        contracts.RequestMembership(alliance_id=alliance_id, member_id="linus"), uow, lambda: NOON
    )
    decline = contracts.DeclineMembership(alliance_id=alliance_id, member_id="linus", requested_by="ada", reason="no")
    declined = await handlers.decline_membership(decline, uow, lambda: NOON)
    assert (declined.status, declined.decided_by, declined.reason) == ("declined", "ada", "no")
    with pytest.raises(model.NothingPending):
        await handlers.decline_membership(decline, uow, lambda: NOON)


async def test_an_invitation_is_accepted_or_declined_by_the_invited_member() -> None:
    uow, alliance_id = await network()
    invite = contracts.InviteMember(alliance_id=alliance_id, member_id="grace", requested_by="ada")
    await handlers.invite_member(invite, uow, lambda: NOON)
    with pytest.raises(model.AlreadyPending):
        await handlers.invite_member(invite, uow, lambda: NOON)
    answer = contracts.AnswerInvitation(alliance_id=alliance_id, member_id="grace")
    joined = await handlers.accept_invitation(answer, uow, lambda: NOON)
    assert joined.status == "member"
    assert uow.emitted[-1][1].admitted_via == "invitation"  # type: ignore[attr-defined]
    with pytest.raises(model.NothingPending):
        await handlers.decline_invitation(answer, uow, lambda: NOON)
    await handlers.invite_member(invite.model_copy(update={"member_id": "linus"}), uow, lambda: NOON)
    declined = await handlers.decline_invitation(
        answer.model_copy(update={"member_id": "linus", "reason": "busy"}), uow, lambda: NOON
    )
    assert (declined.status, declined.reason) == ("invitation-declined", "busy")


async def test_a_full_or_archived_alliance_takes_nobody_and_nothing_changes() -> None:
    uow = FakeAlliancesUnitOfWork("ada", "grace", "linus")
    alliance_id = await founded(uow, size_limit=2)
    await handlers.join_alliance(contracts.JoinAlliance(alliance_id=alliance_id, member_id="grace"), uow, lambda: NOON)
    invite = contracts.InviteMember(alliance_id=alliance_id, member_id="linus", requested_by="ada")
    with pytest.raises(model.AllianceFull):
        await handlers.invite_member(invite, uow, lambda: NOON)
    await handlers.archive_alliance(
        contracts.ArchiveAlliance(alliance_id=alliance_id, requested_by="ada"), uow, lambda: NOON
    )
    emitted = len(uow.emitted)
    await handlers.archive_alliance(
        contracts.ArchiveAlliance(alliance_id=alliance_id, requested_by="ada"), uow, lambda: NOON
    )
    assert len(uow.emitted) == emitted  # archiving twice changes nothing
    with pytest.raises(model.AllianceArchived):
        await handlers.request_membership(
            contracts.RequestMembership(alliance_id=alliance_id, member_id="linus"), uow, lambda: NOON
        )
    assert "linus" not in uow.alliances.stored[alliance_id].roster


async def test_the_last_moderator_can_neither_leave_nor_be_demoted_nor_removed() -> None:
    uow, alliance_id = await network()
    await handlers.join_alliance(contracts.JoinAlliance(alliance_id=alliance_id, member_id="grace"), uow, lambda: NOON)
    with pytest.raises(model.LastModerator):
        await handlers.leave_alliance(
            contracts.LeaveAlliance(alliance_id=alliance_id, member_id="ada"), uow, lambda: NOON
        )
    demote = handlers.change_role(model.MEMBER)
    promote = handlers.change_role(model.MODERATOR)
    with pytest.raises(model.LastModerator):
        await demote(
            contracts.ChangeRole(alliance_id=alliance_id, member_id="ada", requested_by="ada"), uow, lambda: NOON
        )
    with pytest.raises(model.LastModerator):
        await handlers.remove_member(
            contracts.RemoveMember(alliance_id=alliance_id, member_id="ada", requested_by="ada", reason="tired"),
            uow,
            lambda: NOON,
        )
    promoted = await promote(
        contracts.ChangeRole(alliance_id=alliance_id, member_id="grace", requested_by="ada"), uow, lambda: NOON
    )
    assert promoted.role == "moderator"
    changed = uow.emitted[-1][1]
    assert (changed.role, changed.previous_role, changed.decided_by) == ("moderator", "member", "ada")  # type: ignore[attr-defined]
    left = await handlers.leave_alliance(
        contracts.LeaveAlliance(alliance_id=alliance_id, member_id="ada"), uow, lambda: NOON
    )
    assert left.status == "left"
    assert uow.alliances.stored[alliance_id].moderators == ["grace"]


async def test_a_removed_member_sees_who_removed_them_and_why() -> None:
    uow, alliance_id = await network()
    await handlers.join_alliance(contracts.JoinAlliance(alliance_id=alliance_id, member_id="linus"), uow, lambda: NOON)
    remove = contracts.RemoveMember(alliance_id=alliance_id, member_id="linus", requested_by="ada", reason="only sells")
    with pytest.raises(model.NotAModerator):
        await handlers.remove_member(remove.model_copy(update={"requested_by": "linus"}), uow, lambda: NOON)
    await handlers.remove_member(remove, uow, lambda: NOON)
    page = await handlers.list_memberships(contracts.ListMemberships(member_id="linus"), uow)
    [standing] = page.items
    assert (standing.status, standing.decided_by, standing.reason) == ("removed", "ada", "only sells")
    with pytest.raises(model.NotAMember):
        await handlers.remove_member(remove, uow, lambda: NOON)


async def test_update_is_for_moderators_and_the_size_limit_cannot_fall_below_the_members() -> None:
    uow, alliance_id = await network()
    for member_id in ("grace", "linus"):
        await handlers.join_alliance(
            contracts.JoinAlliance(alliance_id=alliance_id, member_id=member_id), uow, lambda: NOON
        )
    update = contracts.UpdateAlliance(alliance_id=alliance_id, requested_by="ada", name="Hamburg Builders")
    with pytest.raises(model.NotAModerator):
        await handlers.update_alliance(update.model_copy(update={"requested_by": "grace"}), uow, lambda: NOON)
    with pytest.raises(model.InvalidAlliance):
        await handlers.update_alliance(update.model_copy(update={"size_limit": 2, "name": None}), uow, lambda: NOON)
    view = await handlers.update_alliance(update.model_copy(update={"focus": ["b2b"]}), uow, lambda: NOON)
    assert (view.name, view.focus) == ("Hamburg Builders", ["b2b"])


async def test_the_alliance_shows_each_members_alignment_and_lists_page_by_cursor() -> None:
    uow, alliance_id = await network()
    await handlers.join_alliance(contracts.JoinAlliance(alliance_id=alliance_id, member_id="grace"), uow, lambda: NOON)
    details = await handlers.get_alliance(contracts.GetAlliance(alliance_id=alliance_id), uow)
    scores = {m.member_id: m.alignment.score for m in details.members}
    # Ada matches the alliance fully and Grace half (so 80); Grace matches it half and Ada half (so 50).
    assert scores == {"ada": 80, "grace": 50}
    for name in ("Berlin", "Munich"):
        await founded(uow, name=name, focus=["climate"])
    first = await handlers.list_alliances(contracts.ListAlliances(limit=2), uow)
    rest = await handlers.list_alliances(contracts.ListAlliances(limit=2, cursor=first.next_cursor), uow)
    assert len(first.items) == 2
    assert len(rest.items) == 1
    assert rest.next_cursor is None
    by_focus = await handlers.list_alliances(contracts.ListAlliances(focus="climate"), uow)
    assert sorted(a.name for a in by_focus.items) == ["Berlin", "Munich"]
    mine = await handlers.list_alliances(contracts.ListAlliances(member_id="grace"), uow)
    assert [a.alliance_id for a in mine.items] == [alliance_id]
