"""The CLI against the real members, alliances and ledger services over a real nats-server: tables that name
members, `--json` for machines, an email wherever a member is asked, and pages with a hint to the next one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_cli.main import app
from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_members.bootstrap import bootstrap as members_service
from kehrwasser_members.config import MembersSettings
from kehrwasser_shared.testing import running

pytestmark = pytest.mark.integration
FOUNDERS = (
    ("Ada Lovelace", "ada@example.org", "saas"),
    ("Grace Hopper", "grace@example.org", "saas"),
    ("Linus Torvalds", "linus@example.org", "kernels"),
)


class Cli:
    """`kehrwasser` in a thread (it runs an event loop of its own), talking to the test's NATS."""

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url

    async def run(self, *args: str) -> Result:
        return await asyncio.to_thread(CliRunner().invoke, app, [*args, "--nats-url", self.nats_url])

    async def table(self, *args: str) -> str:
        result = await self.run(*args)
        assert result.exit_code == 0, result.output
        return result.stdout

    async def json(self, *args: str) -> Any:
        return json.loads(await self.table(*args, "--json"))

    async def eventually(self, *args: str) -> str:
        """A command naming someone a service learns of from an event, retried until it has (a few ms)."""
        for _ in range(100):
            result = await self.run(*args)
            if result.exit_code == 0:
                return result.stdout
            await asyncio.sleep(0.1)
        raise AssertionError(
            f"kehrwasser {' '.join(args)} kept failing: {result.exit_code} {result.output!r} {result.exception!r}"
        )


@contextlib.asynccontextmanager
async def the_network(nats_url: str, tmp_path: Path) -> AsyncIterator[Cli]:
    common: dict[str, Any] = {"nats_url": nats_url, "outbox_poll_seconds": 0.2, "consumer_backoff_seconds": [0.2]}
    async with (
        running(members_service(MembersSettings(data_dir=tmp_path / "m", **common))),
        running(alliances_service(AlliancesSettings(data_dir=tmp_path / "a", **common))),
        running(ledger_service(LedgerSettings(data_dir=tmp_path / "l", **common))),
    ):
        yield Cli(nats_url)


def rows(table: str) -> list[list[str]]:
    """A table's lines split at the column gaps (two spaces or more)."""
    return [re.split(r"\s{2,}", line.strip()) for line in table.splitlines() if line.strip()]


def fields(block: str) -> dict[str, str]:
    """A key/value block as a dict (keys may hold single spaces, the gap to the value is two or more)."""
    return dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in block.splitlines() if "  " in line)


async def test_members_are_shown_by_name_found_by_email_and_listed_a_page_at_a_time(
    nats_url: str, tmp_path: Path
) -> None:
    async with the_network(nats_url, tmp_path) as cli:
        shown = await cli.table("member", "register", "--name", "Ada Lovelace", "--email", "ada@example.org")
        for name, email, focus in FOUNDERS[1:]:
            await cli.json("member", "register", "--name", name, "--email", email, "--focus", focus)

        assert fields(shown)["name"] == "Ada Lovelace"
        by_email = await cli.json("member", "get", "ADA@example.org")
        assert (by_email["name"], by_email["status"]) == ("Ada Lovelace", "active")
        by_id = await cli.table("member", "get", by_email["member_id"])
        assert (fields(by_id)["id"], fields(by_id)["time zone"]) == (by_email["member_id"], "Europe/Berlin")

        first = await cli.table("member", "list", "--limit", "2")
        cursor = first.split("--cursor ")[1].split()[0]
        assert [row[0] for row in rows(first)[:3]] == ["NAME", "Ada Lovelace", "Grace Hopper"]
        assert first.splitlines()[-1] == f"more: --cursor {cursor} for the next page, or --all for every page"
        rest = await cli.table("member", "list", "--limit", "2", "--cursor", cursor)
        assert [row[0] for row in rows(rest)] == ["NAME", "Linus Torvalds"]
        assert "more:" not in rest
        everyone = await cli.json("member", "list", "--limit", "1", "--all")
        assert ([m["name"] for m in everyone["members"]], everyone["next_cursor"]) == (
            ["Ada Lovelace", "Grace Hopper", "Linus Torvalds"],
            None,
        )

        updated = await cli.json("member", "update-profile", "linus@example.org", "--timezone", "Europe/Helsinki")
        assert updated["timezone"] == "Europe/Helsinki"
        suspended = await cli.table(
            "member", "suspend", "linus@example.org", "--by", "ada@example.org", "--reason", "sells only"
        )
        assert fields(suspended)["status"] == "suspended"

        unknown = await cli.run("member", "get", "nobody@example.org")
        assert (unknown.exit_code, unknown.stdout) == (1, "")
        assert len(unknown.stderr.splitlines()) == 1
        assert unknown.stderr.startswith("unknown-member: ")


