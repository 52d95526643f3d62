"""A command that cannot be carried out says in one line which of three things failed, with its own exit code:
NATS unreachable (3), no answer from the service in time (4), or the service's error reply (1)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import nats
import pytest
from nats.aio.msg import Msg

from kehrwasser_shared.contracts import members
from kehrwasser_shared.contracts.replies import FieldError, error_reply
from kehrwasser_shared.embedded.nats_server import free_port

if TYPE_CHECKING:
    from conftest import Outcome

pytestmark = pytest.mark.integration
NATS_NOISE = ("Traceback", "nats: encountered error", "ConnectionRefusedError")


def nothing_listens_on(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_without_nats_a_command_says_so_in_one_line_and_exits_3_within_seconds(
    kehrwasser: Callable[..., Outcome],
) -> None:
    port = free_port()
    assert nothing_listens_on(port)

    outcome = kehrwasser("member", "get", "ada", "--nats-url", f"nats://127.0.0.1:{port}", timeout=15)

    print(f"time to the error line with NATS unreachable: {outcome.seconds:.2f} s")
    assert outcome.returncode == 3
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert outcome.error_lines[0].startswith(f"cannot connect to NATS at nats://127.0.0.1:{port}: ")
    assert "`kehrwasser up`" in outcome.error_lines[0]
    assert not any(noise in outcome.stderr for noise in NATS_NOISE)
    # The defect was an endless reconnect loop: the run ends within the helper's 15 s or the test fails.


def test_without_an_up_the_default_nats_is_named_and_the_demo_fails_the_same_way(
    kehrwasser: Callable[..., Outcome], cli_env: dict[str, str]
) -> None:
    default_port = int(cli_env["KEHRWASSER_EMBEDDED_NATS_PORT"])
    assert nothing_listens_on(default_port)

    for args in (("balance", "hamburg", "ada"), ("demo",)):
        outcome = kehrwasser(*args, timeout=15)
        assert outcome.returncode == 3, outcome.stderr
        assert outcome.error_lines == [
            f"cannot connect to NATS at nats://127.0.0.1:{default_port}: connection refused "
            "(is `kehrwasser up` running? --nats-url or KEHRWASSER_NATS_URL point elsewhere)"
        ]


async def test_a_command_nobody_listens_to_is_no_answer_exit_4(
    nats_url: str, kehrwasser_async: Callable[..., Awaitable[Outcome]]
) -> None:
    outcome = await kehrwasser_async("member", "get", "ada", "--nats-url", nats_url, timeout=15)

    assert outcome.returncode == 4
    assert outcome.error_lines == [
        "no answer from the members service: nothing listens on kehrwasser.cmd.members.get (is it running?)"
    ]


async def test_a_slow_answer_is_no_answer_exit_4_unless_timeout_allows_for_it(
    nats_url: str, kehrwasser_async: Callable[..., Awaitable[Outcome]]
) -> None:
    nc = await nats.connect(nats_url)
    requests: list[Msg] = []
    impatient_gave_up = asyncio.Event()

    async def answer_late(msg: Msg) -> None:
        requests.append(msg)
        if len(requests) == 1:
            await impatient_gave_up.wait()  # answered only once the CLI with the short timeout has ended
        else:
            await asyncio.sleep(1.0)  # the slowness under test: longer than the short timeout
        await msg.respond(error_reply("unknown-member", "no member with id ada").model_dump_json().encode())

    await nc.subscribe(members.GET.subject, cb=answer_late)
    try:
        impatient = await kehrwasser_async("member", "get", "ada", "--nats-url", nats_url, "--timeout", "0.3")
        impatient_gave_up.set()
        patient = await kehrwasser_async("member", "get", "ada", "--nats-url", nats_url, "--timeout", "20")
    finally:
        await nc.close()

    assert len(requests) == 2
    assert impatient.returncode == 4
    assert impatient.error_lines == [
        "no answer from the members service within 0.3 s (kehrwasser.cmd.members.get); "
        "a command that takes longer needs a longer --timeout"
    ]
    assert (patient.returncode, patient.error_lines) == (1, ["unknown-member: no member with id ada"])


async def test_a_services_error_reply_is_one_line_with_code_message_and_fields_exit_1(
    nats_url: str, kehrwasser_async: Callable[..., Awaitable[Outcome]]
) -> None:
    nc = await nats.connect(nats_url)

    async def refuse(msg: Msg) -> None:
        details = [FieldError(field="email", message="already registered by another member")]
        await msg.respond(error_reply("email-taken", "this email is taken", details).model_dump_json().encode())

    await nc.subscribe(members.REGISTER.subject, cb=refuse)
    try:
        outcome = await kehrwasser_async(
            "member", "register", "--name", "Ada Lovelace", "--email", "ada@example.org", "--nats-url", nats_url
        )
    finally:
        await nc.close()

    assert outcome.returncode == 1
    assert outcome.stdout == ""
    assert outcome.error_lines == ["email-taken: this email is taken (email: already registered by another member)"]
