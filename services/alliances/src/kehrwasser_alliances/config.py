"""Settings of the alliances service (``KEHRWASSER_*`` environment variables)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr

from kehrwasser_shared.config import ServiceSettings

SERVICE = "alliances"


class AlliancesSettings(ServiceSettings):
    SERVICE = SERVICE
    database_url: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("KEHRWASSER_ALLIANCES_DATABASE_URL"),
        description="SQLAlchemy URL of the alliances database; default: SQLite file in the data directory",
    )
