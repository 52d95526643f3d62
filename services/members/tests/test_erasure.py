"""Erasure in the members domain: what stays (id, status, registration), what goes, and what is refused after."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kehrwasser_members.domain import model

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LATER = NOON + timedelta(hours=1)


def linus() -> model.Member:
    member = model.register(
        member_id="linus",
        name="Linus Torvalds",
        email="linus@example.org",
        company="Kernel GmbH",
        language="de",
        focus=["kernels"],
        now=NOON,
        unsubscribe_token="linus-unsubscribe-token-0123456789",
    )
    member = model.suspend(member, requested_by="staff", reason="sold shoes at every meeting", now=NOON)
    return replace(
        member,
        timezone="Europe/Helsinki",
        email_change=model.EmailChange("new@example.org", "hash", LATER),
    )


def test_erasure_keeps_the_id_status_and_registration_and_nothing_personal() -> None:
    erased, changed = model.erase(linus(), requested_by="linus", now=LATER, unsubscribe_token="fresh-token-0123456789")
    assert changed
    assert (erased.member_id, erased.status, erased.registered_at) == ("linus", model.Status.ERASED, NOON)
    assert erased.name == model.pseudonym("linus")
    assert erased.name.startswith("erased-")
    assert erased.email is None
    assert (erased.company, erased.focus, erased.email_change) == ("", (), None)
    assert erased.timezone == model.DEFAULT_TIMEZONE
    assert not any(erased.preferences.values())
    assert erased.unsubscribe_token == "fresh-token-0123456789"
    assert erased.last_status_change == model.StatusChange(by="linus", reason="", at=LATER)
    for personal in ("Linus", "Torvalds", "linus@", "Kernel", "kernels", "shoes", "Helsinki", "new@"):
        assert personal not in repr(erased)


def test_the_pseudonym_depends_on_the_id_alone() -> None:
    assert model.pseudonym("linus") == model.pseudonym("linus") != model.pseudonym("ada")
    assert len(model.pseudonym("linus")) == len("erased-") + 12


def test_erasing_twice_changes_nothing() -> None:
    erased, _ = model.erase(linus(), requested_by="staff", now=LATER, unsubscribe_token="fresh-token-0123456789")
    again, changed = model.erase(erased, requested_by="staff", now=LATER + LATER.resolution, unsubscribe_token="x" * 20)
    assert (again, changed) == (erased, False)


def test_an_erased_member_cannot_be_changed_reactivated_or_confirm_an_address() -> None:
    erased, _ = model.erase(linus(), requested_by="staff", now=LATER, unsubscribe_token="fresh-token-0123456789")
    with pytest.raises(model.InvalidStatusChange):
        model.update_profile(erased, requested_by="linus", now=LATER, name="Linus")
    with pytest.raises(model.InvalidStatusChange):
        model.set_preferences(erased, requested_by="linus", choices={"balance": True}, now=LATER)
    with pytest.raises(model.InvalidStatusChange):
        model.request_email_change(erased, requested_by="linus", new_email="l@example.org", token="t", now=LATER)
    with pytest.raises(model.InvalidStatusChange):
        model.leave(erased, requested_by="linus", reason="", now=LATER)
    with pytest.raises(model.InvalidStatusChange):
        model.reactivate(erased, requested_by="staff", reason="come back", now=LATER)
    with pytest.raises(model.InvalidStatusChange):
        model.suspend(erased, requested_by="staff", reason="again", now=LATER)
