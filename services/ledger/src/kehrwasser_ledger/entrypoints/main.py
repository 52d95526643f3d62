"""Process entry point: ``kehrwasser-ledger [serve|migrate]``."""

from __future__ import annotations

from kehrwasser_shared.runtime import service_main

from ..bootstrap import MIGRATIONS, bootstrap
from ..config import LedgerSettings


def main(argv: list[str] | None = None) -> None:
    service_main(LedgerSettings, bootstrap, MIGRATIONS, argv)
