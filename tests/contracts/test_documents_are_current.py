"""The checked-in AsyncAPI document and JSON Schemas match the contracts in code."""

from __future__ import annotations

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from kehrwasser_shared.contracts import all_events, make_event
from kehrwasser_shared.contracts.documents import render_documents, stale_documents

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_generated_contract_documents_are_current() -> None:
    stale = stale_documents(DOCS)
    assert not stale, f"regenerate with `uv run kehrwasser docs`: stale {stale}"


def test_every_event_schema_is_valid_json_schema() -> None:
    for path, text in render_documents().items():
        if path.startswith("schemas/"):
            Draft202012Validator.check_schema(json.loads(text))


def test_asyncapi_document_names_every_event_subject() -> None:
    document = json.loads(render_documents()[("asyncapi.json")])
    assert document["asyncapi"] == "3.0.0"
    addresses = set()
    for channel in document["channels"].values():
        partitions = channel.get("parameters", {}).get("partition", {}).get("enum", [])
        addresses |= {channel["address"].replace("{partition}", p) for p in partitions} or {channel["address"]}
    assert {subject for contract in all_events() for subject in contract.subjects} <= addresses


def test_a_published_event_validates_against_its_schema() -> None:
    from datetime import UTC, datetime

    from kehrwasser_shared.contracts import members

    event = make_event(
        type_=members.MEMBER_REGISTERED.type,
        source="/members",
        data=members.MemberRegisteredV1(
            member_id="m-1",
            name="Ada",
            email="ada@example.org",
            company="",
            language="en",
            focus=["compute"],
            registered_at=datetime.now(UTC),
        ),
    )
    schema = json.loads((DOCS / "schemas" / "events" / f"{members.MEMBER_REGISTERED.type}.json").read_text())
    Draft202012Validator(schema).validate(json.loads(event.model_dump_json()))
