"""Process entry point: ``kehrwasser-notify [serve|migrate]``."""

from __future__ import annotations

from kehrwasser_shared.runtime import service_main

from ..bootstrap import MIGRATIONS, bootstrap
from ..config import NotifySettings


def main(argv: list[str] | None = None) -> None:
    service_main(NotifySettings, bootstrap, MIGRATIONS, argv)
