"""NATS identities of a deployment: an nkey per service and client role, and the server's permission include.

`init` writes into one directory, each file readable by its owner only (mode 0600):

- ``<identity>.nk``: the identity's nkey seed (``SU…``), the secret it signs in with; hand each to its
  service or client only (``KEHRWASSER_NATS_NKEY_SEED_FILE``, or nats-py's ``nkeys_seed``);
- ``authorization.conf``: the nats-server ``authorization`` block, every identity by its public key with its
  permissions (`permissions`), to ``include`` in the server's configuration;
- ``nats-server.conf``: a configuration that only includes it, for the embedded server and the tests.

Running it again keeps the seeds that exist and creates the missing ones; `rotate` replaces one identity's seed
and leaves the others alone. Either way the server configuration is rewritten; a running nats-server picks it
up on a configuration reload (``nats-server --signal reload``, or SIGHUP).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nkeys

from .connection import seed_file as seed_file  # re-exported: callers find seeds here
from .permissions import IDENTITIES, Permissions, permissions_of

AUTHORIZATION_FILE = "authorization.conf"
SERVER_CONFIG_FILE = "nats-server.conf"
PRIVATE = 0o600


@dataclass(frozen=True)
class Identity:
    name: str
    seed_file: Path
    public_key: str


def new_user_seed() -> bytes:
    """A fresh nkey user seed (``SU…``) from 32 random bytes."""
    return bytes(nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER))


def public_key(seed: bytes) -> str:
    return bytes(nkeys.from_seed(bytearray(seed)).public_key).decode()


def init(directory: Path, identities: Iterable[str] = IDENTITIES) -> list[Identity]:
    """Create the seeds that are missing and (re)write the server configuration; existing seeds are kept."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    created = []
    for name in identities:
        path = seed_file(directory, name)
        if not path.exists():
            _write_private(path, new_user_seed() + b"\n")
        created.append(load(directory, name))
    write_server_config(directory, created)
    return created


def rotate(directory: Path, identity: str) -> Identity:
    """Replace one identity's seed; the others keep theirs. The server configuration is rewritten."""
    if identity not in IDENTITIES:
        raise ValueError(f"unknown identity {identity!r} (one of {', '.join(IDENTITIES)})")
    _write_private(seed_file(directory, identity), new_user_seed() + b"\n")
    return next(i for i in init(directory) if i.name == identity)


def load(directory: Path, identity: str) -> Identity:
    path = seed_file(directory, identity)
    return Identity(identity, path, public_key(path.read_bytes().strip()))


def authorization_block(identities: Iterable[Identity], extra_users: Iterable[str] = ()) -> str:
    """The nats-server ``authorization`` block: no anonymous users, each identity with its permissions (and
    ``extra_users``, entries of nats-server's ``users`` list, where a test adds its own)."""
    users = [_user(identity.public_key, permissions_of(identity.name), identity.name) for identity in identities]
    return "authorization {\n  users = [\n" + "\n".join([*users, *extra_users]) + "\n  ]\n}\n"


def write_server_config(directory: Path, identities: Iterable[Identity]) -> Path:
    _write_private(directory / AUTHORIZATION_FILE, authorization_block(identities).encode())
    config = directory / SERVER_CONFIG_FILE
    _write_private(config, f"include {json.dumps(AUTHORIZATION_FILE)}\n".encode())
    return config


def _user(key: str, permissions: Permissions, name: str) -> str:
    rules = {"publish": {"allow": list(permissions.publish)}, "subscribe": {"allow": list(permissions.subscribe)}}
    if permissions.allow_responses:
        rules["allow_responses"] = True  # type: ignore[assignment]
    return f"    # {name}\n    {{ nkey: {json.dumps(key)}, permissions: {json.dumps(rules)} }}"


def _write_private(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` with mode 0600 from the start (never readable by others, not even briefly)."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
    with os.fdopen(fd, "wb") as file:
        file.write(content)
    os.chmod(temporary, PRIVATE)  # O_CREAT's mode applies only to a new file
    os.replace(temporary, path)
