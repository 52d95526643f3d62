"""The ledger unit of work: one transaction over books, accounts, contributions, outbox and inbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from kehrwasser_shared.messaging.unit_of_work import SqlUnitOfWork

from ..service_layer.unit_of_work import LedgerUnitOfWork
from .pending_repository import SqlPending
from .repository import SqlAccounts, SqlAllianceBooks, SqlContributions


class SqlLedgerUnitOfWork(SqlUnitOfWork, LedgerUnitOfWork):
    def _open(self, connection: AsyncConnection) -> None:
        self.alliances = SqlAllianceBooks(connection)
        self.accounts = SqlAccounts(connection)
        self.contributions = SqlContributions(connection)
        self.pending = SqlPending(connection)
