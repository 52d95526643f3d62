"""The notify unit of work: one transaction over contacts, deliveries, outbox and inbox."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kehrwasser_shared.messaging.outbox_relay import OutgoingEvent
from kehrwasser_shared.messaging.tables import MessagingTables
from kehrwasser_shared.messaging.unit_of_work import SqlUnitOfWork

from ..service_layer.unit_of_work import NotifyUnitOfWork
from .repository import SqlAllianceNames, SqlContacts, SqlDeliveries, SqlModerators, SqlPreferences


class SqlNotifyUnitOfWork(SqlUnitOfWork, NotifyUnitOfWork):
    deliveries: SqlDeliveries

    def __init__(
        self,
        engine: AsyncEngine,
        tables: MessagingTables,
        *,
        source: str,
        on_deliveries_queued: Callable[[], None] = lambda: None,
        on_events_committed: Callable[[Sequence[OutgoingEvent]], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(engine, tables, source=source, on_events_committed=on_events_committed)
        self._on_deliveries_queued = on_deliveries_queued

    def _open(self, connection: AsyncConnection) -> None:
        self.contacts = SqlContacts(connection)
        self.alliances = SqlAllianceNames(connection)
        self.deliveries = SqlDeliveries(connection)
        self.preferences = SqlPreferences(connection)
        self.moderators = SqlModerators(connection)

    async def commit(self) -> None:
        # Only a commit that queued mail wakes the mailer: the mailer commits its own leases and marks through
        # units of work too, and a wake-up from each of those kept it looping while idle.
        queued, self.deliveries.queued = self.deliveries.queued, 0
        await super().commit()
        if queued:
            self._on_deliveries_queued()
