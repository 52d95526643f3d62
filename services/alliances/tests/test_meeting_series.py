"""Meeting series: recurrence rules across daylight saving time, the horizon, refused rules, and the changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from kehrwasser_alliances.domain import model

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
BERLIN = "Europe/Berlin"
EVERY_SECOND_TUESDAY = "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU"


def hamburg() -> model.Alliance:
    alliance = model.found(
        alliance_id="hamburg",
        name="Hamburg Founders",
        purpose="",
        focus=[],
        warning_threshold=Decimal("-5"),
        founder_ids=["ada"],
        now=NOW,
    )
    alliance.admit("grace", NOW)
    return alliance


def series(rrule: str | None = EVERY_SECOND_TUESDAY, start: datetime = datetime(2027, 1, 5, 18, 0)) -> model.Meeting:
    return model.schedule_meeting(
        hamburg(),
        meeting_id="m-1",
        requested_by="ada",
        title="Course check",
        starts_at=start,
        timezone=BERLIN,
        duration_minutes=90,
        location="Kontorhaus",
        now=NOW,
        agenda="Who needs a word?",
        rrule=rrule,
    )


def test_a_series_at_18_00_berlin_stays_at_18_00_local_across_both_daylight_saving_switches() -> None:
    meeting = series(start=datetime(2027, 1, 5, 18, 0))
    starts = list(meeting.original_starts(datetime(2027, 12, 31)))
    assert all(start.hour == 18 and start.minute == 0 for start in starts)
    instants = [model.instant_of(start, BERLIN).astimezone(UTC) for start in starts]
    # Winter: 17:00 UTC; summer (after 28 March 2027): 16:00 UTC; after 31 October: 17:00 UTC again.
    assert {i.hour for i in instants if i.month in (1, 2)} == {17}
    assert {i.hour for i in instants if 4 <= i.month <= 9} == {16}
    assert {i.hour for i in instants if i.month == 12} == {17}
    assert all(
        b - a in (timedelta(days=14), timedelta(days=14, hours=1), timedelta(days=14, hours=-1))
        for a, b in itertools.pairwise(instants)
    )


def test_the_next_occurrences_are_every_second_tuesday_from_now() -> None:
    meeting = series()
    nexts = meeting.occurrences(NOW, 3)
    assert [o.starts_at for o in nexts] == [
        datetime(2027, 1, 5, 18),
        datetime(2027, 1, 19, 18),
        datetime(2027, 2, 2, 18),
    ]
    assert meeting.rrule == EVERY_SECOND_TUESDAY
    assert meeting.uid == "m-1@kehrwasser"


def test_an_unending_series_is_computed_one_year_ahead_only() -> None:
    meeting = series("FREQ=DAILY")
    upcoming = meeting.occurrences(NOW, model.MAX_SHOWN * 100)
    assert upcoming
    assert max(model.instant_of(o.starts_at, BERLIN) for o in upcoming) <= NOW + model.OCCURRENCE_HORIZON


def test_a_start_inside_the_daylight_saving_gap_is_refused() -> None:
    with pytest.raises(model.InvalidMeetingTime, match="does not exist"):
        series(start=datetime(2027, 3, 28, 2, 30), rrule="FREQ=WEEKLY")


def test_a_start_in_the_past_is_refused() -> None:
    with pytest.raises(model.InvalidMeetingTime, match="passed"):
        series(start=datetime(2026, 11, 1, 18, 0))


@pytest.mark.parametrize(
    ("rule", "why"),
    [
        ("FREQ=HOURLY", "FREQ must be"),
        ("FREQ=MINUTELY;COUNT=5", "FREQ must be"),
        ("FREQ=SECONDLY", "FREQ must be"),
        ("FREQ=WEEKLY;BYHOUR=9", "not allowed"),
        ("FREQ=WEEKLY;BYEASTER=0", "not allowed"),
        ("FREQ=FORTNIGHTLY", "FREQ must be"),
        ("FREQ=WEEKLY;BYDAY=XX", "not a valid RRULE"),
        ("FREQ=WEEKLY;COUNT=3;UNTIL=20270301T000000Z", "not both"),
        ("FREQ=WEEKLY;UNTIL=20270301T000000", "UTC"),
        ("FREQ=WEEKLY;BYDAY=WE", "first occurrence"),
        ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31", "no occurrence"),
        ("FREQ=WEEKLY;COUNT=400", "five years|1825 days"),
        ("FREQ=DAILY;UNTIL=20400101T000000Z", "1825 days"),
        ("WEEKLY", "NAME=VALUE"),
    ],
)
def test_a_rule_a_meeting_cannot_follow_is_refused_with_the_reason(rule: str, why: str) -> None:
    with pytest.raises(model.InvalidRecurrence, match=why):
        series(rule)


def test_a_rule_ending_within_the_horizon_is_kept_normalised() -> None:
    assert series("rrule:freq=weekly;count=10").rrule == "FREQ=WEEKLY;COUNT=10"


def test_moving_one_occurrence_raises_the_sequence_and_shows_it_moved() -> None:
    meeting = series()
    second = datetime(2027, 1, 19, 18)
    meeting.reschedule(
        second, by="ada", starts_at=datetime(2027, 1, 20, 19), duration_minutes=None, location="Online", now=NOW
    )
    assert meeting.sequence == 1
    moved = meeting.occurrences(NOW, 3)[1]
    assert (moved.recurrence_id, moved.starts_at, moved.location, moved.status) == (
        second,
        datetime(2027, 1, 20, 19),
        "Online",
        model.RESCHEDULED,
    )


def test_an_occurrence_the_rule_does_not_give_is_unknown() -> None:
    with pytest.raises(model.UnknownOccurrence):
        series().cancel_occurrence(datetime(2027, 1, 12, 18), by="ada", reason="", now=NOW)


def test_cancelling_an_occurrence_twice_changes_nothing_the_second_time() -> None:
    meeting = series()
    assert meeting.cancel_occurrence(datetime(2027, 1, 19, 18), by="ada", reason="holiday", now=NOW)
    assert not meeting.cancel_occurrence(datetime(2027, 1, 19, 18), by="ada", reason="holiday", now=NOW)
    assert meeting.sequence == 1
    assert meeting.occurrences(NOW, 2)[1].status == model.CANCELLED


def test_a_new_rule_drops_the_exceptions_and_a_cancelled_series_cannot_change() -> None:
    meeting = series()
    meeting.cancel_occurrence(datetime(2027, 1, 19, 18), by="ada", reason="", now=NOW)
    meeting.update(
        by="ada",
        title=None,
        agenda=None,
        starts_at=None,
        timezone=None,
        duration_minutes=None,
        location=None,
        rrule="FREQ=WEEKLY;BYDAY=TU",
        now=NOW,
    )
    assert meeting.exceptions == {}
    assert meeting.sequence == 2
    assert meeting.cancel(by="ada", reason="the alliance pauses", now=NOW)
    with pytest.raises(model.MeetingCancelled):
        meeting.reschedule(
            datetime(2027, 1, 12, 18), by="ada", starts_at=None, duration_minutes=30, location=None, now=NOW
        )


def test_attendance_needs_the_occurrence_to_have_begun_and_invited_attendees() -> None:
    meeting = series(None)
    with pytest.raises(model.InvalidAttendance, match="not begun"):
        meeting.record_attendance(None, ["ada"], by="ada", now=NOW)
    later = datetime(2027, 1, 5, 19, tzinfo=UTC)
    with pytest.raises(model.InvalidAttendance, match="mallory"):
        meeting.record_attendance(None, ["mallory"], by="ada", now=later)
    attendance = meeting.record_attendance(None, ["grace"], by="ada", now=later)
    assert (attendance.attended_ids, attendance.absent_ids) == (("grace",), ("ada",))


def test_a_new_member_is_added_once_and_a_leaver_removed_without_a_new_sequence() -> None:
    meeting = series()
    assert meeting.add_attendee("linus")
    assert not meeting.add_attendee("linus")
    assert meeting.remove_attendee("grace")
    assert meeting.attendee_ids == ("ada", "linus")
    assert meeting.sequence == 0
