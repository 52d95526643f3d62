"""The notify unit of work: one transaction over contacts, deliveries, outbox and inbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from kehrwasser_shared.messaging.unit_of_work import SqlUnitOfWork

from ..service_layer.unit_of_work import NotifyUnitOfWork
from .repository import SqlAllianceNames, SqlContacts, SqlDeliveries


class SqlNotifyUnitOfWork(SqlUnitOfWork, NotifyUnitOfWork):
    def _open(self, connection: AsyncConnection) -> None:
        self.contacts = SqlContacts(connection)
        self.alliances = SqlAllianceNames(connection)
        self.deliveries = SqlDeliveries(connection)
