"""Two-phase contributions: a giver's record waits for the receiver, who confirms or rejects it in time."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from ledger_fakes import HAMBURG, NOON, FakeLedgerReadModel, FakeLedgerUnitOfWork, clock, contribution, founded_alliance

from kehrwasser_ledger.domain import errors
from kehrwasser_ledger.service_layer import confirmations, handlers, policies, queries
from kehrwasser_ledger.service_layer.maintenance import maintain
from kehrwasser_shared.contracts import ledger as contracts


async def confirming_alliance() -> FakeLedgerUnitOfWork:
    uow = await founded_alliance("ada", "grace", "linus")
    await policies.set_policy(
        contracts.SetPolicy(
            alliance_id=HAMBURG, requested_by="ada", requires_confirmation=True, pending_expiry_hours=48
        ),
        uow,
        clock,
    )
    return uow


def recorded_by(cid: str, giver: str, receiver: str, value: str, by: str) -> contracts.RecordContribution:
    return contribution(cid, giver, receiver, value).model_copy(update={"recorded_by": by})


async def balance(uow: FakeLedgerUnitOfWork, member: str) -> Decimal:
    return (
        await queries.balance(contracts.QueryBalance(alliance_id=HAMBURG, member_id=member), FakeLedgerReadModel(uow))
    ).balance


async def test_a_givers_record_stays_pending_and_out_of_the_balance_until_the_receiver_confirms() -> None:
    uow = await confirming_alliance()
    pending = await handlers.record_contribution(contribution("c1", "grace", "linus", "3"), uow, clock)
    assert (pending.status, await balance(uow, "linus")) == ("pending", Decimal("0"))
    assert "kehrwasser.ledger.contribution-pending.v1" in uow.emitted_types()
    retried = await handlers.record_contribution(contribution("c1", "grace", "linus", "3"), uow, clock)
    assert retried.status == "pending"
    with pytest.raises(errors.ContributionConflict):
        await handlers.record_contribution(contribution("c1", "grace", "linus", "4"), uow, clock)

    confirm = contracts.ConfirmContribution(contribution_id="c1", confirmed_by="linus")
    posted = await confirmations.confirm_contribution(confirm, uow, clock)
    assert (posted.status, posted.receiver_balance) == ("created", Decimal("-3"))
    again = await confirmations.confirm_contribution(confirm, uow, clock)
    assert again.status == "exists"
    assert await balance(uow, "grace") == Decimal("3")
    assert (await handlers.verify(contracts.VerifyLedger(), uow)).ok


async def test_a_thank_you_from_the_receiver_and_a_moderators_record_post_at_once() -> None:
    uow = await confirming_alliance()
    thanks = await handlers.record_contribution(recorded_by("c1", "grace", "linus", "2", by="linus"), uow, clock)
    moderated = await handlers.record_contribution(recorded_by("c2", "grace", "linus", "1", by="ada"), uow, clock)
    assert (thanks.status, moderated.status) == ("created", "created")
    assert await balance(uow, "linus") == Decimal("-3")


async def test_nobody_else_may_record_confirm_or_reject() -> None:
    uow = await confirming_alliance()
    with pytest.raises(errors.NotAllowed):
        await handlers.record_contribution(recorded_by("c1", "grace", "linus", "2", by="mallory"), uow, clock)
    await handlers.record_contribution(contribution("c2", "ada", "linus", "2"), uow, clock)  # a moderator: posts
    await handlers.record_contribution(contribution("c3", "grace", "linus", "2"), uow, clock)
    with pytest.raises(errors.NotAllowed):
        await confirmations.confirm_contribution(
            contracts.ConfirmContribution(contribution_id="c3", confirmed_by="grace"), uow, clock
        )


async def test_a_rejected_contribution_becomes_a_dispute_that_moderators_see() -> None:
    uow = await confirming_alliance()
    await handlers.record_contribution(contribution("c1", "grace", "linus", "5", note="pitch deck review"), uow, clock)
    reject = contracts.RejectContribution(contribution_id="c1", rejected_by="linus", reason="never happened")
    rejected = await confirmations.reject_contribution(reject, uow, clock)
    assert (rejected.status, rejected.reason) == (contracts.PendingStatus.REJECTED, "never happened")
    assert (await confirmations.reject_contribution(reject, uow, clock)).status == contracts.PendingStatus.REJECTED
    assert uow.emitted_types().count("kehrwasser.ledger.contribution-disputed.v1") == 1
    with pytest.raises(errors.NotPending):
        await confirmations.confirm_contribution(
            contracts.ConfirmContribution(contribution_id="c1", confirmed_by="linus"), uow, clock
        )
    disputes = await confirmations.disputes(contracts.QueryDisputes(alliance_id=HAMBURG, requested_by="ada"), uow)
    assert [d.contribution_id for d in disputes.rejected] == ["c1"]
    with pytest.raises(errors.NotAllowed):
        await confirmations.disputes(contracts.QueryDisputes(alliance_id=HAMBURG, requested_by="linus"), uow)


async def test_a_pending_contribution_nobody_confirms_expires() -> None:
    uow = await confirming_alliance()
    await handlers.record_contribution(contribution("c1", "grace", "linus", "5"), uow, clock)
    await maintain(lambda: uow, lambda: NOON + timedelta(hours=47))
    assert "kehrwasser.ledger.contribution-expired.v1" not in uow.emitted_types()
    with pytest.raises(errors.NotPending, match="expired"):  # late, even before the expiry is recorded
        await confirmations.confirm_contribution(
            contracts.ConfirmContribution(contribution_id="c1", confirmed_by="linus"),
            uow,
            lambda: NOON + timedelta(hours=48),
        )
    await maintain(lambda: uow, lambda: NOON + timedelta(hours=48))
    assert uow.emitted_types().count("kehrwasser.ledger.contribution-expired.v1") == 1
    disputes = await confirmations.disputes(contracts.QueryDisputes(alliance_id=HAMBURG, requested_by="ada"), uow)
    assert ([d.contribution_id for d in disputes.expired], disputes.pending) == (["c1"], [])
    assert await balance(uow, "linus") == Decimal("0")


async def test_the_policy_applies_when_a_confirmation_posts_the_value() -> None:
    uow = await confirming_alliance()
    await policies.set_policy(
        contracts.SetPolicy(alliance_id=HAMBURG, requested_by="ada", floor=Decimal("-6")), uow, clock
    )
    await handlers.record_contribution(contribution("c1", "grace", "linus", "4"), uow, clock)
    await handlers.record_contribution(recorded_by("c2", "ada", "linus", "4", by="linus"), uow, clock)  # -4
    with pytest.raises(errors.BelowFloor):
        await confirmations.confirm_contribution(
            contracts.ConfirmContribution(contribution_id="c1", confirmed_by="linus"), uow, clock
        )
    disputes = await confirmations.disputes(contracts.QueryDisputes(alliance_id=HAMBURG, requested_by="ada"), uow)
    assert [d.contribution_id for d in disputes.pending] == ["c1"]
