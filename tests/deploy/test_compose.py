"""The local stack's compose file: valid by the compose specification, and every service of ours healthy-checked,
non-root, signing in with its own seed, with no secret value written in the file."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from kehrwasser_shared.contracts.subjects import SERVICES
from kehrwasser_shared.embedded.nats_server import nats_server_binary
from kehrwasser_shared.security import identities

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
SEED = re.compile(r"S[UAO][A-Z2-7]{40,}")
DEFAULTED = re.compile(r"\$\{[A-Z_]+:-([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def test_the_compose_file_follows_the_compose_specification() -> None:
    # check-jsonschema ships the compose-spec schema (vendor.compose-spec), so this runs offline.
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_stack_runs_nats_postgres_a_mail_catcher_and_the_four_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"nats", "postgres", "mailpit", *SERVICES}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_is_checked_for_health_and_waits_for_what_it_needs(compose: dict[str, Any], service: str) -> None:
    spec = compose["services"][service]
    assert "/readyz" in " ".join(spec["healthcheck"]["test"])
    needs = {"nats", "postgres", "mailpit"} if service == "notify" else {"nats", "postgres"}
    assert spec["depends_on"] == {name: {"condition": "service_healthy"} for name in needs}
    for dependency in needs:
        assert "healthcheck" in compose["services"][dependency]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_as_a_non_root_user_with_nothing_writable_but_tmp(
    compose: dict[str, Any], service: str
) -> None:
    spec = compose["services"][service]
    user, group = DEFAULTED.sub(lambda m: m.group(1), spec["user"]).split(":")
    assert int(user) != 0
    assert int(group) != 0
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in spec["security_opt"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_signs_in_with_its_own_seed_from_a_compose_secret(compose: dict[str, Any], service: str) -> None:
    spec = compose["services"][service]
    environment = spec["environment"]
    assert f"{service}_nkey" in spec["secrets"]
    assert environment["KEHRWASSER_NATS_NKEY_SEED_FILE"] == f"/run/secrets/{service}_nkey"
    assert compose["secrets"][f"{service}_nkey"] == {"file": f"./secrets/nats/{service}.nk"}
    assert environment["KEHRWASSER_MIGRATE_ON_START"] == "true"
    url = urlsplit(environment[f"KEHRWASSER_{service.upper()}_DATABASE_URL"])
    assert (url.hostname, url.path, url.password) == ("postgres", f"/{service}", None)
    assert environment["PGPASSFILE"] == f"/run/secrets/{service}_pgpass"


def test_no_secret_value_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, secret in compose["secrets"].items():
        assert set(secret) == {"file"}, f"secret {name} must come from a file, not a value"
        assert secret["file"].startswith("./secrets/")
    for name, spec in compose["services"].items():
        for key, value in (spec.get("environment") or {}).items():
            text = str(value)
            assert not SEED.search(text), f"{name}: {key} holds an nkey seed"
            if re.search(r"PASSWORD|SEED|SECRET|TOKEN", key) and not key.endswith("_FILE"):
                pytest.fail(f"{name}: {key} is set inline; mount it as a secret file")
            if "://" in text:
                assert urlsplit(text).password is None, f"{name}: {key} carries a password"


def test_the_secrets_directory_is_ignored_by_git_and_kept_out_of_images() -> None:
    assert {"secrets/", ".env"} <= set((COMPOSE_DIR / ".gitignore").read_text().split())


def test_the_stacks_nats_configuration_is_valid_with_the_generated_permissions(tmp_path: Path) -> None:
    # The same layout as in the container: nats.conf with the authorization include in auth/ beside it.
    config = tmp_path / "nats.conf"
    text = (COMPOSE_DIR / "nats" / "nats.conf").read_text().replace("store_dir: /data", f"store_dir: {tmp_path}")
    config.write_text(text)
    identities.init(tmp_path / "auth")
    result = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(config)], capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sync_interval: always" in text


def test_the_init_script_and_the_postgres_init_script_are_executable() -> None:
    for script in (COMPOSE_DIR / "init-secrets.sh", COMPOSE_DIR / "postgres" / "init-databases.sh"):
        assert script.stat().st_mode & 0o111, script
        if shutil.which("bash"):
            subprocess.run(["bash", "-n", str(script)], check=True)
