"""Work that falls due with time alone: expiring unconfirmed contributions and re-lighting inactive members."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .confirmations import expire_due
from .policies import review_lights
from .unit_of_work import LedgerUnitOfWork


async def maintain(uow: Callable[[], LedgerUnitOfWork], clock: Callable[[], datetime]) -> None:
    """One round: expire every due pending contribution (in batches), then review time-dependent lights."""
    while await expire_due(uow(), clock):
        pass
    await review_lights(uow(), clock)
