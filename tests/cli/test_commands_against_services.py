"""The CLI against the real members, alliances, ledger (and notify) services over a real nats-server: tables that
name members, `--json` for machines, an email wherever a member is asked, and pages with a hint to the next one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from kehrwasser_alliances import bootstrap as alliances_bootstrap
from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_cli.main import app
from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_members.bootstrap import bootstrap as members_service
from kehrwasser_members.config import MembersSettings
from kehrwasser_notify.bootstrap import bootstrap as notify_service
from kehrwasser_notify.config import NotifySettings
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.testing import running

pytestmark = pytest.mark.integration
FOUNDERS = (
    ("Ada Lovelace", "ada@example.org", "saas"),
    ("Grace Hopper", "grace@example.org", "saas"),
    ("Linus Torvalds", "linus@example.org", "kernels"),
)
NEXT_YEAR = datetime.now(UTC).year + 1


class Cli:
    """`kehrwasser` in a thread (it runs an event loop of its own), talking to the test's NATS."""

    def __init__(self, nats_url: str) -> None:
        self.nats_url = nats_url

    async def run(self, *args: str, input: str | None = None) -> Result:
        return await asyncio.to_thread(CliRunner().invoke, app, [*args, "--nats-url", self.nats_url], input=input)

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
async def the_network(nats_url: str, tmp_path: Path, mail_sink: MailSink | None = None) -> AsyncIterator[Cli]:
    """Members, alliances and the ledger; notify too when given a mail sink to send to."""
    common: dict[str, Any] = {"nats_url": nats_url, "outbox_poll_seconds": 0.2, "consumer_backoff_seconds": [0.2]}
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(running(members_service(MembersSettings(data_dir=tmp_path / "m", **common))))
        await stack.enter_async_context(
            running(alliances_service(AlliancesSettings(data_dir=tmp_path / "a", **common)))
        )
        await stack.enter_async_context(running(ledger_service(LedgerSettings(data_dir=tmp_path / "l", **common))))
        if mail_sink is not None:
            notify = NotifySettings(
                data_dir=tmp_path / "n",
                smtp_host=mail_sink.host,
                smtp_port=mail_sink.port,
                mail_poll_seconds=0.2,
                **common,
            )
            await stack.enter_async_context(running(notify_service(notify)))
        yield Cli(nats_url)


async def an_alliance_of_the_founders(cli: Cli) -> str:
    """Ada founds Hamburg Founders and moderates it; Grace and Linus join. Its id."""
    for name, email, focus in FOUNDERS:
        await cli.json("member", "register", "--name", name, "--email", email, "--focus", focus)
    founded = await cli.eventually(
        "alliance",
        "create",
        "--name",
        "Hamburg Founders",
        "--moderator",
        "ada@example.org",
        "--focus",
        "saas",
        "--json",
    )
    hamburg: str = json.loads(founded)["alliance_id"]
    for email in ("grace@example.org", "linus@example.org"):
        await cli.table("alliance", "join", hamburg, email)
    return hamburg


def one_error_line(result: Result, code: str) -> None:
    """A refused command: exit 1, nothing on stdout, one line on stderr starting with the service's code."""
    assert (result.exit_code, result.stdout) == (1, ""), result.output
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"{code}: "), result.stderr


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


