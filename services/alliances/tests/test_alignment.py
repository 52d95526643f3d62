"""Direction alignment: a score a moderator can check by hand."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kehrwasser_alliances.domain import model
from kehrwasser_alliances.domain.alignment import align
from kehrwasser_shared.contracts import alliances as contracts

tags = st.lists(st.sampled_from(["compute", "fintech", "saas", "pricing", "hiring", "b2b", "climate"]), max_size=6)


def test_the_formula_weighs_the_alliance_three_fifths_and_the_members_two_fifths() -> None:
    # Alliance {compute, saas}: J = 1/3. Members: {compute} J = 1/2, {climate} J = 0: mean 1/4.
    # 0.6 * 1/3 + 0.4 * 1/4 = 0.3 -> 30.
    alignment = align(["compute", "pricing"], ["compute", "saas"], [["compute"], ["climate"]])
    assert alignment.score == 30
    assert (alignment.alliance_overlap, alignment.members_overlap) == (33, 25)
    assert alignment.matching == ("compute",)
    assert alignment.missing == ("saas",)


def test_without_any_declared_focus_there_is_nothing_to_compare() -> None:
    assert align(["compute"], [], [[], []]).score is None
    assert not align(["compute"], [], []).below(30)


def test_a_part_without_declared_focus_is_left_out() -> None:
    assert align(["compute"], ["compute"], [[]]).score == 100
    assert align(["compute"], [], [["compute"], ["saas"]]).score == 50


@given(tags, tags, st.lists(tags, max_size=5))
def test_the_score_lies_between_0_and_100(member: list[str], alliance: list[str], others: list[list[str]]) -> None:
    alignment = align(member, alliance, others)
    assert alignment.score is None or 0 <= alignment.score <= 100
    assert set(alignment.matching) <= set(member)
    assert set(alignment.missing) <= set(alliance) - set(member)


@given(tags.filter(bool), st.integers(min_value=0, max_value=5))
def test_identical_tags_score_100(focus: list[str], members: int) -> None:
    assert align(focus, focus, [focus] * members).score == 100


@given(tags, tags)
def test_the_overlap_with_the_alliance_is_symmetric(a: list[str], b: list[str]) -> None:
    assert align(a, b, []).alliance_overlap == align(b, a, []).alliance_overlap


@given(tags.filter(bool), tags.filter(bool))
def test_disjoint_tags_score_0(a: list[str], b: list[str]) -> None:
    if not set(a) & set(b):
        assert align(a, b, [b]).score == 0


def test_the_domain_and_the_contract_agree_on_the_default_threshold() -> None:
    assert model.DEFAULT_ALIGNMENT_THRESHOLD == contracts.DEFAULT_ALIGNMENT_THRESHOLD
