"""What the contracts promise outside clients agrees with what the services do: error codes, consumers,
the documents' shape (every event's own data valid against its own published schema)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from kehrwasser_alliances.domain.model import AllianceError
from kehrwasser_ledger.domain.errors import LedgerError
from kehrwasser_members.domain.model import MemberError
from kehrwasser_notify.domain.model import DeliveryLogError
from kehrwasser_shared.contracts import all_commands, all_events, alliances, members
from kehrwasser_shared.contracts.documents import render_documents
from kehrwasser_shared.contracts.errors import ALWAYS, ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
# The bases of the trees, never raised themselves.
ABSTRACT_ERRORS = {"alliance-error", "ledger-error", "member-error", "delivery-log-error"}


def codes_of(tree: type[Exception]) -> set[str]:
    found = set()
    pending = [tree]
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        code = cls.__dict__.get("code")
        if code is not None:
            found.add(code)
    return found - ABSTRACT_ERRORS


def test_every_code_a_service_can_answer_is_in_the_catalogue_and_named_by_a_command() -> None:
    raised = codes_of(MemberError) | codes_of(AllianceError) | codes_of(LedgerError) | codes_of(DeliveryLogError)
    named = {code for command in all_commands() for code in command.errors}
    assert raised <= set(ERROR_CODES), f"codes without an entry: {raised - set(ERROR_CODES)}"
    assert named | set(ALWAYS) == set(ERROR_CODES), "every catalogued code is answered by some command"
    assert raised == named, f"raised but no command names them: {raised - named}; named, never raised: {named - raised}"


def test_the_readme_lists_every_error_code() -> None:
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `([a-z-]+)` \|", readme, flags=re.MULTILINE))
    assert set(ERROR_CODES) <= listed


def test_the_asyncapi_document_names_each_commands_error_codes() -> None:
    document = json.loads(render_documents()["asyncapi.json"])
    for command in all_commands():
        operation = next(
            op
            for op in document["operations"].values()
            if op["summary"].startswith(f"The {command.service} service answers {command.subject} ")
        )
        assert operation["x-error-codes"] == list(command.error_codes)
        assert all(f"`{code}`" in operation["description"] for code in command.error_codes)


def test_the_asyncapi_document_says_who_consumes_each_event_and_that_producers_send_submissions() -> None:
    operations = json.loads(render_documents()["asyncapi.json"])["operations"]
    receivers = {
        (op["summary"].split()[1], op["channel"]["$ref"]) for op in operations.values() if op["action"] == "receive"
    }
    assert ("ledger", "#/channels/ledgerContributionSubmittedV1") in receivers
    assert ("notify", "#/channels/ledgerBalanceWarningV2") in receivers
    senders = [
        op
        for op in operations.values()
        if op["channel"]["$ref"] == "#/channels/ledgerContributionSubmittedV1" and op["action"] == "send"
    ]
    assert [op["summary"].split()[0] for op in senders] == ["Producers"]


def test_the_declared_consumers_are_the_services_consumers(tmp_path: Path) -> None:
    from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
    from kehrwasser_alliances.config import AlliancesSettings
    from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
    from kehrwasser_ledger.config import LedgerSettings
    from kehrwasser_members.bootstrap import bootstrap as members_service
    from kehrwasser_members.config import MembersSettings
    from kehrwasser_notify.bootstrap import bootstrap as notify_service
    from kehrwasser_notify.config import NotifySettings

    services: dict[str, Any] = {
        "members": members_service(MembersSettings(data_dir=tmp_path)),
        "alliances": alliances_service(AlliancesSettings(data_dir=tmp_path)),
        "ledger": ledger_service(LedgerSettings(data_dir=tmp_path)),
        "notify": notify_service(NotifySettings(data_dir=tmp_path)),
    }
    consumed = {(name, c.type) for name, parts in services.items() for con in parts.consumers for c in con.contracts}
    declared = {(service, c.type) for c in all_events() for service in c.consumed_by}
    assert consumed == declared


def test_command_subjects_bound_by_the_services_are_the_contracts(tmp_path: Path) -> None:
    from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
    from kehrwasser_alliances.config import AlliancesSettings
    from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
    from kehrwasser_ledger.config import LedgerSettings
    from kehrwasser_members.bootstrap import bootstrap as members_service
    from kehrwasser_members.config import MembersSettings
    from kehrwasser_notify.bootstrap import bootstrap as notify_service
    from kehrwasser_notify.config import NotifySettings

    bound = {
        *members_service(MembersSettings(data_dir=tmp_path)).endpoints.subjects,
        *alliances_service(AlliancesSettings(data_dir=tmp_path)).endpoints.subjects,
        *ledger_service(LedgerSettings(data_dir=tmp_path)).endpoints.subjects,
        *notify_service(NotifySettings(data_dir=tmp_path)).endpoints.subjects,
    }
    assert bound == {command.subject for command in all_commands()}


def test_only_generated_schemas_lie_in_the_docs() -> None:
    generated = {path for path in render_documents() if path.startswith("schemas/")}
    present = {str(path.relative_to(DOCS)) for path in (DOCS / "schemas").rglob("*.json")}
    assert present == generated, f"retired or stray: {present - generated}"


def test_cloudevents_schema_requires_specversion() -> None:
    schema = json.loads(render_documents()[f"schemas/events/{members.MEMBER_REGISTERED.type}.json"])
    assert "specversion" in schema["required"]


def test_a_scheduled_meetings_event_validates_against_its_own_schema_formats_included() -> None:
    from kehrwasser_alliances.domain import model

    assert "date-time" in FormatChecker.checkers, "premise: the date-time format is checked (rfc3339-validator)"
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    alliance = model.found(
        alliance_id="hamburg",
        name="Hamburg Founders",
        purpose="",
        focus=[],
        warning_threshold=Decimal("-5"),
        founder_ids=["ada"],
        now=now,
    )
    meeting = model.schedule_meeting(
        alliance,
        meeting_id="m-1",
        requested_by="ada",
        title="Course check",
        starts_at=(now + timedelta(days=7)).replace(tzinfo=None),
        timezone="Europe/Berlin",
        duration_minutes=90,
        location="",
        now=now,
    )
    from kehrwasser_shared.contracts import make_event

    data = alliances.MeetingScheduledV1(
        meeting_id=meeting.meeting_id,
        alliance_id=meeting.alliance_id,
        alliance_name=alliance.name,
        title=meeting.title,
        starts_at=model.instant_of(meeting.starts_at, meeting.timezone),
        timezone=meeting.timezone,
        duration_minutes=meeting.duration_minutes,
        location=meeting.location,
        organizer_id=meeting.organizer_id,
        attendee_ids=list(meeting.attendee_ids),
    )
    event = json.loads(
        make_event(type_=alliances.MEETING_SCHEDULED.type, source="/alliances", data=data).model_dump_json()
    )
    schema = json.loads(render_documents()[f"schemas/events/{alliances.MEETING_SCHEDULED.type}.json"])
    Draft202012Validator(schema, format_checker=FormatChecker()).validate(event)
    naive = {**event, "data": {**event["data"], "starts_at": "2026-12-01T18:00:00"}}
    with pytest.raises(Exception, match="date-time"):
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(naive)
