"""The ``kehrwasser`` operator CLI: run the network, run one service, drive the network by hand.

This module assembles the command groups (one module each) and holds the commands that run things. A person
waits for every start of this program, so only typer and the standard library are imported by it and by the
group modules; the contracts, NATS, pydantic and the settings come in with the command that needs them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from . import alliances_cli, ledger_cli, mail_cli, meetings_cli, members_cli, operations_cli, security_cli
from .exit_codes import EXIT_CODES_HELP
from .shell import DEFAULT_TIMEOUT_SECONDS, DataDir, NatsUrl, Timeout, group, settings
from .values import Service

app = group("Kehrwasser: the backend for networks of founder alliances.", epilog=EXIT_CODES_HELP)
app.add_typer(members_cli.app, name="member")
app.add_typer(alliances_cli.app, name="alliance")
app.add_typer(meetings_cli.app, name="meeting")
app.add_typer(ledger_cli.app, name="ledger")
app.add_typer(mail_cli.app, name="mail")
app.add_typer(security_cli.app, name="security")
app.add_typer(operations_cli.streams, name="streams")
app.add_typer(operations_cli.dlq, name="dlq")


@app.command()
def up(data_dir: DataDir = None) -> None:
    """Start NATS, an SMTP sink and the four services on this machine; Ctrl-C stops them."""
    from .network import up as run_network

    raise typer.Exit(run_network(settings(data_dir=data_dir)))


@app.command()
def demo(nats_url: NatsUrl = None, data_dir: DataDir = None, timeout: Timeout = DEFAULT_TIMEOUT_SECONDS) -> None:
    """Seed an alliance, push a member below the threshold and schedule a meeting (needs a running `up`)."""
    from .commands import run_session
    from .demo import demo as run_demo

    cli_settings = settings(nats_url, data_dir)
    mail_dir = str(cli_settings.data_dir.resolve() / "mail")
    raise typer.Exit(
        run_session(
            cli_settings.command_nats_url(),
            timeout,
            lambda client: run_demo(client, mail_dir),
            cli_settings.command_identity(),
        )
    )


app.command()(ledger_cli.contribute)
app.command()(ledger_cli.balance)
app.command()(operations_cli.drain)
app.command()(operations_cli.resume)


@app.command()
def run(service: Service) -> None:
    """Run one service in the foreground (configured by KEHRWASSER_* variables)."""
    _exec_service(service, "serve")


@app.command()
def migrate(service: Service) -> None:
    """Apply a service's database migrations and exit."""
    _exec_service(service, "migrate")


def _exec_service(service: str, command: str) -> None:
    # exec, so signals and the exit code are the service's own, exactly as under a process supervisor.
    os.execv(sys.executable, [sys.executable, "-m", f"kehrwasser_{service}", command])


@app.command()
def docs(output: Annotated[Path, typer.Option(help="Where the docs live")] = Path("docs")) -> None:
    """Regenerate the AsyncAPI document and JSON Schemas from the contracts."""
    from kehrwasser_shared.contracts.documents import write_documents

    written = write_documents(output)
    typer.echo("\n".join(f"wrote {output / path}" for path in written) or "contract documents are current")
