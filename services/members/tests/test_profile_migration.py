"""Migration 0003 gives the members registered before it sensible defaults, on every reachable database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command

from kehrwasser_members.adapters.tables import messaging
from kehrwasser_members.adapters.unit_of_work import SqlMembersUnitOfWork
from kehrwasser_members.bootstrap import MIGRATIONS
from kehrwasser_members.domain import model
from kehrwasser_members.service_layer.unit_of_work import MemberFilter
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import alembic_config

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


async def migrate(database_url: str, target: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(MIGRATIONS, database_url), target)


async def test_members_registered_before_0003_become_active_berlin_members_wanting_all_mail(
    database_url: str, tmp_path: Path
) -> None:
    await migrate(database_url, "0002")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            for member_id, name in (("ada", "Ada Lovelace"), ("grace", "Grace Hopper")):
                await connection.execute(
                    sa.text(
                        "INSERT INTO members (member_id, name, email, company, language, focus, registered_at) "
                        "VALUES (:id, :name, :email, '', 'en', :focus, :at)"
                    ),
                    {
                        "id": member_id,
                        "name": name,
                        "email": f"{member_id}@example.org",
                        "focus": '["ai", "saas"]',
                        "at": NOON,
                    },
                )
        await migrate(database_url, "head")
        async with SqlMembersUnitOfWork(engine, messaging, source="/members") as uow:
            ada = await uow.members.get("ada")
            grace = await uow.members.get("grace")
            tagged = await uow.members.list(MemberFilter(focus="saas", name_prefix="ada"), after=None, limit=10)
    finally:
        await engine.dispose()
    assert ada is not None
    assert grace is not None
    assert (ada.status, ada.timezone, ada.updated_at) == (model.Status.ACTIVE, "Europe/Berlin", NOON)
    assert all(ada.preferences.values())
    assert len(ada.unsubscribe_token) >= 43
    assert ada.unsubscribe_token != grace.unsubscribe_token
    assert [member.member_id for member in tagged] == ["ada"]
