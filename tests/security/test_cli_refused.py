"""The CLI says in one line when NATS refuses its command for the identity it signed in with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kehrwasser_shared.embedded.nats_server import NatsServer

pytestmark = pytest.mark.integration
KEHRWASSER = str(Path(sys.executable).parent / "kehrwasser")


def test_a_reader_asking_for_a_members_profile_is_told_nats_refused_it(
    secured_nats: NatsServer, identities_dir: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "KEHRWASSER_DATA_DIR": str(tmp_path / "data"),
        "KEHRWASSER_NATS_NKEY_SEED_FILE": str(identities_dir / "reader.nk"),
    }
    env.pop("KEHRWASSER_NATS_URL", None)
    done = subprocess.run(
        [KEHRWASSER, "member", "get", "ada", "--nats-url", secured_nats.url, "--timeout", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 5, done.stderr
    assert done.stderr.splitlines() == [
        "NATS refused kehrwasser.cmd.members.get: the identity this CLI signed in with may not send it "
        "(docs/security.md lists each role's commands)"
    ]
