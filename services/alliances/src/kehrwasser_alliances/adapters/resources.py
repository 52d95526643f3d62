"""SQLAlchemy implementation of the alliances' catalogue of shared resources."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.resources import Resource, ResourceUse
from ..service_layer.unit_of_work import ResourceCatalogue
from .tables import resource_uses, resources

_USES = (
    select(func.count()).select_from(resource_uses).where(resource_uses.c.resource_id == resources.c.resource_id)
).scalar_subquery()


class SqlResourceCatalogue(ResourceCatalogue):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, resource: Resource) -> None:
        await self._connection.execute(
            insert(resources).values(
                resource_id=resource.resource_id,
                alliance_id=resource.alliance_id,
                owner_id=resource.owner_id,
                added_at=resource.added_at,
                **_details(resource),
            )
        )

    async def get(self, resource_id: str) -> Resource | None:
        row = (
            await self._connection.execute(
                select(resources, _USES.label("uses")).where(resources.c.resource_id == resource_id)
            )
        ).first()
        return None if row is None else _resource(row)

    async def save(self, resource: Resource) -> None:
        await self._connection.execute(
            update(resources).where(resources.c.resource_id == resource.resource_id).values(**_details(resource))
        )

    async def add_use(self, use: ResourceUse) -> None:
        await self._connection.execute(
            insert(resource_uses).values(
                use_id=use.use_id, resource_id=use.resource_id, used_by=use.used_by, note=use.note, used_at=use.used_at
            )
        )

    async def get_use(self, use_id: str) -> ResourceUse | None:
        row = (await self._connection.execute(select(resource_uses).where(resource_uses.c.use_id == use_id))).first()
        if row is None:
            return None
        return ResourceUse(row.use_id, row.resource_id, row.used_by, row.note, row.used_at)

    async def page(self, alliance_id: str, kind: str | None, after: str | None, limit: int) -> list[Resource]:
        query = (
            select(resources, _USES.label("uses"))
            .where(resources.c.alliance_id == alliance_id, resources.c.removed_at.is_(None))
            .order_by(resources.c.resource_id)
            .limit(limit)
        )
        if kind is not None:
            query = query.where(resources.c.kind == kind)
        if after is not None:
            query = query.where(resources.c.resource_id > after)
        return [_resource(row) for row in await self._connection.execute(query)]


def _details(resource: Resource) -> dict[str, Any]:
    return {
        "kind": resource.kind,
        "title": resource.title,
        "description": resource.description,
        "link": resource.link,
        "removed_at": resource.removed_at,
        "removed_by": resource.removed_by,
    }


def _resource(row: Row[Any]) -> Resource:
    return Resource(
        resource_id=row.resource_id,
        alliance_id=row.alliance_id,
        kind=row.kind,
        title=row.title,
        description=row.description,
        link=row.link,
        owner_id=row.owner_id,
        added_at=row.added_at,
        uses=row.uses,
        removed_at=row.removed_at,
        removed_by=row.removed_by,
    )
