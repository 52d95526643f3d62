"""The CLI's exit codes: one per kind of failure, so that a script can tell them apart."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    NATS_UNREACHABLE = 3
    NO_ANSWER = 4
    NOT_PERMITTED = 5
    INTERRUPTED = 130


MEANINGS = {
    ExitCode.OK: "done",
    ExitCode.FAILED: "the service refused the command ('<code>: <message>'), or `up` could not start",
    ExitCode.USAGE: "a bad option or argument (the message names it)",
    ExitCode.NATS_UNREACHABLE: "cannot connect to NATS at the URL the command used",
    ExitCode.NO_ANSWER: "no answer from the service within --timeout seconds (not running, or a long command)",
    ExitCode.NOT_PERMITTED: "NATS refused the command: the identity the CLI signed in with may not send it",
    ExitCode.INTERRUPTED: "interrupted by Ctrl-C",
}

# `\b` keeps click from re-wrapping the lines into one paragraph.
EXIT_CODES_HELP = "\b\nExit codes:\n" + "\n".join(f"  {code.value:<4} {MEANINGS[code]}" for code in ExitCode)
