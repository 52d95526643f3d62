"""Settings of the operator CLI (``KEHRWASSER_*`` environment variables)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .values import Service

SERVICES: tuple[str, ...] = get_args(Service)
UP_FILE = "up.json"


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEHRWASSER_", extra="ignore")

    data_dir: Path = Field(Path(".kehrwasser"), description="Data directory of the embedded network")
    nats_url: str | None = Field(None, description="NATS to send commands to; default: the running `up`")
    embedded_nats_port: int = Field(4223, description="Port of the embedded nats-server started by `up`")
    embedded_smtp_port: int = Field(2525, description="Port of the embedded SMTP sink started by `up`")

    def command_nats_url(self) -> str:
        """Where commands go: the configured NATS, else the one a running `up` wrote down, else the default."""
        if self.nats_url:
            return self.nats_url
        try:
            return str(json.loads((self.data_dir / UP_FILE).read_text())["nats_url"])
        except (OSError, ValueError, KeyError):  # no `up` here, or a record half written or damaged
            return f"nats://127.0.0.1:{self.embedded_nats_port}"
