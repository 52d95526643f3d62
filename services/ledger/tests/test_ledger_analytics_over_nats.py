"""Statements, balances in the past, the flow matrix and alliance health over a real nats-server, on every
reachable database; and the periodic alliance-health event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import nats
import pytest
from pydantic import BaseModel

from kehrwasser_ledger.bootstrap import bootstrap
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_shared.contracts import alliances as alliance_contracts
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts import make_event
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.testing import examples, fetch_exactly, running

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


async def publish(js: Any, contract: Any, data: BaseModel) -> None:
    event = make_event(type_=contract.type, source="/alliances", data=data)
    await js.publish(contract.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id})


async def found_hamburg(js: Any) -> None:
    created = examples.alliance_created(threshold="-20", at=NOW)
    await publish(js, alliance_contracts.ALLIANCE_CREATED, created)
    for member, role in (("ada", "moderator"), ("grace", "member"), ("linus", "member")):
        joined = alliance_contracts.MemberJoinedV1(alliance_id="hamburg", member_id=member, role=role, joined_at=NOW)
        await publish(js, alliance_contracts.MEMBER_JOINED, joined)


def gift(cid: str, giver: str, receiver: str, value: str, kind: str) -> contracts.RecordContribution:
    return contracts.RecordContribution(
        contribution_id=cid,
        alliance_id="hamburg",
        giver_id=giver,
        receiver_id=receiver,
        kind=contracts.ContributionKind(kind),
        value=Decimal(value),
    )


async def test_statements_past_balances_matrix_and_health_are_answered_and_health_is_published(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    settings = LedgerSettings(
        nats_url=nats_url,
        data_dir=tmp_path,
        database_url=database_url,
        outbox_poll_seconds=0.2,
        health_interval_seconds=1,
    )
    async with running(bootstrap(settings)):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            client = CommandClient(nc)
            await found_hamburg(js)
            first = await client.send_when_known(
                contracts.RECORD_CONTRIBUTION, gift("c1", "ada", "linus", "3", "referral")
            )
            for booking in (
                gift("c2", "grace", "linus", "4", "referral"),
                gift("c3", "ada", "grace", "2", "advice"),
                gift("c4", "grace", "linus", "1", "advice"),
            ):
                await client.send(contracts.RECORD_CONTRIBUTION, booking)
            await client.send(
                contracts.REVERSE_CONTRIBUTION,
                contracts.ReverseContribution(reversal_id="r4", contribution_id="c4", requested_by="ada"),
            )

            page = await client.send(
                contracts.STATEMENT, contracts.QueryStatement(alliance_id="hamburg", member_id="linus", limit=2)
            )
            assert [(i.version, i.contribution_id) for i in page.items] == [(4, "r4"), (3, "c4")]
            assert page.next_after_version == 3
            rest = await client.send(
                contracts.STATEMENT,
                contracts.QueryStatement(alliance_id="hamburg", member_id="linus", limit=2, after_version=3),
            )
            assert [(i.version, i.counterparty_id, i.balance_after) for i in rest.items] == [
                (2, "grace", Decimal("-7")),
                (1, "ada", Decimal("-3")),
            ]
            assert rest.next_after_version is None

            async def linus_at(moment: datetime) -> Decimal:
                query = contracts.QueryBalanceAt(alliance_id="hamburg", member_id="linus", at=moment)
                return (await client.send(contracts.BALANCE_AT, query)).balance

            assert await linus_at(first.recorded_at - MICROSECOND) == Decimal("0")
            assert await linus_at(first.recorded_at) == Decimal("-3")
            assert await linus_at(datetime.now(UTC)) == Decimal("-7")

            matrix = await client.send(contracts.FLOW_MATRIX, contracts.QueryFlowMatrix(alliance_id="hamburg"))
            assert [(c.giver_id, c.receiver_id, c.kind.value, c.value) for c in matrix.cells] == [
                ("ada", "grace", "advice", Decimal("2")),
                ("ada", "linus", "referral", Decimal("3")),
                ("grace", "linus", "referral", Decimal("4")),
            ]
            assert [(o.member_id, o.referrals_received) for o in matrix.one_way] == [("linus", Decimal("7"))]

            health = await client.send(contracts.ALLIANCE_HEALTH, contracts.QueryAllianceHealth(alliance_id="hamburg"))
            assert (health.members, health.active_givers, health.gini, health.one_way_members) == (
                3,
                2,
                Decimal("0.3703"),  # giving 0, 4, 5
                ["linus"],
            )
            with pytest.raises(CommandFailed) as unknown:
                await client.send(contracts.ALLIANCE_HEALTH, contracts.QueryAllianceHealth(alliance_id="atlantis"))
            assert unknown.value.code == "unknown-alliance"

            published = await health_events_until_given(js, Decimal("9"))
            assert (published["gini"], published["one_way_members"], published["period_seconds"]) == (
                "0.3703",
                ["linus"],
                1,
            )
        finally:
            await nc.close()


async def health_events_until_given(js: Any, total_given: Decimal) -> dict[str, Any]:
    """The first alliance-health event of Hamburg that has seen ``total_given`` (one comes every second)."""
    sub = await js.pull_subscribe(contracts.ALLIANCE_HEALTH_PUBLISHED.subject, stream=stream_name("ledger"))
    periods: list[str] = []
    for _ in range(30):
        [message] = await fetch_exactly(sub, 1)
        data: dict[str, Any] = json.loads(message.data)["data"]
        assert data["alliance_id"] == "hamburg"
        assert data["period_start"] not in periods, "one event per alliance and period"
        periods.append(data["period_start"])
        if Decimal(data["total_given"]) == total_given:
            return data
    raise AssertionError(f"no health event with total_given {total_given} in {len(periods)} periods")
