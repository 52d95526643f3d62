"""The members unit of work: one transaction over members, outbox and inbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from kehrwasser_shared.messaging.unit_of_work import SqlUnitOfWork

from ..service_layer.unit_of_work import MembersUnitOfWork
from .repository import SqlMemberRepository


class SqlMembersUnitOfWork(SqlUnitOfWork, MembersUnitOfWork):
    def _open(self, connection: AsyncConnection) -> None:
        self.members = SqlMemberRepository(connection)
