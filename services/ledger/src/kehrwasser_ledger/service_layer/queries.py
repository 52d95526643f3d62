"""Read-side use cases: statements, balances as of a past time, the flow matrix and the alliance's health."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from kehrwasser_shared.contracts import ledger as contracts

from ..domain import analytics
from ..domain.errors import UnknownAlliance, UnknownMember
from .read_model import LedgerReadModel, StatementLine
from .unit_of_work import LedgerUnitOfWork

Clock = Callable[[], datetime]
HEALTH_EVENT_NAMESPACE = uuid.UUID("5d0f4a4e-2a57-4c55-9a57-6b6f0d6c1e1a")


async def balance(query: contracts.QueryBalance, read: LedgerReadModel) -> contracts.BalanceView:
    """A member's maintained balance: one primary-key read, however many entries the books hold."""
    async with read:
        found = await read.current_balance(query.alliance_id, query.member_id)
    if found is None:
        raise UnknownAlliance(query.alliance_id)
    red_below, account = found
    if account is None:
        raise UnknownMember(query.member_id, query.alliance_id)
    return contracts.BalanceView(
        alliance_id=query.alliance_id,
        member_id=query.member_id,
        balance=account.balance,
        given=account.given,
        received=account.received,
        threshold=red_below,
        below_threshold=account.balance < red_below,
        light=contracts.TrafficLight(account.light.value),
    )


async def statement(query: contracts.QueryStatement, read: LedgerReadModel) -> contracts.MemberStatement:
    newest_first = query.order == contracts.StatementOrder.NEWEST_FIRST
    async with read:
        await _known_member(read, query.alliance_id, query.member_id)
        # One entry more than asked for tells whether another page follows.
        lines = await read.statement_lines(
            query.alliance_id,
            query.member_id,
            after_version=query.after_version,
            limit=query.limit + 1,
            newest_first=newest_first,
        )
    page = lines[: query.limit]
    return contracts.MemberStatement(
        alliance_id=query.alliance_id,
        member_id=query.member_id,
        order=query.order,
        items=[_statement_line(query.member_id, line) for line in page],
        next_after_version=page[-1].version if len(lines) > query.limit else None,
    )


async def balance_at(query: contracts.QueryBalanceAt, read: LedgerReadModel) -> contracts.BalanceAtView:
    moment = query.at if query.at.tzinfo else query.at.replace(tzinfo=UTC)
    async with read:
        await _known_member(read, query.alliance_id, query.member_id)
        mark = await read.balance_mark_at(query.alliance_id, query.member_id, moment)
    return contracts.BalanceAtView(
        alliance_id=query.alliance_id,
        member_id=query.member_id,
        at=moment,
        balance=mark.balance if mark else analytics.ZERO,
        version=mark.version if mark else 0,
        contribution_id=mark.contribution_id if mark else None,
        recorded_at=mark.recorded_at if mark else None,
    )


class RecentMatrices:
    """Flow-matrix replies kept with the alliance's chain length they were built at, the most recently used
    first, up to ``max_cells`` cells in all.

    The flows change only when contributions are booked, and every booked contribution lengthens its alliance's
    chain in the same transaction (`booking`): a reply built after reading chain length n holds the flows of n
    or later, so it answers every request that reads length n; a booking makes the next request read n + 1.
    """

    def __init__(self, max_cells: int = 200_000) -> None:
        self._max_cells = max_cells
        self._cells = 0
        self._held: OrderedDict[tuple[str, str | None], tuple[int, contracts.FlowMatrixView]] = OrderedDict()

    def get(self, alliance_id: str, kind: str | None, version: int) -> contracts.FlowMatrixView | None:
        key = (alliance_id, kind)
        held = self._held.get(key)
        if held is None or held[0] != version:
            return None
        self._held.move_to_end(key, last=False)
        return held[1]

    def put(self, alliance_id: str, kind: str | None, version: int, reply: contracts.FlowMatrixView) -> None:
        key = (alliance_id, kind)
        if (replaced := self._held.pop(key, None)) is not None:
            self._cells -= len(replaced[1].cells)
        if len(reply.cells) > self._max_cells:
            return
        self._held[key] = (version, reply)
        self._held.move_to_end(key, last=False)
        self._cells += len(reply.cells)
        while self._cells > self._max_cells:
            _, (_, dropped) = self._held.popitem()
            self._cells -= len(dropped.cells)


