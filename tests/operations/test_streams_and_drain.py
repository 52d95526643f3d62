"""`streams apply` provisions idempotently, `streams show` reports a consumer's lag, `drain`/`resume` stop and
restart a service's consumption."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest

from kehrwasser_alliances.bootstrap import bootstrap
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_shared.contracts import alliances, make_event, members
from kehrwasser_shared.contracts.subjects import stream_name
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.security.permissions import durables
from kehrwasser_shared.testing import examples, running

from .conftest import Kehrwasser

pytestmark = pytest.mark.integration

FROM_MEMBERS = "alliances-from-members"


async def publish_member(js: nats.js.JetStreamContext, name: str) -> None:
    event = make_event(type_=members.MEMBER_REGISTERED.type, source="/members", data=examples.member_registered(name))
    await js.publish(
        members.MEMBER_REGISTERED.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.id}
    )


def consumer(shown: dict[str, object], name: str) -> dict[str, object]:
    return next(c for c in shown["consumers"] if c["consumer"] == name)  # type: ignore[attr-defined]


async def test_streams_apply_creates_everything_once_and_then_changes_nothing(kehrwasser: Kehrwasser) -> None:
    first = (await kehrwasser("streams", "apply", "--json")).json()
    again = (await kehrwasser("streams", "apply", "--json")).json()

    every_durable = {
        d for service in ("alliances", "ledger", "notify") for ds in durables(service).values() for d in ds
    }
    assert {c["consumer"] for c in first["consumers"]} == every_durable
    assert {c["outcome"] for c in first["consumers"]} == {"created"}
    assert {s["outcome"] for s in first["streams"]} == {"created"}
    assert {s["outcome"] for s in again["streams"]} | {c["outcome"] for c in again["consumers"]} == {"unchanged"}
    assert {s["max_age_days"] for s in again["streams"]} == {365, 730}


async def test_streams_apply_brings_a_changed_retention_to_every_stream(
    kehrwasser: Kehrwasser, monkeypatch: pytest.MonkeyPatch
) -> None:
    await kehrwasser("streams", "apply")
    monkeypatch.setenv("KEHRWASSER_STREAM_MAX_AGE_DAYS", "30")

    applied = await kehrwasser("streams", "apply")
    shown = (await kehrwasser("streams", "show", "--json")).json()

    assert applied.returncode == 0, applied.stderr
    assert "updated" in applied.stdout
    assert {s["stream"]: s["max_age_days"] for s in shown["streams"]}[stream_name("members")] == 30


async def test_drained_service_leaves_events_pending_until_it_resumes(
    nats_url: str, database_url: str, tmp_path: Path, kehrwasser: Kehrwasser
) -> None:
    settings = AlliancesSettings(nats_url=nats_url, data_dir=tmp_path, database_url=database_url)
    async with running(bootstrap(settings)):
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            drained = await kehrwasser("drain", "alliances", "--json")
            assert drained.returncode == 0, drained.stderr
            assert all(state["paused"] for state in drained.json())

            await publish_member(js, "Ada")
            await publish_member(js, "Grace")
            shown = (await kehrwasser("streams", "show", "--json")).json()
            assert consumer(shown, FROM_MEMBERS)["pending"] == 2
            assert consumer(shown, FROM_MEMBERS)["paused"] is True
            table = (await kehrwasser("streams", "show")).stdout
            assert any(line.split()[:3] == [FROM_MEMBERS, stream_name("members"), "2"] for line in table.splitlines())

            resumed = await kehrwasser("resume", "alliances")
            assert resumed.returncode == 0, resumed.stderr
            founded = await CommandClient(nc).send_when_known(
                alliances.CREATE, alliances.CreateAlliance(name="Hamburg Founders", moderator_id="grace")
            )
            assert founded.member_ids == ["grace"]
            info = await js.consumer_info(stream_name("members"), FROM_MEMBERS)
            assert info.num_pending == 0
            assert not info.paused
        finally:
            await nc.close()


async def test_draining_a_service_without_consumers_is_refused(kehrwasser: Kehrwasser) -> None:
    outcome = await kehrwasser("drain", "members")

    assert outcome.returncode == 1
    assert outcome.stderr.strip() == "the members service consumes no events: nothing to drain or resume"
