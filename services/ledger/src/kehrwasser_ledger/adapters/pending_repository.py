"""SQLAlchemy Core implementation of the pending-contributions repository (two-phase contributions)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.confirmation import PendingContribution, PendingStatus
from ..service_layer.unit_of_work import PendingRepository
from .repository import cents, one_of, points
from .tables import pending_contributions as pending


class SqlPending(PendingRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, contribution_id: str, *, for_update: bool = False) -> PendingContribution | None:
        query = select(pending).where(pending.c.contribution_id == contribution_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._connection.execute(query)).first()
        return _pending(row) if row else None

    async def get_many(self, contribution_ids: list[str]) -> dict[str, PendingContribution]:
        rows = await self._connection.execute(
            select(pending).where(one_of(self._connection, pending.c.contribution_id, contribution_ids))
        )
        return {row.contribution_id: _pending(row) for row in rows}

    async def add(self, held: list[PendingContribution]) -> None:
        if held:
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

    async def due(self, now: datetime, limit: int) -> list[PendingContribution]:
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
    return PendingContribution(
        contribution_id=row.contribution_id,
        alliance_id=row.alliance_id,
        giver_id=row.giver_id,
        receiver_id=row.receiver_id,
        kind=row.kind,
        value=points(row.value_cents),
        note=row.note,
        recorded_by=row.recorded_by,
        submitted_at=row.submitted_at,
        expires_at=row.expires_at,
        status=PendingStatus(row.status),
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        reason=row.reason,
    )


def _row(held: PendingContribution) -> dict[str, Any]:
    return {
        "contribution_id": held.contribution_id,
        "alliance_id": held.alliance_id,
        "giver_id": held.giver_id,
        "receiver_id": held.receiver_id,
        "kind": held.kind,
        "value_cents": cents(held.value),
        "note": held.note,
        "recorded_by": held.recorded_by,
        "submitted_at": held.submitted_at,
        "expires_at": held.expires_at,
        "status": held.status.value,
        "decided_by": held.decided_by,
        "decided_at": held.decided_at,
        "reason": held.reason,
    }
