"""The operator's commands as a person runs them: the installed `kehrwasser` in a subprocess, against the test's
nats-server, signed in as the operator (the `nats_server` fixture names the identities directory)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

KEHRWASSER = str(Path(sys.executable).parent / "kehrwasser")


@dataclass(frozen=True)
class Outcome:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout)


Kehrwasser = Callable[..., Awaitable[Outcome]]


@pytest.fixture
def kehrwasser(nats_url: str, tmp_path: Path) -> Kehrwasser:
    """Run ``kehrwasser <args>`` to its end while the test's event loop goes on serving the services."""

    async def run(*args: str, stdin: str = "", timeout: float = 30.0) -> Outcome:
        env = {**os.environ, "KEHRWASSER_NATS_URL": nats_url, "KEHRWASSER_DATA_DIR": str(tmp_path / "cli")}
        process = await asyncio.create_subprocess_exec(
            KEHRWASSER,
            *args,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(stdin.encode()), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"`kehrwasser {' '.join(args)}` did not end within {timeout}s") from None
        assert process.returncode is not None
        return Outcome(process.returncode, stdout.decode(), stderr.decode())

    return run