async def test_an_alliance_is_run_by_email_and_its_tables_name_its_members(nats_url: str, tmp_path: Path) -> None:
    async with the_network(nats_url, tmp_path) as cli:
        for name, email, focus in FOUNDERS:
            await cli.json("member", "register", "--name", name, "--email", email, "--focus", focus)
        founded = await cli.eventually(
            "alliance", "create", "--name", "Hamburg Founders", "--moderator", "ada@example.org", "--focus", "saas",
            "--json",
        )  # fmt: skip
        hamburg = json.loads(founded)["alliance_id"]

        requested = await cli.table("alliance", "request", hamburg, "grace@example.org", "--message", "SaaS too")
        assert (fields(requested)["member"], fields(requested)["status"]) == ("Grace Hopper", "requested")
        await cli.table("alliance", "request", hamburg, "linus@example.org")
        first = await cli.table("alliance", "pending-requests", hamburg, "--by", "ada@example.org", "--limit", "1")
        assert rows(first)[1][:1] == ["Grace Hopper"]
        assert "100%" in rows(first)[1]
        assert "more: --cursor " in first
        waiting = await cli.json("alliance", "pending-requests", hamburg, "--by", "ada@example.org", "--all")
        assert [r["name"] for r in waiting["items"]] == ["Grace Hopper", "Linus Torvalds"]

        await cli.table("alliance", "approve", hamburg, "grace@example.org", "--by", "ada@example.org")
        refused = await cli.run("alliance", "approve", hamburg, "linus@example.org", "--by", "ada@example.org")
        assert refused.exit_code == 1
        assert refused.stderr.startswith("alignment-too-low: ")
        declined = await cli.table(
            "alliance", "decline", hamburg, "linus@example.org", "--by", "ada@example.org", "--reason", "kernels"
        )
        assert (fields(declined)["status"], fields(declined)["decided by"]) == ("declined", "Ada Lovelace")

        details = await cli.table("alliance", "get", hamburg)
        assert fields(details.split("\n\n")[0])["moderators"] == "Ada Lovelace"
        members = {row[0]: row[1] for row in rows(details.split("\n\n")[1])}
        assert (members["Ada Lovelace"], members["Grace Hopper"]) == ("moderator", "member")
        mine = await cli.table("alliance", "list", "--member", "grace@example.org")
        assert rows(mine)[1][:4] == ["Hamburg Founders", "saas", "2", "Ada Lovelace"]
        standing = await cli.table("alliance", "memberships", "linus@example.org")
        assert rows(standing)[1][1:5] == ["member", "declined", rows(standing)[1][3], "Ada Lovelace"]

        given = await cli.eventually(
            "contribute", "--alliance", hamburg, "--giver", "ada@example.org", "--receiver", "grace@example.org",
            "--kind", "advice", "--value", "3", "--note", "pricing",
        )  # fmt: skip
        assert fields(given)["giver"] == "Ada Lovelace (balance 3.00)"
        assert fields(given)["receiver"] == "Grace Hopper (balance -3.00)"
        lights = {row[0]: row[1:3] for row in rows(await cli.table("ledger", "lights", hamburg))}
        assert (lights["Ada Lovelace"], lights["Grace Hopper"]) == (["green", "3.00"], ["green", "-3.00"])
        matrix = await cli.table("ledger", "matrix", hamburg)
        assert rows(matrix)[1] == ["Ada Lovelace", "Grace Hopper", "advice", "3.00", "1"]
        statement = await cli.table("ledger", "statement", hamburg, "grace@example.org")
        assert statement.startswith("Grace Hopper in ")
        assert "Ada Lovelace" in statement
        as_json = await cli.json("ledger", "lights", hamburg, "grace@example.org")
        assert [(m["member_id"], m["balance"]) for m in as_json["members"]] == [
            (json.loads(await cli.table("member", "get", "grace@example.org", "--json"))["member_id"], "-3.00")
        ]

        unknown = await cli.run("balance", hamburg, "nobody@example.org")
        assert (unknown.exit_code, unknown.stdout) == (1, "")
        assert len(unknown.stderr.splitlines()) == 1
        assert unknown.stderr.startswith("unknown-member: ")
