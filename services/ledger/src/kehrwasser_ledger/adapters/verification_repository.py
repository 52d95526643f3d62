"""SQL of verification runs and checkpoints (`VerificationRepository`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from kehrwasser_shared.persistence.bulk import one_of

from ..domain.verification import AccountMark, Checkpoint
from ..service_layer.unit_of_work import RunAlliance, VerificationRepository, VerifyRun
from .repository import cents, points
from .tables import verify_checkpoints, verify_run_alliances, verify_runs

RUNNING, DONE = "running", "done"


def marks_json(marks: Mapping[str, AccountMark]) -> str:
    return orjson.dumps({owner: [m.version, cents(m.balance)] for owner, m in marks.items()}).decode()


def marks_of(text: str) -> dict[str, AccountMark]:
    return {owner: AccountMark(version, points(balance)) for owner, (version, balance) in orjson.loads(text).items()}


class SqlVerification(VerificationRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def checkpoints(self, alliance_ids: list[str]) -> dict[str, Checkpoint]:
        found: dict[str, Checkpoint] = {}
        for start in range(0, len(alliance_ids), 1000):
            rows = await self._connection.execute(
                select(verify_checkpoints).where(
                    verify_checkpoints.c.alliance_id.in_(alliance_ids[start : start + 1000])
                )
            )
            for row in rows:
                found[row.alliance_id] = Checkpoint(
                    row.alliance_id, row.sequence, row.chain_head, marks_of(row.accounts)
                )
        return found

    async def save_checkpoint(self, checkpoint: Checkpoint, now: datetime) -> None:
        values = {
            "sequence": checkpoint.sequence,
            "chain_head": checkpoint.chain_head,
            "accounts": marks_json(checkpoint.accounts),
            "verified_at": now,
        }
        changed = await self._connection.execute(
            update(verify_checkpoints).where(verify_checkpoints.c.alliance_id == checkpoint.alliance_id).values(values)
        )
        if changed.rowcount == 0:
            await self._connection.execute(
                insert(verify_checkpoints).values(alliance_id=checkpoint.alliance_id, **values)
            )

    async def drop_checkpoint(self, alliance_id: str) -> None:
        await self._connection.execute(
            delete(verify_checkpoints).where(verify_checkpoints.c.alliance_id == alliance_id)
        )

    async def save_checkpoints(self, checkpoints: Sequence[Checkpoint], now: datetime) -> None:
        # The alliances are held by the caller (as for `save_checkpoint`): replacing their rows races no one.
        if not checkpoints:
            return
        await self.drop_checkpoints([c.alliance_id for c in checkpoints])
        await self._connection.execute(
            insert(verify_checkpoints),
            [
                {
                    "alliance_id": c.alliance_id,
                    "sequence": c.sequence,
                    "chain_head": c.chain_head,
                    "accounts": marks_json(c.accounts),
                    "verified_at": now,
                }
                for c in checkpoints
            ],
        )

    async def drop_checkpoints(self, alliance_ids: Collection[str]) -> None:
        if alliance_ids:
            await self._connection.execute(
                delete(verify_checkpoints).where(
                    one_of(self._connection, verify_checkpoints.c.alliance_id, alliance_ids)
                )
            )

    async def add_run(
        self,
        run_id: str,
        full: bool,
        starts: list[Checkpoint],
        now: datetime,
        lease_until: datetime,
        settled: Collection[str] = (),
    ) -> None:
        await self._connection.execute(
            insert(verify_runs).values(
                run_id=run_id,
                from_genesis=full,
                state=RUNNING,
                alliances_total=len(starts),
                started_at=now,
                updated_at=now,
                lease_until=lease_until,
            )
        )
        if starts:
            await self._connection.execute(
                insert(verify_run_alliances),
                [
                    {
                        "run_id": run_id,
                        "alliance_id": start.alliance_id,
                        "done": start.alliance_id in settled,
                        "sequence": start.sequence,
                        "chain_head": start.chain_head,
                        "accounts": marks_json(start.accounts),
                        "contributions": 0,
                        "entries": 0,
                        "problems": "[]",
                    }
                    for start in starts
                ],
            )

    async def run(self, run_id: str) -> VerifyRun | None:
        row = (await self._connection.execute(select(verify_runs).where(verify_runs.c.run_id == run_id))).first()
        if row is None:
            return None
        alliances = await self._connection.execute(
            select(verify_run_alliances)
            .where(verify_run_alliances.c.run_id == run_id)
            .order_by(verify_run_alliances.c.alliance_id)
        )
        return VerifyRun(
            run_id=run_id,
            full=bool(row.from_genesis),
            running=row.state == RUNNING,
            started_at=row.started_at,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
            alliances=[_run_alliance(a) for a in alliances],
        )

    async def save_walk(self, run_id: str, walked: RunAlliance, now: datetime, lease_until: datetime) -> None:
        await self._connection.execute(
            update(verify_run_alliances)
            .where(verify_run_alliances.c.run_id == run_id, verify_run_alliances.c.alliance_id == walked.alliance_id)
            .values(
                done=walked.done,
                sequence=walked.walked.sequence,
                chain_head=walked.walked.chain_head,
                accounts=marks_json(walked.walked.accounts),
                contributions=walked.contributions,
                entries=walked.entries,
                problems=orjson.dumps(walked.problems).decode(),
            )
        )
        await self._connection.execute(
            update(verify_runs).where(verify_runs.c.run_id == run_id).values(updated_at=now, lease_until=lease_until)
        )

    async def save_walks(
        self, run_id: str, walked: Sequence[RunAlliance], now: datetime, lease_until: datetime
    ) -> None:
        if walked:
            table = verify_run_alliances
            await self._connection.execute(
                update(table)
                .where(table.c.run_id == run_id, table.c.alliance_id == bindparam("b_alliance_id"))
                .values({name: bindparam(f"b_{name}") for name in WALK_COLUMNS}),
                [{f"b_{name}": value for name, value in _walk_row(w).items()} for w in walked],
            )
        await self._connection.execute(
            update(verify_runs).where(verify_runs.c.run_id == run_id).values(updated_at=now, lease_until=lease_until)
        )

    async def claim_abandoned(self, now: datetime, lease_until: datetime) -> list[str]:
        lapsed = list(
            await self._connection.scalars(
                select(verify_runs.c.run_id).where(verify_runs.c.state == RUNNING, verify_runs.c.lease_until < now)
            )
        )
        claimed = []
        for run_id in lapsed:  # one at a time: another process may claim the same run meanwhile
            taken = await self._connection.execute(
                update(verify_runs)
                .where(verify_runs.c.run_id == run_id, verify_runs.c.lease_until < now)
                .values(lease_until=lease_until)
            )
            if taken.rowcount == 1:
                claimed.append(run_id)
        return claimed

    async def finish(self, run_id: str, now: datetime) -> None:
        await self._connection.execute(
            update(verify_runs)
            .where(verify_runs.c.run_id == run_id)
            .values(state=DONE, updated_at=now, finished_at=now)
        )


WALK_COLUMNS = ("done", "sequence", "chain_head", "accounts", "contributions", "entries", "problems")


def _walk_row(walked: RunAlliance) -> dict[str, Any]:
    return {
        "alliance_id": walked.alliance_id,
        "done": walked.done,
        "sequence": walked.walked.sequence,
        "chain_head": walked.walked.chain_head,
        "accounts": marks_json(walked.walked.accounts),
        "contributions": walked.contributions,
        "entries": walked.entries,
        "problems": orjson.dumps(walked.problems).decode(),
    }


def _run_alliance(row: Any) -> RunAlliance:
    return RunAlliance(
        alliance_id=row.alliance_id,
        walked=Checkpoint(row.alliance_id, row.sequence, row.chain_head, marks_of(row.accounts)),
        contributions=row.contributions,
        entries=row.entries,
        problems=orjson.loads(row.problems),
        done=bool(row.done),
    )
