"""Send commands over NATS request/reply: print the result, or one line saying which of three things failed.

The three failures a person must tell apart, each with its exit code: NATS cannot be reached (nothing to do
with the command), NATS is there but no service answers in time (not running, or a long command), and the
service answered with an error (the command itself was refused).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from pydantic import BaseModel

from kehrwasser_shared.contracts.registry import CommandContract
from kehrwasser_shared.contracts.replies import CommandFailed, ErrorBody
from kehrwasser_shared.messaging.client import CommandClient

from .exit_codes import ExitCode

ResultT = TypeVar("ResultT", bound=BaseModel)
CONNECT_TIMEOUT_SECONDS = 2


class CannotConnect(Exception):
    """No server of the NATS URL accepted a connection."""


class NoAnswer(Exception):
    """Connected, but the command's service did not answer."""

    def __init__(self, contract: CommandContract[Any, Any], timeout: float, nobody_listens: bool) -> None:
        if nobody_listens:
            text = (
                f"no answer from the {contract.service} service: nothing listens on {contract.subject} (is it running?)"
            )
        else:
            text = (
                f"no answer from the {contract.service} service within {timeout:g} s ({contract.subject}); "
                "a command that takes longer needs a longer --timeout"
            )
        super().__init__(text)


class NotPermitted(Exception):
    """NATS refused to carry the command: the identity may not publish on its subject."""

    def __init__(self, contract: CommandContract[Any, Any]) -> None:
        super().__init__(
            f"NATS refused {contract.subject}: the identity this CLI signed in with may not send it "
            "(docs/security.md lists each role's commands)"
        )


class ConnectionLost(Exception):
    """NATS closed the connection while a command was under way."""


class AnsweringClient(CommandClient):
    """A `CommandClient` whose unanswered commands say which service kept silent."""

    def __init__(self, nc: Client, *, timeout: float, errors: list[Exception] | None = None) -> None:
        super().__init__(nc, timeout=timeout)
        self.timeout = timeout
        self._errors = errors if errors is not None else []

    async def send(self, contract: CommandContract[Any, ResultT], request: BaseModel) -> ResultT:
        try:
            return await super().send(contract, request)
        except nats.errors.NoRespondersError:
            self._raise_if_refused(contract)
            raise NoAnswer(contract, self.timeout, nobody_listens=True) from None
        except nats.errors.TimeoutError:
            self._raise_if_refused(contract)
            raise NoAnswer(contract, self.timeout, nobody_listens=False) from None
        except (nats.errors.ConnectionClosedError, nats.errors.StaleConnectionError) as exc:
            raise ConnectionLost(str(exc)) from None

    def _raise_if_refused(self, contract: CommandContract[Any, Any]) -> None:
        for error in self._errors:
            text = str(error).lower()
            if "permissions violation" in text and contract.subject.lower() in text:
                raise NotPermitted(contract) from None


async def connect(
    nats_url: str, identity: Mapping[str, Any] | None = None, errors: list[Exception] | None = None
) -> Client:
    """Connect to one of the servers of ``nats_url``, or raise `CannotConnect` within seconds, quietly.

    nats-py's defaults suit a service, not a person: it keeps reconnecting for ever and logs every failed
    attempt with a traceback.
    """
    failures: list[Exception] = []

    async def remember(error: Exception) -> None:
        failures.append(error)
        if errors is not None:
            errors.append(error)

    try:
        return await nats.connect(
            [server.strip() for server in nats_url.split(",") if server.strip()],
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            allow_reconnect=False,
            # For the first connection nats-py reads 0 as "no limit"; 1 tries each server at most twice.
            max_reconnect_attempts=1,
            reconnect_time_wait=0,
            error_cb=remember,
            **(identity or {}),
        )
    except (nats.errors.Error, OSError) as exc:
        raise CannotConnect(_reason(failures[-1] if failures else exc)) from None


def _reason(error: Exception) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return f"no answer within {CONNECT_TIMEOUT_SECONDS} s"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def describe(error: ErrorBody) -> str:
    """A service's error reply in one line: ``<code>: <message> (<field>: <problem>; ...)``."""
    details = "; ".join(f"{detail.field}: {detail.message}" for detail in error.details)
    return f"{error.code}: {error.message}" + (f" ({details})" if details else "")


def run_command(
    nats_url: str,
    contract: CommandContract[Any, Any],
    request: BaseModel,
    timeout: float,
    identity: Mapping[str, Any] | None = None,
) -> ExitCode:
    """Send one command and print its result as JSON on stdout, signed in with ``identity`` (connect options)."""

    async def send_and_print(client: CommandClient) -> None:
        result = await client.send(contract, request)
        print(result.model_dump_json(indent=2))

    return run_session(nats_url, timeout, send_and_print, identity)


def run_session(
    nats_url: str,
    timeout: float,
    work: Callable[[CommandClient], Awaitable[None]],
    identity: Mapping[str, Any] | None = None,
) -> ExitCode:
    """Run ``work`` with a client connected to ``nats_url``; any failure becomes one line on stderr."""
    try:
        asyncio.run(_with_client(nats_url, timeout, work, identity))
    except CannotConnect as exc:
        return _fail(
            ExitCode.NATS_UNREACHABLE,
            f"cannot connect to NATS at {nats_url}: {exc} (is `kehrwasser up` running? "
            "--nats-url or KEHRWASSER_NATS_URL point elsewhere)",
        )
    except ConnectionLost as exc:
        return _fail(ExitCode.NATS_UNREACHABLE, f"lost the connection to NATS at {nats_url}: {exc}")
    except NoAnswer as exc:
        return _fail(ExitCode.NO_ANSWER, str(exc))
    except NotPermitted as exc:
        return _fail(ExitCode.NOT_PERMITTED, str(exc))
    except CommandFailed as failure:
        return _fail(ExitCode.FAILED, describe(failure.error))
    except KeyboardInterrupt:
        return _fail(ExitCode.INTERRUPTED, "interrupted")
    return ExitCode.OK


async def _with_client(
    nats_url: str,
    timeout: float,
    work: Callable[[CommandClient], Awaitable[None]],
    identity: Mapping[str, Any] | None,
) -> None:
    errors: list[Exception] = []  # what the server says asynchronously, e.g. a permissions violation
    nc = await connect(nats_url, identity, errors)
    try:
        await work(AnsweringClient(nc, timeout=timeout, errors=errors))
    finally:
        await nc.close()


def _fail(code: ExitCode, message: str) -> ExitCode:
    print(message, file=sys.stderr)
    return code
