"""How a service or client signs in to NATS as its identity (kept light: the CLI imports it at start)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr


def inbox_prefix(identity: str) -> str:
    """The inbox an identity receives its replies on; the only inbox its subscribe permission allows."""
    return f"_INBOX.{identity}"


def connect_options(
    identity: str, *, creds: Path | None = None, seed_file: Path | None = None, seed: SecretStr | None = None
) -> dict[str, Any]:
    """nats-py connect options for signing in as ``identity``: JWT credentials, an nkey seed file or the seed
    itself (the first one given), and the identity's own inbox, the only one its permissions let it read."""
    options: dict[str, Any] = {"inbox_prefix": inbox_prefix(identity)}
    if creds is not None:
        options["user_credentials"] = str(creds)
    elif seed_file is not None:
        options["nkeys_seed"] = str(seed_file)
    elif seed is not None:
        options["nkeys_seed_str"] = seed.get_secret_value()
    return options
