"""The alliances unit of work: one transaction over alliances, known members, outbox and inbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from kehrwasser_shared.messaging.unit_of_work import SqlUnitOfWork

from ..service_layer.unit_of_work import AlliancesUnitOfWork
from .member_records import SqlMemberRecords
from .repository import SqlAllianceRepository, SqlKnownMembers
from .resources import SqlResourceCatalogue
from .signals import SqlLedgerSignals


class SqlAlliancesUnitOfWork(SqlUnitOfWork, AlliancesUnitOfWork):
    def _open(self, connection: AsyncConnection) -> None:
        self.alliances = SqlAllianceRepository(connection)
        self.known_members = SqlKnownMembers(connection)
        self.member_records = SqlMemberRecords(connection)
        self.signals = SqlLedgerSignals(connection)
        self.resources = SqlResourceCatalogue(connection)
