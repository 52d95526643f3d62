"""Which database backends a test run can reach: SQLite always, PostgreSQL by URL or testcontainers."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

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
def service_databases(
    database_url: str, tmp_path: Path, services: Sequence[str], *, on_parametrised: str
) -> Iterator[dict[str, str]]:
    """A database for each of ``services``, all of the kind of the test's parametrised ``database_url``: on
    SQLite a file each in ``tmp_path``; on PostgreSQL ``on_parametrised`` takes ``database_url`` itself and the
    others a fresh database each (dropped afterwards)."""
    if database_url.startswith("sqlite"):
        yield {s: f"sqlite+aiosqlite:///{tmp_path / s}.db" for s in services}
        return
    admin_url = postgres_url_from_environment() or ""
    with ExitStack() as stack:
        yield {
            s: database_url if s == on_parametrised else stack.enter_context(fresh_postgres_database(admin_url))
            for s in services
        }


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
