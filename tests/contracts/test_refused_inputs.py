"""The inputs that once hurt the network, each refused by its contract before any service sees it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from kehrwasser_shared.contracts import alliances, ledger, members
from kehrwasser_shared.contracts.common import Command

MEETING = {"alliance_id": "hamburg", "requested_by": "ada", "title": "Course check", "starts_at": "2027-01-12T18:00"}
CONTRIBUTION = {
    "contribution_id": "c1",
    "alliance_id": "hamburg",
    "giver_id": "ada",
    "receiver_id": "grace",
    "kind": "advice",
    "value": "3",
}


@pytest.mark.parametrize(
    ("model", "fields", "field"),
    [
        (
            ledger.SetPolicy,
            {"alliance_id": "hamburg", "requested_by": "ada", "inactivity_days": 10**26},
            "inactivity_days",
        ),
        (
            ledger.SetPolicy,
            {"alliance_id": "hamburg", "requested_by": "ada", "pending_expiry_hours": 10**26},
            "pending_expiry_hours",
        ),
        (ledger.SetPolicy, {"alliance_id": "hamburg", "requested_by": "ada", "floor": "-1e30"}, "floor"),
        (
            ledger.QueryStatement,
            {"alliance_id": "hamburg", "member_id": "ada", "after_version": 10**26},
            "after_version",
        ),
        # Found by the hostile test: the contract once allowed versions the 32-bit column cannot hold.
        (
            ledger.QueryStatement,
            {"alliance_id": "hamburg", "member_id": "ada", "after_version": 2**31},
            "after_version",
        ),
        (ledger.RecordContribution, {**CONTRIBUTION, "value": "1e20"}, "value"),
        (ledger.RecordContribution, {**CONTRIBUTION, "note": "a\x00b"}, "note"),
        (ledger.RecordContribution, {**CONTRIBUTION, "giver_id": "ada\r\nx"}, "giver_id"),
        (alliances.ScheduleMeeting, {**MEETING, "timezone": "Europe/" + "x" * 1_000_000}, "timezone"),
        (alliances.ScheduleMeeting, {**MEETING, "timezone": "../../etc/passwd"}, "timezone"),
        (alliances.ScheduleMeeting, {**MEETING, "starts_at": "9999-12-31T18:00"}, "starts_at"),
        (alliances.ScheduleMeeting, {**MEETING, "title": "a\x00b"}, "title"),
        (alliances.ScheduleMeeting, {**MEETING, "title": "Invitation\r\nBcc: x@y.z"}, "title"),
        (alliances.ScheduleMeeting, {**MEETING, "location": "Hamburg\nBcc: x@y.z"}, "location"),
        (alliances.CreateAlliance, {"name": "Hamburg\r\nFounders", "moderator_id": "ada"}, "name"),
        (members.RegisterMember, {"name": "Eve\r\nBcc: x@y.z", "email": "eve@example.org"}, "name"),
        (members.RegisterMember, {"name": "Eve", "email": "eve@example.org", "company": "a\x00b"}, "company"),
        (members.RegisterMember, {"name": "Eve", "email": "eve@example.org", "nmae": "typo"}, "nmae"),
    ],
)
def test_a_hostile_field_is_refused_and_named(model: type[Command], fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(fields)
    assert [error["loc"][0] for error in refused.value.errors()] == [field]


def test_multi_line_text_keeps_its_line_breaks_and_tabs() -> None:
    note = "line one\r\nline two\n\tindented"
    assert ledger.RecordContribution.model_validate({**CONTRIBUTION, "note": note}).note == note


def test_a_start_with_an_offset_keeps_it() -> None:
    meeting = alliances.ScheduleMeeting.model_validate({**MEETING, "starts_at": "2027-01-10T18:00+05:00"})
    assert meeting.starts_at.utcoffset() is not None
