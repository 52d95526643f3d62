"""The AsyncAPI document says who may do what, and says what the generated permissions enforce."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kehrwasser_shared.contracts.documents import matches, render_documents


def senders(operation: dict[str, Any]) -> list[str]:
    return [ref["$ref"].rsplit("/", 1)[1] for ref in operation["security"]]


@pytest.fixture(scope="module")
def operations() -> dict[str, Any]:
    return json.loads(render_documents()["asyncapi.json"])["operations"]  # type: ignore[no-any-return]


def test_every_publication_and_command_names_who_may_send_it(operations: dict[str, Any]) -> None:
    sent = [op for op in operations.values() if op["action"] == "send" or "reply" in op]
    assert sent, "premise: the document has operations to check"
    assert all(op["security"] for op in sent)


def test_a_members_profile_is_asked_for_by_the_operator_and_the_gateway_only(operations: dict[str, Any]) -> None:
    assert senders(operations["handleMembersGet"]) == ["operator", "gateway"]
    assert senders(operations["handleLedgerBalance"]) == ["operator", "gateway", "reader"]
    assert senders(operations["handleLedgerDisputes"]) == ["operator", "gateway"]


def test_events_are_published_by_their_owner_and_submissions_by_producers(operations: dict[str, Any]) -> None:
    assert senders(operations["membersPublishesMembersMemberRegisteredV1"]) == ["members", "operator"]
    assert "producer" in senders(operations["producersPublishLedgerContributionSubmittedV1"])
    assert "producer" not in senders(operations["ledgerPublishesLedgerBalanceWarningV2"])


def test_subject_patterns_match_as_nats_matches_them() -> None:
    assert matches("kehrwasser.evt.members.>", "kehrwasser.evt.members.member-registered.v1")
    assert matches(
        "kehrwasser.evt.ledger.contribution-submitted.v1.*", "kehrwasser.evt.ledger.contribution-submitted.v1.7"
    )
    assert not matches(
        "kehrwasser.evt.ledger.contribution-submitted.v1.*", "kehrwasser.evt.ledger.contribution-submitted.v1"
    )
    assert not matches("kehrwasser.evt.members.>", "kehrwasser.evt.members")
    assert matches(">", "anything.at.all")
    assert not matches("kehrwasser.cmd.ledger.balance", "kehrwasser.cmd.ledger.balance-at")
