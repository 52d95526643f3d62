"""`kehrwasser security …`: NATS identities and permissions of a deployment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .shell import group

app = group("NATS identities and permissions of a deployment (docs/security.md).")
IdentitiesDir = Annotated[Path, typer.Argument(help="Where the seeds and the nats-server configuration go")]


@app.command("init")
def init(directory: IdentitiesDir) -> None:
    """Create an nkey per service and client role (seeds kept if present) and the nats-server permissions."""
    from kehrwasser_shared.security import identities

    for identity in identities.init(directory):
        print(f"{identity.name:<10} {identity.public_key}  {identity.seed_file}")
    include, config = directory / identities.AUTHORIZATION_FILE, directory / identities.SERVER_CONFIG_FILE
    print(f"nats-server: include {include} in its configuration (or run it with -c {config})")


@app.command("rotate")
def rotate(
    directory: IdentitiesDir,
    identity: Annotated[str, typer.Argument(help="The service or client role whose seed is replaced")],
) -> None:
    """Replace one identity's seed, leaving the others; reload nats-server afterwards (nats-server --signal reload)."""
    from kehrwasser_shared.security import identities

    try:
        rotated = identities.rotate(directory, identity)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="IDENTITY") from None
    print(f"{rotated.name:<10} {rotated.public_key}  {rotated.seed_file}")
