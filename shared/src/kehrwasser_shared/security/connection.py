"""How a service or client signs in to NATS as its identity (kept light: the CLI imports it at start)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationInfo

SEED_SUFFIX = ".nk"


def seed_file(directory: Path, identity: str) -> Path:
    """Where `kehrwasser security init` keeps an identity's nkey seed in its directory."""
    return directory / f"{identity}{SEED_SUFFIX}"


def inbox_prefix(identity: str) -> str:
    """The inbox an identity receives its replies on; the only inbox its subscribe permission allows."""
    return f"_INBOX.{identity}"


def tls_context(
    ca_file: Path | None = None, cert_file: Path | None = None, key_file: Path | None = None
) -> ssl.SSLContext | None:
    """The TLS context to reach NATS with, or None when nothing is configured.

    The server's certificate is always verified, name included: against ``ca_file`` (a deployment's own CA),
    else the system's CAs. ``cert_file`` (and ``key_file``, unless the key is in the same file) is the client
    certificate a server with ``verify: true`` asks for. Without a context nats-py still upgrades to TLS when
    the server requires it, verifying against the system's CAs; there is no setting that turns verification off.
    """
    if ca_file is None and cert_file is None and key_file is None:
        return None
    if key_file is not None and cert_file is None:
        raise ValueError("a client key needs its certificate (KEHRWASSER_NATS_TLS_CERT)")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None)
    if cert_file is not None:
        context.load_cert_chain(cert_file, key_file)
    return context


def key_needs_certificate(key: Path | None, info: ValidationInfo) -> Path | None:
    """Settings' check of ``nats_tls_key``: a client key without its certificate is refused at start."""
    if key is not None and info.data.get("nats_tls_cert") is None:
        raise ValueError("a client key needs its certificate (KEHRWASSER_NATS_TLS_CERT)")
    return key


def connect_options(
    identity: str,
    *,
    creds: Path | None = None,
    seed_file: Path | None = None,
    seed: SecretStr | None = None,
    tls: ssl.SSLContext | None = None,
    tls_handshake_first: bool = False,
) -> dict[str, Any]:
    """nats-py connect options for signing in as ``identity``: JWT credentials, an nkey seed file or the seed
    itself (the first one given), the identity's own inbox, the only one its permissions let it read, and the
    TLS context (`tls_context`), if any; ``tls_handshake_first``: TLS before the server says anything (for a
    nats-server with ``handshake_first: true``), so that the client never talks to a plain server."""
    options: dict[str, Any] = {"inbox_prefix": inbox_prefix(identity)}
    if creds is not None:
        options["user_credentials"] = str(creds)
    elif seed_file is not None:
        options["nkeys_seed"] = str(seed_file)
    elif seed is not None:
        options["nkeys_seed_str"] = seed.get_secret_value()
    if tls is not None:
        options["tls"] = tls
    if tls_handshake_first:
        options["tls_handshake_first"] = True
    return options
