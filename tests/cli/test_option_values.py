"""Every option or argument that reads a number, a date-time or a choice refuses a bad value with click's usage
error naming it (exit code 2, no traceback, nothing sent); a date-time's offset reaches the service as given."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import nats
import pytest
from nats.aio.msg import Msg

from kehrwasser_shared.contracts import alliances
from kehrwasser_shared.contracts.replies import error_reply

if TYPE_CHECKING:
    from conftest import Outcome

CONTRIBUTE = ["contribute", "--alliance", "hamburg", "--giver", "ada", "--receiver", "linus"]
SCHEDULE = ["meeting", "schedule", "--alliance", "hamburg", "--by", "ada", "--title", "Course check"]
SET_POLICY = ["ledger", "set-policy", "hamburg", "--by", "ada"]

BAD_VALUES = [
    # Read by the CLI itself, before anything else happens:
    ([*CONTRIBUTE, "--kind", "advice", "--value", "abc"], "Invalid value for '--value': 'abc' is not a number"),
    ([*CONTRIBUTE, "--kind", "advice", "--value", "NaN"], "Invalid value for '--value': 'NaN' is not a number"),
    ([*CONTRIBUTE, "--kind", "gift", "--value", "1"], "Invalid value for '--kind'"),
    (["alliance", "create", "--name", "H", "--moderator", "ada", "--threshold", "abc"], "'--threshold': 'abc' is not"),
    ([*SET_POLICY, "--floor", "xyz"], "Invalid value for '--floor': 'xyz' is not a number"),
    ([*SET_POLICY, "--red-below", "-"], "Invalid value for '--red-below': '-' is not a number"),
    ([*SET_POLICY, "--yellow-below", "low"], "Invalid value for '--yellow-below': 'low' is not a number"),
    ([*SET_POLICY, "--hysteresis", "1,5"], "Invalid value for '--hysteresis': '1,5' is not a number"),
    ([*SET_POLICY, "--probation-limit", "Infinity"], "'--probation-limit': 'Infinity' is not a number"),
    ([*SET_POLICY, "--inactivity-days", "1.5"], "Invalid value for '--inactivity-days'"),
    ([*SET_POLICY, "--pending-expiry-hours", "two"], "Invalid value for '--pending-expiry-hours'"),
    ([*SET_POLICY, "--clear", "ceiling"], "Invalid value for '--clear': 'ceiling' is not one of yellow_below"),
    (["ledger", "statement", "hamburg", "ada", "--limit", "ten"], "Invalid value for '--limit'"),
    (["ledger", "statement", "hamburg", "ada", "--after-version", "v2"], "Invalid value for '--after-version'"),
    (["ledger", "statement", "hamburg", "ada", "--order", "random"], "Invalid value for '--order'"),
    (["ledger", "matrix", "hamburg", "--kind", "gift"], "Invalid value for '--kind'"),
    (["ledger", "balance-at", "hamburg", "ada", "yesterday"], "Invalid value for 'AT': 'yesterday' is not an ISO 8601"),
    ([*SCHEDULE, "--start", "2027-13-01T18:00"], "Invalid value for '--start': '2027-13-01T18:00' is not an ISO 8601"),
    ([*SCHEDULE, "--start", "2027-01-10T18:00", "--duration", "1h"], "Invalid value for '--duration'"),
    (["member", "register", "--name", "Ada", "--email", "a@example.org", "--language", "fr"], "'--language'"),
    (["member", "get", "ada", "--timeout", "0"], "Invalid value for '--timeout': '0' is not a positive number"),
    (["ledger", "verify", "--timeout", "soon"], "Invalid value for '--timeout': 'soon' is not a number of seconds"),
    (["run", "billing"], "Invalid value for"),
    # Read by the CLI, refused by the command's contract, reported against the option it came from:
    ([*CONTRIBUTE, "--kind", "advice", "--value", "1.005"], "Invalid value for '--value': '1.005': Decimal input"),
    ([*CONTRIBUTE, "--kind", "advice", "--value", "-3"], "Invalid value for '--value': '-3': Input should be greater"),
    (["ledger", "statement", "hamburg", "ada", "--limit", "0"], "Invalid value for '--limit': '0': Input should be"),
    ([*SCHEDULE, "--start", "2027-01-10T18:00", "--duration", "0"], "Invalid value for '--duration': '0': Input"),
    (["ledger", "balance-at", "hamburg", "ada", "2100-01-01T00:00Z"], "Invalid value for 'at': '2100-01-01T00:00:00"),
    (["member", "register", "--name", "Ada", "--email", "ada"], "Invalid value for '--email': 'ada': value is not"),
]


@pytest.mark.parametrize(("args", "message"), BAD_VALUES, ids=[" ".join(args) for args, _ in BAD_VALUES])
def test_a_bad_value_is_a_usage_error_naming_its_option(
    args: list[str], message: str, kehrwasser: Callable[..., Outcome]
) -> None:
    outcome = kehrwasser(*args)  # the default NATS is a free port: a value that got through fails otherwise

    assert outcome.returncode == 2, outcome.stderr
    errors = [line for line in outcome.error_lines if line.startswith("Error: ")]
    assert len(errors) == 1, outcome.stderr
    assert message in errors[0]
    assert "Traceback" not in outcome.stderr
    assert outcome.stdout == ""


@pytest.mark.integration
async def test_a_start_with_an_offset_reaches_the_alliances_service_with_that_offset(
    nats_url: str, kehrwasser_async: Callable[..., Awaitable[Outcome]]
) -> None:
    nc = await nats.connect(nats_url)
    sent: list[dict[str, object]] = []

    async def keep_request(msg: Msg) -> None:
        sent.append(json.loads(msg.data))
        await msg.respond(error_reply("not-a-moderator", "ada does not moderate hamburg").model_dump_json().encode())

    await nc.subscribe(alliances.SCHEDULE_MEETING.subject, cb=keep_request)
    try:
        outcome = await kehrwasser_async(*SCHEDULE, "--start", "2027-01-10T18:00+05:00", "--nats-url", nats_url)
    finally:
        await nc.close()

    assert outcome.error_lines == ["not-a-moderator: ada does not moderate hamburg"]
    assert [request["starts_at"] for request in sent] == ["2027-01-10T18:00:00+05:00"]
