"""Shared resources: what members share with their alliance (domains, analyses, knowledge, networks, tools)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .model import Alliance, InvalidResourceUse, NotAllowed, NotAMember, UnknownResource


@dataclass(frozen=True)
class Resource:
    resource_id: str
    alliance_id: str
    kind: str
    title: str
    description: str
    link: str
    owner_id: str
    added_at: datetime
    uses: int = 0
    removed_at: datetime | None = None
    removed_by: str | None = None

    @property
    def removed(self) -> bool:
        return self.removed_at is not None


@dataclass(frozen=True)
class ResourceUse:
    use_id: str
    resource_id: str
    used_by: str
    note: str
    used_at: datetime


def share(alliance: Alliance, resource: Resource) -> Resource:
    """A member shares a resource with an alliance that is not archived."""
    alliance.check_not_archived()
    if resource.owner_id not in alliance.members:
        raise NotAMember(resource.owner_id, alliance.alliance_id)
    return resource


def check_may_change(alliance: Alliance, resource: Resource, by: str) -> None:
    """Its owner or a moderator of the alliance; a removed resource is gone for everyone."""
    if resource.removed:
        raise UnknownResource(resource.resource_id)
    if by != resource.owner_id and not alliance.is_moderator(by):
        raise NotAllowed("only the owner or a moderator may change or remove a resource")


def remove(alliance: Alliance, resource: Resource, by: str, now: datetime) -> Resource | None:
    """The resource removed, or None if it was already (removing again changes nothing)."""
    if resource.removed:
        return None
    check_may_change(alliance, resource, by)
    return replace(resource, removed_at=now, removed_by=by)


def use(alliance: Alliance, resource: Resource, use_id: str, used_by: str, note: str, now: datetime) -> ResourceUse:
    """Another member of the alliance used it."""
    if resource.removed:
        raise UnknownResource(resource.resource_id)
    if used_by not in alliance.members:
        raise NotAMember(used_by, alliance.alliance_id)
    if used_by == resource.owner_id:
        raise InvalidResourceUse("the owner's own use of a resource is not recorded")
    return ResourceUse(use_id, resource.resource_id, used_by, note, now)
