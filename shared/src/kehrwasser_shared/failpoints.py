"""Fail points for crash tests: ``KEHRWASSER_FAILPOINTS=outbox.after-commit`` kills the process there.

They let a test stop a service at an exact step (between commit and publish, between publish and marking
as sent) with SIGKILL, as a power cut would, instead of hoping a timed kill lands in the right window.
Unset in production, a fail point costs one set lookup.
"""

from __future__ import annotations

import os
import signal
from functools import cache

VARIABLE = "KEHRWASSER_FAILPOINTS"
OUTBOX_AFTER_COMMIT = "outbox.after-commit"
OUTBOX_AFTER_PUBLISH = "outbox.after-publish"


@cache
def _active() -> frozenset[str]:
    return frozenset(p.strip() for p in os.environ.get(VARIABLE, "").split(",") if p.strip())


def reached(name: str) -> None:
    if name in _active():
        os.kill(os.getpid(), signal.SIGKILL)
