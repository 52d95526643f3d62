"""SQLAlchemy Core implementation of the pending-contributions repository (two-phase contributions)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kehrwasser_shared.persistence.bulk import one_of

from ..domain.confirmation import PendingContribution, PendingStatus
from ..service_layer.unit_of_work import PendingRepository
from .repository import cents, points, unique_keys_refused
from .tables import pending_contributions as pending


class SqlPending(PendingRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def lock(self, contribution_id: str) -> PendingContribution | None:
        query = select(pending).where(pending.c.contribution_id == contribution_id).with_for_update()
        row = (await self._connection.execute(query)).first()
        return _pending(row) if row else None

    async def read_many(self, contribution_ids: list[str]) -> dict[str, PendingContribution]:
        rows = await self._connection.execute(
            select(pending).where(one_of(self._connection, pending.c.contribution_id, contribution_ids))
        )
        return {row.contribution_id: _pending(row) for row in rows}

    async def add(self, held: list[PendingContribution]) -> None:
        if held:
            with unique_keys_refused():
                await self._connection.execute(insert(pending), [_row(p) for p in held])

    async def decide(self, decided: list[PendingContribution]) -> None:
        if not decided:
            return
        await self._connection.execute(
            update(pending)
            .where(pending.c.contribution_id == bindparam("b_id"))
            .values(
                status=bindparam("b_status"),
                decided_by=bindparam("b_decided_by"),
                decided_at=bindparam("b_decided_at"),
                reason=bindparam("b_reason"),
            ),
            [
                {
                    "b_id": p.contribution_id,
                    "b_status": p.status.value,
                    "b_decided_by": p.decided_by,
                    "b_decided_at": p.decided_at,
                    "b_reason": p.reason,
                }
                for p in decided
            ],
        )

    async def lock_due(self, now: datetime, limit: int) -> list[PendingContribution]:
        rows = await self._connection.execute(
            select(pending)
            .where(pending.c.status == PendingStatus.PENDING.value, pending.c.expires_at <= now)
            .order_by(pending.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_pending(row) for row in rows]

    async def of_alliance(self, alliance_id: str, statuses: list[PendingStatus]) -> list[PendingContribution]:
        rows = await self._connection.execute(
            select(pending)
            .where(pending.c.alliance_id == alliance_id, pending.c.status.in_([s.value for s in statuses]))
            .order_by(pending.c.submitted_at, pending.c.contribution_id)
        )
        return [_pending(row) for row in rows]


def _pending(row: Any) -> PendingContribution:
    # The table's columns are the record's fields, but for the value kept in integer cents.
    fields = dict(row._mapping)
    fields["value"] = points(fields.pop("value_cents"))
    fields["status"] = PendingStatus(fields["status"])
    return PendingContribution(**fields)


def _row(held: PendingContribution) -> dict[str, Any]:
    fields = asdict(held)
    fields["value_cents"] = cents(fields.pop("value"))
    fields["status"] = held.status.value
    return fields
