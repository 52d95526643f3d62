"""No input can hurt the network: generated garbage, mixed with valid traffic, on every command subject and every
consumed event subject of the four services, over a real nats-server, on every reachable database.

Commands: every request is answered, as JSON, with a result that matches the contract or a structured error
whose code the contract lists; never `internal-error`. Events: every one that breaks its contract is
dead-lettered by each consumer that reads its subject, with a reason; valid submissions among them are
booked exactly once. Neither leaves a traceback in the services' logs.

The CI run is short (``KEHRWASSER_HOSTILE_EXAMPLES``, default 150 per test and backend); a longer run:
``KEHRWASSER_HOSTILE_EXAMPLES=3000 uv run pytest tests/hostile -p no:randomly``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from kehrwasser_shared.contracts import all_commands, ledger, make_event
from kehrwasser_shared.contracts.envelope import CloudEvent
from kehrwasser_shared.contracts.registry import EventContract, all_events
from kehrwasser_shared.contracts.subjects import DEADLETTER_STREAM, DEADLETTER_SUBJECTS, stream_name
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.messaging.consumer import REASON_HEADER

from .inputs import command_cases, hostile_event, valid_event_data
from .network import HostileNetwork, Seeded, hostile_network

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("KEHRWASSER_HOSTILE_EXAMPLES", "150"))
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture
def network(nats_url: str, database_url: str, mail_sink: MailSink, tmp_path: Path) -> Any:
    with hostile_network(nats_url, database_url, mail_sink.port, tmp_path) as running_network:
        yield running_network


def test_every_command_answers_hostile_input_with_a_result_or_a_listed_error(network: HostileNetwork) -> None:
    answered: Counter[str] = Counter()

    @HYPOTHESIS
    @given(case=command_cases(network.seeded, all_commands()))
    def one_request(case: tuple[Any, bytes]) -> None:
        contract, payload = case
        raw = network.run(network.client.send_raw(contract.subject, payload))
        reply = json.loads(raw)
        if reply["ok"] is True:
            contract.result.model_validate(reply["result"])
            answered["ok"] += 1
            return
        code = reply["error"]["code"]
        answered[code] += 1
        assert code != "internal-error", f"{contract.subject} {payload[:300]!r}: {reply}"
        assert code in contract.error_codes, f"{contract.subject} answered an unlisted code {code}: {reply}"

    one_request()
    print(f"\nreplies by code: {dict(answered)}")
    assert answered["ok"] > 0, "premise: valid requests were sent"
    assert answered["invalid-command"] > 0, "premise: invalid requests were sent"
    verification = network.run(network.client.send(ledger.VERIFY, ledger.VerifyLedger(full=True, wait=True)))
    assert verification.ok, verification.problems
    assert not network.logs.records, "\n".join(network.logs.report())


def consumed_events() -> list[EventContract[Any]]:
    return [contract for contract in all_events() if contract.consumed_by]


def breaks_its_contract(contract: EventContract[Any], subject: str, payload: bytes) -> bool:
    """What the consumers must refuse, decided here by the published contract itself."""
    try:
        event = CloudEvent.model_validate_json(payload)
        data = contract.data.model_validate(event.data)
    except ValidationError:
        return True
    return event.type != contract.type or contract.subject_for(data) != subject


def test_every_consumer_dead_letters_hostile_events_and_handles_valid_submissions_once(
    network: HostileNetwork,
) -> None:
    js = network.nc.jetstream()
    seeded = network.seeded
    data = valid_event_data(seeded)
    expected_letters: dict[tuple[str, int], int] = {}  # (stream, sequence) -> consumers that must refuse it
    untouched: set[str] = set()  # submissions as a producer writes them: each must be booked
    changed: set[str] = set()  # changed, but still within the contract: each must be booked or rejected

    @HYPOTHESIS
    @given(
        case=st.sampled_from(consumed_events()).flatmap(lambda c: st.tuples(st.just(c), hostile_event(c, data[c.type])))
    )
    def one_event(case: tuple[EventContract[Any], tuple[str, bytes, bool]]) -> None:
        contract, (subject, payload, as_written) = case
        invalid = breaks_its_contract(contract, subject, payload)
        if not invalid:
            if contract is not ledger.CONTRIBUTION_SUBMITTED:
                return  # a valid forged event of another service: its effects are not what this test checks
            # Generated ids repeat; a contribution id of its own makes each submission count once.
            payload, contribution_id = with_fresh_contribution_id(payload)
            (untouched if as_written else changed).add(contribution_id)
        ack = network.run(js.publish(subject, payload, headers={"Nats-Msg-Id": os.urandom(12).hex()}))
        if invalid:
            expected_letters[(ack.stream, ack.seq)] = len(contract.consumed_by)
        # Valid traffic between the poison, whatever was drawn: a submission as a producer writes it.
        subject, payload = valid_submission(seeded)
        network.run(js.publish(subject, payload, headers={"Nats-Msg-Id": os.urandom(12).hex()}))
        untouched.add(json.loads(payload)["data"]["contribution_id"])

    one_event()
    assert expected_letters, "premise: poison was published"
    assert untouched, "premise: submissions as producers write them were published"
    # Submissions changed within the contract are drawn now and then (hypothesis decides); each that was must be
    # handled once as well, which the outcome check below covers.
    letters = network.run(dead_letters(network, sum(expected_letters.values())))
    refused = Counter((stream, sequence) for stream, sequence, _ in letters)
    assert refused == Counter(expected_letters), "each consumer dead-letters each event that breaks the contract once"
    assert all(reason for _, _, reason in letters), "every dead letter says why"
    outcomes = network.run(outcomes_of(network, untouched | changed))
    assert Counter(contribution_id for contribution_id, _ in outcomes) == Counter(untouched | changed)
    assert {contribution_id for contribution_id, kind in outcomes if kind == "recorded"} >= untouched
    verification = network.run(network.client.send(ledger.VERIFY, ledger.VerifyLedger(full=True, wait=True)))
    assert verification.ok, verification.problems
    assert not network.logs.records, "\n".join(network.logs.report())


def valid_submission(seeded: Seeded) -> tuple[str, bytes]:
    """A contribution-submitted event as a producer publishes it: Ada gives Grace a point of advice."""
    submission = ledger.RecordContribution(
        contribution_id=f"valid-{os.urandom(8).hex()}",
        alliance_id=seeded.alliance,
        giver_id=seeded.ada,
        receiver_id=seeded.grace,
        kind=ledger.ContributionKind.ADVICE,
        value=Decimal("1"),
    )
    event = make_event(type_=ledger.CONTRIBUTION_SUBMITTED.type, source="/producer", data=submission)
    return ledger.CONTRIBUTION_SUBMITTED.subject_for(submission), event.model_dump_json().encode()


def with_fresh_contribution_id(payload: bytes) -> tuple[bytes, str]:
    event = json.loads(payload)
    event["data"]["contribution_id"] = contribution_id = f"hostile-{os.urandom(8).hex()}"
    return json.dumps(event).encode(), contribution_id


async def outcomes_of(network: HostileNetwork, submitted: set[str], timeout: float = 90.0) -> list[tuple[str, str]]:
    """(contribution id, recorded / pending / rejected) of every outcome event of the submitted contributions."""
    js = network.nc.jetstream()
    kinds = {
        ledger.CONTRIBUTION_RECORDED.subject: "recorded",
        ledger.CONTRIBUTION_PENDING.subject: "pending",
        ledger.CONTRIBUTION_REJECTED.subject: "rejected",
    }
    subscriptions = [
        (await js.pull_subscribe(subject, stream=stream_name("ledger")), kind) for subject, kind in kinds.items()
    ]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    found: list[tuple[str, str]] = []
    while len(found) < len(submitted) and loop.time() < deadline:
        for subscription, kind in subscriptions:
            with contextlib.suppress(TimeoutError):
                for msg in await subscription.fetch(256, timeout=0.3):
                    contribution_id = contribution_of(msg.data)
                    if contribution_id in submitted:
                        found.append((contribution_id, kind))
                    await msg.ack()
    return found


def contribution_of(payload: bytes) -> str | None:
    """The contribution id an outcome names; None for the test's own poison on an outcome's subject (notify
    consumes ``contribution-pending``, so hostile ones are drawn too), whatever shape it has."""
    try:
        contribution_id = json.loads(payload)["data"]["contribution_id"]
    except (ValueError, TypeError, KeyError, IndexError, RecursionError):
        return None
    return contribution_id if isinstance(contribution_id, str) else None


async def dead_letters(network: HostileNetwork, count: int, timeout: float = 60.0) -> list[tuple[str, int, str]]:
    """(original stream, original sequence, reason) of the first ``count`` dead letters."""
    js = network.nc.jetstream()
    subscription = await js.pull_subscribe(DEADLETTER_SUBJECTS, stream=DEADLETTER_STREAM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    letters: list[tuple[str, int, str]] = []
    while len(letters) < count and loop.time() < deadline:
        try:
            batch = await subscription.fetch(min(count - len(letters), 256), timeout=1.0)
        except TimeoutError:
            continue
        for msg in batch:
            # Nats-Msg-Id of a dead letter: <consumer>:<original stream>:<original sequence>
            headers = msg.headers or {}
            _, stream, sequence = headers["Nats-Msg-Id"].rsplit(":", 2)
            letters.append((stream, int(sequence), headers.get(REASON_HEADER, "")))
            await msg.ack()  # or it comes again after the ack wait, and counts twice
    return letters
