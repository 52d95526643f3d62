"""Settings of the operator CLI (``KEHRWASSER_*`` environment variables)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

from pydantic import Field, FilePath, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kehrwasser_shared.security.connection import (
    connect_options,
    key_needs_certificate,
    tls_context,
)
from kehrwasser_shared.security.connection import seed_file as identity_seed_file

from .values import Service

SERVICES: tuple[str, ...] = get_args(Service)
UP_FILE = "up.json"
IDENTITIES_DIR = "identities"
CLI_IDENTITY = "operator"


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEHRWASSER_", extra="ignore")

    data_dir: Path = Field(Path(".kehrwasser"), description="Data directory of the embedded network")
    nats_url: str | None = Field(None, description="NATS to send commands to; default: the running `up`")
    embedded_nats_port: int = Field(4223, description="Port of the embedded nats-server started by `up`")
    embedded_smtp_port: int = Field(2525, description="Port of the embedded SMTP sink started by `up`")
    nats_creds: Path | None = Field(None, description="NATS credentials file (JWT user credentials)")
    nats_nkey_seed_file: Path | None = Field(
        None, description="NATS nkey seed file to sign in with; default: the operator's in the data directory"
    )
    nats_nkey_seed: SecretStr | None = Field(None, description="The NATS nkey seed itself")
    nats_identities_dir: Path | None = Field(
        None, description="A directory `kehrwasser security init` wrote: the CLI signs in as its operator"
    )
    nats_tls_ca: FilePath | None = Field(None, description="CA certificate(s) the NATS server is verified against")
    nats_tls_cert: FilePath | None = Field(None, description="Client certificate for NATS servers that verify clients")
    nats_tls_key: FilePath | None = Field(None, description="The client certificate's private key")
    nats_tls_handshake_first: bool = Field(False, description="TLS before the server says anything")

    @field_validator("nats_tls_key")
    @classmethod
    def _key_needs_its_certificate(cls, key: Path | None, info: ValidationInfo) -> Path | None:
        return key_needs_certificate(key, info)

    def command_nats_url(self) -> str:
        """Where commands go: the configured NATS, else the one a running `up` wrote down, else the default."""
        if self.nats_url:
            return self.nats_url
        try:
            return str(json.loads((self.data_dir / UP_FILE).read_text())["nats_url"])
        except (OSError, ValueError, KeyError):  # no `up` here, or a record half written or damaged
            return f"nats://127.0.0.1:{self.embedded_nats_port}"

    def command_identity(self) -> dict[str, Any]:
        """How commands sign in: the configured credentials or seed, else the operator identity in the configured
        identities directory or the one `up` created in the data directory (`kehrwasser security init`), else
        none (an open server); over TLS with the configured CA and client certificate, if any."""
        seed_file = self.nats_nkey_seed_file
        if seed_file is None and self.nats_creds is None and self.nats_nkey_seed is None:
            directory = self.nats_identities_dir or self.data_dir / IDENTITIES_DIR
            if (operator := identity_seed_file(directory, CLI_IDENTITY)).exists():
                seed_file = operator
        return connect_options(
            CLI_IDENTITY,
            creds=self.nats_creds,
            seed_file=seed_file,
            seed=self.nats_nkey_seed,
            tls=tls_context(self.nats_tls_ca, self.nats_tls_cert, self.nats_tls_key),
            tls_handshake_first=self.nats_tls_handshake_first,
        )
