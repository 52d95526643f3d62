"""A person waits for every start of the CLI, so it imports only what the command in hand needs.

The figures are printed, not asserted (a loaded machine would fail a timed assertion); what is asserted is the
premise behind them: which modules a start imports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kehrwasser_shared.embedded.nats_server import free_port

KEHRWASSER = str(Path(sys.executable).parent / "kehrwasser")
SENDING = ("nats", "pydantic", "pydantic_settings", "kehrwasser_shared")
"""What a command that sends needs; help and usage errors do without it."""
NEVER = ("sqlalchemy", "alembic", "faststream", "aiosqlite", "asyncpg", "rich")
"""What the CLI never needs: the services' persistence and messaging, and rich (our tables are plain text)."""


def start(*args: str) -> tuple[set[str], float, float]:
    """The top-level packages `kehrwasser <args>` imports, its wall time and its cumulative import time (s)."""
    started = time.monotonic()
    done = subprocess.run(
        [KEHRWASSER, *args], env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}, capture_output=True, text=True
    )
    seconds = time.monotonic() - started
    lines = [line.split("|") for line in done.stderr.splitlines() if line.startswith("import time:")]
    rows = [(int(cells[0].split(":")[1]), cells[2].strip()) for cells in lines[1:] if len(cells) == 3]
    return {module.split(".")[0] for _, module in rows}, seconds, sum(own for own, _ in rows) / 1e6


def test_help_imports_typer_and_the_standard_library_only() -> None:
    packages, seconds, importing = start("--help")

    print(f"kehrwasser --help: {seconds:.2f} s wall, {importing:.3f} s importing")
    assert sorted(packages & {*SENDING, *NEVER}) == []


@pytest.mark.parametrize(
    "args", [("member", "--help"), ("ledger", "statement", "--help"), ("dlq", "--help"), ("drain", "--help")]
)
def test_a_groups_help_imports_nothing_that_sends(args: tuple[str, ...]) -> None:
    packages, seconds, importing = start(*args)

    # typer (0.29) converts parameters with pydantic, so pydantic comes in with any group; NATS does not.
    print(f"kehrwasser {' '.join(args)}: {seconds:.2f} s wall, {importing:.3f} s importing")
    assert sorted(packages & {"nats", "pydantic_settings", "kehrwasser_shared", *NEVER}) == []


def test_a_command_imports_its_contracts_and_nats_but_no_service_machinery() -> None:
    packages, seconds, importing = start("member", "get", "ada", "--nats-url", f"nats://127.0.0.1:{free_port()}")

    print(f"kehrwasser member get (NATS unreachable): {seconds:.2f} s wall, {importing:.3f} s importing")
    assert set(SENDING) <= packages
    assert sorted(packages & set(NEVER)) == []
