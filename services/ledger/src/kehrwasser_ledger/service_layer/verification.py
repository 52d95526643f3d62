"""Verification as a job: runs that check every alliance's books from its last verified checkpoint (or from
genesis), several alliances at once, a slice of the chain at a time, and can be followed and resumed.

A run is stored before it starts (`VerificationRepository.add_run`, each alliance with the point its walk
starts from) and worked by the process that started it, under a lease it extends with every slice. Each
slice stores the walk's position together with the ``ledger-inconsistency`` events of its findings, in one
transaction; a process that stops leaves the lease to lapse, and any ledger process takes the run over
(`resume_abandoned`) where its walks stood. The slices are read without holding anything, beside the
intake; only an alliance's last slice is read holding the alliance, so that its stored accounts are compared
with the entries at one and the same point of its chain.

Alliances with little to check (less than a slice since where their walk stands) are checked in groups, so that
a routine run after bookings spread over many alliances does not pay a read and a transaction for each: one read
of the group's new contributions and their entries, then one transaction holding all of the group's alliances
for what was booked meanwhile, their accounts, checkpoints and walks (`_walk_together`). Findings, checkpoints,
events and resumption are the same as for an alliance walked alone.

An alliance whose walk found nothing gets a checkpoint where the walk ended; the next routine run checks only
what comes after it. Findings keep it where it was (a run from the checkpoint), or remove it (a run from
genesis): until the books are repaired, every run reports them again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from kehrwasser_shared.contracts import ledger as contracts

from ..domain.errors import UnknownVerifyRun
from ..domain.model import Contribution
from ..domain.verification import ChainWalk, Checkpoint
from .handlers import books_of
from .read_model import LedgerReadModel
from .unit_of_work import LedgerUnitOfWork, RunAlliance, VerifyRun

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class VerificationRuns:
    def __init__(
        self,
        uow: Callable[[], LedgerUnitOfWork],
        read_model: Callable[[], LedgerReadModel],
        clock: Clock,
        *,
        parallel: int = 8,
        slice_size: int = 20_000,
        group_size: int = 100,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self._uow = uow
        self._read_model = read_model
        self._clock = clock
        self._parallel = parallel
        self._slice = slice_size
        self._group = group_size
        self._lease = lease
        self._working: dict[str, asyncio.Task[None]] = {}

    async def start(self, command: contracts.VerifyLedger) -> contracts.LedgerVerification:
        """Store a run over one alliance or all, start it here, and answer its id (or, with ``wait``, its end)."""
        now = self._clock()
        run_id = str(uuid.uuid4())
        async with self._uow() as uow:
            if command.alliance_id is not None:
                alliance_ids = [(await books_of(uow, command.alliance_id)).alliance_id]
            else:
                alliance_ids = await uow.alliances.all_ids()
            verified = {} if command.full else await uow.verification.checkpoints(alliance_ids)
            starts = [verified.get(a, Checkpoint(a)) for a in alliance_ids]
            # Nothing booked since its checkpoint: the alliance is done before the run begins, at no cost.
            lengths = {a: books.chain_length for a, books in (await uow.alliances.read_many(list(verified))).items()}
            settled = {a for a, checkpoint in verified.items() if lengths.get(a) == checkpoint.sequence}
            await uow.verification.add_run(run_id, command.full, starts, now, now + self._lease, settled)
            await uow.commit()
        work = self._launch(run_id)
        if command.wait:
            await asyncio.shield(work)
        return await self.status(contracts.QueryVerifyRun(run_id=run_id))

    async def status(self, query: contracts.QueryVerifyRun) -> contracts.LedgerVerification:
        async with self._uow() as uow:
            run = await uow.verification.run(query.run_id)
        if run is None:
            raise UnknownVerifyRun(query.run_id)
        return view_of(run)

    async def resume_abandoned(self) -> None:
        """Take over the runs whose process stopped (their lease lapsed): a background round."""
        now = self._clock()
        async with self._uow() as uow:
            claimed = await uow.verification.claim_abandoned(now, now + self._lease)
            await uow.commit()
        for run_id in claimed:
            log.info("resuming verification run %s", run_id)
            self._launch(run_id)

    async def stop(self) -> None:
        for task in list(self._working.values()):
            task.cancel()
        await asyncio.gather(*self._working.values(), return_exceptions=True)

    def _launch(self, run_id: str) -> asyncio.Task[None]:
        task = self._working.get(run_id)
        if task is None:
            task = asyncio.create_task(self._work(run_id), name=f"verify {run_id}")
            self._working[run_id] = task
            task.add_done_callback(lambda _: self._working.pop(run_id, None))
        return task

    async def _work(self, run_id: str) -> None:
        async with self._uow() as uow:
            run = await uow.verification.run(run_id)
        if run is None or not run.running:
            return
        gate = asyncio.Semaphore(self._parallel)
        alone, groups = await self._grouped([a for a in run.alliances if not a.done])

        async def walk(alliance: RunAlliance) -> None:
            async with gate:
                await self._walk(run_id, run.full, alliance)

        async def walk_together(group: list[RunAlliance]) -> None:
            async with gate:
                await self._walk_together(run_id, run.full, group)

        try:
            await asyncio.gather(*(walk_together(g) for g in groups), *(walk(a) for a in alone))
        except Exception:
            # The lease lapses and another round (here or in another process) resumes where the walks stood.
            log.exception("verification run %s stopped; it resumes once its lease lapses", run_id)
            return
        async with self._uow() as uow:
            await uow.verification.finish(run_id, self._clock())
            await uow.commit()

    async def _grouped(self, alliances: list[RunAlliance]) -> tuple[list[RunAlliance], list[list[RunAlliance]]]:
        """The alliances to walk alone (a slice or more to check), and the others in groups of up to
        ``group_size`` alliances with less than a slice to check in all."""
        async with self._uow() as uow:
            books = await uow.alliances.read_many([a.alliance_id for a in alliances])
        alone: list[RunAlliance] = []
        groups: list[list[RunAlliance]] = []
        group: list[RunAlliance] = []
        waiting = 0
        for alliance in alliances:
            found = books.get(alliance.alliance_id)
            new = (found.chain_length if found else 0) - alliance.walked.sequence
            if new >= self._slice:
                alone.append(alliance)
                continue
            if group and (len(group) == self._group or waiting + new > self._slice):
                groups.append(group)
                group, waiting = [], 0
            group.append(alliance)
            waiting += max(new, 0)
        if group:
            groups.append(group)
        return alone, groups

    async def _walk(self, run_id: str, full: bool, alliance: RunAlliance) -> None:
        alliance_id = alliance.alliance_id
        walk = _resumed(alliance)
        problems = list(alliance.problems)
        unsaved: list[str] = []  # found, not yet stored with the walk's position (nor announced)
        if not full and not alliance.walked.is_genesis and alliance.contributions == 0:
            unsaved += await self._head_problems(alliance.walked)
            problems += unsaved
        while True:
            async with self._read_model() as read:
                chain = await read.chain_slice(alliance_id, walk.sequence, self._slice)
                found = walk.check(chain, await read.entries_for(alliance_id, *_span(chain))) if chain else []
            unsaved += found
            problems += found
            if len(chain) < self._slice:
                break  # what was booked meanwhile is read holding the alliance, with the accounts
            await self._save(run_id, full, walk, problems, unsaved, done=False)
            unsaved = []
        async with self._uow() as uow:
            await uow.alliances.lock_many([alliance_id])
            chain = await uow.contributions.chain_slice(alliance_id, walk.sequence, None)
            found = walk.check(chain, await uow.contributions.entries_for(alliance_id, *_span(chain))) if chain else []
            accounts = await uow.accounts.all_of(alliance_id)
            versions = {a.owner_id: walk.marks[a.owner_id].version if a.owner_id in walk.marks else 0 for a in accounts}
            found += walk.finish(accounts, await uow.contributions.entries_past(alliance_id, versions))
            unsaved += found
            problems += found
            if not problems:
                await uow.verification.save_checkpoint(walk.checkpoint, self._clock())
            elif full:
                await uow.verification.drop_checkpoint(alliance_id)
            await self._store(uow, run_id, full, walk, problems, unsaved, done=True)
            await uow.commit()

    async def _walk_together(self, run_id: str, full: bool, alliances: list[RunAlliance]) -> None:
        """Walk alliances with little to check as one: what `_walk` does for one, in one read and one
        transaction for all of them."""
        walks = {a.alliance_id: _resumed(a) for a in alliances}
        problems = {a.alliance_id: list(a.problems) for a in alliances}
        unsaved: dict[str, list[str]] = {a.alliance_id: [] for a in alliances}
        # As in `_walk`: a routine walk that starts at a checkpoint first sees that the chain still ends in its head.
        heads = {
            a.alliance_id: a.walked for a in alliances if not full and not a.walked.is_genesis and a.contributions == 0
        }
        async with self._read_model() as read:
            chains = await read.chain_tails({i: w.sequence - (i in heads) for i, w in walks.items()})
            for alliance_id, checkpoint in heads.items():
                chain = chains[alliance_id]
                head = chain.pop(0) if chain and chain[0].sequence == checkpoint.sequence else None
                if head is None or head.hash != checkpoint.chain_head:
                    unsaved[alliance_id].append(_moved_head(checkpoint))
            posted = await read.entries_posted_for([c for chain in chains.values() for c in chain])
        for alliance_id, walk in walks.items():
            if chains[alliance_id]:
                unsaved[alliance_id] += walk.check(chains[alliance_id], posted.get(alliance_id, []))
        async with self._uow() as uow:
            await uow.alliances.lock_many(sorted(walks))
            # What was booked since the read, read holding the alliances, with their accounts.
            chains = await uow.contributions.chain_tails({i: w.sequence for i, w in walks.items()})
            posted = await uow.contributions.entries_posted_for([c for chain in chains.values() for c in chain])
            for alliance_id, walk in walks.items():
                if chains[alliance_id]:
                    unsaved[alliance_id] += walk.check(chains[alliance_id], posted.get(alliance_id, []))
            accounts = await uow.accounts.all_of_many(list(walks))
            past = await uow.contributions.entries_past_many(
                {
                    i: {a.owner_id: w.marks[a.owner_id].version if a.owner_id in w.marks else 0 for a in accounts[i]}
                    for i, w in walks.items()
                }
            )
            verified, dropped = [], []
            for alliance_id, walk in walks.items():
                unsaved[alliance_id] += walk.finish(accounts[alliance_id], past[alliance_id])
                problems[alliance_id] += unsaved[alliance_id]
                if not problems[alliance_id]:
                    verified.append(walk.checkpoint)
                elif full:
                    dropped.append(alliance_id)
            await uow.verification.save_checkpoints(verified, self._clock())
            await uow.verification.drop_checkpoints(dropped)
            await self._store_many(
                uow, run_id, full, [(w, problems[i], unsaved[i]) for i, w in walks.items()], done=True
            )
            await uow.commit()

    async def _head_problems(self, checkpoint: Checkpoint) -> list[str]:
        """The checkpoint's own contribution still ends in the head it verified (cheap; what lies before it is
        for a full run)."""
        async with self._read_model() as read:
            [*head] = await read.chain_slice(checkpoint.alliance_id, checkpoint.sequence - 1, 1)
        if head and head[0].hash == checkpoint.chain_head:
            return []
        return [_moved_head(checkpoint)]

    async def _save(
        self, run_id: str, full: bool, walk: ChainWalk, problems: list[str], found: list[str], *, done: bool
    ) -> None:
        async with self._uow() as uow:
            await self._store(uow, run_id, full, walk, problems, found, done=done)
            await uow.commit()

    async def _store(
        self,
        uow: LedgerUnitOfWork,
        run_id: str,
        full: bool,
        walk: ChainWalk,
        problems: list[str],
        found: list[str],
        *,
        done: bool,
    ) -> None:
        await self._store_many(uow, run_id, full, [(walk, problems, found)], done=done)

    async def _store_many(
        self,
        uow: LedgerUnitOfWork,
        run_id: str,
        full: bool,
        walks: list[tuple[ChainWalk, list[str], list[str]]],
        *,
        done: bool,
    ) -> None:
        """Store walks (their positions, counts and findings so far) with the events of their new findings."""
        now = self._clock()
        walked = [
            RunAlliance(
                walk.alliance_id,
                walk.checkpoint,
                walk.contributions,
                walk.entries,
                problems[: contracts.MAX_REPORTED_PROBLEMS],
                done,
            )
            for walk, problems, _ in walks
        ]
        await uow.verification.save_walks(run_id, walked, now, now + self._lease)
        for walk, _, found in walks:
            for problem in found[: contracts.MAX_REPORTED_PROBLEMS]:
                uow.emit(
                    contracts.LEDGER_INCONSISTENCY,
                    contracts.LedgerInconsistencyV1(
                        run_id=run_id, alliance_id=walk.alliance_id, problem=problem[:2000], full=full, detected_at=now
                    ),
                )


def _resumed(alliance: RunAlliance) -> ChainWalk:
    """The alliance's walk where the run left it."""
    walk = ChainWalk(alliance.walked)
    walk.contributions, walk.entries = alliance.contributions, alliance.entries
    return walk


def _moved_head(checkpoint: Checkpoint) -> str:
    return f"{checkpoint.alliance_id}: the chain no longer ends in its verified head at {checkpoint.sequence}"


def _span(chain: list[Contribution]) -> tuple[int, int]:
    return chain[0].sequence, chain[-1].sequence


def view_of(run: VerifyRun) -> contracts.LedgerVerification:
    problems = [p for a in run.alliances for p in a.problems]
    return contracts.LedgerVerification(
        run_id=run.run_id,
        state=contracts.VerifyRunState.RUNNING if run.running else contracts.VerifyRunState.DONE,
        full=run.full,
        ok=not problems,
        alliances_total=len(run.alliances),
        alliances_checked=sum(a.done for a in run.alliances),
        contributions_checked=sum(a.contributions for a in run.alliances),
        entries_checked=sum(a.entries for a in run.alliances),
        problems=problems[: contracts.MAX_REPORTED_PROBLEMS],
        problem_count=len(problems),
        started_at=run.started_at,
        updated_at=run.updated_at,
        finished_at=run.finished_at,
    )
