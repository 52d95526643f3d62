"""Which database backends a test run can reach: SQLite always, PostgreSQL by URL or testcontainers."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

TEST_DATABASE_URL_VARIABLE = "KEHRWASSER_TEST_DATABASE_URL"


@dataclass(frozen=True)
class Backend:
    name: str
    admin_url: str | None  # None: SQLite, a file per test


def docker_reachable() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def postgres_url_from_environment() -> str | None:
    return os.environ.get(TEST_DATABASE_URL_VARIABLE) or None


@contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """Create a database of its own for one test and drop it afterwards; yields its async URL."""
    import asyncio

    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(admin_url)
    name = f"kw_test_{uuid.uuid4().hex[:12]}"
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
