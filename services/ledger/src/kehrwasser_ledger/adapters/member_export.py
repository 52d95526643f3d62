"""SQLAlchemy reads of what the ledger holds about one member (`service_layer.member_export`)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_shared.contracts import privacy

from ..service_layer.member_export import MemberRecords
from .tables import accounts, contributions, ledger_members, pending_contributions


def _points(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


class SqlMemberRecords(MemberRecords):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def accounts(self, member_id: str) -> list[privacy.LedgerAccount]:
        query = (
            select(accounts, ledger_members.c.role)
            .select_from(
                accounts.outerjoin(
                    ledger_members,
                    and_(
                        ledger_members.c.alliance_id == accounts.c.alliance_id,
                        ledger_members.c.member_id == accounts.c.owner_id,
                    ),
                )
            )
            .where(accounts.c.owner_id == member_id)
            .order_by(accounts.c.alliance_id)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            privacy.LedgerAccount(
                alliance_id=row.alliance_id,
                role=row.role,
                balance=_points(row.balance_cents),
                given=_points(row.given_cents),
                received=_points(row.received_cents),
                light=row.light,
                opened_at=row.opened_at,
                last_given_at=row.last_given_at,
            )
            for row in rows
        ]

    async def contributions(self, member_id: str, after: str | None, limit: int) -> list[privacy.LedgerContribution]:
        query = (
            select(contributions)
            .where(or_(contributions.c.giver_id == member_id, contributions.c.receiver_id == member_id))
            .order_by(contributions.c.contribution_id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(contributions.c.contribution_id > after)
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            privacy.LedgerContribution(
                contribution_id=row.contribution_id,
                alliance_id=row.alliance_id,
                giver_id=row.giver_id,
                receiver_id=row.receiver_id,
                kind=row.kind,
                value=_points(row.value_cents),
                note=row.note,
                recorded_at=row.recorded_at,
                reverses=row.reverses,
            )
            for row in rows
        ]

    async def pending(self, member_id: str) -> list[privacy.PendingContribution]:
        table = pending_contributions
        query = (
            select(table)
            .where(or_(table.c.giver_id == member_id, table.c.receiver_id == member_id))
            .order_by(table.c.submitted_at, table.c.contribution_id)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [
            privacy.PendingContribution(
                contribution_id=row.contribution_id,
                alliance_id=row.alliance_id,
                giver_id=row.giver_id,
                receiver_id=row.receiver_id,
                kind=row.kind,
                value=_points(row.value_cents),
                note=row.note,
                recorded_by=row.recorded_by,
                status=row.status,
                submitted_at=row.submitted_at,
                decided_by=row.decided_by,
                reason=row.reason,
            )
            for row in rows
        ]
