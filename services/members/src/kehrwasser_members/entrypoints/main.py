"""Process entry point: ``kehrwasser-members [serve|migrate]``."""

from __future__ import annotations

from kehrwasser_shared.runtime import service_main

from ..bootstrap import MIGRATIONS, bootstrap
from ..config import MembersSettings


def main(argv: list[str] | None = None) -> None:
    service_main(MembersSettings, bootstrap, MIGRATIONS, argv)
