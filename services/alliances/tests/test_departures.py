"""Departures from the network: a membership ends whatever the alliance's rules, a last moderator is succeeded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from kehrwasser_alliances.domain import departures, model

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LATER = NOON + timedelta(hours=1)


def hamburg() -> model.Alliance:
    alliance = model.found(
        alliance_id="hamburg",
        name="Hamburg Founders",
        purpose="",
        focus=["compute"],
        warning_threshold=Decimal("-5"),
        founder_ids=["ada"],
        now=NOON,
    )
    alliance.admit("grace", NOON + timedelta(minutes=1))
    alliance.admit("linus", NOON + timedelta(minutes=2))
    alliance.request("kim", "I sell shoes", NOON)
    return alliance


def test_the_last_moderator_leaving_the_network_is_succeeded_by_the_longest_standing_member() -> None:
    alliance = hamburg()
    departure = departures.depart(alliance, "ada", LATER)
    assert departure is not None
    assert (departure.left.status, departure.left.role, departure.left.since) == (model.LEFT, model.MODERATOR, LATER)
    assert departure.successor is not None
    assert (departure.successor.member_id, departure.successor.role) == ("grace", model.MODERATOR)
    assert alliance.moderators == ["grace"]
    assert list(alliance.members) == ["grace", "linus"]


def test_a_member_leaving_needs_no_successor_and_one_who_does_not_belong_does_not_depart() -> None:
    alliance = hamburg()
    departure = departures.depart(alliance, "linus", LATER)
    assert departure is not None
    assert departure.successor is None
    assert departures.depart(alliance, "linus", LATER) is None
    assert departures.depart(alliance, "kim", LATER) is None


def test_the_only_member_leaves_an_alliance_without_anyone() -> None:
    alliance = model.found(
        alliance_id="solo",
        name="Solo",
        purpose="",
        focus=[],
        warning_threshold=Decimal("-5"),
        founder_ids=["ada"],
        now=NOON,
    )
    departure = departures.depart(alliance, "ada", LATER)
    assert departure is not None
    assert departure.successor is None
    assert alliance.members == {}


def test_a_waiting_request_is_declined_and_the_words_about_a_member_are_forgotten() -> None:
    alliance = hamburg()
    ended = departures.withdraw(alliance, "kim", decided_by="staff", reason="suspended from the network", now=LATER)
    assert ended is not None
    assert (ended.status, ended.decided_by, ended.reason) == (model.DECLINED, "staff", "suspended from the network")
    assert departures.withdraw(alliance, "kim", decided_by="staff", reason="again", now=LATER) is None
    forgotten = departures.forget_words(alliance, "kim")
    assert forgotten is not None
    assert (forgotten.status, forgotten.decided_by, forgotten.message, forgotten.reason) == (
        model.DECLINED,
        "staff",
        "",
        "",
    )
    assert departures.forget_words(alliance, "kim") is None
