"""The images: one service each, locked, non-root, health-checked; the build context carries no secret."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()


def test_the_image_installs_one_service_from_the_lock_without_dev_dependencies() -> None:
    assert 'uv sync --locked --no-dev --package "kehrwasser-${SERVICE}"' in DOCKERFILE
    assert "COPY --from=build /app/services/${SERVICE} /app/services/${SERVICE}" in DOCKERFILE


def test_the_image_runs_as_a_non_root_user_and_checks_readiness() -> None:
    users = [line.split()[1] for line in DOCKERFILE.splitlines() if line.startswith("USER ")]
    assert users
    assert users[-1].split(":")[0] not in ("0", "root")
    assert "HEALTHCHECK" in DOCKERFILE
    assert "/readyz" in DOCKERFILE


def test_the_build_context_leaves_out_secrets_and_what_the_image_does_not_need() -> None:
    patterns = set((ROOT / ".dockerignore").read_text().split())
    secrets = {"**/*.nk", "**/*.creds", "**/.kehrwasser", "**/.env", "**/identities", "**/secrets"}
    clutter = {"**/.venv", "**/__pycache__", "**/.pytest_cache", "docs", "tests", "**/.git"}
    assert secrets <= patterns
    assert clutter <= patterns
