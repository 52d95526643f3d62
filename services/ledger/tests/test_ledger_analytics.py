"""Reciprocity analytics on flows: the matrix, one-way flows, the Gini coefficient of giving, periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kehrwasser_ledger.domain.analytics import (
    Flow,
    alliance_health,
    flow_matrix,
    gini,
    one_way_flows,
    period_start,
)


def flow(giver: str, receiver: str, kind: str, value: str, contributions: int = 1) -> Flow:
    return Flow(giver, receiver, kind, Decimal(value), contributions)


# Ada gives to everyone; Grace gives a little back; Linus only takes referrals (he joined to sell).
HAMBURG_FLOWS = [
    flow("ada", "linus", "referral", "3"),
    flow("grace", "linus", "referral", "4"),
    flow("ada", "grace", "advice", "2"),
    flow("ada", "alliance", "hosting", "5"),
    flow("grace", "linus", "advice", "0", contributions=0),  # booked and reversed
]


def test_the_matrix_totals_what_each_member_gave_and_received_and_drops_reversed_cells() -> None:
    matrix = flow_matrix(HAMBURG_FLOWS)
    assert [(f.giver_id, f.receiver_id, f.kind) for f in matrix.flows] == [
        ("ada", "alliance", "hosting"),
        ("ada", "grace", "advice"),
        ("ada", "linus", "referral"),
        ("grace", "linus", "referral"),
    ]
    assert matrix.given == {"ada": Decimal("10"), "grace": Decimal("4")}
    assert matrix.received == {"alliance": Decimal("5"), "grace": Decimal("2"), "linus": Decimal("7")}
    assert (matrix.total, matrix.contributions) == (Decimal("14"), 4)


def test_a_member_who_receives_referrals_and_never_gives_back_is_a_one_way_flow() -> None:
    [linus] = one_way_flows(flow_matrix(HAMBURG_FLOWS))
    assert (linus.member_id, linus.received, linus.given, linus.referrals_received, linus.sources) == (
        "linus",
        Decimal("7"),
        Decimal("0"),
        Decimal("7"),
        2,
    )


def test_giving_back_a_tenth_of_what_was_received_is_no_longer_one_way() -> None:
    receiving = [flow("ada", "linus", "referral", "20")]
    assert [f.member_id for f in one_way_flows(flow_matrix([*receiving, flow("linus", "ada", "advice", "1.99")]))] == [
        "linus"
    ]
    assert one_way_flows(flow_matrix([*receiving, flow("linus", "ada", "advice", "2")])) == []


def test_giving_to_the_alliance_itself_counts_as_giving_back_and_the_alliance_is_never_one_way() -> None:
    matrix = flow_matrix([flow("ada", "linus", "referral", "10"), flow("linus", "alliance", "hosting", "5")])
    assert one_way_flows(matrix) == []
    only_the_alliance_receives = flow_matrix([flow("ada", "alliance", "hosting", "5")])
    assert one_way_flows(only_the_alliance_receives) == []


def test_gini_is_zero_when_everyone_gave_the_same_and_grows_as_one_member_gives_everything() -> None:
    assert gini([Decimal(3)] * 4) == Decimal("0")
    assert gini([Decimal(0), Decimal(0), Decimal(1), Decimal(3)]) == Decimal("0.625")
    assert gini([Decimal(0), Decimal(0), Decimal(0), Decimal(12)]) == Decimal("0.75")
    assert gini([]) == gini([Decimal(0)] * 3) == Decimal("0")


def test_health_counts_members_who_gave_nothing_as_zero() -> None:
    matrix = flow_matrix(HAMBURG_FLOWS)
    health = alliance_health(["ada", "grace", "linus", "margaret"], matrix.given, matrix.received)
    assert (health.members, health.active_givers, health.total_given) == (4, 2, Decimal("14"))
    assert health.gini == Decimal("0.6071")  # giving 0, 0, 4, 10
    assert health.one_way == ("linus",)


def test_periods_are_whole_multiples_of_the_interval_since_the_epoch() -> None:
    hour = timedelta(hours=1)
    assert period_start(datetime(2026, 11, 24, 12, 59, 59, tzinfo=UTC), hour) == datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert period_start(datetime(2026, 11, 24, 13, tzinfo=UTC), hour) == datetime(2026, 11, 24, 13, tzinfo=UTC)


amounts = st.lists(st.decimals(min_value=0, max_value=10_000, places=2), min_size=1, max_size=60)


@given(amounts)
def test_gini_of_any_giving_lies_in_zero_to_one(giving: list[Decimal]) -> None:
    assert Decimal(0) <= gini(giving) < 1


@given(st.decimals(min_value="0.01", max_value=10_000, places=2), st.integers(1, 200))
def test_gini_of_equal_giving_is_zero(amount: Decimal, members: int) -> None:
    assert gini([amount] * members) == 0


@given(amounts, st.integers(2, 50))
def test_gini_does_not_depend_on_the_unit_of_giving(giving: list[Decimal], factor: int) -> None:
    assert gini(giving) == gini([amount * factor for amount in giving])
