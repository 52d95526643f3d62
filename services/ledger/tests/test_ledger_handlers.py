"""Ledger use cases against an in-memory unit of work: double entry, exact idempotency, warnings, reversals."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from faststream.nats import TestNatsBroker
from ledger_fakes import HAMBURG, FakeLedgerReadModel, clock, contribution, founded_alliance

from kehrwasser_ledger.bootstrap import bootstrap
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_ledger.domain import errors
from kehrwasser_ledger.domain.model import Contribution, Entry
from kehrwasser_ledger.service_layer import handlers, queries
from kehrwasser_ledger.service_layer.booking import Booked
from kehrwasser_ledger.service_layer.unit_of_work import ConcurrentInsert
from kehrwasser_shared.contracts import ledger as contracts


async def test_a_contribution_moves_value_from_receiver_to_giver_and_sums_to_zero() -> None:
    uow = await founded_alliance("ada", "linus")
    result = await handlers.record_contribution(contribution("c1", "ada", "linus", "3.50"), uow, clock)
    assert (result.status, result.giver_balance, result.receiver_balance) == (
        "created",
        Decimal("3.50"),
        Decimal("-3.50"),
    )
    assert sum(a.balance for a in await uow.accounts.all_of(HAMBURG)) == 0
    assert [e.version for e in uow.contributions.entries] == [1, 1]


async def test_the_same_id_with_the_same_fields_returns_the_original_result() -> None:
    uow = await founded_alliance("ada", "linus")
    first = await handlers.record_contribution(contribution("c1", "ada", "linus", "3"), uow, clock)
    again = await handlers.record_contribution(contribution("c1", "ada", "linus", "3"), uow, clock)
    assert again.status == "exists"
    assert again.model_dump(exclude={"status"}) == first.model_dump(exclude={"status"})
    assert len(uow.contributions.contributions) == 1


async def test_the_same_id_with_other_fields_is_a_conflict_never_absorbed() -> None:
    uow = await founded_alliance("ada", "linus")
    await handlers.record_contribution(contribution("c1", "ada", "linus", "3"), uow, clock)
    with pytest.raises(errors.ContributionConflict, match="value"):
        await handlers.record_contribution(contribution("c1", "ada", "linus", "4"), uow, clock)


async def test_contributions_from_or_to_non_members_are_rejected() -> None:
    uow = await founded_alliance("ada", "linus")
    with pytest.raises(errors.NotAMember):
        await handlers.record_contribution(contribution("c1", "mallory", "linus", "3"), uow, clock)
    with pytest.raises(errors.NotAMember):
        await handlers.record_contribution(contribution("c2", "ada", "mallory", "3"), uow, clock)
    assert not uow.contributions.contributions


async def test_the_alliance_itself_can_receive() -> None:
    uow = await founded_alliance("ada", "linus")
    result = await handlers.record_contribution(contribution("c1", "ada", "alliance", "10", "hosting"), uow, clock)
    assert result.receiver_balance == Decimal("-10")


async def test_a_warning_is_published_once_per_crossing_and_recovery_rearms_it() -> None:
    uow = await founded_alliance("ada", "grace", "linus")
    await handlers.record_contribution(contribution("c1", "ada", "linus", "3"), uow, clock)
    await handlers.record_contribution(contribution("c2", "grace", "linus", "4"), uow, clock)  # -7: crossing
    await handlers.record_contribution(contribution("c3", "ada", "linus", "1"), uow, clock)  # -8: still below
    assert uow.emitted_types().count("kehrwasser.ledger.balance-warning.v2") == 1
    await handlers.record_contribution(contribution("c4", "linus", "ada", "5"), uow, clock)  # -3: recovered
    assert uow.emitted_types().count("kehrwasser.ledger.balance-recovered.v2") == 1
    await handlers.record_contribution(contribution("c5", "grace", "linus", "5"), uow, clock)  # -8: new crossing
    assert uow.emitted_types().count("kehrwasser.ledger.balance-warning.v2") == 2


async def test_a_reversal_undoes_the_original_and_references_it() -> None:
    uow = await founded_alliance("ada", "linus")
    await handlers.record_contribution(contribution("c1", "ada", "linus", "3"), uow, clock)
    reversal = await handlers.reverse_contribution(
        contracts.ReverseContribution(reversal_id="r1", contribution_id="c1", requested_by="ada", reason="typo"),
        uow,
        clock,
    )
    assert (reversal.reverses, reversal.giver_balance, reversal.receiver_balance) == ("c1", Decimal(0), Decimal(0))
    with pytest.raises(errors.AlreadyReversed):
        await handlers.reverse_contribution(
            contracts.ReverseContribution(reversal_id="r2", contribution_id="c1", requested_by="ada"), uow, clock
        )
    verification = await handlers.verify(contracts.VerifyLedger(), uow)
    assert verification.ok, verification.problems
    assert verification.entries_checked == 4


async def test_verify_reports_a_tampered_contribution() -> None:

    uow = await founded_alliance("ada", "linus")
    await handlers.record_contribution(contribution("c1", "ada", "linus", "3"), uow, clock)
    await handlers.record_contribution(contribution("c2", "ada", "linus", "2"), uow, clock)
    stored = uow.contributions.contributions["c1"]
    uow.contributions.contributions["c1"] = stored._replace(note="I gave much more")
    verification = await handlers.verify(contracts.VerifyLedger(alliance_id=HAMBURG), uow)
    assert not verification.ok
    assert any("c1 was altered" in p for p in verification.problems)


async def test_verify_reports_entries_that_do_not_belong_to_their_contribution() -> None:
    """What foreign keys would have guarded, and more: each contribution is posted as exactly its two entries."""
    uow = await founded_alliance("ada", "linus", "grace")
    await handlers.record_contribution(contribution("c1", "ada", "linus", "3"), uow, clock)
    # Both entries moved to another contribution id: balances and versions still add up, the pairing does not.
    uow.contributions.entries = [e._replace(contribution_id="ghost") for e in uow.contributions.entries]
    verification = await handlers.verify(contracts.VerifyLedger(alliance_id=HAMBURG), uow)
    assert sorted(verification.problems) == [
        f"{HAMBURG}: contribution c1 is not posted as its two entries",
        f"{HAMBURG}: entries for ghost, which is no contribution of this alliance",
    ]


async def test_verify_reports_an_entry_posted_to_the_wrong_member_and_one_without_an_account() -> None:
    uow = await founded_alliance("ada", "linus", "grace")
    await handlers.record_contribution(contribution("c1", "ada", "linus", "3"), uow, clock)
    giver_entry, receiver_entry = uow.contributions.entries
    uow.contributions.entries = [giver_entry, receiver_entry._replace(owner_id="mallory")]
    verification = await handlers.verify(contracts.VerifyLedger(alliance_id=HAMBURG), uow)
    assert f"{HAMBURG}: contribution c1 is not posted as its two entries" in verification.problems
    assert f"{HAMBURG}/mallory: entry 1 has no account" in verification.problems


async def test_balance_of_a_member_is_read_from_the_maintained_account() -> None:
    uow = await founded_alliance("ada", "linus")
    await handlers.record_contribution(contribution("c1", "ada", "linus", "6"), uow, clock)
    view = await queries.balance(
        contracts.QueryBalance(alliance_id=HAMBURG, member_id="linus"), FakeLedgerReadModel(uow)
    )
    assert (view.balance, view.received, view.below_threshold) == (Decimal("-6"), Decimal("6"), True)
    with pytest.raises(errors.UnknownAlliance):
        await queries.balance(
            contracts.QueryBalance(alliance_id="atlantis", member_id="linus"), FakeLedgerReadModel(uow)
        )


async def test_an_asynchronous_submission_rejected_on_its_own_is_announced() -> None:
    uow = await founded_alliance("ada", "linus")
    [outcome] = await handlers.record_contributions(
        [contribution("c1", "mallory", "linus", "3")], uow, clock, announce_rejections=True
    )
    assert outcome.status is Booked.REJECTED
    assert uow.emitted_types() == ["kehrwasser.ledger.contribution-rejected.v1"]


async def test_a_submission_for_a_member_not_known_yet_is_deferred_not_rejected_until_its_last_attempt() -> None:
    uow = await founded_alliance("ada", "linus")
    submission = contribution("c1", "ada", "margaret", "3")
    [early] = await handlers.record_contributions([submission], uow, clock, announce_rejections=True, may_defer=[True])
    assert (early.status, uow.emitted_types()) == (Booked.DEFERRED, [])
    [last] = await handlers.record_contributions([submission], uow, clock, announce_rejections=True, may_defer=[False])
    assert (last.status, uow.emitted_types()) == (Booked.REJECTED, ["kehrwasser.ledger.contribution-rejected.v1"])


async def test_a_booking_whose_insert_loses_a_race_is_run_again_and_its_first_attempt_leaves_nothing() -> None:
    uow = await founded_alliance("ada", "linus")
    add = uow.contributions.add
    attempts: list[list[str]] = []

    async def refused_once(new: list[Contribution], entries: list[Entry]) -> None:
        attempts.append([c.contribution_id for c in new])
        if len(attempts) == 1:
            await add(new, entries)  # written, then refused: the rollback must take it back
            raise ConcurrentInsert("another writer stored c1 first")
        await add(new, entries)

    uow.contributions.add = refused_once  # type: ignore[method-assign, assignment]
    result = await handlers.record_contribution(contribution("c1", "ada", "linus", "3"), uow, clock)
    assert attempts == [["c1"], ["c1"]]
    assert (result.status, result.giver_balance) == ("created", Decimal("3.00"))
    assert uow.emitted_types() == ["kehrwasser.ledger.contribution-recorded.v1"]
    verification = await handlers.verify(contracts.VerifyLedger(), uow)
    assert (verification.ok, verification.contributions_checked, verification.entries_checked) == (True, 1, 2)


async def test_a_race_lost_twice_is_not_run_a_third_time() -> None:
    runs = 0

    @handlers.retried_on_concurrent_insert
    async def always_refused() -> None:
        nonlocal runs
        runs += 1
        raise ConcurrentInsert("another writer, again")

    with pytest.raises(ConcurrentInsert):
        await always_refused()
    assert runs == 2


async def test_the_service_answers_its_commands_in_memory_through_its_own_composition_root(tmp_path: Path) -> None:
    """The real bootstrap with the fake unit of work and read model, on FastStream's TestNatsBroker."""
    uow = await founded_alliance("ada", "linus")
    parts = bootstrap(LedgerSettings(data_dir=tmp_path), uow=lambda: uow, read_model=lambda: FakeLedgerReadModel(uow))
    gift = contribution("c1", "ada", "linus", "3").model_dump(mode="json")
    async with TestNatsBroker(parts.broker) as broker:

        async def ask(contract: Any, request: dict[str, Any]) -> dict[str, Any]:
            return json.loads((await broker.request(request, contract.subject)).body)  # type: ignore[no-any-return]

        recorded = await ask(contracts.RECORD_CONTRIBUTION, gift)
        conflict = await ask(contracts.RECORD_CONTRIBUTION, {**gift, "value": "4"})
        balance = await ask(contracts.BALANCE, {"alliance_id": HAMBURG, "member_id": "linus"})
        typo = await ask(contracts.BALANCE, {"alliance_id": HAMBURG, "member_id": "lnus"})
        too_long = await ask(
            contracts.SET_POLICY, {"alliance_id": HAMBURG, "requested_by": "ada", "inactivity_days": 10**26}
        )
    assert recorded["result"]["status"] == "created"
    assert conflict["error"]["code"] == "conflict"
    assert balance["result"]["balance"] == "-3.00"
    assert typo["error"]["code"] == "unknown-member"
    assert too_long["error"]["details"][0]["field"] == "inactivity_days"