async def flow_matrix(
    query: contracts.QueryFlowMatrix, read: LedgerReadModel, recent: RecentMatrices | None = None
) -> contracts.FlowMatrixView:
    """The matrix from the maintained flows; with ``recent``, the reply built at the same chain length, if any."""
    kind = query.kind.value if query.kind else None
    async with read:
        version = await read.chain_length(query.alliance_id)
        if version is None:
            raise UnknownAlliance(query.alliance_id)
        if recent is not None and (held := recent.get(query.alliance_id, kind, version)) is not None:
            return held
        flows = await read.flows(query.alliance_id, kind)
    reply = _matrix_view(query, analytics.flow_matrix(flows))
    if recent is not None:
        recent.put(query.alliance_id, kind, version, reply)
    return reply


def _matrix_view(query: contracts.QueryFlowMatrix, matrix: analytics.FlowMatrix) -> contracts.FlowMatrixView:
    # The reply validated once, from plain dicts, in pydantic's core: a model built per cell (thousands of them
    # in a large alliance) cost most of the request.
    return contracts.FlowMatrixView.model_validate(
        {
            "alliance_id": query.alliance_id,
            "kind": query.kind,
            "cells": [
                {
                    "giver_id": f.giver_id,
                    "receiver_id": f.receiver_id,
                    "kind": f.kind,
                    "value": f.value,
                    "contributions": f.contributions,
                }
                for f in matrix.flows
            ],
            "given": matrix.given,
            "received": matrix.received,
            "total": matrix.total,
            "one_way": [
                {
                    "member_id": o.member_id,
                    "received": o.received,
                    "given": o.given,
                    "referrals_received": o.referrals_received,
                    "sources": o.sources,
                }
                for o in analytics.one_way_flows(matrix)
            ],
            "one_way_floor": analytics.ONE_WAY_FLOOR,
        }
    )


async def alliance_health(
    query: contracts.QueryAllianceHealth, read: LedgerReadModel, clock: Clock
) -> contracts.AllianceHealthView:
    async with read:
        health = await _health(read, query.alliance_id)
    return contracts.AllianceHealthView(alliance_id=query.alliance_id, **_health_fields(health), computed_at=clock())


async def publish_alliance_health(
    alliance_id: str,
    period_start: datetime,
    period: timedelta,
    read: LedgerReadModel,
    uow: LedgerUnitOfWork,
    clock: Clock,
) -> None:
    """Emit the alliance's health for the period, under an id derived from alliance and period: the outbox
    refuses a second one, so restarts and several ledger instances publish it once."""
    async with read:
        health = await _health(read, alliance_id)
    event = contracts.AllianceHealthV1(
        alliance_id=alliance_id,
        period_start=period_start,
        period_seconds=int(period.total_seconds()),
        **_health_fields(health),
        computed_at=clock(),
    )
    async with uow:
        uow.emit(contracts.ALLIANCE_HEALTH_PUBLISHED, event, event_id=health_event_id(alliance_id, period_start))
        await uow.commit()


def health_event_id(alliance_id: str, period_start: datetime) -> str:
    return str(uuid.uuid5(HEALTH_EVENT_NAMESPACE, f"alliance-health|{alliance_id}|{period_start.isoformat()}"))


async def _health(read: LedgerReadModel, alliance_id: str) -> analytics.AllianceHealth:
    await _known(read, alliance_id)
    members = await read.members(alliance_id)
    given, received = await read.member_totals(alliance_id)
    return analytics.alliance_health(members, given, received)


def _health_fields(health: analytics.AllianceHealth) -> dict[str, Any]:
    return {
        "members": health.members,
        "active_givers": health.active_givers,
        "total_given": health.total_given,
        "gini": health.gini,
        "one_way_count": len(health.one_way),
        "one_way_members": list(health.one_way),
        "one_way_floor": analytics.ONE_WAY_FLOOR,
    }


async def _known(read: LedgerReadModel, alliance_id: str) -> None:
    if not await read.alliance_known(alliance_id):
        raise UnknownAlliance(alliance_id)


async def _known_member(read: LedgerReadModel, alliance_id: str, member_id: str) -> None:
    await _known(read, alliance_id)
    if not await read.member_known(alliance_id, member_id):
        raise UnknownMember(member_id, alliance_id)


def _statement_line(member_id: str, line: StatementLine) -> contracts.StatementLine:
    gave = line.giver_id == member_id
    return contracts.StatementLine(
        version=line.version,
        contribution_id=line.contribution_id,
        recorded_at=line.recorded_at,
        role="giver" if gave else "receiver",
        counterparty_id=line.receiver_id if gave else line.giver_id,
        kind=contracts.ContributionKind(line.kind),
        amount=line.amount,
        balance_before=line.balance_before,
        balance_after=line.balance_after,
        note=line.note,
        reverses=line.reverses,
    )
