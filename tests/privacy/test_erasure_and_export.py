"""Erasure and export across the four services over a real nats-server (GDPR art. 15, 17, 20).

A member registers, joins an alliance, receives a contribution that turns their light red (a warning mailed to
them); their export gathers each service's part into one document; they are erased: the members service answers
with a pseudonym and no address, alliances keeps their standing without name or focus, notify holds no address
and sends nothing more, and the ledger's balances and hash chains are exactly as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import nats
import pytest
import sqlalchemy as sa

from kehrwasser_alliances.bootstrap import bootstrap as alliances_service
from kehrwasser_alliances.config import AlliancesSettings
from kehrwasser_ledger.bootstrap import bootstrap as ledger_service
from kehrwasser_ledger.config import LedgerSettings
from kehrwasser_members.bootstrap import bootstrap as members_service
from kehrwasser_members.config import MembersSettings
from kehrwasser_notify.bootstrap import bootstrap as notify_service
from kehrwasser_notify.config import NotifySettings
from kehrwasser_shared.contracts import alliances, ledger, members, privacy
from kehrwasser_shared.contracts.replies import CommandFailed
from kehrwasser_shared.embedded.mail_sink import MailSink
from kehrwasser_shared.messaging.client import CommandClient
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.privacy import export_member
from kehrwasser_shared.testing import running
from kehrwasser_shared.testing.databases import service_databases

pytestmark = pytest.mark.integration

SERVICES = ("members", "alliances", "ledger", "notify")


def recipient(message: EmailMessage) -> str:
    return str(message["To"].addresses[0].addr_spec)


@pytest.fixture
def databases(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The members service on the parametrised database, the others on one each of the same kind."""
    with service_databases(database_url, tmp_path, SERVICES, on_parametrised="members") as urls:
        yield urls


def network(nats_url: str, databases: dict[str, str], tmp_path: Path, mail_sink: MailSink) -> list[Any]:
    common: dict[str, Any] = {"nats_url": nats_url, "outbox_poll_seconds": 0.2, "consumer_backoff_seconds": [0.2]}
    return [
        members_service(MembersSettings(data_dir=tmp_path / "m", database_url=databases["members"], **common)),
        alliances_service(AlliancesSettings(data_dir=tmp_path / "a", database_url=databases["alliances"], **common)),
        ledger_service(LedgerSettings(data_dir=tmp_path / "l", database_url=databases["ledger"], **common)),
        notify_service(
            NotifySettings(
                data_dir=tmp_path / "n",
                database_url=databases["notify"],
                smtp_host=mail_sink.host,
                smtp_port=mail_sink.port,
                mail_poll_seconds=0.2,
                **common,
            )
        ),
    ]


async def rows(database_url: str, query: str, **params: Any) -> list[Any]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(sa.text(query), params)).all())
    finally:
        await engine.dispose()


