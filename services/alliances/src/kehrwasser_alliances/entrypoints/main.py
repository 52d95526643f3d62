"""Process entry point: ``kehrwasser-alliances [serve|migrate]``."""

from __future__ import annotations

from kehrwasser_shared.runtime import service_main

from ..bootstrap import MIGRATIONS, bootstrap
from ..config import AlliancesSettings


def main(argv: list[str] | None = None) -> None:
    service_main(AlliancesSettings, bootstrap, MIGRATIONS, argv)
