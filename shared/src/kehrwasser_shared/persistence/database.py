"""Async SQLAlchemy engines: SQLite files are the embedded default, a PostgreSQL URL switches backends."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 30_000
T = TypeVar("T")
R = TypeVar("R")


def normalize_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async driver for them."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = normalize_url(url)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kwargs)
        _make_sqlite_transactions_immediate(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _make_sqlite_transactions_immediate(engine: AsyncEngine) -> None:
    # pysqlite's deferred BEGIN lets two writers both read and then deadlock on the upgrade to a write lock
    # (SQLITE_BUSY without waiting). BEGIN IMMEDIATE takes the write lock up front, so writers queue on
    # busy_timeout instead; WAL keeps readers out of their way.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_reading_engine(url: str, writing: AsyncEngine) -> AsyncEngine:
    """An engine for queries that read one consistent statement at a time (request/reply reads).

    On PostgreSQL it has a small pool of its own in autocommit mode without pre-ping: autocommit spares the
    BEGIN and ROLLBACK round trips and the pre-ping another one, together two thirds of a balance query's
    time in the database layer. A connection that the server dropped fails its next query, which invalidates
    the pool; `retried_on_lost_connection` runs that query once more on a fresh connection. SQLite shares
    the writing engine (its connection hook begins the transactions it needs).
    """
    if is_sqlite(url):
        return writing
    return create_async_engine(
        normalize_url(url), pool_size=5, max_overflow=10, pool_pre_ping=False, isolation_level="AUTOCOMMIT"
    )


def retried_on_lost_connection(read: Callable[[T], Awaitable[R]]) -> Callable[[T], Awaitable[R]]:
    """Run a read once more if the database connection turned out to be gone (a restarted server)."""

    async def run(request: T) -> R:
        try:
            return await read(request)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            return await read(request)

    return run


def is_unavailable(error: BaseException) -> bool:
    """Whether an error says the database could not be reached, rather than that the data was wrong: then
    handling a part of the work again, at once, would only fail the same way."""
    seen: BaseException | None = error
    for _ in range(10):  # the chain of causes, as far as it goes
        if seen is None:
            return False
        if isinstance(seen, ConnectionError | TimeoutError | PoolTimeout):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE
SQLITE_UNIQUE_VIOLATIONS = ("SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE")


def is_unique_violation(error: BaseException) -> bool:
    """Whether a write failed on a primary or unique key: SQLAlchemy's ``IntegrityError`` of either backend,
    or asyncpg's own error from a ``COPY`` (`insert_columns`), which bypasses SQLAlchemy."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    if getattr(cause, "sqlstate", None) == UNIQUE_VIOLATION:
        return True
    return getattr(cause, "sqlite_errorname", None) in SQLITE_UNIQUE_VIOLATIONS
