"""One member's data across the network in one JSON document (GDPR art. 15/20), for the CLI and tests.

The services never ask each other for anything (they talk through events); this client asks each of them
``export-member`` (`contracts.privacy`) at the same time and puts the four answers side by side. A service that
answers in pages (the ledger's contributions) is asked again with its ``next_cursor`` until it has no more, and
its lists are joined, so the document holds everything.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from .contracts.privacy import EXPORTS, ExportMember
from .contracts.registry import CommandContract
from .messaging.client import CommandClient

MAX_PAGES = 10_000
"""A bound on the pages asked of one service (a service that kept answering with a cursor would loop)."""


async def export_member(client: CommandClient, member_id: str) -> dict[str, Any]:
    """``{"member_id", "exported_at", "services": {"members": {...}, "alliances": ..., "ledger": ..., "notify": ...}}``.

    Raises `CommandFailed` as the members service answers (``unknown-member``: no such member at all); the
    others answer for a member they do not know with empty parts.
    """
    parts = await asyncio.gather(*(_part(client, contract, member_id) for contract in EXPORTS))
    return {
        "member_id": member_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "services": {contract.service: part for contract, part in zip(EXPORTS, parts, strict=True)},
    }


async def _part(client: CommandClient, contract: CommandContract[ExportMember, Any], member_id: str) -> dict[str, Any]:
    request = ExportMember(member_id=member_id)
    part: dict[str, Any] = (await client.send(contract, request)).model_dump(mode="json")
    for _ in range(MAX_PAGES):
        cursor = part.get("next_cursor")
        if cursor is None:
            break
        page = (await client.send(contract, ExportMember(member_id=member_id, cursor=cursor))).model_dump(mode="json")
        for key, value in page.items():
            if isinstance(value, list):  # a later page carries only what continues (the ledger's contributions)
                part[key].extend(value)
        part["next_cursor"] = page.get("next_cursor")
    else:
        raise RuntimeError(f"the {contract.service} service kept answering with a cursor")
    part.pop("next_cursor", None)
    return part
