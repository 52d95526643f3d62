"""The background loop that publishes every alliance's health once per period.

Periods are whole multiples of the interval since the epoch (hourly by default: 10:00, 11:00, ... UTC). Each
alliance's figure falls due at its own fixed offset into the period (`analytics.health_slot`), so the work
is spread over the period instead of arriving as one burst at the top of the hour. The loop looks every
``tick`` (at most ten seconds) for alliances that are due and whose figure for the current period is not
out yet, so a failed attempt is retried.

A round publishes at most twice the share of alliances that fall due in one tick: enough to keep up, and a
ledger that starts in the middle of a period catches up on the slots it missed over the following ticks
instead of all at once in its first seconds. A figure still owed when its period ends is not back-filled;
the next period's comes at its slot.

The event's id is derived from alliance and period: when another ledger instance, or this one before a
restart, already put it in the outbox, the commit is refused (`DuplicateEvent`) and this period counts as
done.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta

from kehrwasser_shared.messaging.ports import DuplicateEvent
from kehrwasser_shared.runtime import BackgroundLoop, every

from ..domain.analytics import health_slot, period_start
from . import queries
from .read_model import LedgerReadModel
from .unit_of_work import LedgerUnitOfWork

log = logging.getLogger(__name__)
MAX_TICK = timedelta(seconds=10)


class PeriodicHealth:
    def __init__(
        self,
        *,
        period: timedelta,
        read_model: Callable[[], LedgerReadModel],
        uow: Callable[[], LedgerUnitOfWork],
        clock: Callable[[], datetime],
    ) -> None:
        self._period = period
        self._tick = min(period, MAX_TICK).total_seconds()
        self._read_model = read_model
        self._uow = uow
        self._clock = clock
        self._done: set[tuple[str, datetime]] = set()

    def loop(self) -> BackgroundLoop:
        """The background loop: a round every tick; a failed round is retried at the next one."""
        return every(self._tick, self.publish_due, "publishing alliance health")

    async def publish_due(self) -> int:
        """Publish the current period's health of alliances that are due and have none yet; how many."""
        now = self._clock()
        start = period_start(now, self._period)
        self._done = {key for key in self._done if key[1] == start}
        async with self._read_model() as read:
            alliance_ids = await read.alliance_ids()
        due = [
            alliance_id
            for alliance_id in alliance_ids
            if (alliance_id, start) not in self._done and start + health_slot(alliance_id, self._period) <= now
        ]
        published = 0
        for alliance_id in due[: self._budget(len(alliance_ids))]:
            try:
                await queries.publish_alliance_health(
                    alliance_id, start, self._period, self._read_model(), self._uow(), self._clock
                )
                published += 1
            except DuplicateEvent:
                log.debug("health of %s for %s is out already", alliance_id, start)
            self._done.add((alliance_id, start))
        return published

    def _budget(self, alliances: int) -> int:
        """Twice the alliances that fall due per tick on average, and at least one."""
        return max(1, math.ceil(2 * alliances * self._tick / self._period.total_seconds()))
