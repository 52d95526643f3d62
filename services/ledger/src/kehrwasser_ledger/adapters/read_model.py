"""SQL of the ledger's read side: pages of entries, balances in the past, the maintained flows, slices of the
chain for verification.

Every query is served by an existing key: entries by their primary key (alliance, owner, version),
contributions by theirs and by the chain's unique (alliance, sequence), flows by theirs (alliance, giver,
receiver, kind); so no index of its own is needed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Self

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..domain.analytics import Flow
from ..domain.model import Account, Contribution, Entry
from ..service_layer.read_model import BalanceMark, LedgerReadModel, StatementLine
from .repository import account_of, chain_slice, chain_tails, entries_for, entries_posted_for, points
from .tables import accounts, contributions, entries, flows, ledger_alliances, ledger_members


class SqlLedgerReadModel(LedgerReadModel):
    def __init__(self, engine: AsyncEngine) -> None:
        """``engine``: best one from `create_reading_engine`, which spares each query a transaction of its own."""
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> Self:
        self._connection = await self._engine.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._connection is not None
        try:
            await self._connection.rollback()
        finally:
            await self._connection.close()
            self._connection = None

    @property
    def connection(self) -> AsyncConnection:
        assert self._connection is not None, "read model used outside 'async with'"
        return self._connection

    async def current_balance(self, alliance_id: str, member_id: str) -> tuple[Decimal, Account | None] | None:
        # One statement, one round trip: the query that must stay fast whatever the number of entries.
        row = (
            await self.connection.execute(
                select(
                    ledger_alliances.c.warning_threshold_cents,
                    ledger_members.c.member_id.label("membership"),
                    accounts,
                )
                .select_from(
                    ledger_alliances.outerjoin(
                        accounts,
                        (accounts.c.alliance_id == ledger_alliances.c.alliance_id) & (accounts.c.owner_id == member_id),
                    ).outerjoin(
                        ledger_members,
                        (ledger_members.c.alliance_id == ledger_alliances.c.alliance_id)
                        & (ledger_members.c.member_id == member_id),
                    )
                )
                .where(ledger_alliances.c.alliance_id == alliance_id)
            )
        ).first()
        if row is None:
            return None
        red_below = points(row.warning_threshold_cents)
        if row.owner_id is not None:
            return red_below, account_of(row)
        return red_below, None if row.membership is None else Account(alliance_id, member_id)

    async def member_known(self, alliance_id: str, member_id: str) -> bool:
        member = select(ledger_members.c.member_id).where(
            (ledger_members.c.alliance_id == alliance_id) & (ledger_members.c.member_id == member_id)
        )
        account = select(accounts.c.owner_id).where(
            (accounts.c.alliance_id == alliance_id) & (accounts.c.owner_id == member_id)
        )
        return await self.connection.scalar(member.union_all(account).limit(1)) is not None

    async def alliance_known(self, alliance_id: str) -> bool:
        found = await self.connection.scalar(
            select(ledger_alliances.c.alliance_id).where(ledger_alliances.c.alliance_id == alliance_id)
        )
        return found is not None

    async def chain_length(self, alliance_id: str) -> int | None:
        length: int | None = await self.connection.scalar(
            select(ledger_alliances.c.chain_length).where(ledger_alliances.c.alliance_id == alliance_id)
        )
        return length

    async def alliance_ids(self) -> list[str]:
        return list(
            await self.connection.scalars(
                select(ledger_alliances.c.alliance_id).order_by(ledger_alliances.c.alliance_id)
            )
        )

    async def members(self, alliance_id: str) -> list[str]:
        return list(
            await self.connection.scalars(
                select(ledger_members.c.member_id)
                .where(ledger_members.c.alliance_id == alliance_id)
                .order_by(ledger_members.c.member_id)
            )
        )

    async def statement_lines(
        self, alliance_id: str, member_id: str, *, after_version: int | None, limit: int, newest_first: bool
    ) -> list[StatementLine]:
        query = (
            select(
                entries.c.version,
                entries.c.contribution_id,
                entries.c.amount_cents,
                entries.c.balance_before_cents,
                entries.c.balance_after_cents,
                contributions.c.recorded_at,
                contributions.c.giver_id,
                contributions.c.receiver_id,
                contributions.c.kind,
                contributions.c.note,
                contributions.c.reverses,
            )
            .join(contributions, contributions.c.contribution_id == entries.c.contribution_id)
            .where(entries.c.alliance_id == alliance_id, entries.c.owner_id == member_id)
            .order_by(entries.c.version.desc() if newest_first else entries.c.version)
            .limit(limit)
        )
        if after_version is not None:
            query = query.where(
                entries.c.version < after_version if newest_first else entries.c.version > after_version
            )
        return [_line(row) for row in await self.connection.execute(query)]

    async def balance_mark_at(self, alliance_id: str, member_id: str, moment: datetime) -> BalanceMark | None:
        # Entries carry no time of their own: the contribution they book says when.
        row = (
            await self.connection.execute(
                select(
                    entries.c.version,
                    entries.c.balance_after_cents,
                    entries.c.contribution_id,
                    contributions.c.recorded_at,
                )
                .join(contributions, contributions.c.contribution_id == entries.c.contribution_id)
                .where(
                    entries.c.alliance_id == alliance_id,
                    entries.c.owner_id == member_id,
                    contributions.c.recorded_at <= moment,
                )
                .order_by(entries.c.version.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return BalanceMark(row.version, points(row.balance_after_cents), row.contribution_id, row.recorded_at)

    async def flows(self, alliance_id: str, kind: str | None = None) -> list[Flow]:
        # The maintained aggregates (`tables.flows`): a range of the primary key, however long the history, in
        # key order (the matrix's), fetched at once rather than row by row.
        query = (
            select(flows.c.giver_id, flows.c.receiver_id, flows.c.kind, flows.c.value_cents, flows.c.contributions)
            .where(flows.c.alliance_id == alliance_id, flows.c.value_cents != 0)
            .order_by(flows.c.giver_id, flows.c.receiver_id, flows.c.kind)
        )
        if kind is not None:
            query = query.where(flows.c.kind == kind)
        rows = (await self.connection.execute(query)).all()
        return [
            Flow(giver_id, receiver_id, flow_kind, points(value_cents), count, alliance_id)
            for giver_id, receiver_id, flow_kind, value_cents, count in rows
        ]

    async def member_totals(self, alliance_id: str) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        # The database sums the alliance's flows (a range of their primary key) by pair, one row per giver and
        # receiver (n(n-1) at most); the two sides are added up here. Not one GROUP BY per side in a UNION ALL:
        # PostgreSQL ran that as a parallel append, and starting its workers cost 25 ms of a 30 ms request.
        of_alliance = (flows.c.alliance_id == alliance_id) & (flows.c.value_cents != 0)
        pairs = (
            select(flows.c.giver_id, flows.c.receiver_id, func.sum(flows.c.value_cents))
            .where(of_alliance)
            .group_by(flows.c.giver_id, flows.c.receiver_id)
        )
        given: dict[str, int] = defaultdict(int)
        received: dict[str, int] = defaultdict(int)
        for giver_id, receiver_id, value_cents in await self.connection.execute(pairs):
            given[giver_id] += int(value_cents)
            received[receiver_id] += int(value_cents)
        return _points(given), _points(received)

    async def chain_slice(self, alliance_id: str, after_sequence: int, limit: int) -> list[Contribution]:
        return await chain_slice(self.connection, alliance_id, after_sequence, limit)

    async def chain_tails(self, after: Mapping[str, int]) -> dict[str, list[Contribution]]:
        return await chain_tails(self.connection, after)

    async def entries_posted_for(self, chain: Sequence[Contribution]) -> dict[str, list[Entry]]:
        return await entries_posted_for(self.connection, chain)

    async def entries_for(self, alliance_id: str, first_sequence: int, last_sequence: int) -> list[Entry]:
        return await entries_for(self.connection, alliance_id, first_sequence, last_sequence)


def _line(row: Any) -> StatementLine:
    return StatementLine(
        version=row.version,
        contribution_id=row.contribution_id,
        recorded_at=row.recorded_at,
        giver_id=row.giver_id,
        receiver_id=row.receiver_id,
        kind=row.kind,
        amount=points(row.amount_cents),
        balance_before=points(row.balance_before_cents),
        balance_after=points(row.balance_after_cents),
        note=row.note,
        reverses=row.reverses,
    )


def _points(cents: dict[str, int]) -> dict[str, Decimal]:
    return {member_id: points(value) for member_id, value in cents.items()}