async def test_a_meeting_series_is_changed_one_occurrence_at_a_time_and_its_attendance_booked(
    nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with the_network(nats_url, tmp_path) as cli:
        hamburg = await an_alliance_of_the_founders(cli)
        policy = await cli.eventually(
            "ledger", "set-policy", hamburg, "--by", "ada@example.org", "--book-attendance", "--attendance-points", "2"
        )
        assert (fields(policy)["book attendance"], Decimal(fields(policy)["attendance points"])) == ("yes", Decimal(2))

        scheduled = await cli.table(
            "meeting", "schedule", "--alliance", hamburg, "--by", "ada@example.org", "--title", "Course check",
            "--start", f"{NEXT_YEAR}-01-12T18:00", "--rrule", "FREQ=WEEKLY;COUNT=4", "--agenda", "Pricing",
        )  # fmt: skip
        summary, occurrences = scheduled.split("\n\n")
        assert (fields(summary)["repeats"], fields(summary)["agenda"]) == ("FREQ=WEEKLY;COUNT=4", "Pricing")
        assert (fields(summary)["organizer"], fields(summary)["starts"]) == (
            "Ada Lovelace",
            f"{NEXT_YEAR}-01-12T18:00+01:00 Europe/Berlin",
        )
        assert set(fields(summary)["invited"].split(", ")) == {"Ada Lovelace", "Grace Hopper", "Linus Torvalds"}
        assert [row[3] for row in rows(occurrences)] == ["STATUS", "scheduled", "scheduled", "scheduled"]
        meeting = fields(summary)["id"]

        moved = await cli.json(
            "meeting", "reschedule-occurrence", meeting, "--by", "ada@example.org",
            "--occurrence", f"{NEXT_YEAR}-01-19T18:00", "--start", f"{NEXT_YEAR}-01-20T19:00",
        )  # fmt: skip
        assert [(o["starts_at"], o["status"]) for o in moved["next_occurrences"][:2]] == [
            (f"{NEXT_YEAR}-01-12T18:00:00+01:00", "scheduled"),
            (f"{NEXT_YEAR}-01-20T19:00:00+01:00", "rescheduled"),
        ]
        await cli.table(
            "meeting", "cancel-occurrence", meeting, "--by", "ada@example.org",
            "--occurrence", f"{NEXT_YEAR}-01-26T18:00", "--reason", "holiday",
        )  # fmt: skip
        renamed = await cli.table("meeting", "update", meeting, "--by", "ada@example.org", "--title", "Course talk")
        assert fields(renamed.split("\n\n")[0])["title"] == "Course talk"
        listed = await cli.table("meeting", "list", hamburg)
        assert rows(listed)[1][:2] == ["Course talk", "FREQ=WEEKLY;COUNT=4"]
        assert rows(listed)[1][-1] == meeting

        early = await cli.run("meeting", "record-attendance", meeting, "--by", "ada@example.org", "--attended", "ada")
        one_error_line(early, "invalid-attendance")
        after_the_first = datetime(NEXT_YEAR, 1, 12, 19, 30, tzinfo=UTC)
        monkeypatch.setattr(alliances_bootstrap, "utc_now", lambda: after_the_first)
        recorded = await cli.table(
            "meeting", "record-attendance", meeting, "--by", "ada@example.org",
            "--occurrence", f"{NEXT_YEAR}-01-12T18:00", "--attended", "grace@example.org",
        )  # fmt: skip
        assert (fields(recorded)["attended"], fields(recorded)["recorded by"]) == ("Grace Hopper", "Ada Lovelace")
        assert set(fields(recorded)["absent"].split(", ")) == {"Ada Lovelace", "Linus Torvalds"}

        shown = (await cli.table("meeting", "show", meeting)).split("\n\n")
        assert [row[1] for row in rows(shown[2])[1:]] == ["moved", "cancelled"]
        assert rows(shown[3])[1][1] == "Grace Hopper"
        details = await cli.json("meeting", "show", meeting)
        assert [a["attended_ids"] for a in details["attendance"]] == [
            [json.loads(await cli.table("member", "get", "grace@example.org", "--json"))["member_id"]]
        ]
        for _ in range(100):  # the ledger books the attendance from alliances' event
            booked = await cli.json("balance", hamburg, "grace@example.org")
            if booked["balance"] == "2.00":
                break
            await asyncio.sleep(0.1)
        assert booked["balance"] == "2.00"

        cancelled = await cli.json("meeting", "cancel", meeting, "--by", "ada@example.org")
        assert cancelled["status"] == "cancelled"
        assert await cli.table("meeting", "list", hamburg) == "(no meetings)\n"
        one_error_line(await cli.run("meeting", "show", "no-such-meeting"), "unknown-meeting")


async def test_moderators_see_who_needs_a_word_and_members_share_resources(nats_url: str, tmp_path: Path) -> None:
    async with the_network(nats_url, tmp_path) as cli:
        hamburg = await an_alliance_of_the_founders(cli)
        await cli.eventually(
            "contribute", "--alliance", hamburg, "--giver", "ada@example.org", "--receiver", "linus@example.org",
            "--kind", "advice", "--value", "11",
        )  # fmt: skip
        for _ in range(100):  # alliances learns the light from the ledger's event
            needing = await cli.table("alliance", "needs-a-word", hamburg, "--by", "ada@example.org")
            if "red" in needing:
                break
            await asyncio.sleep(0.1)
        assert rows(needing)[0][:3] == ["NAME", "CONCERN", "LIGHT"]
        assert (rows(needing)[1][0], rows(needing)[1][2], rows(needing)[1][3]) == ("Linus Torvalds", "red", "-11.00")
        word = await cli.json("alliance", "needs-a-word", hamburg, "--by", "ada@example.org", "--all")
        assert word["items"][0]["reasons"]
        not_moderator = await cli.run("alliance", "needs-a-word", hamburg, "--by", "grace@example.org")
        one_error_line(not_moderator, "not-a-moderator")

        added = await cli.table(
            "alliance", "add-resource", hamburg, "--by", "grace@example.org", "--kind", "analysis",
            "--title", "SaaS pricing study", "--link", "https://example.org/pricing", "--value", "3",
        )  # fmt: skip
        assert (fields(added)["owner"], fields(added)["kind"], fields(added)["uses"]) == (
            "Grace Hopper",
            "analysis",
            "0",
        )
        resource = fields(added)["id"]
        await cli.table(
            "alliance", "add-resource", hamburg, "--by", "ada@example.org", "--kind", "tool", "--title", "CRM"
        )
        used = await cli.table(
            "alliance", "record-resource-use", resource, "--by", "linus@example.org", "--note", "thanks"
        )
        assert (fields(used)["used by"], fields(used)["note"]) == ("Linus Torvalds", "thanks")
        own_use = await cli.run("alliance", "record-resource-use", resource, "--by", "grace@example.org")
        one_error_line(own_use, "invalid-resource-use")
        changed = await cli.json(
            "alliance", "update-resource", resource, "--by", "ada@example.org", "--title", "SaaS pricing 2026"
        )
        assert (changed["title"], changed["uses"]) == ("SaaS pricing 2026", 1)

        first = await cli.table("alliance", "resources", hamburg, "--limit", "1")
        assert rows(first)[0] == ["TITLE", "KIND", "OWNER", "USES", "LINK", "ID"]
        assert "more: --cursor " in first
        analyses = await cli.table("alliance", "resources", hamburg, "--kind", "analysis")
        assert rows(analyses)[1][:4] == ["SaaS pricing 2026", "analysis", "Grace Hopper", "1"]
        removed = await cli.table(
            "alliance", "remove-resource", resource, "--by", "grace@example.org", "--reason", "old"
        )
        assert fields(removed)["title"] == "SaaS pricing 2026 (removed)"
        everything = await cli.json("alliance", "resources", hamburg, "--all")
        assert [r["title"] for r in everything["items"]] == ["CRM"]
        one_error_line(await cli.run("alliance", "remove-resource", "nothing", "--by", "ada"), "unknown-resource")


async def test_a_verification_run_is_followed_to_its_summary(nats_url: str, tmp_path: Path) -> None:
    async with the_network(nats_url, tmp_path) as cli:
        hamburg = await an_alliance_of_the_founders(cli)
        await cli.eventually(
            "contribute", "--alliance", hamburg, "--giver", "ada@example.org", "--receiver", "grace@example.org",
            "--kind", "advice", "--value", "3",
        )  # fmt: skip

        followed = await cli.run("ledger", "verify", "--full")
        assert followed.exit_code == 0, followed.output
        summary = fields(followed.stdout)
        assert (summary["state"], summary["ok"], summary["from"], summary["problems"]) == (
            "done",
            "yes",
            "genesis",
            "0",
        )
        assert summary["alliances"] == "1 of 1"
        assert followed.stderr.splitlines()[-1].startswith(f"done {summary['run']}: 1/1 alliances, ")
        assert "entries/s" in followed.stderr
        status = await cli.table("ledger", "verify-status", summary["run"])
        assert (fields(status)["run"], fields(status)["entries"]) == (summary["run"], summary["entries"])
        one_alliance = await cli.json("ledger", "verify", "--alliance", hamburg)
        assert (one_alliance["state"], one_alliance["ok"], one_alliance["full"]) == ("done", True, False)

        one_error_line(await cli.run("ledger", "verify-status", "no-such-run"), "unknown-verify-run")
        one_error_line(await cli.run("ledger", "verify", "--alliance", "nowhere"), "unknown-alliance")


async def test_mail_is_logged_a_member_exported_as_one_document_and_erased(
    nats_url: str, tmp_path: Path, mail_sink: MailSink
) -> None:
    async with the_network(nats_url, tmp_path, mail_sink) as cli:
        hamburg = await an_alliance_of_the_founders(cli)
        await cli.eventually(
            "meeting", "schedule", "--alliance", hamburg, "--by", "ada@example.org", "--title", "Course check",
            "--start", f"{NEXT_YEAR}-01-12T18:00",
        )  # fmt: skip

        for _ in range(100):  # notify learns the members and mails the invitations
            log = await cli.table("mail", "log", "--member", "grace@example.org", "--status", "sent")
            if "meeting-invitation" in log:
                break
            await asyncio.sleep(0.1)
        assert rows(log)[1][1:4] == ["meeting-invitation", "Grace Hopper", "sent"]
        everyone = await cli.json("mail", "log", "--limit", "1", "--all")
        assert everyone["next_cursor"] is None
        assert {d["kind"] for d in everyone["deliveries"]} >= {"meeting-invitation", "member-joined"}
        delivery = everyone["deliveries"][0]["delivery_id"]
        one_error_line(await cli.run("mail", "retry", delivery, "--by", "ops"), "not-failed")
        one_error_line(await cli.run("mail", "retry", "no-such-delivery", "--by", "ops"), "unknown-delivery")

        exported = json.loads(await cli.table("member", "export", "grace@example.org"))
        grace = exported["member_id"]
        assert sorted(exported["services"]) == ["alliances", "ledger", "members", "notify"]
        assert exported["services"]["members"]["profile"]["name"] == "Grace Hopper"
        assert [m["alliance_id"] for m in exported["services"]["alliances"]["memberships"]] == [hamburg]
        assert "meeting-invitation" in [mail["kind"] for mail in exported["services"]["notify"]["mail"]]
        one_error_line(await cli.run("member", "export", "nobody@example.org"), "unknown-member")

        erased = await cli.table("member", "erase", "grace@example.org", "--yes")
        assert (fields(erased)["status"], fields(erased)["email"], fields(erased)["id"]) == (
            "erased",
            "(erased)",
            grace,
        )
        one_error_line(await cli.run("member", "get", "grace@example.org"), "unknown-member")
        asked = await cli.run("member", "erase", "linus@example.org", input="n\n")
        assert asked.exit_code == 1
        assert (await cli.json("member", "get", "linus@example.org"))["status"] == "active"
