"""Use cases of shared resources: add, change, remove, record a use, list.

Sharing and using are booked in the ledger from this service's own events (`resource-shared`,
`resource-used`, consumed on `ledger-from-alliances`) rather than by publishing the ledger's
`contribution-submitted`: the alliances service publishes only its own subjects, and the ledger derives each
contribution id from the resource or the use, so a redelivery books nothing twice.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import datetime

from kehrwasser_shared.contracts import alliances as contracts

from ..domain import model, resources
from .unit_of_work import AlliancesUnitOfWork

Clock = Callable[[], datetime]


async def add_resource(
    command: contracts.AddResource, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.ResourceView:
    async with uow:
        alliance = await _alliance(uow, command.alliance_id)
        resource = resources.share(
            alliance,
            resources.Resource(
                resource_id=str(uuid.uuid4()),
                alliance_id=alliance.alliance_id,
                kind=command.kind,
                title=command.title.strip(),
                description=command.description.strip(),
                link=command.link,
                owner_id=command.owner_id,
                added_at=clock(),
            ),
        )
        await uow.resources.add(resource)
        uow.emit(
            contracts.RESOURCE_SHARED,
            contracts.ResourceSharedV1(
                resource_id=resource.resource_id,
                alliance_id=resource.alliance_id,
                owner_id=resource.owner_id,
                kind=command.kind,
                title=resource.title,
                link=resource.link,
                value=command.value,
                shared_at=resource.added_at,
            ),
        )
        await uow.commit()
    return view(resource)


async def update_resource(
    command: contracts.UpdateResource, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.ResourceView:
    async with uow:
        resource, alliance = await _resource(uow, command.resource_id)
        resources.check_may_change(alliance, resource, command.requested_by)
        changed = dataclasses.replace(
            resource,
            kind=command.kind or resource.kind,
            title=resource.title if command.title is None else command.title.strip(),
            description=resource.description if command.description is None else command.description.strip(),
            link=resource.link if command.link is None else command.link,
        )
        if changed != resource:
            await uow.resources.save(changed)
            _announce_change(uow, changed, command.requested_by, "", clock())
            await uow.commit()
    return view(changed)


async def remove_resource(
    command: contracts.RemoveResource, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.ResourceView:
    async with uow:
        resource, alliance = await _resource(uow, command.resource_id)
        removed = resources.remove(alliance, resource, command.requested_by, clock())
        if removed is None:
            return view(resource)
        await uow.resources.save(removed)
        assert removed.removed_at is not None
        _announce_change(uow, removed, command.requested_by, command.reason.strip(), removed.removed_at)
        await uow.commit()
    return view(removed)


async def record_resource_use(
    command: contracts.RecordResourceUse, uow: AlliancesUnitOfWork, clock: Clock
) -> contracts.ResourceUseView:
    async with uow:
        if command.use_id is not None and (earlier := await uow.resources.get_use(command.use_id)) is not None:
            # A retry: answered as the first time, nothing recorded or booked again.
            if (earlier.resource_id, earlier.used_by, earlier.note) != (
                command.resource_id,
                command.used_by,
                command.note.strip(),
            ):
                raise model.ConflictingUse(command.use_id)
            return use_view(earlier)
        resource, alliance = await _resource(uow, command.resource_id)
        use_id = command.use_id or str(uuid.uuid4())
        use = resources.use(alliance, resource, use_id, command.used_by, command.note.strip(), clock())
        await uow.resources.add_use(use)
        uow.emit(
            contracts.RESOURCE_USED,
            contracts.ResourceUsedV1(
                use_id=use.use_id,
                resource_id=resource.resource_id,
                alliance_id=resource.alliance_id,
                owner_id=resource.owner_id,
                used_by=use.used_by,
                note=use.note,
                value=command.value,
                used_at=use.used_at,
            ),
        )
        await uow.commit()
    return use_view(use)


def use_view(use: resources.ResourceUse) -> contracts.ResourceUseView:
    return contracts.ResourceUseView(
        use_id=use.use_id, resource_id=use.resource_id, used_by=use.used_by, note=use.note, used_at=use.used_at
    )


async def list_resources(query: contracts.ListResources, uow: AlliancesUnitOfWork) -> contracts.ResourcePage:
    async with uow:
        await _alliance(uow, query.alliance_id)
        found = await uow.resources.page(query.alliance_id, query.kind, query.cursor, query.limit + 1)
    items = found[: query.limit]
    return contracts.ResourcePage(
        items=[view(r) for r in items], next_cursor=items[-1].resource_id if len(found) > query.limit else None
    )


def view(resource: resources.Resource) -> contracts.ResourceView:
    return contracts.ResourceView(
        resource_id=resource.resource_id,
        alliance_id=resource.alliance_id,
        kind=resource.kind,
        title=resource.title,
        description=resource.description,
        link=resource.link,
        owner_id=resource.owner_id,
        added_at=resource.added_at,
        uses=resource.uses,
        removed=resource.removed,
    )


def _announce_change(
    uow: AlliancesUnitOfWork, resource: resources.Resource, by: str, reason: str, now: datetime
) -> None:
    uow.emit(
        contracts.RESOURCE_CHANGED,
        contracts.ResourceChangedV1(
            resource_id=resource.resource_id,
            alliance_id=resource.alliance_id,
            kind=resource.kind,
            title=resource.title,
            description=resource.description,
            link=resource.link,
            changed_by=by,
            removed=resource.removed,
            reason=reason,
            changed_at=now,
        ),
    )


async def _alliance(uow: AlliancesUnitOfWork, alliance_id: str) -> model.Alliance:
    alliance = await uow.alliances.get(alliance_id)
    if alliance is None:
        raise model.UnknownAlliance(alliance_id)
    return alliance


async def _resource(uow: AlliancesUnitOfWork, resource_id: str) -> tuple[resources.Resource, model.Alliance]:
    resource = await uow.resources.get(resource_id)
    if resource is None:
        raise model.UnknownResource(resource_id)
    return resource, await _alliance(uow, resource.alliance_id)
