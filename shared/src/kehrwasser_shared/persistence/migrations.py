"""Run a service's Alembic migrations programmatically (on start or by the `migrate` command)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from .database import normalize_url


def alembic_config(script_location: Path, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    # ConfigParser interpolation would choke on '%' in passwords.
    config.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    return config


def upgrade_to_head(script_location: Path, database_url: str) -> None:
    command.upgrade(alembic_config(script_location, database_url), "head")


async def upgrade_to_head_async(script_location: Path, database_url: str) -> None:
    # Alembic's env.py runs its own event loop (asyncio.run), so it must run outside ours.
    await asyncio.to_thread(upgrade_to_head, script_location, database_url)
