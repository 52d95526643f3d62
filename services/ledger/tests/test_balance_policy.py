"""The balance policy: traffic lights with hysteresis and escalation, the hard floor, probation, inactivity."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from ledger_fakes import HAMBURG, NOON, FakeLedgerReadModel, FakeLedgerUnitOfWork, clock, contribution, founded_alliance

from kehrwasser_ledger.domain import errors
from kehrwasser_ledger.domain.policy import BalancePolicy, Light
from kehrwasser_ledger.service_layer import handlers, policies, queries
from kehrwasser_shared.contracts import ledger as contracts


def set_policy(**fields: object) -> contracts.SetPolicy:
    return contracts.SetPolicy(alliance_id=HAMBURG, requested_by="ada", **fields)


def warnings(uow: FakeLedgerUnitOfWork) -> list[contracts.BalanceWarningV2]:
    return [d for _, d in uow.emitted if isinstance(d, contracts.BalanceWarningV2)]


def recoveries(uow: FakeLedgerUnitOfWork) -> list[contracts.BalanceRecoveredV2]:
    return [d for _, d in uow.emitted if isinstance(d, contracts.BalanceRecoveredV2)]


async def light_of(uow: FakeLedgerUnitOfWork, member: str) -> str:
    lights = await policies.traffic_lights(
        contracts.QueryTrafficLight(alliance_id=HAMBURG, member_id=member), uow, clock
    )
    return lights.members[0].light.value


def test_a_light_worsens_at_once_but_improves_only_past_the_hysteresis() -> None:
    policy = BalancePolicy(red_below=Decimal("-10"), yellow_below=Decimal("-5"), hysteresis=Decimal("1"))
    assert policy.next_light(Light.GREEN, Decimal("-5.01"), inactive=False) is Light.YELLOW
    assert policy.next_light(Light.YELLOW, Decimal("-4.50"), inactive=False) is Light.YELLOW  # within the margin
    assert policy.next_light(Light.YELLOW, Decimal("-4.00"), inactive=False) is Light.GREEN
    assert policy.next_light(Light.GREEN, Decimal("-10.01"), inactive=False) is Light.RED
    assert policy.next_light(Light.RED, Decimal("-9.50"), inactive=False) is Light.RED
    assert policy.next_light(Light.RED, Decimal("-8.00"), inactive=False) is Light.YELLOW


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"red_below": Decimal("-5"), "yellow_below": Decimal("-6")}, "yellow band"),
        ({"red_below": Decimal("-5"), "floor": Decimal("-4")}, "floor"),
        ({"red_below": Decimal("-5"), "hysteresis": Decimal("-1")}, "hysteresis"),
    ],
)
def test_an_inconsistent_policy_is_refused(fields: dict[str, Decimal], message: str) -> None:
    with pytest.raises(errors.InvalidPolicy, match=message):
        BalancePolicy(**fields)  # type: ignore[arg-type]


async def test_yellow_goes_to_the_member_and_red_is_escalated_to_the_other_moderators() -> None:
    uow = await founded_alliance("ada", "grace", "linus", threshold="-10")
    await policies.set_policy(set_policy(yellow_below=Decimal("-5")), uow, clock)
    await handlers.record_contribution(contribution("c1", "ada", "linus", "6"), uow, clock)  # -6: yellow
    await handlers.record_contribution(contribution("c2", "grace", "linus", "5"), uow, clock)  # -11: red
    yellow, red = warnings(uow)
    assert (yellow.member_id, yellow.light, yellow.threshold, yellow.escalate_to) == (
        "linus",
        contracts.TrafficLight.YELLOW,
        Decimal("-5"),
        [],
    )
    assert (red.light, red.previous_light, red.threshold, red.escalate_to, red.contribution_id) == (
        contracts.TrafficLight.RED,
        contracts.TrafficLight.YELLOW,
        Decimal("-10"),
        ["ada"],
        "c2",
    )
    assert await light_of(uow, "linus") == "red"


async def test_a_balance_oscillating_around_a_threshold_warns_once() -> None:
    uow = await founded_alliance("ada", "linus", threshold="-5")
    await handlers.record_contribution(contribution("c1", "ada", "linus", "5.50"), uow, clock)  # -5.50: red
    for n in range(5):  # up to -4.90 and down to -5.10, again and again: never past the 1-point margin
        await handlers.record_contribution(contribution(f"up{n}", "linus", "ada", "0.60"), uow, clock)
        await handlers.record_contribution(contribution(f"down{n}", "ada", "linus", "0.60"), uow, clock)
    assert len(warnings(uow)) == 1
    assert recoveries(uow) == []
    await handlers.record_contribution(contribution("back", "linus", "ada", "2"), uow, clock)  # -3.50
    [recovered] = recoveries(uow)
    assert (recovered.light, recovered.previous_light) == (contracts.TrafficLight.GREEN, contracts.TrafficLight.RED)


async def test_a_contribution_taking_the_receiver_below_the_floor_is_refused_and_changes_nothing() -> None:
    uow = await founded_alliance("ada", "linus", threshold="-5")
    await policies.set_policy(set_policy(floor=Decimal("-8")), uow, clock)
    await handlers.record_contribution(contribution("c1", "ada", "linus", "7"), uow, clock)
    with pytest.raises(errors.BelowFloor, match="floor of -8"):
        await handlers.record_contribution(contribution("c2", "ada", "linus", "2"), uow, clock)
    assert "c2" not in uow.contributions.contributions
    view = await queries.balance(
        contracts.QueryBalance(alliance_id=HAMBURG, member_id="linus"), FakeLedgerReadModel(uow)
    )
    assert view.balance == Decimal("-7")


async def test_a_newcomer_may_take_only_the_probation_limit_until_they_have_given() -> None:
    uow = await founded_alliance("ada", "linus", threshold="-50")
    await policies.set_policy(set_policy(probation_limit=Decimal("10")), uow, clock)
    await handlers.record_contribution(contribution("c1", "ada", "linus", "8"), uow, clock)
    with pytest.raises(errors.ProbationLimitReached, match="at most 10"):
        await handlers.record_contribution(contribution("c2", "ada", "linus", "3"), uow, clock)
    await handlers.record_contribution(contribution("c3", "linus", "ada", "1"), uow, clock)  # Linus gives
    await handlers.record_contribution(contribution("c2", "ada", "linus", "3"), uow, clock)


async def test_a_member_who_gave_nothing_within_the_window_turns_yellow_and_green_again_by_giving() -> None:
    uow = await founded_alliance("ada", "linus", threshold="-50")
    await policies.set_policy(set_policy(inactivity_days=90), uow, clock)
    assert await policies.review_lights(uow, lambda: NOON + timedelta(days=89)) == 0
    assert await policies.review_lights(uow, lambda: NOON + timedelta(days=91)) == 2
    assert {(w.member_id, w.light, w.reason, w.threshold) for w in warnings(uow)} == {
        (member, contracts.TrafficLight.YELLOW, contracts.LightReason.INACTIVITY, None) for member in ("ada", "linus")
    }
    assert await policies.review_lights(uow, lambda: NOON + timedelta(days=92)) == 0  # once per crossing
    later = NOON + timedelta(days=93)
    await handlers.record_contribution(contribution("c1", "linus", "ada", "1"), uow, lambda: later)
    [recovered] = recoveries(uow)
    assert (recovered.member_id, recovered.light) == ("linus", contracts.TrafficLight.GREEN)


async def test_only_a_moderator_may_change_the_policy_and_every_light_is_reviewed_against_it() -> None:
    uow = await founded_alliance("ada", "linus", threshold="-10")
    await handlers.record_contribution(contribution("c1", "ada", "linus", "4"), uow, clock)
    with pytest.raises(errors.NotAllowed):
        await policies.set_policy(
            contracts.SetPolicy(alliance_id=HAMBURG, requested_by="linus", red_below=Decimal("-100")), uow, clock
        )
    view = await policies.set_policy(set_policy(yellow_below=Decimal("-3")), uow, clock)
    assert (view.red_below, view.yellow_below, view.hysteresis) == (Decimal("-10"), Decimal("-3"), Decimal("1"))
    assert [(w.member_id, w.light) for w in warnings(uow)] == [("linus", contracts.TrafficLight.YELLOW)]
    assert "kehrwasser.ledger.policy-changed.v1" in uow.emitted_types()
    cleared = await policies.set_policy(set_policy(clear=["yellow_below"]), uow, clock)
    assert cleared.yellow_below is None
    assert await light_of(uow, "linus") == "green"
