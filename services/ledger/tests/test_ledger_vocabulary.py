"""The words the ledger's domain keeps for itself (it imports no contracts) are the words its contracts use.

Each pair below exists twice on purpose: the domain stays free of the messaging layer, and the contracts are
shared by every service and may not import one. These tests are what keeps the two the same.
"""

from __future__ import annotations

import inspect
from dataclasses import fields
from typing import get_args

from kehrwasser_ledger.domain import confirmation, model, policy
from kehrwasser_ledger.service_layer.booking import Booked, Submission
from kehrwasser_shared.contracts import ledger as contracts


def test_the_kinds_of_contribution_are_the_contracts_in_the_same_order() -> None:
    # The order shows in the domain's refusal: "kind must be one of advice, introduction, ...".
    assert tuple(kind.value for kind in contracts.ContributionKind) == model.KINDS


def test_the_alliances_own_account_has_the_id_the_contracts_name() -> None:
    assert model.ALLIANCE_ACCOUNT == contracts.ALLIANCE_ACCOUNT


def test_pending_statuses_lights_and_their_reasons_are_the_contracts() -> None:
    for ours, theirs in (
        (confirmation.PendingStatus, contracts.PendingStatus),
        (policy.Light, contracts.TrafficLight),
        (model.LightReason, contracts.LightReason),
    ):
        assert [(m.name, m.value) for m in ours] == [(m.name, m.value) for m in theirs], ours


def test_a_command_answers_with_the_statuses_of_a_booking_that_the_contract_lists() -> None:
    answered = {Booked.CREATED, Booked.EXISTS, Booked.PENDING}
    assert set(get_args(contracts.ContributionResult.model_fields["status"].annotation)) == answered


def test_the_contracts_views_of_a_contribution_take_their_fields_from_the_domains_records() -> None:
    """The handlers build them from the records by field name (``_asdict``, ``asdict``): a field the contract
    has and the record lacks would fail there, and one the record renamed would go missing."""
    contribution = set(model.Contribution._fields)
    assert set(contracts.ContributionRecordedV1.model_fields) <= contribution
    assert set(contracts.ContributionResult.model_fields) - {"status"} <= contribution
    assert set(contracts.PendingContributionView.model_fields) == {
        f.name for f in fields(confirmation.PendingContribution)
    }


def test_a_submission_is_what_a_record_command_carries_and_a_pending_contribution_keeps() -> None:
    assert set(Submission._fields) <= set(contracts.RecordContribution.model_fields)
    assert set(Submission._fields) <= {f.name for f in fields(confirmation.PendingContribution)}
    held_from = set(inspect.signature(confirmation.hold).parameters) - {"policy", "now"}
    assert held_from == set(Submission._fields)  # the booking holds a submission by its fields' names
    assert set(model.TERMS) <= set(Submission._fields) & set(model.Contribution._fields)
