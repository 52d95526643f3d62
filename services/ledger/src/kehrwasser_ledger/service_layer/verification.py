"""Verification as a job: runs that check every alliance's books from its last verified checkpoint (or from
genesis), several alliances at once, a slice of the chain at a time, and can be followed and resumed.

A run is stored before it starts (`VerificationRepository.add_run`, each alliance with the point its walk
starts from) and worked by the process that started it, under a lease it extends with every slice. Each
slice stores the walk's position together with the ``ledger-inconsistency`` events of its findings, in one
transaction; a process that stops leaves the lease to lapse, and any ledger process takes the run over
(`resume_abandoned`) where its walks stood. The slices are read without holding anything, beside the
intake; only an alliance's last slice is read holding the alliance, so that its stored accounts are compared
with the entries at one and the same point of its chain.

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
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self._uow = uow
        self._read_model = read_model
        self._clock = clock
        self._parallel = parallel
        self._slice = slice_size
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

        async def walk(alliance: RunAlliance) -> None:
            async with gate:
                await self._walk(run_id, run.full, alliance)

        try:
            await asyncio.gather(*(walk(a) for a in run.alliances if not a.done))
        except Exception:
            # The lease lapses and another round (here or in another process) resumes where the walks stood.
            log.exception("verification run %s stopped; it resumes once its lease lapses", run_id)
            return
        async with self._uow() as uow:
            await uow.verification.finish(run_id, self._clock())
            await uow.commit()

    async def _walk(self, run_id: str, full: bool, alliance: RunAlliance) -> None:
        alliance_id = alliance.alliance_id
        walk = ChainWalk(alliance.walked)
        walk.contributions, walk.entries = alliance.contributions, alliance.entries
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

    async def _head_problems(self, checkpoint: Checkpoint) -> list[str]:
        """The checkpoint's own contribution still ends in the head it verified (cheap; what lies before it is
        for a full run)."""
        async with self._read_model() as read:
            [*head] = await read.chain_slice(checkpoint.alliance_id, checkpoint.sequence - 1, 1)
        if head and head[0].hash == checkpoint.chain_head:
            return []
        return [f"{checkpoint.alliance_id}: the chain no longer ends in its verified head at {checkpoint.sequence}"]

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
        now = self._clock()
        walked = RunAlliance(
            walk.alliance_id,
            walk.checkpoint,
            walk.contributions,
            walk.entries,
            problems[: contracts.MAX_REPORTED_PROBLEMS],
            done,
        )
        await uow.verification.save_walk(run_id, walked, now, now + self._lease)
        for problem in found[: contracts.MAX_REPORTED_PROBLEMS]:
            uow.emit(
                contracts.LEDGER_INCONSISTENCY,
                contracts.LedgerInconsistencyV1(
                    run_id=run_id, alliance_id=walk.alliance_id, problem=problem[:2000], full=full, detected_at=now
                ),
            )


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
