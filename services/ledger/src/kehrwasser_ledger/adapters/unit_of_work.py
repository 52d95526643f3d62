"""The ledger unit of work: one transaction over books, accounts, contributions, outbox and inbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from kehrwasser_shared.contracts.envelope import SerializedData
from kehrwasser_shared.contracts.registry import EventContract
from kehrwasser_shared.messaging.ports import DataT
from kehrwasser_shared.messaging.unit_of_work import EventBuffer, SqlUnitOfWork

from ..service_layer.unit_of_work import IntakeUnitOfWork, PreparedEvents
from .pending_repository import SqlPending
from .repository import SqlAccounts, SqlAllianceBooks, SqlContributions
from .verification_repository import SqlVerification


class SqlPreparedEvents(EventBuffer, PreparedEvents):
    """Events encoded for the outbox while they wait for the unit of work that will write them."""


class SqlLedgerUnitOfWork(SqlUnitOfWork, IntakeUnitOfWork):
    def _open(self, connection: AsyncConnection) -> None:
        self.alliances = SqlAllianceBooks(connection)
        self.accounts = SqlAccounts(connection)
        self.contributions = SqlContributions(connection)
        self.pending = SqlPending(connection)
        self.verification = SqlVerification(connection)

    def emit(self, contract: EventContract[DataT], data: DataT | SerializedData, *, event_id: str | None = None) -> str:
        return self._pending.emit(contract, data, event_id=event_id)

    def event_buffer(self) -> SqlPreparedEvents:
        return SqlPreparedEvents(self._source)

    def adopt(self, events: PreparedEvents) -> None:
        if not isinstance(events, SqlPreparedEvents):
            raise TypeError(f"{type(events).__name__} was not prepared by a SQL unit of work")
        self._pending.events += events.events
