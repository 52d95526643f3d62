"""Hostile inputs: valid requests and events of the network, and what an attacker or a broken client makes of
them (malformed JSON, wrong types, huge and deeply nested payloads, control characters, unicode, numeric and
date extremes, unknown versions, fields that do not exist)."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from kehrwasser_shared.contracts import alliances, ledger, members, notify, privacy
from kehrwasser_shared.contracts.registry import CommandContract, EventContract

from .network import Seeded

NEXT_YEAR = datetime.now(UTC).year + 1
HUGE = "x" * 300_000  # well within NATS's 1 MB message limit, far beyond every field's
EXTREMES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**31,
    2**53,
    2**63,
    10**26,
    -(10**26),
    1e308,
    -0.0,
    0.001,
    "",
    " ",
    "a\x00b",
    "Eve\r\nBcc: x@y.z",
    "tab\there",
    "line\u2028separator",
    "\x7f\x85",
    "\u202eevil",
    "💥" * 60,
    "x" * 5000,
    HUGE,
    "9999-12-31T23:59:59",
    "0001-01-01T00:00:00",
    "2020-01-01T18:00:00",
    f"{NEXT_YEAR}-03-28T02:30:00",
    f"{NEXT_YEAR}-01-10T18:00+05:00",
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "../../etc/passwd",
    "Europe/" + "x" * 100_000,
    "Mars/Olympus_Mons",
    "alliance",
    [],
    {},
    [[[[[]]]]],
    {"$ne": None},
    ["a\x00"] * 100,
    list(range(10_000)),
]
RAW: list[bytes] = [
    b"",
    b"{",
    b"null",
    b"[]",
    b'"just a string"',
    b"\xff\xfe\x00",
    b"[" * 50_000 + b"]" * 50_000,
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    json.dumps({"name": HUGE * 3}).encode(),
    b'{"specversion": "1.0", "id": ',
]

garbage = st.one_of(
    st.sampled_from(EXTREMES),
    st.text(max_size=200),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.datetimes(timezones=st.none() | st.just(UTC)).map(lambda d: d.isoformat()),
    st.lists(st.integers() | st.text(max_size=20), max_size=5),
    st.dictionaries(st.text(max_size=10), st.integers() | st.text(max_size=10), max_size=5),
)


def valid_requests(seeded: Seeded) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    """A strategy of valid-looking requests per command subject, naming what the network holds."""
    member = st.sampled_from([seeded.ada, seeded.grace, seeded.linus])
    fresh_id = st.uuids().map(str)
    text = st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=50)
    name = text.filter(lambda t: t.strip() != "")
    start = st.datetimes(min_value=datetime(NEXT_YEAR, 1, 1), max_value=datetime(NEXT_YEAR + 1, 12, 31)).map(
        lambda d: d.isoformat()
    )
    alliance = st.just(seeded.alliance)
    rrule = st.sampled_from(
        ["FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", "FREQ=MONTHLY;BYDAY=-1FR;COUNT=12", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31"]
    )
    contribution = st.sampled_from(seeded.contributions) | fresh_id
    kind = st.sampled_from([k.value for k in ledger.ContributionKind])
    resource_kind = st.sampled_from(["domain", "analysis", "knowledge", "network", "tool"])
    value = st.decimals(min_value="0.01", max_value="20", places=2).map(str)
    return {
        members.REGISTER.subject: st.fixed_dictionaries(
            {"name": name, "email": fresh_id.map(lambda i: f"{i}@example.org")},
            optional={"company": text, "language": st.sampled_from(["de", "en"]), "focus": st.lists(name, max_size=3)},
        ),
        members.GET.subject: st.fixed_dictionaries({"member_id": member | fresh_id}),
        members.GET_BY_EMAIL.subject: st.fixed_dictionaries({"email": fresh_id.map(lambda i: f"{i}@example.org")}),
        members.LIST.subject: st.fixed_dictionaries(
            {},
            optional={
                "status": st.sampled_from(["active", "suspended", "left"]),
                "focus": name,
                "name_prefix": name,
                "limit": st.integers(1, 200),
            },
        ),
        members.UPDATE_PROFILE.subject: member.flatmap(
            lambda m: st.fixed_dictionaries(
                {"member_id": st.just(m), "requested_by": st.just(m) | member},
                optional={
                    "name": name,
                    "company": text,
                    "timezone": st.sampled_from(["Europe/Berlin", "Asia/Kathmandu", "UTC"]),
                    "focus": st.lists(name, max_size=3),
                },
            )
        ),
        members.SET_PREFERENCES.subject: member.flatmap(
            lambda m: st.fixed_dictionaries(
                {"member_id": st.just(m), "requested_by": st.just(m)}, optional={"digest": st.booleans()}
            )
        ),
        members.UNSUBSCRIBE.subject: st.fixed_dictionaries(
            {"token": st.just("A" * 43), "category": st.sampled_from(["balance", "all"])}
        ),
        members.REQUEST_EMAIL_CHANGE.subject: member.flatmap(
            lambda m: st.fixed_dictionaries(
                {"member_id": st.just(m), "requested_by": st.just(m), "new_email": fresh_id.map(lambda i: f"{i}@x.org")}
            )
        ),
        members.CONFIRM_EMAIL_CHANGE.subject: st.fixed_dictionaries({"token": st.just("B" * 43)}),
        members.SUSPEND.subject: st.fixed_dictionaries(
            {"member_id": member | fresh_id, "requested_by": st.just("operator"), "reason": name}
        ),
        members.REACTIVATE.subject: st.fixed_dictionaries(
            {"member_id": member | fresh_id, "requested_by": st.just("operator"), "reason": name}
        ),
        members.LEAVE.subject: st.fixed_dictionaries({"member_id": fresh_id, "requested_by": fresh_id}),
        members.ERASE.subject: st.fixed_dictionaries({"member_id": fresh_id, "requested_by": fresh_id}),
        **{export.subject: st.fixed_dictionaries({"member_id": member | fresh_id}) for export in privacy.EXPORTS},
        alliances.CREATE.subject: st.fixed_dictionaries(
            {"name": name, "moderator_id": member}, optional={"purpose": text, "warning_threshold": value}
        ),
        alliances.JOIN.subject: st.fixed_dictionaries({"alliance_id": alliance, "member_id": member}),
        alliances.SCHEDULE_MEETING.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "requested_by": member, "title": name, "starts_at": start},
            optional={
                "timezone": st.sampled_from(["Europe/Berlin", "America/New_York", "Asia/Kathmandu", "UTC"]),
                "duration_minutes": st.integers(1, 24 * 60),
                "location": text,
                "agenda": text,
                "rrule": rrule,
            },
        ),
        alliances.UPDATE.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "requested_by": member},
            optional={
                "name": name,
                "purpose": text,
                "focus": st.lists(name, max_size=3),
                "size_limit": st.integers(2, 50),
            },
        ),
        alliances.ARCHIVE.subject: st.fixed_dictionaries(
            {"alliance_id": alliance | fresh_id, "requested_by": fresh_id}, optional={"reason": text}
        ),
        alliances.INVITE.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "requested_by": member, "member_id": member | fresh_id}
        ),
        alliances.ACCEPT_INVITATION.subject: st.fixed_dictionaries({"alliance_id": alliance, "member_id": member}),
        alliances.DECLINE_INVITATION.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "member_id": member}, optional={"reason": text}
        ),
        alliances.REQUEST.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "member_id": member | fresh_id}, optional={"message": text}
        ),
        alliances.APPROVE.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "member_id": member, "requested_by": member}, optional={"override_reason": name}
        ),
        alliances.DECLINE.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "member_id": member, "requested_by": member, "reason": name}
        ),
        alliances.LEAVE.subject: st.fixed_dictionaries({"alliance_id": alliance, "member_id": fresh_id}),
        alliances.REMOVE.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "member_id": fresh_id, "requested_by": member, "reason": name}
        ),
        alliances.PROMOTE.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "member_id": member, "requested_by": member}
        ),
        alliances.DEMOTE.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "member_id": fresh_id, "requested_by": member}
        ),
        alliances.GET.subject: st.fixed_dictionaries({"alliance_id": alliance | fresh_id}),
        alliances.LIST.subject: st.fixed_dictionaries(
            {},
            optional={
                "member_id": member,
                "focus": name,
                "include_archived": st.booleans(),
                "limit": st.integers(1, 100),
            },
        ),
        alliances.MEMBERSHIPS.subject: st.fixed_dictionaries(
            {"member_id": member}, optional={"limit": st.integers(1, 100)}
        ),
        alliances.PENDING_REQUESTS.subject: st.fixed_dictionaries({"alliance_id": alliance, "requested_by": member}),
        alliances.UPDATE_MEETING.subject: st.fixed_dictionaries(
            {"meeting_id": fresh_id, "requested_by": member},
            optional={"title": name, "agenda": text, "starts_at": start, "rrule": rrule, "location": text},
        ),
        alliances.RESCHEDULE_OCCURRENCE.subject: st.fixed_dictionaries(
            {"meeting_id": fresh_id, "requested_by": member, "recurrence_id": start},
            optional={"starts_at": start, "location": text, "duration_minutes": st.integers(1, 24 * 60)},
        ),
        alliances.CANCEL_MEETING.subject: st.fixed_dictionaries(
            {"meeting_id": fresh_id, "requested_by": member}, optional={"reason": text}
        ),
        alliances.CANCEL_OCCURRENCE.subject: st.fixed_dictionaries(
            {"meeting_id": fresh_id, "requested_by": member, "recurrence_id": start}, optional={"reason": text}
        ),
        alliances.RECORD_ATTENDANCE.subject: st.fixed_dictionaries(
            {"meeting_id": fresh_id, "requested_by": member, "attended": st.lists(member, max_size=3)},
            optional={"recurrence_id": start},
        ),
        alliances.MEETINGS.subject: st.fixed_dictionaries(
            {"alliance_id": alliance | fresh_id},
            optional={
                "occurrences": st.integers(1, 50),
                "include_cancelled": st.booleans(),
                "limit": st.integers(1, 100),
            },
        ),
        alliances.MEETING.subject: st.fixed_dictionaries(
            {"meeting_id": fresh_id}, optional={"occurrences": st.integers(1, 50)}
        ),
        alliances.NEEDS_A_WORD.subject: st.fixed_dictionaries(
            {"alliance_id": alliance | fresh_id, "requested_by": member}, optional={"limit": st.integers(1, 100)}
        ),
        alliances.ADD_RESOURCE.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "owner_id": member, "kind": resource_kind, "title": name},
            optional={
                "description": text,
                "link": st.sampled_from(["", "https://example.org/study"]),
                "value": value,
            },
        ),
        alliances.UPDATE_RESOURCE.subject: st.fixed_dictionaries(
            {"resource_id": fresh_id, "requested_by": member},
            optional={"kind": resource_kind, "title": name, "description": text},
        ),
        alliances.REMOVE_RESOURCE.subject: st.fixed_dictionaries(
            {"resource_id": fresh_id, "requested_by": member}, optional={"reason": text}
        ),
        alliances.RECORD_RESOURCE_USE.subject: st.fixed_dictionaries(
            {"resource_id": fresh_id, "used_by": member}, optional={"note": text, "value": value}
        ),
        alliances.RESOURCES.subject: st.fixed_dictionaries(
            {"alliance_id": alliance | fresh_id}, optional={"kind": resource_kind, "limit": st.integers(1, 100)}
        ),
        ledger.RECORD_CONTRIBUTION.subject: st.fixed_dictionaries(
            {
                "contribution_id": fresh_id,
                "alliance_id": alliance,
                "giver_id": member,
                "receiver_id": member | st.just("alliance"),
                "kind": kind,
                "value": value,
            },
            optional={"note": text, "recorded_by": member},
        ),
        ledger.REVERSE_CONTRIBUTION.subject: st.fixed_dictionaries(
            {"reversal_id": fresh_id, "contribution_id": contribution, "requested_by": member}
        ),
        ledger.BALANCE.subject: st.fixed_dictionaries({"alliance_id": alliance, "member_id": member}),
        ledger.VERIFY.subject: st.fixed_dictionaries({}, optional={"alliance_id": alliance, "full": st.booleans()}),
        ledger.VERIFY_STATUS.subject: st.fixed_dictionaries({"run_id": fresh_id}),
        ledger.CONFIRM_CONTRIBUTION.subject: st.fixed_dictionaries(
            {"contribution_id": contribution, "confirmed_by": member}
        ),
        ledger.REJECT_CONTRIBUTION.subject: st.fixed_dictionaries(
            {"contribution_id": contribution, "rejected_by": member}, optional={"reason": text}
        ),
        ledger.DISPUTES.subject: st.fixed_dictionaries({"alliance_id": alliance, "requested_by": member}),
        ledger.SET_POLICY.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "requested_by": member},
            optional={
                "red_below": st.just("-50"),
                "yellow_below": st.just("-20"),
                "inactivity_days": st.integers(1, 3650),
                "pending_expiry_hours": st.integers(1, 8784),
                "book_attendance": st.booleans(),
                "attendance_points": st.just("2"),
                "clear": st.lists(st.sampled_from(["floor", "probation_limit"]), max_size=2),
            },
        ),
        ledger.POLICY.subject: st.fixed_dictionaries({"alliance_id": alliance}),
        ledger.TRAFFIC_LIGHT.subject: st.fixed_dictionaries({"alliance_id": alliance}, optional={"member_id": member}),
        ledger.STATEMENT.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "member_id": member},
            optional={"limit": st.integers(1, 500), "after_version": st.integers(0, 2**31 - 1)},
        ),
        ledger.BALANCE_AT.subject: st.fixed_dictionaries(
            {"alliance_id": alliance, "member_id": member, "at": st.just("2026-11-30T12:00:00Z")}
        ),
        ledger.FLOW_MATRIX.subject: st.fixed_dictionaries({"alliance_id": alliance}, optional={"kind": kind}),
        ledger.ALLIANCE_HEALTH.subject: st.fixed_dictionaries({"alliance_id": alliance}),
        notify.MAIL_LOG.subject: st.fixed_dictionaries(
            {},
            optional={
                "member_id": member | fresh_id,
                "status": st.sampled_from(["queued", "retrying", "sent", "failed", "suppressed"]),
                "limit": st.integers(1, 200),
            },
        ),
        notify.RETRY.subject: st.fixed_dictionaries(
            {"delivery_id": fresh_id.map(lambda i: i.replace("-", "")), "requested_by": member}
        ),
    }


@st.composite
def hostile_payload(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]], fields: list[str]) -> bytes:
    """A valid payload, or one broken in one of the ways a hostile or careless client breaks it."""
    how = draw(st.sampled_from(["valid", "field", "field", "missing", "unknown field", "raw", "not an object"]))
    if how == "raw":
        return draw(st.sampled_from(RAW) | st.binary(max_size=300))
    body = draw(valid)
    if how == "field":
        body[draw(st.sampled_from(fields))] = draw(garbage)
    elif how == "missing" and body:
        body.pop(draw(st.sampled_from(sorted(body))))
    elif how == "unknown field":
        body[draw(st.sampled_from(["requested_bу", "__proto__", "extra", "data"]))] = draw(garbage)
    elif how == "not an object":
        return json.dumps(draw(garbage)).encode()
    return json.dumps(body).encode()


def command_cases(seeded: Seeded, contracts: list[CommandContract[Any, Any]]) -> st.SearchStrategy[tuple[Any, bytes]]:
    requests = valid_requests(seeded)
    return st.one_of(
        *(
            st.tuples(
                st.just(contract), hostile_payload(requests[contract.subject], list(contract.request.model_fields))
            )
            for contract in contracts
        )
    )


def valid_event_data(seeded: Seeded) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    """Data of each consumed event as its producer writes it (used as the starting point of the poison)."""
    now = datetime.now(UTC).isoformat()
    member = st.sampled_from([seeded.ada, seeded.grace, seeded.linus])
    return {
        members.MEMBER_REGISTERED.type: st.fixed_dictionaries(
            {
                "member_id": st.uuids().map(str),
                "name": st.just("Eve"),
                "email": st.just("eve@example.org"),
                "company": st.just(""),
                "language": st.just("en"),
                "focus": st.just([]),
                "registered_at": st.just(now),
            }
        ),
        # Member changes name fresh ids: a valid one is never published (only poison is), but stays harmless.
        members.MEMBER_PROFILE_UPDATED.type: st.fixed_dictionaries(
            {
                "member_id": st.uuids().map(str),
                "name": st.just("Eve"),
                "company": st.just(""),
                "language": st.just("en"),
                "timezone": st.just("Europe/Berlin"),
                "focus": st.just(["saas"]),
                "changed": st.just(["focus"]),
                "updated_at": st.just(now),
            }
        ),
        members.MEMBER_EMAIL_CHANGED.type: st.fixed_dictionaries(
            {
                "member_id": st.uuids().map(str),
                "email": st.just("eve@example.org"),
                "previous_email": st.just("old-eve@example.org"),
                "changed_at": st.just(now),
            }
        ),
        members.MEMBER_SUSPENDED.type: st.fixed_dictionaries(
            {
                "member_id": st.uuids().map(str),
                "reason": st.just("forged"),
                "suspended_by": st.just("operator"),
                "suspended_at": st.just(now),
            }
        ),
        members.MEMBER_REACTIVATED.type: st.fixed_dictionaries(
            {
                "member_id": st.uuids().map(str),
                "reason": st.just("forged"),
                "reactivated_by": st.just("operator"),
                "reactivated_at": st.just(now),
            }
        ),
        members.MEMBER_LEFT.type: st.fixed_dictionaries(
            {"member_id": st.uuids().map(str), "reason": st.just(""), "left_at": st.just(now)}
        ),
        members.MEMBER_ERASED.type: st.fixed_dictionaries(
            {"member_id": st.uuids().map(str), "erased_at": st.just(now)}
        ),
        alliances.ALLIANCE_CREATED.type: st.fixed_dictionaries(
            {
                "alliance_id": st.uuids().map(str),
                "name": st.just("Forged Founders"),
                "purpose": st.just(""),
                "focus": st.just([]),
                "warning_threshold": st.just("-10"),
                "moderator_id": member,
                "created_at": st.just(now),
            }
        ),
        alliances.MEMBER_JOINED.type: st.fixed_dictionaries(
            {
                "alliance_id": st.just(seeded.alliance),
                "member_id": member,
                "role": st.just("member"),
                "joined_at": st.just(now),
            }
        ),
        alliances.MEETING_SCHEDULED.type: st.fixed_dictionaries(
            {
                "meeting_id": st.uuids().map(str),
                "alliance_id": st.just(seeded.alliance),
                "alliance_name": st.just("Hamburg Founders"),
                "title": st.just("Course check"),
                "starts_at": st.just((datetime.now(UTC) + timedelta(days=30)).isoformat()),
                "timezone": st.just("Europe/Berlin"),
                "duration_minutes": st.just(60),
                "location": st.just(""),
                "organizer_id": st.just(seeded.ada),
                "attendee_ids": st.just([seeded.ada, seeded.grace]),
            }
        ),
        alliances.MEMBER_LEFT.type: st.fixed_dictionaries(
            {
                "alliance_id": st.just(seeded.alliance),
                "member_id": st.uuids().map(str),
                "role": st.just("member"),
                "left_at": st.just(now),
            }
        ),
        alliances.MEMBER_REMOVED.type: st.fixed_dictionaries(
            {
                "alliance_id": st.just(seeded.alliance),
                "member_id": st.uuids().map(str),
                "role": st.just("member"),
                "decided_by": st.just(seeded.ada),
                "reason": st.just("forged"),
                "removed_at": st.just(now),
            }
        ),
        alliances.ROLE_CHANGED.type: st.fixed_dictionaries(
            {
                "alliance_id": st.just(seeded.alliance),
                "member_id": st.just(seeded.ada),
                "role": st.just("moderator"),
                "previous_role": st.just("moderator"),
                "decided_by": st.just(seeded.ada),
                "changed_at": st.just(now),
            }
        ),
        alliances.ALLIANCE_ARCHIVED.type: st.fixed_dictionaries(
            {
                "alliance_id": st.uuids().map(str),
                "archived_by": st.just(seeded.ada),
                "reason": st.just(""),
                "archived_at": st.just(now),
            }
        ),
        ledger.CONTRIBUTION_SUBMITTED.type: st.fixed_dictionaries(
            {
                "contribution_id": st.uuids().map(str),
                "alliance_id": st.just(seeded.alliance),
                "giver_id": st.just(seeded.ada),
                "receiver_id": st.just(seeded.grace),
                "kind": st.just("advice"),
                "value": st.just("1"),
            }
        ),
        ledger.BALANCE_WARNING.type: st.fixed_dictionaries(
            {
                "alliance_id": st.just(seeded.alliance),
                "member_id": member,
                "light": st.just("red"),
                "previous_light": st.just("green"),
                "reason": st.just("balance"),
                "balance": st.just("-60"),
                "threshold": st.just("-50"),
                "occurred_at": st.just(now),
            }
        ),
        ledger.BALANCE_RECOVERED.type: st.fixed_dictionaries(
            {
                "alliance_id": st.just(seeded.alliance),
                "member_id": member,
                "light": st.just("yellow"),
                "previous_light": st.just("red"),
                "balance": st.just("-30"),
                "occurred_at": st.just(now),
            }
        ),
        ledger.ALLIANCE_HEALTH_PUBLISHED.type: st.fixed_dictionaries(
            {
                "alliance_id": st.uuids().map(str),
                "period_start": st.just(now),
                "period_seconds": st.just(3600),
                "members": st.just(2),
                "active_givers": st.just(1),
                "total_given": st.just("5"),
                "gini": st.just("0.5"),
                "one_way_count": st.just(1),
                "one_way_members": st.just([seeded.grace]),
                "one_way_floor": st.just("0.10"),
                "computed_at": st.just(now),
            }
        ),
        # Fresh alliances: valid ones book nothing (the ledger does not know them, or no value is named).
        alliances.ATTENDANCE_RECORDED.type: st.fixed_dictionaries(
            {
                "meeting_id": st.uuids().map(str),
                "uid": st.just("meeting@kehrwasser"),
                "alliance_id": st.uuids().map(str),
                "recurrence_id": st.just(now),
                "attended_ids": st.just([seeded.ada]),
                "absent_ids": st.just([]),
                "recorded_by": st.just(seeded.ada),
                "recorded_at": st.just(now),
            }
        ),
        alliances.RESOURCE_SHARED.type: st.fixed_dictionaries(
            {
                "resource_id": st.uuids().map(str),
                "alliance_id": st.uuids().map(str),
                "owner_id": st.just(seeded.ada),
                "kind": st.just("tool"),
                "title": st.just("Pitch deck template"),
                "link": st.just(""),
                "value": st.none(),
                "shared_at": st.just(now),
            }
        ),
        alliances.RESOURCE_USED.type: st.fixed_dictionaries(
            {
                "use_id": st.uuids().map(str),
                "resource_id": st.uuids().map(str),
                "alliance_id": st.uuids().map(str),
                "owner_id": st.just(seeded.ada),
                "used_by": st.just(seeded.grace),
                "note": st.just(""),
                "value": st.none(),
                "used_at": st.just(now),
            }
        ),
        **notify_consumes(seeded, now),
    }


def notify_consumes(seeded: Seeded, now: str) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    """Data of the events only notify consumes, as their producers write them (a fresh copy per draw)."""
    later = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0).isoformat()
    series = {
        "meeting_id": "m-hostile",
        "uid": "m-hostile@kehrwasser",
        "sequence": 1,
        "alliance_id": seeded.alliance,
        "alliance_name": "Hamburg Founders",
        "title": "Course check",
        "agenda": "",
        "starts_at": later,
        "timezone": "Europe/Berlin",
        "duration_minutes": 90,
        "location": "",
        "rrule": "FREQ=WEEKLY;INTERVAL=2",
        "organizer_id": seeded.ada,
        "attendee_ids": [seeded.ada, seeded.grace],
        "exceptions": [],
    }
    by_ada = {"alliance_id": seeded.alliance, "member_id": seeded.linus}
    alignment = {"score": 40, "alliance_overlap": 40, "members_overlap": 40, "matching": [], "missing": []}
    examples: dict[str, dict[str, Any]] = {
        members.MEMBER_PREFERENCES_CHANGED.type: {
            "member_id": seeded.linus,
            "preferences": {"balance": True, "meetings": True, "membership": True, "digest": True},
            "unsubscribe_token": "hostile-unsubscribe-token-0123456789",
            "changed_at": now,
        },
        members.MEMBER_EMAIL_CHANGE_REQUESTED.type: {
            "member_id": seeded.linus,
            "name": "Linus",
            "language": "en",
            "new_email": "linus-new@example.org",
            "token": "hostile-confirm-token-0123456789",
            "expires_at": later,
            "requested_at": now,
        },
        alliances.MEMBER_INVITED.type: {**by_ada, "invited_by": seeded.ada, "message": "", "invited_at": now},
        alliances.MEMBERSHIP_REQUESTED.type: {**by_ada, "message": "", "alignment": alignment, "requested_at": now},
        alliances.MEMBERSHIP_DECLINED.type: {**by_ada, "decided_by": seeded.ada, "reason": "no", "declined_at": now},
        alliances.MEETING_UPDATED.type: {**series, "updated_by": seeded.ada, "updated_at": now},
        alliances.OCCURRENCE_RESCHEDULED.type: {
            **series,
            "recurrence_id": later,
            "occurrence_starts_at": later,
            "occurrence_duration_minutes": 60,
            "occurrence_location": "",
            "decided_by": seeded.ada,
            "decided_at": now,
        },
        alliances.MEETING_CANCELLED.type: {**series, "cancelled_by": seeded.ada, "reason": "", "cancelled_at": now},
        alliances.OCCURRENCE_CANCELLED.type: {
            **series,
            "recurrence_id": later,
            "cancelled_by": seeded.ada,
            "reason": "",
            "cancelled_at": now,
        },
        alliances.MEETING_ATTENDEE_ADDED.type: {**series, "member_id": seeded.grace, "added_at": now},
        alliances.MEETING_ATTENDEE_REMOVED.type: {
            **series,
            "member_id": seeded.linus,
            "because": "left",
            "removed_at": now,
        },
        ledger.CONTRIBUTION_PENDING.type: {
            "contribution_id": "c-hostile",
            "alliance_id": seeded.alliance,
            "giver_id": seeded.grace,
            "receiver_id": seeded.linus,
            "kind": "advice",
            "value": "3",
            "note": "",
            "recorded_by": seeded.grace,
            "submitted_at": now,
            "expires_at": later,
            "status": "pending",
        },
    }
    return {type_: st.just(data).map(copy.deepcopy) for type_, data in examples.items()}


@st.composite
def hostile_event(
    draw: st.DrawFn, contract: EventContract[Any], data: st.SearchStrategy[dict[str, Any]]
) -> tuple[str, bytes, bool]:
    """(subject, payload, untouched): an event on one of the contract's subjects, broken in envelope or data, or
    raw junk; untouched when it is the valid event as its producer would write it."""
    body = draw(data)
    subject = (
        contract.subject_for(contract.data.model_construct(**body)) if contract.partition_key else contract.subject
    )
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "/hostile",
        "type": contract.type,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": body,
    }
    how = draw(
        st.sampled_from(["valid", "within", "data", "data", "envelope", "version", "missing", "raw", "partition"])
    )
    if how == "raw":
        return subject, draw(st.sampled_from(RAW) | st.binary(max_size=300)), False
    if how == "within" and "note" in contract.data.model_fields:
        # Changed as a producer may change it and still within the contract: a note of any printable text.
        body["note"] = draw(st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), max_size=80))
    elif how == "data":
        body[draw(st.sampled_from(list(contract.data.model_fields)))] = draw(garbage)
    elif how == "envelope":
        envelope[draw(st.sampled_from(["specversion", "id", "source", "type", "time", "data", "subject"]))] = draw(
            garbage
        )
    elif how == "version":
        envelope["type"] = contract.type.rsplit(".v", 1)[0] + f".v{draw(st.integers(2, 99))}"
    elif how == "missing":
        envelope.pop(draw(st.sampled_from(["specversion", "id", "source", "type", "time", "data"])))
    elif how == "partition" and contract.partition_key:
        subject = contract.subjects[
            (contract.subjects.index(subject) + draw(st.integers(1, 15))) % len(contract.subjects)
        ]
    return subject, json.dumps(envelope).encode(), how == "valid"
