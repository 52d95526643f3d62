"""When a message may go out on the member's clocks (quiet hours), and the member's zone in the times mail shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from notify_examples import NOW

from kehrwasser_notify.config import NotifySettings
from kehrwasser_notify.domain import emails
from kehrwasser_notify.domain.model import DEFAULT_TIMEZONE, Contact, QuietHours, may_send_at
from kehrwasser_shared.contracts import members

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = QuietHours(22, 7)
SENDER = "Kehrwasser <noreply@kehrwasser.local>"


def berlin(year: int, month: int, day: int, hour: int, minute: int, *, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


def test_notify_and_the_members_contracts_agree_on_the_zone_of_a_member_without_one() -> None:
    assert DEFAULT_TIMEZONE == members.DEFAULT_TIMEZONE


@pytest.mark.parametrize(
    ("text", "expected"),
    [("22-7", QuietHours(22, 7)), (" 1-6 ", QuietHours(1, 6)), ("0-23", QuietHours(0, 23)), ("", None), ("  ", None)],
)
def test_quiet_hours_are_read_from_the_setting(text: str, expected: QuietHours | None) -> None:
    assert QuietHours.parse(text) == expected


@pytest.mark.parametrize("text", ["22", "22-", "7-7", "24-6", "22-7-1", "ten-six", "-1-6", "22:30-7"])
def test_quiet_hours_that_cannot_be_meant_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="quiet hours"):
        QuietHours.parse(text)


def test_a_mistyped_quiet_hours_setting_stops_the_start() -> None:
    with pytest.raises(ValueError, match="quiet hours"):
        NotifySettings(mail_quiet_hours="22 to 7")
    assert NotifySettings().quiet_hours() is None  # off unless set
    assert NotifySettings(mail_quiet_hours="22-7").quiet_hours() == NIGHT


@pytest.mark.parametrize(
    ("now", "ends"),
    [
        (berlin(2026, 11, 24, 21, 59), None),  # the evening before
        (berlin(2026, 11, 24, 22, 0), berlin(2026, 11, 25, 7, 0)),  # from the first minute, to the next morning
        (berlin(2026, 11, 24, 23, 59), berlin(2026, 11, 25, 7, 0)),
        (berlin(2026, 11, 25, 0, 0), berlin(2026, 11, 25, 7, 0)),  # past midnight: the same morning
        (berlin(2026, 11, 25, 6, 59), berlin(2026, 11, 25, 7, 0)),
        (berlin(2026, 11, 25, 7, 0), None),  # the end is no longer quiet
        (berlin(2026, 11, 25, 12, 0), None),
    ],
)
def test_a_night_across_midnight_ends_the_next_morning(now: datetime, ends: datetime | None) -> None:
    assert NIGHT.ends_after(now, "Europe/Berlin") == ends


def test_a_window_within_one_day_ends_the_same_day() -> None:
    early = QuietHours(1, 6)
    assert early.ends_after(berlin(2026, 11, 25, 0, 59), "Europe/Berlin") is None
    assert early.ends_after(berlin(2026, 11, 25, 3, 0), "Europe/Berlin") == berlin(2026, 11, 25, 6, 0)
    assert early.ends_after(berlin(2026, 11, 25, 6, 0), "Europe/Berlin") is None
    assert early.ends_after(berlin(2026, 11, 25, 23, 0), "Europe/Berlin") is None


def test_the_end_is_given_in_utc() -> None:
    ends = NIGHT.ends_after(berlin(2026, 11, 24, 23, 0), "Europe/Berlin")
    assert ends is not None
    assert ends.utcoffset() == timedelta(0)
    assert ends == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def test_quiet_hours_are_kept_on_the_members_clocks() -> None:
    late_in_berlin = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)  # 23:30 in Berlin, 17:30 in New York, 07:30 in Tokyo
    assert NIGHT.ends_after(late_in_berlin, "Europe/Berlin") == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    assert NIGHT.ends_after(late_in_berlin, "America/New_York") is None
    assert NIGHT.ends_after(late_in_berlin, "Asia/Tokyo") is None
    early_in_tokyo = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)  # 05:00 on the 25th in Tokyo
    assert NIGHT.ends_after(early_in_tokyo, "Asia/Tokyo") == datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def test_the_night_summer_time_begins_is_an_hour_shorter() -> None:
    # 29 March 2026: at 02:00 CET the clocks go to 03:00 CEST. The night ends at 07:00 CEST, i.e. 05:00 UTC.
    ends = NIGHT.ends_after(berlin(2026, 3, 28, 23, 0), "Europe/Berlin")
    assert ends == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
    assert ends - berlin(2026, 3, 28, 23, 0) == timedelta(hours=7)


def test_an_end_the_clocks_skip_is_the_first_moment_after_the_gap() -> None:
    # Quiet until 02:30, a time 29 March 2026 does not have in Berlin: it ends at 03:00 CEST (01:00 UTC).
    assert QuietHours(22, 2).ends_after(berlin(2026, 3, 29, 1, 30), "Europe/Berlin") == berlin(2026, 3, 29, 3, 0)
    assert berlin(2026, 3, 29, 3, 0) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_the_night_summer_time_ends_is_an_hour_longer() -> None:
    # 25 October 2026: at 03:00 CEST the clocks go back to 02:00 CET. The night ends at 07:00 CET, 06:00 UTC.
    ends = NIGHT.ends_after(berlin(2026, 10, 24, 23, 0), "Europe/Berlin")
    assert ends == datetime(2026, 10, 25, 6, 0, tzinfo=UTC)
    assert ends - berlin(2026, 10, 24, 23, 0) == timedelta(hours=9)


def test_an_end_the_clocks_repeat_is_its_first_occurrence() -> None:
    # (An ambiguous local time compares unequal to every other zone's (PEP 495): compared in UTC here.)
    until_two = QuietHours(22, 2)
    first_two = datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # 02:00 CEST
    assert until_two.ends_after(berlin(2026, 10, 25, 1, 30), "Europe/Berlin") == first_two
    assert first_two.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 10, 25, 2, 0)
    assert first_two.astimezone(BERLIN).utcoffset() == timedelta(hours=2)
    # The repeated hour (02:00-03:00 CET) is after the end, on the member's clocks as on anyone's.
    assert until_two.ends_after(berlin(2026, 10, 25, 2, 30, fold=1), "Europe/Berlin") is None


def test_urgent_mail_and_mail_without_quiet_hours_go_at_once() -> None:
    night = berlin(2026, 11, 24, 23, 30)
    assert may_send_at(night, "Europe/Berlin", NIGHT, urgent=True) == night
    assert may_send_at(night, "Europe/Berlin", None, urgent=False) == night
    assert may_send_at(night, "Europe/Berlin", NIGHT, urgent=False) == berlin(2026, 11, 25, 7, 0)
    day = berlin(2026, 11, 24, 12, 0)
    assert may_send_at(day, "Europe/Berlin", NIGHT, urgent=False) == day


def test_mail_shows_its_times_in_the_members_zone() -> None:
    grace = Contact("grace", "Grace Hopper", "grace@example.org", "en", "America/New_York")
    expires = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
    pending = emails.notice(
        sender=SENDER, contact=grace, kind="contribution-pending", message_id="<p1@kehrwasser>", now=NOW,
        context={"alliance": "Hamburg Founders", "giver": "Ada Lovelace", "kind": "advice", "value": 3,
                 "note": "", "contribution_id": "c-9", "expires_at": expires},
    )  # fmt: skip
    assert "by Tuesday, 8 December 2026, 07:00 (America/New_York)" in pending.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    confirmation = emails.email_change(
        sender=SENDER, contact=grace, confirm_url="https://kehrwasser.local/confirm-email?token=t", expires_at=expires,
        message_id="<c1@kehrwasser>", now=NOW,
    )  # fmt: skip
    assert "until Tuesday, 8 December 2026, 07:00 (America/New_York)" in confirmation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