async def test_erasure_and_export_across_the_four_services(
    nats_url: str, databases: dict[str, str], tmp_path: Path, mail_sink: MailSink
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        for part in network(nats_url, databases, tmp_path, mail_sink):
            await stack.enter_async_context(running(part))
        nc = await nats.connect(nats_url)
        stack.push_async_callback(nc.close)
        client = CommandClient(nc)

        ada, ada_events = await client.send_for_events(
            members.REGISTER,
            members.RegisterMember(name="Ada Lovelace", email="ada@example.org", focus=["compute"]),
        )
        linus, linus_events = await client.send_for_events(
            members.REGISTER,
            members.RegisterMember(
                name="Linus Torvalds", email="linus@example.org", company="Kernel GmbH", focus=["kernels"]
            ),
        )
        hamburg, created = await client.send_for_events(
            alliances.CREATE,
            alliances.CreateAlliance(
                name="Hamburg Founders",
                moderator_ids=[ada.member_id],
                warning_threshold=Decimal("-5"),
                after=[*ada_events, *linus_events],
            ),
        )
        _, joined = await client.send_for_events(
            alliances.JOIN, alliances.JoinAlliance(alliance_id=hamburg.alliance_id, member_id=linus.member_id)
        )
        await client.send(
            ledger.RECORD_CONTRIBUTION,
            ledger.RecordContribution(
                contribution_id=str(uuid.uuid4()),
                alliance_id=hamburg.alliance_id,
                giver_id=ada.member_id,
                receiver_id=linus.member_id,
                kind="advice",
                value=Decimal("6"),
                note="pricing, over coffee",
                after=[*created, *joined],
            ),
        )
        # Linus's welcome and red warning, Ada's escalation.
        mails = await asyncio.to_thread(mail_sink.wait_for, 3, 20.0)
        assert sorted(recipient(m) for m in mails) == ["ada@example.org", "linus@example.org", "linus@example.org"]
        balance = await client.send(
            ledger.BALANCE, ledger.QueryBalance(alliance_id=hamburg.alliance_id, member_id=linus.member_id)
        )
        verified = await client.send(ledger.VERIFY, ledger.VerifyLedger(alliance_id=hamburg.alliance_id))
        assert (verified.ok, verified.problems) == (True, [])

        # The export: one document, each service's part.
        document = await export_member(client, linus.member_id)
        json.dumps(document)  # one JSON document
        parts = document["services"]
        assert set(parts) == set(SERVICES)
        assert parts["members"]["profile"]["email"] == "linus@example.org"
        assert parts["members"]["profile"]["company"] == "Kernel GmbH"
        assert parts["alliances"]["known_as"] == {"name": "Linus Torvalds", "focus": ["kernels"]}
        assert [(m["alliance_name"], m["status"]) for m in parts["alliances"]["memberships"]] == [
            ("Hamburg Founders", "member")
        ]
        assert [c["note"] for c in parts["ledger"]["contributions"]] == ["pricing, over coffee"]
        assert [a["balance"] for a in parts["ledger"]["accounts"]] == ["-6.00"]
        assert parts["notify"]["contact"]["email"] == "linus@example.org"
        assert {m["kind"] for m in parts["notify"]["mail"]} == {"member-joined", "balance-warning"}  # welcome, warning

        # Erasure.
        erased, erasure = await client.send_for_events(
            members.ERASE, members.EraseMember(member_id=linus.member_id, requested_by=linus.member_id)
        )
        assert erased.status == "erased"
        assert erased.email is None
        assert erased.name.startswith("erased-")
        assert "Linus" not in erased.model_dump_json()
        assert "Kernel" not in erased.model_dump_json()
        again = await client.send(members.GET, members.GetMember(member_id=linus.member_id))
        assert again == erased

        # Alliances and notify have consumed the erasure once they answer an export `after` it.
        await client.send(privacy.ALLIANCES_EXPORT, privacy.ExportMember(member_id=linus.member_id, after=erasure))
        await client.send(privacy.NOTIFY_EXPORT, privacy.ExportMember(member_id=linus.member_id, after=erasure))
        standing = await client.send(alliances.MEMBERSHIPS, alliances.ListMemberships(member_id=linus.member_id))
        assert [(s.alliance_id, s.status) for s in standing.items] == [(hamburg.alliance_id, "left")]
        details = await client.send(alliances.GET, alliances.GetAlliance(alliance_id=hamburg.alliance_id))
        assert [m.member_id for m in details.members] == [ada.member_id]
        known = await rows(
            databases["alliances"], "SELECT name, focus FROM known_members WHERE member_id = :m", m=linus.member_id
        )
        assert [(name, json.loads(focus) if isinstance(focus, str) else focus) for name, focus in known] == [("", [])]

        contacts = await rows(
            databases["notify"], "SELECT name, email FROM contacts WHERE member_id = :m", m=linus.member_id
        )
        assert [tuple(c) for c in contacts] == [("", "")]
        deliveries = await rows(
            databases["notify"],
            "SELECT recipient, message FROM deliveries WHERE member_id = :m",
            m=linus.member_id,
        )
        assert deliveries
        assert all(recipient == "" and bytes(message) == b"" for recipient, message in deliveries)

        # The ledger: same totals, same chain.
        assert (
            await client.send(
                ledger.BALANCE, ledger.QueryBalance(alliance_id=hamburg.alliance_id, member_id=linus.member_id)
            )
            == balance
        )
        reverified = await client.send(ledger.VERIFY, ledger.VerifyLedger(alliance_id=hamburg.alliance_id))
        assert (reverified.ok, reverified.problems) == (True, [])

        # Nothing more is mailed to them: they cannot be let in again, and once a newcomer's welcome (queued
        # after everything about Linus, as notify handles the alliances events in order) has arrived, no mail
        # to Linus's old address came with it.
        before = len(mail_sink.messages)
        with pytest.raises(CommandFailed) as gone:
            await client.send(
                alliances.JOIN, alliances.JoinAlliance(alliance_id=hamburg.alliance_id, member_id=linus.member_id)
            )
        assert gone.value.code == "unknown-member"
        kim, kim_registered = await client.send_for_events(
            members.REGISTER, members.RegisterMember(name="Kim Marker", email="kim@example.org")
        )
        await client.send(
            alliances.JOIN,
            alliances.JoinAlliance(alliance_id=hamburg.alliance_id, member_id=kim.member_id, after=kim_registered),
        )
        [_welcome] = await asyncio.to_thread(
            mail_sink.wait_for_matching, lambda m: recipient(m) == "kim@example.org", 1, 20.0
        )
        assert "linus@example.org" not in [recipient(m) for m in mail_sink.messages[before:]]

        # The export after erasure holds nothing personal.
        after = json.dumps(await export_member(client, linus.member_id))
        for personal in ("Linus", "linus@example.org", "Kernel", "kernels"):
            assert personal not in after

        # The address is free again.
        await client.send(members.REGISTER, members.RegisterMember(name="Another Linus", email="linus@example.org"))
