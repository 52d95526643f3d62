"""The members domain's rules, without I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from kehrwasser_members.domain import model
from kehrwasser_shared.contracts import members as contracts
from kehrwasser_shared.contracts.common import Language

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LATER = NOON + timedelta(hours=1)


def ada() -> model.Member:
    return model.register(
        member_id="ada",
        name="Ada Lovelace",
        email="Ada@Example.org",
        company="Analytical Engines",
        language="en",
        focus=["AI", "Real Estate"],
        now=NOON,
        unsubscribe_token="ada-unsubscribe-token-0123456789",
    )


def test_the_domain_and_the_contracts_agree_on_languages_categories_fields_and_the_default_zone() -> None:
    assert model.CATEGORIES == contracts.CATEGORIES
    assert get_args(Language) == model.LANGUAGES
    assert model.DEFAULT_TIMEZONE == contracts.DEFAULT_TIMEZONE
    assert get_args(contracts.ProfileField) == model.PROFILE_FIELDS
    assert [status.value for status in model.Status] == list(get_args(contracts.MemberStatus))


def test_a_new_member_is_active_in_berlin_wants_every_category_and_has_slugs_for_focus() -> None:
    member = ada()
    assert member.status is model.Status.ACTIVE
    assert member.timezone == "Europe/Berlin"
    assert member.preferences == {"balance": True, "meetings": True, "membership": True, "digest": True}
    assert member.focus == ("ai", "real-estate")
    assert member.email == "ada@example.org"


def test_the_suggested_focus_tags_are_slugs_already() -> None:
    assert all(model.focus_slug(tag) == tag for tag in contracts.SUGGESTED_FOCUS_TAGS)


def test_a_profile_update_names_only_what_really_changed() -> None:
    member, changed = model.update_profile(
        ada(), requested_by="ada", now=LATER, name="Ada Lovelace", timezone="Europe/London", focus=["ai", "Poetry"]
    )
    assert changed == ["timezone", "focus"]
    assert member.focus == ("ai", "poetry")
    assert member.updated_at == LATER


def test_a_profile_update_that_changes_nothing_is_no_change() -> None:
    original = ada()
    member, changed = model.update_profile(original, requested_by="ada", now=LATER, language="en")
    assert (member, changed) == (original, [])


def test_only_the_member_may_change_their_own_profile() -> None:
    with pytest.raises(model.NotAllowed):
        model.update_profile(ada(), requested_by="grace", now=LATER, name="Eve")


def test_a_blank_name_is_refused() -> None:
    with pytest.raises(model.InvalidMember):
        model.update_profile(ada(), requested_by="ada", now=LATER, name="   ")


def test_a_member_who_left_can_change_nothing_but_may_still_unsubscribe() -> None:
    gone = model.leave(ada(), requested_by="ada", reason="", now=LATER)
    with pytest.raises(model.InvalidStatusChange):
        model.update_profile(gone, requested_by="ada", now=LATER, name="Ada King")
    with pytest.raises(model.InvalidStatusChange):
        model.set_preferences(gone, requested_by="ada", choices={"digest": False}, now=LATER)
    quiet, changed = model.unsubscribe(gone, category="all", now=LATER)
    assert changed
    assert not any(quiet.preferences.values())


def test_unsubscribing_twice_changes_nothing_the_second_time() -> None:
    once, changed_once = model.unsubscribe(ada(), category="digest", now=LATER)
    twice, changed_twice = model.unsubscribe(once, category="digest", now=LATER)
    assert (changed_once, changed_twice) == (True, False)
    assert twice.preferences == {"balance": True, "meetings": True, "membership": True, "digest": False}


def test_an_address_change_keeps_only_the_tokens_hash_for_24_hours() -> None:
    member = model.request_email_change(
        ada(), requested_by="ada", new_email="ADA@analytical.example", token="secret-token-of-ada", now=NOON
    )
    assert member.email == "ada@example.org"
    assert member.email_change == model.EmailChange(
        "ada@analytical.example", model.token_hash("secret-token-of-ada"), NOON + timedelta(hours=24)
    )
    assert "secret-token-of-ada" not in repr(member)


def test_the_right_token_confirms_the_address_once() -> None:
    pending = model.request_email_change(ada(), requested_by="ada", new_email="a@b.example", token="t" * 43, now=NOON)
    confirmed = model.confirm_email_change(pending, token="t" * 43, now=LATER)
    assert (confirmed.email, confirmed.email_change) == ("a@b.example", None)
    with pytest.raises(model.InvalidToken):
        model.confirm_email_change(confirmed, token="t" * 43, now=LATER)


@pytest.mark.parametrize(
    ("token", "at"),
    [("wrong-token", LATER), ("t" * 43, NOON + timedelta(hours=24)), ("t" * 43, NOON + timedelta(days=9))],
)
def test_a_wrong_or_expired_token_confirms_nothing(token: str, at: datetime) -> None:
    pending = model.request_email_change(ada(), requested_by="ada", new_email="a@b.example", token="t" * 43, now=NOON)
    with pytest.raises(model.InvalidToken):
        model.confirm_email_change(pending, token=token, now=at)


def test_asking_for_the_address_one_has_already_is_refused() -> None:
    with pytest.raises(model.InvalidMember):
        model.request_email_change(ada(), requested_by="ada", new_email="ADA@example.org ", token="t", now=NOON)


def test_leaving_withdraws_a_pending_address_change() -> None:
    pending = model.request_email_change(ada(), requested_by="ada", new_email="a@b.example", token="t" * 43, now=NOON)
    gone = model.leave(pending, requested_by="ada", reason="moving on", now=LATER)
    assert gone.email_change is None
    with pytest.raises(model.InvalidToken):
        model.confirm_email_change(replace(gone, email_change=pending.email_change), token="t" * 43, now=LATER)


def test_suspension_and_reactivation_record_who_and_why() -> None:
    suspended = model.suspend(ada(), requested_by="operator-kim", reason="sales pitches in three alliances", now=NOON)
    assert suspended.status is model.Status.SUSPENDED
    assert suspended.last_status_change == model.StatusChange("operator-kim", "sales pitches in three alliances", NOON)
    back = model.reactivate(suspended, requested_by="operator-kim", reason="talked it through", now=LATER)
    assert back.status is model.Status.ACTIVE


def test_a_member_can_neither_suspend_nor_reactivate_themself() -> None:
    with pytest.raises(model.NotAllowed):
        model.suspend(ada(), requested_by="ada", reason="why not", now=NOON)
    suspended = model.suspend(ada(), requested_by="operator-kim", reason="spam", now=NOON)
    with pytest.raises(model.NotAllowed):
        model.reactivate(suspended, requested_by="ada", reason="I am sorry", now=LATER)


@pytest.mark.parametrize("status", [model.Status.SUSPENDED, model.Status.LEFT])
def test_only_an_active_member_can_be_suspended(status: model.Status) -> None:
    with pytest.raises(model.InvalidStatusChange):
        model.suspend(replace(ada(), status=status), requested_by="operator-kim", reason="spam", now=NOON)


def test_an_active_member_cannot_be_reactivated_and_a_member_who_left_can() -> None:
    with pytest.raises(model.InvalidStatusChange):
        model.reactivate(ada(), requested_by="operator-kim", reason="?", now=NOON)
    gone = model.leave(ada(), requested_by="ada", reason="", now=NOON)
    assert model.reactivate(gone, requested_by="operator-kim", reason="back", now=LATER).status is model.Status.ACTIVE


def test_a_suspension_needs_a_reason() -> None:
    with pytest.raises(model.InvalidMember):
        model.suspend(ada(), requested_by="operator-kim", reason="  ", now=NOON)


def test_leaving_twice_is_refused_and_only_the_member_may_leave() -> None:
    with pytest.raises(model.NotAllowed):
        model.leave(ada(), requested_by="grace", reason="", now=NOON)
    gone = model.leave(ada(), requested_by="ada", reason="", now=NOON)
    with pytest.raises(model.InvalidStatusChange):
        model.leave(gone, requested_by="ada", reason="", now=LATER)


def test_names_sort_and_match_ignoring_case() -> None:
    assert model.name_key("Ada Lovelace") == model.name_key("ADA LOVELACE")
    assert model.name_key("Straße") == "strasse"


def test_a_cursor_names_its_position_and_garbage_is_no_cursor() -> None:
    cursor = contracts.encode_cursor("ada lovelace", "ada")
    assert contracts.decode_cursor(cursor) == ("ada lovelace", "ada")
    for garbage in ("abc", "bnVsbA", contracts.encode_cursor("x", "y")[:-3]):
        with pytest.raises(ValueError, match="cursor"):
            contracts.decode_cursor(garbage)
