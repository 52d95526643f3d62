"""The ledger's unit of work and repositories, one contract for every implementation: the in-memory fakes the
handler and property tests run on, and the SQL adapters on every reachable database (as eventsourcing's
``tests/persistence.py`` holds each recorder to one abstract test case).

A fake that passes here may stand in for the adapter: it refuses, orders and forgets what the adapter does.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from ledger_fakes import HAMBURG, NOON, FakeLedgerReadModel, FakeLedgerUnitOfWork
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_ledger.adapters.read_model import SqlLedgerReadModel
from kehrwasser_ledger.adapters.tables import messaging
from kehrwasser_ledger.adapters.unit_of_work import SqlLedgerUnitOfWork
from kehrwasser_ledger.domain.analytics import health_slot
from kehrwasser_ledger.domain.confirmation import PendingContribution, PendingStatus
from kehrwasser_ledger.domain.model import GENESIS_HASH, Account, AllianceBooks, Contribution, Entry
from kehrwasser_ledger.domain.policy import BalancePolicy, Light
from kehrwasser_ledger.service_layer import unit_of_work as ports
from kehrwasser_ledger.service_layer.handlers import recorded_data
from kehrwasser_ledger.service_layer.health import PeriodicHealth
from kehrwasser_ledger.service_layer.read_model import LedgerReadModel
from kehrwasser_ledger.service_layer.unit_of_work import (
    AccountChanged,
    ConcurrentInsert,
    IntakeUnitOfWork,
    PreparedEvents,
)
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts.envelope import SerializedData
from kehrwasser_shared.contracts.registry import EventContract
from kehrwasser_shared.messaging.ports import DataT, DuplicateEvent
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
BERLIN = "berlin"
POLICY = BalancePolicy(red_below=Decimal("-5"))
EVERY_LIMIT = BalancePolicy(
    red_below=Decimal("-5.50"),
    yellow_below=Decimal("-2"),
    floor=Decimal("-20"),
    inactivity_window=timedelta(days=90),
    hysteresis=Decimal("1.50"),
    probation_limit=Decimal("10"),
    requires_confirmation=True,
    pending_expiry=timedelta(hours=48),
)
OutboxRow = tuple[str, str, dict[str, Any]]


class Store(abc.ABC):
    """One implementation of the ports, and a look at what it committed."""

    @abc.abstractmethod
    def uow(self) -> IntakeUnitOfWork: ...

    @abc.abstractmethod
    def read_model(self) -> LedgerReadModel: ...

    @abc.abstractmethod
    async def outbox(self) -> list[OutboxRow]:
        """Every committed event still to be published: its id, type and data, in commit order."""


class FakeStore(Store):
    def __init__(self) -> None:
        self._uow = FakeLedgerUnitOfWork()

    def uow(self) -> FakeLedgerUnitOfWork:
        return self._uow

    def read_model(self) -> FakeLedgerReadModel:
        return FakeLedgerReadModel(self._uow)

    async def outbox(self) -> list[OutboxRow]:
        emitted = zip(self._uow.event_ids, self._uow.emitted, strict=True)
        return [(event_id, contract.type, data.model_dump(mode="json")) for event_id, (contract, data) in emitted]


class SqlStore(Store):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def uow(self) -> SqlLedgerUnitOfWork:
        return SqlLedgerUnitOfWork(self._engine, messaging, source="/ledger")

    def read_model(self) -> SqlLedgerReadModel:
        return SqlLedgerReadModel(self._engine)

    async def outbox(self) -> list[OutboxRow]:
        outbox = messaging.outbox
        async with self._engine.connect() as connection:
            payloads = await connection.scalars(select(outbox.c.payload).order_by(outbox.c.seq))
            events = [orjson.loads(payload) for payload in payloads]
        return [(event["id"], event["type"], event["data"]) for event in events]


def rejected(contribution_id: str) -> contracts.ContributionRejectedV1:
    return contracts.ContributionRejectedV1(
        contribution_id=contribution_id, alliance_id=HAMBURG, code="conflict", message="not again", occurred_at=NOON
    )


def posted(
    contribution_id: str,
    sequence: int,
    *,
    alliance_id: str = HAMBURG,
    reverses: str | None = None,
    versions: tuple[int, int] | None = None,
) -> tuple[Contribution, list[Entry]]:
    """A contribution of 2.50 from ada to grace (or its reversal) and its two entries."""
    value, sign = Decimal("2.50"), -1 if reverses else 1
    contribution = Contribution(
        contribution_id,
        alliance_id,
        "ada",
        "grace",
        "advice",
        value,
        f"note of {contribution_id}",
        NOON + timedelta(minutes=sequence),
        sequence,
        f"{sequence - 1:064d}",
        f"{sequence:064d}",
        sign * value,
        -sign * value,
        reverses,
    )
    giver_version, receiver_version = versions or (sequence, sequence)
    return contribution, [
        Entry(alliance_id, "ada", giver_version, contribution_id, sign * value, Decimal(0), sign * value),
        Entry(alliance_id, "grace", receiver_version, contribution_id, -sign * value, Decimal(0), -sign * value),
    ]


def held(contribution_id: str, minutes: int, *, alliance_id: str = HAMBURG) -> PendingContribution:
    submitted = NOON + timedelta(minutes=minutes)
    return PendingContribution(
        contribution_id,
        alliance_id,
        "ada",
        "grace",
        "knowledge",
        Decimal("1.25"),
        "",
        "ada",
        submitted,
        submitted + timedelta(hours=1),
    )


class PreparedElsewhere(PreparedEvents):
    def emit(self, contract: EventContract[DataT], data: DataT | SerializedData, *, event_id: str | None = None) -> str:
        return event_id or "elsewhere"


class LedgerPortsContract:
    """What every implementation of the ledger's ports does; a subclass provides the ``store`` fixture."""

    # --- the unit of work: outbox, inbox, transaction ----------------------------------------------------

    async def test_committed_events_are_in_the_outbox_under_the_ids_emit_gave(self, store: Store) -> None:
        async with store.uow() as uow:
            first = uow.emit(contracts.CONTRIBUTION_REJECTED, rejected("c1"))
            chosen = uow.emit(contracts.CONTRIBUTION_REJECTED, rejected("c2"), event_id="chosen-id")
            await uow.commit()
        assert chosen == "chosen-id"
        assert await store.outbox() == [
            (first, contracts.CONTRIBUTION_REJECTED.type, rejected("c1").model_dump(mode="json")),
            ("chosen-id", contracts.CONTRIBUTION_REJECTED.type, rejected("c2").model_dump(mode="json")),
        ]

    async def test_what_a_unit_of_work_did_not_commit_is_gone(self, store: Store) -> None:
        async with store.uow() as uow:
            await uow.alliances.add(HAMBURG, POLICY)
            uow.emit(contracts.CONTRIBUTION_REJECTED, rejected("c1"))
            assert await uow.claim_event("consumer", "event-1")
        async with store.uow() as uow:
            await uow.alliances.add(BERLIN, POLICY)
            uow.emit(contracts.CONTRIBUTION_REJECTED, rejected("c2"))
            await uow.rollback()
        async with store.uow() as uow:
            assert await uow.alliances.all_ids() == []
            assert await uow.claim_event("consumer", "event-1")  # the claim went with its transaction
        assert await store.outbox() == []

    async def test_an_event_id_emitted_twice_in_one_unit_of_work_fails_the_commit(self, store: Store) -> None:
        async with store.uow() as uow:
            await uow.alliances.add(HAMBURG, POLICY)
            uow.emit(contracts.CONTRIBUTION_REJECTED, rejected("c1"), event_id="once")
            uow.emit(contracts.CONTRIBUTION_REJECTED, rejected("c2"), event_id="once")
            with pytest.raises(DuplicateEvent):
                await uow.commit()
        async with store.uow() as uow:
            assert await uow.alliances.read(HAMBURG) is None
        assert await store.outbox() == []

    async def test_an_event_id_still_in_the_outbox_fails_a_later_commit(self, store: Store) -> None:
        async with store.uow() as uow:
            uow.emit(contracts.CONTRIBUTION_REJECTED, rejected("c1"), event_id="once")
            await uow.commit()
        async with store.uow() as uow:
            await uow.alliances.add(HAMBURG, POLICY)
            uow.emit(contracts.CONTRIBUTION_REJECTED, rejected("c2"), event_id="once")
            with pytest.raises(DuplicateEvent):
                await uow.commit()
        async with store.uow() as uow:
            assert await uow.alliances.read(HAMBURG) is None
        assert [data["contribution_id"] for _, _, data in await store.outbox()] == ["c1"]

    async def test_an_event_is_claimed_once_per_consumer(self, store: Store) -> None:
        async with store.uow() as uow:
            assert await uow.claim_event("consumer", "event-1")
            assert not await uow.claim_event("consumer", "event-1")
            assert await uow.claim_event("another consumer", "event-1")
            await uow.commit()
        async with store.uow() as uow:
            assert not await uow.claim_event("consumer", "event-1")
            assert not await uow.claim_event("another consumer", "event-1")

    async def test_data_the_ledger_serialised_itself_is_published_as_its_model_would_be(self, store: Store) -> None:
        contribution, _ = posted("c1", 1)
        async with store.uow() as uow:
            event_id = uow.emit(contracts.CONTRIBUTION_RECORDED, recorded_data(contribution))
            await uow.commit()
        model = contracts.ContributionRecordedV1.model_validate(contribution._asdict())
        assert await store.outbox() == [(event_id, contracts.CONTRIBUTION_RECORDED.type, model.model_dump(mode="json"))]

    # --- the intake's port: events prepared ahead of their unit of work ------------------------------------

    async def test_prepared_events_commit_with_the_unit_of_work_that_adopts_them(self, store: Store) -> None:
        contribution, _ = posted("c1", 1)
        prepared = store.uow().event_buffer()
        early = prepared.emit(contracts.CONTRIBUTION_RECORDED, recorded_data(contribution))
        late = prepared.emit(contracts.CONTRIBUTION_REJECTED, rejected("c2"), event_id="late")
        assert await store.outbox() == []
        async with store.uow() as uow:
            first = uow.emit(contracts.CONTRIBUTION_REJECTED, rejected("c0"))
            uow.adopt(prepared)
            await uow.commit()
        assert [event_id for event_id, _, _ in await store.outbox()] == [first, early, late]

    async def test_prepared_events_go_with_a_unit_of_work_that_does_not_commit(self, store: Store) -> None:
        prepared = store.uow().event_buffer()
        prepared.emit(contracts.CONTRIBUTION_REJECTED, rejected("c1"))
        async with store.uow() as uow:
            uow.adopt(prepared)
        assert await store.outbox() == []

    async def test_events_prepared_by_another_kind_of_unit_of_work_are_refused(self, store: Store) -> None:
        async with store.uow() as uow:
            with pytest.raises(TypeError):
                uow.adopt(PreparedElsewhere())

    # --- alliances ----------------------------------------------------------------------------------------

    async def test_new_books_start_at_the_genesis_hash_with_their_policy(self, store: Store) -> None:
        async with store.uow() as uow:
            await uow.alliances.add(HAMBURG, EVERY_LIMIT)
            await uow.commit()
        async with store.uow() as uow:
            assert await uow.alliances.read(HAMBURG) == AllianceBooks(
                HAMBURG, EVERY_LIMIT, frozenset(), 0, GENESIS_HASH
            )
            assert await uow.alliances.read(BERLIN) is None

    async def test_books_opened_twice_are_refused(self, store: Store) -> None:
        async with store.uow() as uow:
            await uow.alliances.add(HAMBURG, POLICY)
            await uow.commit()
        async with store.uow() as uow:
            with pytest.raises(ConcurrentInsert):
                await uow.alliances.add(HAMBURG, EVERY_LIMIT)
        async with store.uow() as uow:
            assert (await uow.alliances.read_many([HAMBURG]))[HAMBURG].policy == POLICY

    async def test_alliances_are_read_and_locked_alike_and_unknown_ones_left_out(self, store: Store) -> None:
        async with store.uow() as uow:
            for alliance_id in (HAMBURG, BERLIN):
                await uow.alliances.add(alliance_id, POLICY)
            await uow.alliances.add_member(HAMBURG, "ada", "moderator")
            await uow.alliances.add_member(HAMBURG, "grace", "member")
            await uow.commit()
        async with store.uow() as uow:
            read = await uow.alliances.read_many([HAMBURG, "atlantis", BERLIN])
            assert read == {
                HAMBURG: AllianceBooks(HAMBURG, POLICY, frozenset({"ada"}), 0, GENESIS_HASH),
                BERLIN: AllianceBooks(BERLIN, POLICY, frozenset(), 0, GENESIS_HASH),
            }
            assert await uow.alliances.lock_many([BERLIN, "atlantis", HAMBURG]) == read
            assert await uow.alliances.all_ids() == [BERLIN, HAMBURG]

    async def test_memberships_are_recorded_once(self, store: Store) -> None:
        async with store.uow() as uow:
            await uow.alliances.add(HAMBURG, POLICY)
            await uow.alliances.add(BERLIN, POLICY)
            await uow.alliances.add_member(HAMBURG, "ada", "moderator")
            await uow.alliances.add_member(BERLIN, "grace", "member")
            await uow.commit()
        async with store.uow() as uow:
            pairs = {(HAMBURG, "ada"), (HAMBURG, "grace"), (BERLIN, "grace"), (BERLIN, "ada")}
            assert await uow.alliances.memberships(pairs) == {(HAMBURG, "ada"), (BERLIN, "grace")}
            assert await uow.alliances.members_among(HAMBURG, ["ada", "grace", "linus"]) == {"ada"}
            with pytest.raises(ConcurrentInsert):
                await uow.alliances.add_member(HAMBURG, "ada", "member")

    async def test_a_membership_ends_and_roles_change_and_the_books_show_it(self, store: Store) -> None:
        async with store.uow() as uow:
            await uow.alliances.add(HAMBURG, POLICY)
            await uow.alliances.add_member(HAMBURG, "ada", "moderator")
            await uow.alliances.add_member(HAMBURG, "grace", "member")
            await uow.commit()
        async with store.uow() as uow:
            await uow.alliances.set_role(HAMBURG, "grace", "moderator")
            await uow.alliances.end_membership(HAMBURG, "ada")
            await uow.alliances.archive(HAMBURG)
            await uow.commit()
        async with store.uow() as uow:
            assert await uow.alliances.members_among(HAMBURG, ["ada", "grace"]) == {"grace"}
            books = await uow.alliances.read(HAMBURG)
            assert books == AllianceBooks(HAMBURG, POLICY, frozenset({"grace"}), 0, GENESIS_HASH, True, 1)
            assert await uow.alliances.lock_many([HAMBURG]) == {HAMBURG: books}
            await uow.alliances.add_member(HAMBURG, "ada", "member")  # coming back is joining again

    async def test_chain_heads_and_policies_change_only_where_told(self, store: Store) -> None:
        async with store.uow() as uow:
            await uow.alliances.add(HAMBURG, POLICY)
            await uow.alliances.add(BERLIN, POLICY)
            await uow.commit()
        async with store.uow() as uow:
            await uow.alliances.advance_chains({HAMBURG: (3, "3" * 64), "atlantis": (1, "1" * 64)})
            await uow.alliances.set_policy(BERLIN, EVERY_LIMIT)
            await uow.alliances.set_policy("atlantis", EVERY_LIMIT)
            await uow.commit()
        async with store.uow() as uow:
            assert await uow.alliances.read_many([HAMBURG, BERLIN, "atlantis"]) == {
                HAMBURG: AllianceBooks(HAMBURG, POLICY, frozenset(), 3, "3" * 64),
                BERLIN: AllianceBooks(BERLIN, EVERY_LIMIT, frozenset(), 0, GENESIS_HASH),
            }
            assert await uow.alliances.with_inactivity_window() == [BERLIN]

    # --- accounts -----------------------------------------------------------------------------------------

    async def test_accounts_are_stored_as_they_are_and_found_by_owner_or_pair(self, store: Store) -> None:
        ada = Account(HAMBURG, "ada", Decimal("3.50"), Decimal("5.00"), Decimal("1.50"), 4, Light.YELLOW, NOON, NOON)
        grace = Account(HAMBURG, "grace", opened_at=NOON)
        elsewhere = Account(BERLIN, "ada", opened_at=NOON)
        async with store.uow() as uow:
            await uow.accounts.save([ada, grace, elsewhere], new=True)
            await uow.commit()
        async with store.uow() as uow:
            assert await uow.accounts.get_many(HAMBURG, ["ada", "linus"]) == {"ada": ada}
            pairs = {(HAMBURG, "grace"), (BERLIN, "ada"), (BERLIN, "grace")}
            assert await uow.accounts.get_pairs(pairs) == {(HAMBURG, "grace"): grace, (BERLIN, "ada"): elsewhere}
            assert sorted(await uow.accounts.all_of(HAMBURG)) == [ada, grace]

    async def test_accounts_turning_inactive_are_the_green_ones_whose_window_ran_out(self, store: Store) -> None:
        monthly = replace(POLICY, inactivity_window=timedelta(days=30))
        later = NOON + timedelta(days=31)
        async with store.uow() as uow:
            await uow.alliances.add(HAMBURG, monthly)
            await uow.alliances.add(BERLIN, POLICY)  # no window: time changes nothing there
            await uow.accounts.save(
                [
                    Account(HAMBURG, "alliance", opened_at=NOON),
                    idle := Account(HAMBURG, "ada", opened_at=NOON),
                    gave_long_ago := Account(HAMBURG, "linus", opened_at=NOON, last_given_at=NOON),
                    Account(HAMBURG, "grace", opened_at=NOON, last_given_at=later - timedelta(days=1)),
                    Account(HAMBURG, "margaret", opened_at=NOON, light=Light.YELLOW),
                    Account(HAMBURG, "new", opened_at=later),
                    Account(BERLIN, "ada", opened_at=NOON),
                ],
                new=True,
            )
            await uow.commit()
        async with store.uow() as uow:
            assert sorted(await uow.accounts.turning_inactive(later, 10)) == [idle, gave_long_ago]
            assert len(await uow.accounts.turning_inactive(later, 1)) == 1

    async def test_an_account_opened_twice_is_refused(self, store: Store) -> None:
        async with store.uow() as uow:
            await uow.accounts.save([Account(HAMBURG, "ada")], new=True)
            await uow.commit()
        async with store.uow() as uow:
            await uow.accounts.get_many(HAMBURG, ["ada"])  # the write is not the transaction's first statement
            with pytest.raises(ConcurrentInsert):
                await uow.accounts.save([Account(HAMBURG, "grace"), Account(HAMBURG, "ada")], new=True)
        async with store.uow() as uow:
            assert await uow.accounts.all_of(HAMBURG) == [Account(HAMBURG, "ada")]

    async def test_a_saved_account_overwrites_whatever_version_is_stored(self, store: Store) -> None:
        async with store.uow() as uow:
            await uow.accounts.save([Account(HAMBURG, "ada", version=7)], new=True)
            await uow.commit()
        relit = Account(HAMBURG, "ada", version=2, light=Light.RED)
        async with store.uow() as uow:
            await uow.accounts.save([relit])
            await uow.commit()
        async with store.uow() as uow:
            assert await uow.accounts.all_of(HAMBURG) == [relit]
            with pytest.raises(AccountChanged):
                await uow.accounts.save([Account(HAMBURG, "nobody")])

    async def test_an_account_is_updated_only_at_the_version_and_light_it_was_loaded_with(self, store: Store) -> None:
        loaded = Account(HAMBURG, "ada", version=3, light=Light.YELLOW)
        async with store.uow() as uow:
            await uow.accounts.save([loaded, Account(HAMBURG, "grace", version=1)], new=True)
            await uow.commit()
        booked = loaded._replace(balance=Decimal("2.00"), version=4)
        for stale in (loaded._replace(version=2), loaded._replace(light=Light.GREEN), Account(HAMBURG, "linus")):
            async with store.uow() as uow:
                with pytest.raises(AccountChanged):
                    await uow.accounts.update([(booked, stale)])
        async with store.uow() as uow:
            await uow.accounts.update([(booked, loaded)])
            await uow.commit()
        async with store.uow() as uow:
            assert await uow.accounts.get_many(HAMBURG, ["ada"]) == {"ada": booked}

    # --- contributions ------------------------------------------------------------------------------------

    async def test_contributions_and_entries_come_back_as_stored_in_chain_and_version_order(self, store: Store) -> None:
        first, first_entries = posted("c1", 1)
        second, second_entries = posted("c2", 2)
        reversal, reversal_entries = posted("r1", 3, reverses="c1")
        other, other_entries = posted("c1-berlin", 1, alliance_id=BERLIN)
        async with store.uow() as uow:
            await uow.contributions.add([second, other], second_entries + other_entries)
            await uow.contributions.add([reversal, first], reversal_entries + first_entries)
            await uow.commit()
        async with store.uow() as uow:
            assert await uow.contributions.get("c2") == second
            assert await uow.contributions.get("c3") is None
            assert await uow.contributions.get_many(["r1", "c3", "c1"]) == {"r1": reversal, "c1": first}
            assert await uow.contributions.of_alliance(HAMBURG) == [first, second, reversal]
            entries = await uow.contributions.entries_of(HAMBURG)
            assert [(e.owner_id, e.version, e.contribution_id) for e in entries] == [
                ("ada", 1, "c1"),
                ("ada", 2, "c2"),
                ("ada", 3, "r1"),
                ("grace", 1, "c1"),
                ("grace", 2, "c2"),
                ("grace", 3, "r1"),
            ]
            assert sorted(entries) == sorted(first_entries + second_entries + reversal_entries)
            assert await uow.contributions.reversal_of("c1") == "r1"
            assert await uow.contributions.reversal_of("c2") is None

    async def test_slices_of_the_chain_and_their_entries_are_read_by_sequence(self, store: Store) -> None:
        first, first_entries = posted("c1", 1)
        second, second_entries = posted("c2", 2)
        reversal, reversal_entries = posted("r1", 3, reverses="c1")
        other, other_entries = posted("c1-berlin", 1, alliance_id=BERLIN)
        async with store.uow() as uow:
            await uow.contributions.add(
                [first, second, reversal, other], first_entries + second_entries + reversal_entries + other_entries
            )
            await uow.commit()
        async with store.uow() as uow:
            assert await uow.contributions.chain_slice(HAMBURG, 1, 1) == [second]
            assert await uow.contributions.chain_slice(HAMBURG, 1, None) == [second, reversal]
            assert sorted(await uow.contributions.entries_for(HAMBURG, 2, 3)) == sorted(
                second_entries + reversal_entries
            )
            past = await uow.contributions.entries_past(HAMBURG, {"ada": 2, "grace": 3, "nobody": 0})
            assert past == [e for e in reversal_entries if e.owner_id == "ada"]
        async with store.read_model() as read:
            assert await read.chain_slice(HAMBURG, 0, 2) == [first, second]
            assert sorted(await read.entries_for(HAMBURG, 1, 1)) == sorted(first_entries)

    async def test_the_tails_of_many_chains_their_entries_and_accounts_are_read_at_once(self, store: Store) -> None:
        first, first_entries = posted("c1", 1)
        second, second_entries = posted("c2", 2)
        reversal, reversal_entries = posted("r1", 3, reverses="c1")
        other, other_entries = posted("c1-berlin", 1, alliance_id=BERLIN)
        async with store.uow() as uow:
            await uow.contributions.add(
                [first, second, reversal, other], first_entries + second_entries + reversal_entries + other_entries
            )
            await uow.accounts.save([Account(HAMBURG, "ada"), Account(BERLIN, "ada")], new=True)
            await uow.commit()
        async with store.uow() as uow:
            tails = await uow.contributions.chain_tails({HAMBURG: 1, BERLIN: 0, "atlantis": 0})
            assert tails == {HAMBURG: [second, reversal], BERLIN: [other], "atlantis": []}
            posted_for = await uow.contributions.entries_posted_for([second, other])
            assert {a: sorted(found) for a, found in posted_for.items()} == {
                HAMBURG: sorted(second_entries),
                BERLIN: sorted(other_entries),
            }
            past = await uow.contributions.entries_past_many({HAMBURG: {"ada": 2, "nobody": 0}, BERLIN: {"ada": 1}})
            assert past == {HAMBURG: [e for e in reversal_entries if e.owner_id == "ada"], BERLIN: []}
            held = await uow.accounts.all_of_many([HAMBURG, BERLIN, "atlantis"])
            assert {a: [account.owner_id for account in found] for a, found in held.items()} == {
                HAMBURG: ["ada"],
                BERLIN: ["ada"],
                "atlantis": [],
            }
        async with store.read_model() as read:
            assert await read.chain_tails({HAMBURG: 2}) == {HAMBURG: [reversal]}
            assert {a: sorted(found) for a, found in (await read.entries_posted_for([first])).items()} == {
                HAMBURG: sorted(first_entries)
            }

    @pytest.mark.parametrize(
        "taken",
        [
            posted("c1", 9, versions=(9, 9)),  # the id
            posted("c9", 1, versions=(9, 9)),  # the place in the chain
            posted("r9", 9, reverses="c1", versions=(9, 9)),  # what it reverses
            posted("c9", 9, versions=(9, 2)),  # the receiver's account version
        ],
        ids=["id", "sequence", "reversed", "entry-version"],
    )
    async def test_a_contribution_taking_a_stored_key_is_refused(
        self, store: Store, taken: tuple[Contribution, list[Entry]]
    ) -> None:
        stored = [posted("c1", 1), posted("c2", 2), posted("r1", 3, reverses="c1")]
        async with store.uow() as uow:
            await uow.contributions.add([c for c, _ in stored], [e for _, entries in stored for e in entries])
            await uow.commit()
        async with store.uow() as uow:
            await uow.contributions.get("c1")  # the write is not the transaction's first statement
            with pytest.raises(ConcurrentInsert):
                await uow.contributions.add([taken[0]], taken[1])
        async with store.uow() as uow:
            assert await uow.contributions.of_alliance(HAMBURG) == [c for c, _ in stored]
            assert len(await uow.contributions.entries_of(HAMBURG)) == 6

    async def test_one_id_twice_in_one_batch_is_refused(self, store: Store) -> None:
        (first, first_entries), (again, again_entries) = posted("c1", 1), posted("c1", 2)
        async with store.uow() as uow:
            with pytest.raises(ConcurrentInsert):
                await uow.contributions.add([first, again], first_entries + again_entries)

    # --- pending contributions ----------------------------------------------------------------------------

    async def test_pending_contributions_are_stored_found_and_decided(self, store: Store) -> None:
        early, late, elsewhere = held("c1", 1), held("c2", 2), held("c3", 0, alliance_id=BERLIN)
        async with store.uow() as uow:
            await uow.pending.add([late, early, elsewhere])
            await uow.commit()
        rejected_late = replace(late, status=PendingStatus.REJECTED, decided_by="grace", decided_at=NOON, reason="no")
        async with store.uow() as uow:
            assert await uow.pending.lock("c1") == early
            assert await uow.pending.lock("c9") is None
            assert await uow.pending.read_many(["c2", "c9", "c3"]) == {"c2": late, "c3": elsewhere}
            await uow.pending.decide([rejected_late, held("c9", 9)])
            await uow.commit()
        async with store.uow() as uow:
            assert await uow.pending.read_many(["c2", "c9"]) == {"c2": rejected_late}
            assert await uow.pending.of_alliance(HAMBURG, [PendingStatus.PENDING, PendingStatus.REJECTED]) == [
                early,
                rejected_late,
            ]
            assert await uow.pending.of_alliance(HAMBURG, [PendingStatus.EXPIRED]) == []

    async def test_a_pending_contribution_held_twice_is_refused(self, store: Store) -> None:
        async with store.uow() as uow:
            await uow.pending.add([held("c1", 1)])
            await uow.commit()
        async with store.uow() as uow:
            await uow.pending.read_many(["c1"])
            with pytest.raises(ConcurrentInsert):
                await uow.pending.add([held("c2", 2), held("c1", 3)])
        async with store.uow() as uow:
            assert await uow.pending.read_many(["c1", "c2"]) == {"c1": held("c1", 1)}

    async def test_the_due_are_the_pending_past_their_expiry_soonest_first(self, store: Store) -> None:
        decided = replace(held("c0", 0), status=PendingStatus.CONFIRMED)
        async with store.uow() as uow:
            await uow.pending.add([held("c3", 3), decided, held("c1", 1), held("c2", 2), held("c9", 90)])
            await uow.commit()
        async with store.uow() as uow:
            due = await uow.pending.lock_due(NOON + timedelta(hours=1, minutes=30), limit=2)
            assert [p.contribution_id for p in due] == ["c1", "c2"]
            due = await uow.pending.lock_due(NOON + timedelta(hours=1, minutes=30), limit=10)
            assert [p.contribution_id for p in due] == ["c1", "c2", "c3"]

    # --- a use of the ports: the periodic health, from two ledger instances ---------------------------------

    async def test_two_ledger_instances_publish_an_alliances_health_once_per_period(self, store: Store) -> None:
        async with store.uow() as uow:
            await uow.alliances.add(HAMBURG, POLICY)
            await uow.commit()
        period = timedelta(hours=1)
        at_the_slot = NOON + health_slot(HAMBURG, period)
        instances = [
            PeriodicHealth(period=period, read_model=store.read_model, uow=store.uow, clock=lambda: at_the_slot)
            for _ in range(2)
        ]
        assert [await instance.publish_due() for instance in instances] == [1, 0]
        assert [await instance.publish_due() for instance in instances] == [0, 0]  # each knows it is out now
        assert [kind for _, kind, _ in await store.outbox()] == [contracts.ALLIANCE_HEALTH_PUBLISHED.type]


class TestFakeLedgerPorts(LedgerPortsContract):
    @pytest.fixture
    def store(self) -> Store:
        return FakeStore()


@pytest.mark.integration
class TestSqlLedgerPorts(LedgerPortsContract):
    @pytest.fixture
    async def store(self, database_url: str) -> AsyncIterator[Store]:
        await upgrade_to_head_async(MIGRATIONS, database_url)
        engine = create_engine(database_url)
        try:
            yield SqlStore(engine)
        finally:
            await engine.dispose()


def test_the_contract_covers_what_the_ports_declare() -> None:
    """Each repository method and unit-of-work hook the ports declare is called in the contract."""
    source = inspect.getsource(LedgerPortsContract)
    declared: set[str] = set()
    for port in (
        ports.AllianceBooksRepository,
        ports.AccountRepository,
        ports.ContributionRepository,
        ports.PendingRepository,
        ports.IntakeUnitOfWork,
    ):
        declared |= set(port.__abstractmethods__)
    assert {name for name in declared if f".{name}(" not in source} == set()
