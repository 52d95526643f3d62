"""Service settings: environment variables with the documented prefix, and the same fields by name in code."""

from __future__ import annotations

import pytest
from pydantic import AliasChoices, Field, SecretStr

from kehrwasser_shared.config import ServiceSettings


class BakerySettings(ServiceSettings):
    SERVICE = "bakery"
    database_url: SecretStr | None = Field(None, validation_alias=AliasChoices("KEHRWASSER_BAKERY_DATABASE_URL"))


def test_a_database_url_given_by_field_name_is_used_not_silently_ignored() -> None:
    settings = BakerySettings(database_url="postgresql://db/bakery")
    assert settings.resolved_database_url() == "postgresql://db/bakery"


def test_a_database_url_comes_from_the_services_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEHRWASSER_BAKERY_DATABASE_URL", "postgresql://db/from-env")
    monkeypatch.setenv("KEHRWASSER_NATS_URL", "nats://nats-1:4222")
    settings = BakerySettings()
    assert (settings.resolved_database_url(), settings.nats_url) == ("postgresql://db/from-env", "nats://nats-1:4222")


def test_printed_settings_show_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEHRWASSER_BAKERY_DATABASE_URL", "postgresql://baker:flour-and-yeast@db/bakery")
    monkeypatch.setenv("KEHRWASSER_NATS_NKEY_SEED", "SUAKNEADTHEDOUGHTWICE")
    settings = BakerySettings()
    assert settings.resolved_database_url() == "postgresql://baker:flour-and-yeast@db/bakery"
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert "flour-and-yeast" not in shown
        assert "KNEADTHEDOUGH" not in shown
