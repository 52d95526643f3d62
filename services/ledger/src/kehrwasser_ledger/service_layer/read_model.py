"""The read side of the ledger: statements, balances in the past and aggregated flows (a port; adapters
implement it over SQL, tests fake it). It only reads, so it needs no unit of work."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Self

from ..domain.analytics import Flow
from ..domain.model import Account, Contribution, Entry


@dataclass(frozen=True)
class StatementLine:
    """One entry of a member's account with the contribution it books."""

    version: int
    contribution_id: str
    recorded_at: datetime
    giver_id: str
    receiver_id: str
    kind: str
    amount: Decimal
    balance_before: Decimal
    balance_after: Decimal
    note: str
    reverses: str | None


@dataclass(frozen=True)
class BalanceMark:
    """A member's balance right after one of their entries."""

    version: int
    balance: Decimal
    contribution_id: str
    recorded_at: datetime


class LedgerReadModel(abc.ABC):
    """Use as ``async with read_model:``; every query inside reads through one connection."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @abc.abstractmethod
    async def alliance_known(self, alliance_id: str) -> bool: ...

    @abc.abstractmethod
    async def alliance_ids(self) -> list[str]: ...

    @abc.abstractmethod
    async def chain_length(self, alliance_id: str) -> int | None:
        """How many contributions the alliance has booked (None for an unknown alliance): it grows with every
        change of the alliance's flows, so it tells whether a reply built from them is still current."""

    @abc.abstractmethod
    async def members(self, alliance_id: str) -> list[str]: ...

    @abc.abstractmethod
    async def statement_lines(
        self, alliance_id: str, member_id: str, *, after_version: int | None, limit: int, newest_first: bool
    ) -> list[StatementLine]:
        """Up to ``limit`` entries in version order (descending if ``newest_first``) past ``after_version``."""

    @abc.abstractmethod
    async def balance_mark_at(self, alliance_id: str, member_id: str, moment: datetime) -> BalanceMark | None:
        """The member's last entry whose contribution was recorded at or before ``moment``, if any."""

    @abc.abstractmethod
    async def member_known(self, alliance_id: str, member_id: str) -> bool:
        """Whether the member belongs to the alliance or has an account in it (the alliance's own included)."""

    @abc.abstractmethod
    async def current_balance(self, alliance_id: str, member_id: str) -> tuple[Decimal, Account | None] | None:
        """The alliance's red threshold and the member's maintained account (a fresh one for a member without
        entries yet, None for someone who is not a member), in one read; None for an unknown alliance."""

    @abc.abstractmethod
    async def flows(self, alliance_id: str, kind: str | None = None) -> list[Flow]:
        """Value and number of contributions per (giver, receiver, kind), net of reversals."""

    @abc.abstractmethod
    async def member_totals(self, alliance_id: str) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
        """What each member gave and received, net of reversals: the flows summed by giver and by receiver (the
        totals of `flows`, without reading every flow)."""

    @abc.abstractmethod
    async def chain_slice(self, alliance_id: str, after_sequence: int, limit: int) -> list[Contribution]:
        """Up to ``limit`` of the alliance's contributions after ``after_sequence``, in chain order."""

    @abc.abstractmethod
    async def entries_for(self, alliance_id: str, first_sequence: int, last_sequence: int) -> list[Entry]:
        """The entries posted for the alliance's contributions with a sequence in that range."""

    @abc.abstractmethod
    async def chain_tails(self, after: Mapping[str, int]) -> dict[str, list[Contribution]]:
        """Each alliance's contributions after its sequence, in chain order, in one read."""

    @abc.abstractmethod
    async def entries_posted_for(self, chain: Sequence[Contribution]) -> dict[str, list[Entry]]:
        """By alliance, the entries it posted for these of its contributions."""
