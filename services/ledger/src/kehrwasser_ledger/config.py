"""Settings of the ledger service (``KEHRWASSER_*`` environment variables)."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from kehrwasser_shared.config import ServiceSettings

SERVICE = "ledger"


class LedgerSettings(ServiceSettings):
    SERVICE = SERVICE
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("KEHRWASSER_LEDGER_DATABASE_URL"),
        description="SQLAlchemy URL of the ledger database; default: SQLite file in the data directory",
    )
    intake_batch_size: int = Field(1000, description="Submitted contributions booked per transaction, at most")
    intake_fetch_seconds: float = Field(0.05, description="How long the intake waits to fill a batch")
