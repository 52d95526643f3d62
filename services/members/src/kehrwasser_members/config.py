"""Settings of the members service (``KEHRWASSER_*`` environment variables)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr

from kehrwasser_shared.config import ServiceSettings

SERVICE = "members"


class MembersSettings(ServiceSettings):
    SERVICE = SERVICE
    database_url: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("KEHRWASSER_MEMBERS_DATABASE_URL"),
        description="SQLAlchemy URL of the members database; default: SQLite file in the data directory",
    )
