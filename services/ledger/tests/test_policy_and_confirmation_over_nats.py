"""Balance policy and two-phase contributions against a real nats-server and every reachable database."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from test_ledger_over_nats import gift, hamburg_ledger

from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts.replies import CommandFailed

pytestmark = pytest.mark.integration


async def test_a_confirming_alliance_holds_refuses_confirms_and_shows_disputes_and_lights(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    async with hamburg_ledger(nats_url, database_url, tmp_path) as (_, client):
        # Once a contribution between members books, the ledger knows the alliance and its moderators.
        await client.send_when_known(contracts.RECORD_CONTRIBUTION, gift("c0", "grace", "0.50", receiver="ada"))
        policy = await client.send_when_known(
            contracts.SET_POLICY,
            contracts.SetPolicy(
                alliance_id="hamburg",
                requested_by="ada",
                yellow_below=Decimal("-2"),
                floor=Decimal("-9"),
                requires_confirmation=True,
            ),
        )
        assert (policy.red_below, policy.yellow_below, policy.floor) == (
            Decimal("-5"),
            Decimal("-2"),
            Decimal("-9"),
        )
        with pytest.raises(CommandFailed) as refused:
            await client.send(
                contracts.SET_POLICY, contracts.SetPolicy(alliance_id="hamburg", requested_by="linus", floor=None)
            )
        assert refused.value.code == "not-allowed"

        held = await client.send(contracts.RECORD_CONTRIBUTION, gift("c1", "grace", "6"))
        assert (held.status, held.receiver_balance) == ("pending", Decimal("0"))
        thanks = gift("c2", "ada", "4").model_copy(update={"recorded_by": "linus"})
        assert (await client.send(contracts.RECORD_CONTRIBUTION, thanks)).status == "created"
        with pytest.raises(CommandFailed) as floor:
            await client.send(
                contracts.CONFIRM_CONTRIBUTION,
                contracts.ConfirmContribution(contribution_id="c1", confirmed_by="linus"),
            )
        assert floor.value.code == "below-floor"
        rejected = await client.send(
            contracts.REJECT_CONTRIBUTION,
            contracts.RejectContribution(contribution_id="c1", rejected_by="linus", reason="too much"),
        )
        assert rejected.status == contracts.PendingStatus.REJECTED

        await client.send(contracts.RECORD_CONTRIBUTION, gift("c3", "grace", "1"))
        confirmed = await client.send(
            contracts.CONFIRM_CONTRIBUTION, contracts.ConfirmContribution(contribution_id="c3", confirmed_by="ada")
        )
        assert (confirmed.status, confirmed.receiver_balance) == ("created", Decimal("-5"))

        disputes = await client.send(
            contracts.DISPUTES, contracts.QueryDisputes(alliance_id="hamburg", requested_by="ada")
        )
        assert ([d.contribution_id for d in disputes.rejected], disputes.pending) == (["c1"], [])
        lights = await client.send(contracts.TRAFFIC_LIGHT, contracts.QueryTrafficLight(alliance_id="hamburg"))
        assert {m.member_id: m.light.value for m in lights.members} == {
            "ada": "green",
            "grace": "green",
            "linus": "yellow",
        }
        verification = await client.send(contracts.VERIFY, contracts.VerifyLedger(full=True, wait=True))
        assert verification.ok, verification.problems
