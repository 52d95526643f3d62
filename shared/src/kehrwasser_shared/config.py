"""Settings common to every service, read from ``KEHRWASSER_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, FilePath, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .contracts.subjects import PARTITIONS
from .messaging.streams import DAY_SECONDS, Retention
from .security.connection import key_needs_certificate, seed_file

ENV_PREFIX = "KEHRWASSER_"


class StreamSettings(BaseSettings):
    """How the network's streams are kept: what each service applies to its own stream, the operator to all
    (`kehrwasser streams apply`); docs/operations.md, "Retention"."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    stream_replicas: int = Field(1, description="JetStream replicas of the network's streams (3 in a cluster)")
    stream_max_age_days: float = Field(365, ge=0, description="Days a service's stream keeps an event (0: for ever)")
    stream_max_bytes: int = Field(
        -1, ge=-1, description="Bytes a service's stream may hold; the oldest events go first beyond (-1: no limit)"
    )
    deadletter_max_age_days: float = Field(
        730, ge=0, description="Days the dead-letter stream keeps a dead letter (0: for ever)"
    )

    def stream_retention(self) -> Retention:
        return Retention(
            max_age_seconds=self.stream_max_age_days * DAY_SECONDS,
            deadletter_max_age_seconds=self.deadletter_max_age_days * DAY_SECONDS,
            max_bytes=self.stream_max_bytes,
        )


class ServiceSettings(StreamSettings):
    """Each service subclasses this, names itself and adds ``database_url`` under its own variable name.

    Settings that hold secrets are `SecretStr` (the nkey seed, a database URL, which may carry a password, the
    SMTP password): a settings object printed or logged shows ``'**********'`` in their place.
    """

    SERVICE: ClassVar[str] = ""
    # populate_by_name: a service's ``database_url`` is read from its own variable, but code (tests, the CLI)
    # passes it by field name, which pydantic would otherwise silently ignore.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True)

    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS server URL(s), comma-separated")
    nats_creds: Path | None = Field(None, description="NATS credentials file (JWT user credentials)")
    nats_nkey_seed_file: Path | None = Field(
        None, description="File holding the service's NATS nkey seed (`kehrwasser security init` writes one)"
    )
    nats_nkey_seed: SecretStr | None = Field(
        None, description="The service's NATS nkey seed itself, where a secret store hands it over as a variable"
    )
    nats_identities_dir: Path | None = Field(
        None,
        description="A directory `kehrwasser security init` wrote: the service signs in with its own seed there "
        "(`<service>.nk`) unless a seed or credentials are configured",
    )
    nats_tls_ca: FilePath | None = Field(
        None, description="CA certificate(s) the NATS server's certificate is verified against (default: the system's)"
    )
    nats_tls_cert: FilePath | None = Field(
        None, description="Client certificate for NATS servers that verify clients (PEM; may hold the key too)"
    )
    nats_tls_key: FilePath | None = Field(None, description="The client certificate's private key (PEM)")
    nats_tls_handshake_first: bool = Field(
        False, description="TLS before the server says anything (nats-server `handshake_first`): never a plain server"
    )
    data_dir: Path = Field(Path(".kehrwasser"), description="Where embedded SQLite files and mail live")
    migrate_on_start: bool = Field(True, description="Apply Alembic migrations when a service starts")
    log_level: str = Field("INFO", description="Python logging level")
    log_format: Literal["plain", "json"] = Field(
        "plain", description="`plain` lines, or `json`: an object a line (time, level, service, logger, message, trace)"
    )
    health_host: str = Field("0.0.0.0", description="Address the health and metrics server listens on")
    health_port: int = Field(
        8080, ge=0, le=65535, description="Port of `/livez`, `/readyz` and `/metrics` (0: no health server)"
    )
    outbox_poll_seconds: float = Field(1.0, description="How often the outbox relay looks for unsent events")
    consumer_backoff_seconds: list[float] = Field(
        [0.5, 1.0, 2.0, 5.0, 10.0, 30.0], description="Waits between redeliveries of an event that failed"
    )
    catch_up_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="How long a command that names events in `after` waits for the service to consume them",
    )
    consumer_max_attempts: int = Field(
        7, description="Deliveries of a failing event before it is dead-lettered (or a deferred one decided)"
    )

    @field_validator("nats_tls_key")
    @classmethod
    def _key_needs_its_certificate(cls, key: Path | None, info: ValidationInfo) -> Path | None:
        return key_needs_certificate(key, info)

    def nkey_seed_file(self) -> Path | None:
        """The seed file to sign in with: the configured one, else the service's own in the identities directory."""
        if self.nats_nkey_seed_file is not None or self.nats_identities_dir is None:
            return self.nats_nkey_seed_file
        return seed_file(self.nats_identities_dir, self.SERVICE)

    def resolved_database_url(self) -> str:
        """The service's own database: its configured URL, or a SQLite file in the data directory."""
        configured: SecretStr | str | None = getattr(self, "database_url", None)
        url = configured.get_secret_value() if isinstance(configured, SecretStr) else configured
        return url or f"sqlite+aiosqlite:///{(self.data_dir / f'{self.SERVICE}.db').resolve()}"


def parse_partitions(spec: str) -> list[int] | None:
    """Partitions named like ``0-7``, ``3`` or ``0-3,8,12-15``; ``all`` (None: every partition)."""
    if spec.strip().lower() == "all":
        return None
    chosen: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise ValueError(f"not a partition or range of partitions: {part.strip()!r} (e.g. 0-7,12)") from None
        if not 0 <= low <= high < PARTITIONS:
            raise ValueError(f"partitions run from 0 to {PARTITIONS - 1}: {part.strip()!r}")
        chosen.update(range(low, high + 1))
    return sorted(chosen)
