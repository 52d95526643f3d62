"""The CLI's ledger queries (statement, balance-at, matrix, health) against a running ledger."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
from typer.testing import CliRunner

from kehrwasser_cli.main import app
from kehrwasser_ledger.bootstrap import bootstrap
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import examples, running

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def kehrwasser(*args: str) -> dict[str, Any]:
    """Run the CLI (it runs its own event loop, so in a thread) and read its JSON reply."""
    result = await asyncio.to_thread(CliRunner().invoke, app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    reply: dict[str, Any] = json.loads(result.stdout)
    return reply


async def test_the_cli_pages_statements_and_shows_past_balances_the_matrix_and_health(
    nats_url: str, tmp_path: Path
) -> None:
    settings = LedgerSettings(nats_url=nats_url, data_dir=tmp_path, outbox_poll_seconds=0.2)
    async with running(bootstrap(settings)):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            created = examples.alliance_created(threshold="-20", at=NOW)
            events: list[tuple[Any, Any]] = [(alliance_contracts.ALLIANCE_CREATED, created)]
            events += [
                (
                    alliance_contracts.MEMBER_JOINED,
                    alliance_contracts.MemberJoinedV1(alliance_id="hamburg", member_id=m, role=r, joined_at=NOW),
                )
                for m, r in (("ada", "moderator"), ("linus", "member"))
            ]
            for contract, data in events:
                event = make_event(type_=contract.type, source="/alliances", data=data)
                await js.publish(contract.subject, event.model_dump_json().encode())
            client = CommandClient(nc)
            for cid, value in (("c1", "3"), ("c2", "4")):
                booking = contracts.RecordContribution(
                    contribution_id=cid,
                    alliance_id="hamburg",
                    giver_id="ada",
                    receiver_id="linus",
                    kind=contracts.ContributionKind.REFERRAL,
                    value=Decimal(value),
                )
                await client.send_when_known(contracts.RECORD_CONTRIBUTION, booking)

            page = await kehrwasser("ledger", "statement", "hamburg", "linus", "--limit", "1", "--nats-url", nats_url)
            assert ([i["contribution_id"] for i in page["items"]], page["next_after_version"]) == (["c2"], 2)
            older = await kehrwasser(
                "ledger", "statement", "hamburg", "linus", "--after-version", "2", "--nats-url", nats_url
            )
            assert [i["contribution_id"] for i in older["items"]] == ["c1"]
            past = await kehrwasser(
                "ledger", "balance-at", "hamburg", "linus", "2000-01-01T00:00", "--nats-url", nats_url
            )
            now = await kehrwasser(
                "ledger", "balance-at", "hamburg", "linus", "2099-12-31T23:59Z", "--nats-url", nats_url
            )
            assert (past["balance"], now["balance"], now["version"]) == ("0.00", "-7.00", 2)
            matrix = await kehrwasser("ledger", "matrix", "hamburg", "--kind", "referral", "--nats-url", nats_url)
            assert [(c["giver_id"], c["receiver_id"], c["value"]) for c in matrix["cells"]] == [
                ("ada", "linus", "7.00")
            ]
            health = await kehrwasser("ledger", "health", "hamburg", "--nats-url", nats_url)
            assert (health["gini"], health["one_way_members"]) == ("0.5000", ["linus"])
        finally:
            await nc.close()
