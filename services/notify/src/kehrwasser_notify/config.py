"""Settings of the notify service (``KEHRWASSER_*`` environment variables)."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parseaddr

from pydantic import AliasChoices, Field, SecretStr, field_validator

from kehrwasser_shared.config import ServiceSettings

from .domain.digest import WEEKDAYS, DigestSchedule
from .domain.emails import MailLinks
from .domain.model import QuietHours, RetryPolicy
from .service_layer.mailer import DeliverySettings

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
    smtp_connections: int = Field(4, ge=1, le=64, description="SMTP connections kept open and used in parallel")
    smtp_timeout_seconds: float = Field(
        30.0, gt=0, le=600, description="The longest one send may take (connecting included); then it is retried"
    )
    mail_per_second: float = Field(
        500.0, ge=0, description="The most emails started per second (0: no cap); set it below the server's limit"
    )
    mail_retry_first_seconds: float = Field(30.0, gt=0, description="Wait after the first temporary failure")
    mail_retry_longest_seconds: float = Field(3600.0, gt=0, description="Longest wait between two attempts")
    mail_retry_horizon_hours: float = Field(
        48.0, gt=0, description="A temporarily refused email is given up this long after it was queued"
    )

    mail_quiet_hours: str = Field(
        "",
        description="Hours (like 22-7) in which mail that is not urgent waits, on each member's clocks; empty: none",
    )

    mail_link_base_url: str = Field(
        "https://kehrwasser.local",
        description="Base of the links in the mail (the gateway): <base>/unsubscribe, <base>/confirm-email",
    )
    mail_unsubscribe_address: str | None = Field(
        None, description="Mailbox of the mailto unsubscribe link; default: unsubscribe@ the sender's domain"
    )

    digest_enabled: bool = Field(True, description="Send the moderators' weekly digest")
    digest_weekday: str = Field(
        "monday", description="Day of the week the moderators' weekly digest falls due (monday … sunday)"
    )
    digest_hour: int = Field(7, ge=0, le=23, description="Hour of that day the digest falls due")
    digest_timezone: str = Field("UTC", description="IANA time zone of that day and hour")
    digest_tick_seconds: float = Field(
        60.0, gt=0, le=3600, description="How often notify looks whether the digest is due (a clock reading, no query)"
    )

    @field_validator("digest_weekday")
    @classmethod
    def _check_weekday(cls, value: str) -> str:
        if value.strip().lower() not in WEEKDAYS:
            raise ValueError(f"a day of the week ({', '.join(WEEKDAYS)}), not {value!r}")
        return value.strip().lower()

    @field_validator("digest_timezone")
    @classmethod
    def _check_digest_timezone(cls, value: str) -> str:
        DigestSchedule(timezone=value)  # an unknown zone stops the start
        return value

    def digest_schedule(self) -> DigestSchedule:
        return DigestSchedule(WEEKDAYS.index(self.digest_weekday), self.digest_hour, self.digest_timezone)

    @field_validator("mail_quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        QuietHours.parse(value)  # a mistyped setting stops the start, not the first mail at night
        return value

    def quiet_hours(self) -> QuietHours | None:
        return QuietHours.parse(self.mail_quiet_hours)

    def links(self) -> MailLinks:
        address = self.mail_unsubscribe_address
        if address is None:
            address = "unsubscribe@" + parseaddr(self.mail_from)[1].rpartition("@")[2]
        return MailLinks(self.mail_link_base_url, address)

    def delivery(self) -> DeliverySettings:
        return DeliverySettings(
            connections=self.smtp_connections,
            per_second=self.mail_per_second,
            send_timeout=self.smtp_timeout_seconds,
            retry=RetryPolicy(
                first=timedelta(seconds=self.mail_retry_first_seconds),
                longest=timedelta(seconds=self.mail_retry_longest_seconds),
                horizon=timedelta(hours=self.mail_retry_horizon_hours),
            ),
        )
