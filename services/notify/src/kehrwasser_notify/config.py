"""Settings of the notify service (``KEHRWASSER_*`` environment variables)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr

from kehrwasser_shared.config import ServiceSettings

SERVICE = "notify"


class NotifySettings(ServiceSettings):
    SERVICE = SERVICE
    database_url: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("KEHRWASSER_NOTIFY_DATABASE_URL"),
        description="SQLAlchemy URL of the notify database; default: SQLite file in the data directory",
    )
    smtp_host: str = Field("127.0.0.1", description="SMTP server")
    smtp_port: int = Field(2525, description="SMTP port")
    smtp_username: str | None = Field(None, description="SMTP user name")
    smtp_password: SecretStr | None = Field(None, description="SMTP password")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS")
    smtp_tls: bool = Field(False, description="Implicit TLS (SMTPS, usually port 465)")
    mail_from: str = Field("Kehrwasser <noreply@kehrwasser.local>", description="Sender of every email")
    mail_poll_seconds: float = Field(1.0, description="How often the mailer looks for due deliveries")
