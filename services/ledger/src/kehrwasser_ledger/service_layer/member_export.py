"""The ledger's part of a member's data export (GDPR art. 15/20).

The ledger holds no name, address or profile: only opaque member ids, amounts and the notes of contributions.
So an erasure needs nothing here (it consumes nothing of the members stream): the entries and totals stay as
they are, under the same id. The notes are part of each contribution's hash (`domain.model.chain_hash`), so
they stay too: rewriting them would break the chain that proves the books untouched (docs/security.md,
"Erasure and export").
"""

from __future__ import annotations

import abc

from kehrwasser_shared.contracts import privacy


class MemberRecords(abc.ABC):
    """What the ledger holds about one member, read for their export."""

    @abc.abstractmethod
    async def accounts(self, member_id: str) -> list[privacy.LedgerAccount]: ...

    @abc.abstractmethod
    async def contributions(self, member_id: str, after: str | None, limit: int) -> list[privacy.LedgerContribution]:
        """Contributions they gave or received, by id after ``after``."""

    @abc.abstractmethod
    async def pending(self, member_id: str) -> list[privacy.PendingContribution]: ...


async def export_member(query: privacy.ExportMember, records: MemberRecords) -> privacy.LedgerPart:
    """Accounts and pending contributions come with the first answer, the posted contributions a page at a time."""
    found = await records.contributions(query.member_id, query.cursor, privacy.MAX_CONTRIBUTIONS + 1)
    page = found[: privacy.MAX_CONTRIBUTIONS]
    first = query.cursor is None
    return privacy.LedgerPart(
        accounts=await records.accounts(query.member_id) if first else [],
        contributions=page,
        pending=await records.pending(query.member_id) if first else [],
        next_cursor=page[-1].contribution_id if len(found) > len(page) else None,
    )
