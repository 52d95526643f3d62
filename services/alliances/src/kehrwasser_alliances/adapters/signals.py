"""SQLAlchemy implementation of what the alliances service keeps of the ledger's signals."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.signals import FlowSignals, LightSignal
from ..service_layer.unit_of_work import LedgerSignals
from .tables import ledger_flows, ledger_lights


class SqlLedgerSignals(LedgerSignals):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def lights(self, alliance_id: str) -> dict[str, LightSignal]:
        rows = await self._connection.execute(select(ledger_lights).where(ledger_lights.c.alliance_id == alliance_id))
        return {
            row.member_id: LightSignal(
                row.member_id, row.light, Decimal(row.balance), row.reason, row.since, row.occurred_at
            )
            for row in rows
        }

    async def save_light(self, alliance_id: str, signal: LightSignal) -> None:
        # Delete and insert: one statement pair on both databases; the inbox already serialises the consumer.
        await self._connection.execute(
            delete(ledger_lights).where(
                ledger_lights.c.alliance_id == alliance_id, ledger_lights.c.member_id == signal.member_id
            )
        )
        await self._connection.execute(
            insert(ledger_lights).values(
                alliance_id=alliance_id,
                member_id=signal.member_id,
                light=signal.light,
                balance=signal.balance,
                reason=signal.reason,
                since=signal.since,
                occurred_at=signal.occurred_at,
            )
        )

    async def flows(self, alliance_id: str) -> FlowSignals | None:
        row = (
            await self._connection.execute(select(ledger_flows).where(ledger_flows.c.alliance_id == alliance_id))
        ).first()
        if row is None:
            return None
        return FlowSignals(
            row.period_start, {m: datetime.fromisoformat(since) for m, since in row.one_way_since.items()}
        )

    async def save_flows(self, alliance_id: str, flows: FlowSignals) -> None:
        await self._connection.execute(delete(ledger_flows).where(ledger_flows.c.alliance_id == alliance_id))
        await self._connection.execute(
            insert(ledger_flows).values(
                alliance_id=alliance_id,
                period_start=flows.period_start,
                one_way_since={m: since.isoformat() for m, since in flows.one_way_since.items()},
            )
        )
