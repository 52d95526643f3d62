"""What every command group shares: the app class, the common options and the settings.

Only typer and the standard library at import time: every start of the CLI imports this module.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .exit_codes import ExitCode
from .values import points, seconds

if TYPE_CHECKING:
    from .settings import CliSettings

DEBUG_VARIABLE = "KEHRWASSER_DEBUG"
DEFAULT_TIMEOUT_SECONDS = 10.0


class KehrwasserApp(typer.Typer):
    """A typer app that ends even an unforeseen error with one line, not a traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if os.environ.get(DEBUG_VARIABLE):
                raise
            first_line = next(iter(str(exc).splitlines()), "")
            print(
                f"unexpected error: {type(exc).__name__}: {first_line} ({DEBUG_VARIABLE}=1 shows the traceback)",
                file=sys.stderr,
            )
            sys.exit(ExitCode.FAILED)


def group(help_text: str, **kwargs: Any) -> KehrwasserApp:
    """A command group. Plain help and errors: rich draws usage errors in a box and costs start-up time."""
    return KehrwasserApp(help=help_text, no_args_is_help=True, rich_markup_mode=None, **kwargs)


NatsUrl = Annotated[str | None, typer.Option("--nats-url", help="NATS to talk to (env KEHRWASSER_NATS_URL)")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (env KEHRWASSER_DATA_DIR)")]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        parser=seconds,
        metavar="SECONDS",
        help="How long to wait for the service's answer (exit code 4 when none comes)",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON (for machines) instead of a table")]
Cursor = Annotated[str | None, typer.Option(help="Continue after the previous page (the hint under it names it)")]
All = Annotated[bool, typer.Option("--all", help="Follow the cursors and print every page")]
Member = Annotated[str, typer.Argument(metavar="MEMBER", help="Member id or email")]
Alliance = Annotated[str, typer.Argument(metavar="ALLIANCE", help="Alliance id")]
Focus = Annotated[list[str] | None, typer.Option(help="Focus tag; repeat for several")]


def member_option(*names: str, help_text: str = "Member id or email") -> Any:
    """An option naming a member: an id, or anything with '@' as the member's email."""
    return typer.Option(*names, metavar="MEMBER", help=help_text)


def points_option(help_text: str, *names: str) -> Any:
    """An option holding points, read as a Decimal (never a float) by `values.points`."""
    return typer.Option(*names, parser=points, metavar="POINTS", help=help_text)


def settings(nats_url: str | None = None, data_dir: Path | None = None) -> CliSettings:
    from pydantic import ValidationError

    from .settings import CliSettings

    overrides: dict[str, Any] = {}
    if nats_url:
        overrides["nats_url"] = nats_url
    if data_dir:
        overrides["data_dir"] = data_dir
    try:
        return CliSettings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = f"KEHRWASSER_{'_'.join(str(part) for part in error['loc']).upper()}"
        raise typer.BadParameter(f"{error['input']!r}: {error['msg']}", param_hint=variable) from None
