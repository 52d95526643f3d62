"""The intake books a batch in two phases, so that the next batch is booked while this one commits.

Booking a batch is processor work (validation, balances, lights, the hash chain, events) between database
work (reading the books, writing entries and accounts, committing). One batch at a time, the process waits
for the database about a third of the time. Pipelined, batch N+1 is *prepared* while batch N *commits*:

* **prepare** reads what the batch needs without holding anything, taking alliances, accounts and
  memberships from the books the intake already knows (`KnownBooks`: as the batches before left them,
  including the one still committing) and only the rest from the database, and books the batch in memory;
* **commit** holds the batch's alliances, checks that they are still as prepare found them (chain head,
  policy, moderators), writes (each account only if still at the version and light it was read with, each
  contribution and new account only if its id is new), and commits. Commits run one at a time, in order.

When the check fails (another writer booked these alliances, a policy or a light changed, the batch before
did not commit what it had booked), the batch is booked again from the database, holding its alliances,
exactly as a single command is (`handlers.record_contributions`), and the known books are forgotten. So a
stale guess costs time, never correctness: what is committed was always computed from the state it
commits on top of. After a miss the intake books a few batches the plain way before it guesses again, so
that two ledger processes taking turns on the same alliances do not keep paying for guesses that fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.observability import metrics

from .booking import Booked, BookingSession, KnownBooks, Outcome, Submission
from .handlers import announce_batch, book, record_contributions, submissions_of
from .unit_of_work import IntakeUnitOfWork, PreparedEvents

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]
BatchCommit = Callable[[], Awaitable[list[Outcome]]]
PLAIN_BATCHES_AFTER_A_MISS = 10
SLICE = 25  # submissions booked between two chances for the committing batch to go on (about a millisecond)


@dataclass(frozen=True)
class _Booked:
    """What prepare booked in memory, and on what."""

    submissions: list[Submission]
    session: BookingSession
    outcomes: list[Outcome]
    events: PreparedEvents  # the batch's events, for the unit of work that commits it to adopt
    generation: int  # of the known books it was prepared on
    after: _Committing | None  # the batch committing meanwhile, whose bookings it counts as done


@dataclass(eq=False)
class _Committing:
    """A batch between prepare and the end of its commit."""

    commands: list[contracts.RecordContribution]
    may_defer: Sequence[bool]
    booked: _Booked | None = None  # None: booked from the database at commit, the plain way
    confirmed: bool = False  # committed as prepared
    done: asyncio.Event = field(default_factory=asyncio.Event)


class PipelinedIntake:
    def __init__(self, uow: Callable[[], IntakeUnitOfWork], clock: Clock, *, max_known_accounts: int = 200_000) -> None:
        self._uow = uow
        self._clock = clock
        self._max_known_accounts = max_known_accounts
        self._known = KnownBooks()
        self._generation = 0  # advanced whenever the known books are forgotten
        self._committing: _Committing | None = None
        self._plain_batches = 0
        self.misses = 0
        """Prepared batches that did not hold at commit and were booked again from the database."""

    async def prepare(self, commands: list[contracts.RecordContribution], may_defer: Sequence[bool]) -> BatchCommit:
        """Book the batch in memory; the returned commit stores it (or books it again) and gives the outcomes."""
        after = self._committing
        if after is not None and self._doomed(after):
            # It books from the database: what it leaves behind is not known until it is done.
            await after.done.wait()
        if after is not None and after.done.is_set():
            after = None  # committed or given up: the database has what it booked
        if self._plain_batches:
            self._plain_batches -= 1
            plain = _Committing(commands, may_defer)
            self._committing = plain
            return lambda: self._commit_plainly(plain)
        generation = self._generation
        submissions = submissions_of(commands)
        async with self._uow() as uow:
            in_flight = after.booked.session if after is not None and after.booked is not None else None
            session = await BookingSession.open(uow, submissions, self._known, in_flight)
            events = uow.event_buffer()
        now = self._clock()
        outcomes: list[Outcome] = []
        for start in range(0, len(submissions), SLICE):
            part = slice(start, start + SLICE)
            since = (len(session.postings), len(session.new_pending))
            booked = book(session, submissions[part], now, may_defer[part])
            announce_batch(events, session, submissions[part], booked, now, announce_rejections=True, since=since)
            outcomes += booked
            # Let the batch committing meanwhile send its next statement: the database works while we do.
            await asyncio.sleep(0)
        prepared = _Committing(commands, may_defer, _Booked(submissions, session, outcomes, events, generation, after))
        if generation == self._generation:
            self._known.learn(session, self._max_known_accounts)
        self._committing = prepared
        return lambda: self._commit(prepared)

    def _doomed(self, batch: _Committing) -> bool:
        """Whether the batch will book from the database: it is plain, or known to have been prepared on
        something that did not hold."""
        booked = batch.booked
        if booked is None:
            return True
        return booked.generation != self._generation or (booked.after is not None and not booked.after.confirmed)

    async def _commit(self, prepared: _Committing) -> list[Outcome]:
        if prepared.booked is not None and not self._doomed(prepared):
            try:
                await self._store(prepared.booked)
            except Exception as exc:  # stale books, a changed account, an id booked meanwhile, a lost connection
                log.info("intake: a prepared batch did not hold (%r); booking it from the database", exc)
                self.misses += 1
                self._plain_batches = PLAIN_BATCHES_AFTER_A_MISS
            else:
                outcomes = prepared.booked.outcomes
                _count_booked(outcomes)
                prepared.confirmed = True
                self._finished(prepared)
                return outcomes
        self._known.clear()
        self._generation += 1
        return await self._commit_plainly(prepared)

    async def _store(self, booked: _Booked) -> None:
        async with self._uow() as uow:
            await booked.session.confirm(uow)
            await booked.session.write(uow)
            uow.adopt(booked.events)
            await uow.commit()

    async def _commit_plainly(self, batch: _Committing) -> list[Outcome]:
        try:
            outcomes = await record_contributions(
                batch.commands, self._uow(), self._clock, announce_rejections=True, may_defer=batch.may_defer
            )
        finally:
            self._finished(batch)
        _count_booked(outcomes)
        return outcomes

    def _finished(self, batch: _Committing) -> None:
        # Its successor needs only ``confirmed`` and ``done`` from here on. Dropping the rest also cuts the
        # chain of predecessors (``after``), which would otherwise keep every batch ever booked alive.
        batch.booked = None
        batch.done.set()
        if self._committing is batch:
            self._committing = None


def _count_booked(outcomes: list[Outcome]) -> None:
    """Once per batch: the intake books about ten thousand contributions a second."""
    metrics.current().contributions_booked.inc([outcome.status for outcome in outcomes].count(Booked.CREATED))
