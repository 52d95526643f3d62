"""Settings of the ledger service (``KEHRWASSER_*`` environment variables)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator

from kehrwasser_shared.config import ServiceSettings, parse_partitions

SERVICE = "ledger"


class LedgerSettings(ServiceSettings):
    SERVICE = SERVICE
    database_url: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("KEHRWASSER_LEDGER_DATABASE_URL"),
        description="SQLAlchemy URL of the ledger database; default: SQLite file in the data directory",
    )
    intake_batch_size: int = Field(1000, description="Submitted contributions booked per transaction, at most")
    intake_fetch_seconds: float = Field(0.05, description="How long the intake waits to fill a batch")
    intake_puller: Literal["own", "faststream"] = Field(
        "own",
        description="Who fetches the intake's batches: our BatchPuller, or FastStream's batch pull subscriber "
        "(kept for the side-by-side benchmark in docs/performance.md)",
    )
    intake_known_accounts: int = Field(
        200_000, ge=0, description="Accounts the intake keeps in memory between batches (forgotten all at once beyond)"
    )
    intake_partitions: str = Field(
        "all",
        description="Partitions of contribution-submitted (alliances by CRC-32 of their id, 0-15) this process "
        "books, e.g. 0-7; give each ledger process its own share to scale the intake out",
    )
    maintenance_interval_seconds: float = Field(
        60, gt=0, description="How often pending contributions are expired and inactivity lights reviewed"
    )
    verify_parallel: int = Field(8, ge=1, description="Alliances a verification run checks at once")
    verify_slice: int = Field(
        20_000, ge=100, description="Contributions a verification run reads, checks and records progress for at a time"
    )
    health_interval_seconds: int = Field(
        3600, ge=1, description="Period of the alliance-health event: one per alliance and period"
    )

    @field_validator("intake_partitions")
    @classmethod
    def _partitions_parse(cls, spec: str) -> str:
        parse_partitions(spec)
        return spec

    def owned_partitions(self) -> list[int] | None:
        """The partitions of the intake this process books (None: all of them)."""
        return parse_partitions(self.intake_partitions)
