"""SQLAlchemy Core implementations of the ledger repositories (few round trips per contribution)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Integer, Select, String, Table, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from kehrwasser_shared.persistence.bulk import Columns, as_arrays, insert_columns, one_of, rows_of, uses_arrays
from kehrwasser_shared.persistence.database import is_unique_violation

from ..domain.analytics import flows_of
from ..domain.model import ALLIANCE_ACCOUNT, GENESIS_HASH, Account, AllianceBooks, Contribution, Entry
from ..domain.policy import BalancePolicy, Light
from ..service_layer.unit_of_work import (
    AccountChanged,
    AccountRepository,
    AllianceBooksRepository,
    ConcurrentInsert,
    ContributionRepository,
)
from .tables import accounts, contributions, entries, flows, ledger_alliances, ledger_members

ACCOUNT_KEY = ("alliance_id", "owner_id")
IN_CENTS = frozenset({"value", "giver_balance", "receiver_balance", "amount", "balance_before", "balance_after"})
"""Fields of the domain's records that the tables keep as integer cents, in a column named ``<field>_cents``."""
Record = TypeVar("Record", Contribution, Entry)


def cents(value: Decimal) -> int:
    return int(value.scaleb(2))


def points(value: int) -> Decimal:
    """Integer cents as points with exactly two decimal places (``scaleb`` is one step where ``/ 100`` and
    ``quantize`` are two, and this runs for every amount the ledger reads)."""
    return Decimal(value).scaleb(-2)


class SqlAllianceBooks(AllianceBooksRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, alliance_id: str, policy: BalancePolicy) -> None:
        with unique_keys_refused():
            await self._connection.execute(
                insert(ledger_alliances).values(
                    alliance_id=alliance_id, chain_length=0, chain_head=GENESIS_HASH, **_policy_row(policy)
                )
            )

    async def set_policy(self, alliance_id: str, policy: BalancePolicy) -> None:
        await self._connection.execute(
            update(ledger_alliances).where(ledger_alliances.c.alliance_id == alliance_id).values(**_policy_row(policy))
        )

    async def with_inactivity_window(self) -> list[str]:
        return list(
            await self._connection.scalars(
                select(ledger_alliances.c.alliance_id)
                .where(ledger_alliances.c.inactivity_days.is_not(None))
                .order_by(ledger_alliances.c.alliance_id)
            )
        )

    async def read(self, alliance_id: str) -> AllianceBooks | None:
        query = select(ledger_alliances).where(ledger_alliances.c.alliance_id == alliance_id)
        row = (await self._connection.execute(query)).first()
        if row is None:
            return None
        moderators = await self._connection.scalars(
            select(ledger_members.c.member_id).where(
                ledger_members.c.alliance_id == alliance_id, ledger_members.c.role == "moderator"
            )
        )
        return AllianceBooks(
            alliance_id=alliance_id,
            policy=_policy(row),
            moderators=frozenset(moderators),
            chain_length=row.chain_length,
            chain_head=row.chain_head,
            archived=bool(row.archived),
            departures=row.departures,
        )

    async def read_many(self, alliance_ids: list[str]) -> dict[str, AllianceBooks]:
        return await self._books(select(ledger_alliances), alliance_ids)

    async def lock_many(self, alliance_ids: list[str]) -> dict[str, AllianceBooks]:
        return await self._books(
            select(ledger_alliances).order_by(ledger_alliances.c.alliance_id).with_for_update(), alliance_ids
        )

    async def _books(self, query: Select[Any], alliance_ids: list[str]) -> dict[str, AllianceBooks]:
        query = query.where(one_of(self._connection, ledger_alliances.c.alliance_id, alliance_ids))
        rows = (await self._connection.execute(query)).all()
        moderators: dict[str, set[str]] = {row.alliance_id: set() for row in rows}
        for alliance_id, member_id in await self._connection.execute(
            select(ledger_members.c.alliance_id, ledger_members.c.member_id).where(
                one_of(self._connection, ledger_members.c.alliance_id, alliance_ids),
                ledger_members.c.role == "moderator",
            )
        ):
            moderators[alliance_id].add(member_id)
        return {
            row.alliance_id: AllianceBooks(
                alliance_id=row.alliance_id,
                policy=_policy(row),
                moderators=frozenset(moderators[row.alliance_id]),
                chain_length=row.chain_length,
                chain_head=row.chain_head,
                archived=bool(row.archived),
                departures=row.departures,
            )
            for row in rows
        }

    async def memberships(self, pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
        rows = await self._connection.execute(
            _pairs_among(self._connection, ledger_members, ledger_members.c.member_id, pairs).with_only_columns(
                ledger_members.c.alliance_id, ledger_members.c.member_id
            )
        )
        return {(a, m) for a, m in rows} & pairs

    async def add_member(self, alliance_id: str, member_id: str, role: str) -> None:
        with unique_keys_refused():
            await self._connection.execute(
                insert(ledger_members).values(alliance_id=alliance_id, member_id=member_id, role=role)
            )

    async def members_among(self, alliance_id: str, candidates: list[str]) -> set[str]:
        found = await self._connection.scalars(
            select(ledger_members.c.member_id).where(
                ledger_members.c.alliance_id == alliance_id, ledger_members.c.member_id.in_(candidates)
            )
        )
        return set(found)

    async def end_membership(self, alliance_id: str, member_id: str) -> None:
        await self._connection.execute(
            delete(ledger_members).where(
                ledger_members.c.alliance_id == alliance_id, ledger_members.c.member_id == member_id
            )
        )
        await self._connection.execute(
            update(ledger_alliances)
            .where(ledger_alliances.c.alliance_id == alliance_id)
            .values(departures=ledger_alliances.c.departures + 1)
        )

    async def set_role(self, alliance_id: str, member_id: str, role: str) -> None:
        await self._connection.execute(
            update(ledger_members)
            .where(ledger_members.c.alliance_id == alliance_id, ledger_members.c.member_id == member_id)
            .values(role=role)
        )

    async def archive(self, alliance_id: str) -> None:
        await self._connection.execute(
            update(ledger_alliances).where(ledger_alliances.c.alliance_id == alliance_id).values(archived=True)
        )

    async def advance_chains(self, heads: dict[str, tuple[int, str]]) -> None:
        columns: Columns = {
            "alliance_id": list(heads),
            "chain_length": [length for length, _ in heads.values()],
            "chain_head": [head for _, head in heads.values()],
        }
        if uses_arrays(self._connection):
            source = as_arrays(ledger_alliances, columns)
            await self._connection.execute(
                update(ledger_alliances)
                .where(ledger_alliances.c.alliance_id == source.c.alliance_id)
                .values(chain_length=source.c.chain_length, chain_head=source.c.chain_head)
            )
            return
        await self._connection.execute(
            update(ledger_alliances)
            .where(ledger_alliances.c.alliance_id == bindparam("b_alliance_id"))
            .values(chain_length=bindparam("b_chain_length"), chain_head=bindparam("b_chain_head")),
            rows_of({f"b_{name}": values for name, values in columns.items()}),
        )

    async def all_ids(self) -> list[str]:
        return list(await self._connection.scalars(select(ledger_alliances.c.alliance_id).order_by("alliance_id")))


class SqlAccounts(AccountRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get_many(self, alliance_id: str, owner_ids: list[str]) -> dict[str, Account]:
        rows = await self._connection.execute(
            select(accounts).where(accounts.c.alliance_id == alliance_id, accounts.c.owner_id.in_(owner_ids))
        )
        return {row.owner_id: account_of(row) for row in rows}

    async def get_pairs(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Account]:
        rows = await self._connection.execute(_pairs_among(self._connection, accounts, accounts.c.owner_id, pairs))
        return {key: account_of(row) for row in rows if (key := (row.alliance_id, row.owner_id)) in pairs}

    async def save(self, changed: list[Account], *, new: bool = False) -> None:
        if not changed:
            return
        if new:
            with unique_keys_refused():
                await insert_columns(self._connection, accounts, _account_columns(changed))
            return
        await self._update(changed, None)

    async def update(self, changes: list[tuple[Account, Account]]) -> None:
        await self._update([account for account, _ in changes], [loaded for _, loaded in changes])

    async def _update(self, changed: list[Account], loaded: list[Account] | None) -> None:
        if not changed:
            return
        # The version and light predicates turn an account changed by another writer since it was read (a
        # forgotten lock, or the intake's known books gone stale) into a loud failure instead of a lost update.
        columns = _account_columns(changed)
        if loaded is not None:
            columns["loaded_version"] = [account.version for account in loaded]
            columns["loaded_light"] = [account.light.value for account in loaded]
        changed_columns = [name for name in columns if name not in ACCOUNT_KEY and not name.startswith("loaded_")]
        # PostgreSQL joins the batch as arrays in one statement; SQLite runs it once per row with bound values.
        arrays = uses_arrays(self._connection)
        source = (
            as_arrays(accounts, columns, {"loaded_version": Integer(), "loaded_light": String()}) if arrays else None
        )

        def value(name: str) -> Any:
            return source.c[name] if source is not None else bindparam(f"b_{name}")

        statement = update(accounts).where(*(accounts.c[k] == value(k) for k in ACCOUNT_KEY))
        if loaded is not None:
            statement = statement.where(
                accounts.c.version == value("loaded_version"), accounts.c.light == value("loaded_light")
            )
        statement = statement.values({n: value(n) for n in changed_columns})
        if arrays:
            result = await self._connection.execute(statement)
        else:
            result = await self._connection.execute(
                statement, rows_of({f"b_{name}": values for name, values in columns.items()})
            )
        rowcount_is_sane = arrays or self._connection.dialect.supports_sane_multi_rowcount
        if rowcount_is_sane and result.rowcount != len(changed):
            raise AccountChanged("an account changed while it was being booked")

    async def all_of(self, alliance_id: str) -> list[Account]:
        rows = await self._connection.execute(select(accounts).where(accounts.c.alliance_id == alliance_id))
        return [account_of(row) for row in rows]

    async def all_of_many(self, alliance_ids: Collection[str]) -> dict[str, list[Account]]:
        found: dict[str, list[Account]] = {alliance_id: [] for alliance_id in alliance_ids}
        rows = await self._connection.execute(
            select(accounts).where(one_of(self._connection, accounts.c.alliance_id, found))
        )
        for row in rows:
            found[row.alliance_id].append(account_of(row))
        return found

    async def turning_inactive(self, now: datetime, limit: int) -> list[Account]:
        # One statement per window in use (a handful): for each alliance with that window, a range of
        # ix_accounts_activity (alliance, green, last activity) up to the horizon.
        windows = await self._connection.scalars(
            select(ledger_alliances.c.inactivity_days).where(ledger_alliances.c.inactivity_days.is_not(None)).distinct()
        )
        activity = func.coalesce(accounts.c.last_given_at, accounts.c.opened_at)
        found: list[Account] = []
        for days in sorted(windows):
            rows = await self._connection.execute(
                select(accounts)
                .join(ledger_alliances, ledger_alliances.c.alliance_id == accounts.c.alliance_id)
                .where(
                    ledger_alliances.c.inactivity_days == days,
                    accounts.c.light == Light.GREEN.value,
                    activity <= now - timedelta(days=days),
                    accounts.c.owner_id != ALLIANCE_ACCOUNT,
                )
                .limit(limit - len(found))
            )
            found += [account_of(row) for row in rows]
            if len(found) >= limit:
                break
        return found


class SqlContributions(ContributionRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def get(self, contribution_id: str) -> Contribution | None:
        row = (
            await self._connection.execute(
                select(contributions).where(contributions.c.contribution_id == contribution_id)
            )
        ).first()
        return record_of(Contribution, row) if row else None

    async def get_many(self, contribution_ids: list[str]) -> dict[str, Contribution]:
        rows = await self._connection.execute(
            select(contributions).where(one_of(self._connection, contributions.c.contribution_id, contribution_ids))
        )
        return {row.contribution_id: record_of(Contribution, row) for row in rows}

    async def add(self, new: list[Contribution], new_entries: list[Entry]) -> None:
        with unique_keys_refused():
            await insert_columns(self._connection, contributions, columns_of(Contribution, new))
            await insert_columns(self._connection, entries, columns_of(Entry, new_entries))
        await add_to_flows(self._connection, new)

    async def reversal_of(self, contribution_id: str) -> str | None:
        return await self._connection.scalar(
            select(contributions.c.contribution_id).where(contributions.c.reverses == contribution_id)
        )

    async def of_alliance(self, alliance_id: str) -> list[Contribution]:
        rows = await self._connection.execute(
            select(contributions).where(contributions.c.alliance_id == alliance_id).order_by(contributions.c.sequence)
        )
        return [record_of(Contribution, row) for row in rows]

    async def entries_of(self, alliance_id: str) -> list[Entry]:
        rows = await self._connection.execute(
            select(entries).where(entries.c.alliance_id == alliance_id).order_by(entries.c.owner_id, entries.c.version)
        )
        return [record_of(Entry, row) for row in rows]

    async def chain_slice(self, alliance_id: str, after_sequence: int, limit: int | None) -> list[Contribution]:
        return await chain_slice(self._connection, alliance_id, after_sequence, limit)

    async def entries_for(self, alliance_id: str, first_sequence: int, last_sequence: int) -> list[Entry]:
        return await entries_for(self._connection, alliance_id, first_sequence, last_sequence)

    async def entries_past(self, alliance_id: str, versions: dict[str, int]) -> list[Entry]:
        found: list[Entry] = []
        owners = sorted(versions)
        for start in range(0, len(owners), 200):  # a range of the primary key per owner, OR-ed in bounded lists
            part = owners[start : start + 200]
            rows = await self._connection.execute(
                select(entries).where(
                    entries.c.alliance_id == alliance_id,
                    or_(*(and_(entries.c.owner_id == o, entries.c.version > versions[o]) for o in part)),
                )
            )
            found += [record_of(Entry, row) for row in rows]
        return found

    async def chain_tails(self, after: Mapping[str, int]) -> dict[str, list[Contribution]]:
        return await chain_tails(self._connection, after)

    async def entries_posted_for(self, chain: Sequence[Contribution]) -> dict[str, list[Entry]]:
        return await entries_posted_for(self._connection, chain)

    async def entries_past_many(self, versions: Mapping[str, Mapping[str, int]]) -> dict[str, list[Entry]]:
        keys = [(alliance_id, owner, version) for alliance_id, of in versions.items() for owner, version in of.items()]
        found: dict[str, list[Entry]] = {alliance_id: [] for alliance_id in versions}
        for row in await _rows_after(self._connection, entries, ("alliance_id", "owner_id"), "version", keys):
            found[row.alliance_id].append(record_of(Entry, row))
        return found


async def chain_tails(connection: AsyncConnection, after: Mapping[str, int]) -> dict[str, list[Contribution]]:
    """Every contribution of each alliance after its sequence, in chain order: a range of the chain's unique key
    per alliance, all in one statement."""
    found: dict[str, list[Contribution]] = {alliance_id: [] for alliance_id in after}
    keys = list(after.items())
    for row in await _rows_after(connection, contributions, ("alliance_id",), "sequence", keys):
        found[row.alliance_id].append(record_of(Contribution, row))
    for chain in found.values():
        chain.sort(key=lambda c: c.sequence)
    return found


async def entries_posted_for(connection: AsyncConnection, chain: Sequence[Contribution]) -> dict[str, list[Entry]]:
    """The entries each alliance posted for these of its contributions (as `entries_for` reads a range of one
    alliance's chain), found through ix_entries_contribution."""
    alliance_of = {c.contribution_id: c.alliance_id for c in chain}
    found: dict[str, list[Entry]] = defaultdict(list)
    ids = list(alliance_of)
    for start in range(0, len(ids), 5000):  # bounded lists for SQLite's parameters; one array on PostgreSQL
        rows = await connection.execute(
            select(entries).where(one_of(connection, entries.c.contribution_id, ids[start : start + 5000]))
        )
        for row in rows:
            if alliance_of[row.contribution_id] == row.alliance_id:
                found[row.alliance_id].append(record_of(Entry, row))
    return dict(found)


async def _rows_after(
    connection: AsyncConnection, table: Table, equal: Sequence[str], after: str, keys: Sequence[tuple[Any, ...]]
) -> list[Any]:
    """The rows whose ``equal`` columns hold a key's first values and whose ``after`` column exceeds its last:
    one index range per key. On PostgreSQL in one statement, the keys joined as arrays (planned as a nested loop
    over the index); elsewhere OR-ed in bounded lists."""
    names = [*equal, after]
    if not keys:
        return []
    if uses_arrays(connection):
        source = as_arrays(table, {name: [key[n] for key in keys] for n, name in enumerate(names)})
        matching = and_(*(table.c[name] == source.c[name] for name in equal), table.c[after] > source.c[after])
        return list((await connection.execute(select(table).join(source, matching))).all())
    rows: list[Any] = []
    for start in range(0, len(keys), 200):
        ranges = [
            and_(*(table.c[name] == key[n] for n, name in enumerate(equal)), table.c[after] > key[-1])
            for key in keys[start : start + 200]
        ]
        rows += (await connection.execute(select(table).where(or_(*ranges)))).all()
    return rows


async def chain_slice(
    connection: AsyncConnection, alliance_id: str, after_sequence: int, limit: int | None
) -> list[Contribution]:
    """A range of the chain's unique key (alliance, sequence)."""
    query = (
        select(contributions)
        .where(contributions.c.alliance_id == alliance_id, contributions.c.sequence > after_sequence)
        .order_by(contributions.c.sequence)
    )
    if limit is not None:
        query = query.limit(limit)
    return [record_of(Contribution, row) for row in await connection.execute(query)]


async def entries_for(connection: AsyncConnection, alliance_id: str, first: int, last: int) -> list[Entry]:
    """The entries of a range of the chain, found through ix_entries_contribution."""
    rows = await connection.execute(
        select(entries)
        .join(contributions, contributions.c.contribution_id == entries.c.contribution_id)
        .where(
            contributions.c.alliance_id == alliance_id,
            contributions.c.sequence >= first,
            contributions.c.sequence <= last,
            entries.c.alliance_id == alliance_id,
        )
    )
    return [record_of(Entry, row) for row in rows]


FLOW_KEY = ("alliance_id", "giver_id", "receiver_id", "kind")


async def add_to_flows(connection: AsyncConnection, booked: Sequence[Contribution]) -> None:
    """Add a batch's contributions to the maintained flows: one upsert per batch, one row per flow it changes.

    The batch's alliances are held by the booking, so no other writer changes these rows meanwhile; the rows
    are written in key order all the same.
    """
    deltas = flows_of(booked)
    if not deltas:
        return
    columns: Columns = {
        "alliance_id": [f.alliance_id for f in deltas],
        "giver_id": [f.giver_id for f in deltas],
        "receiver_id": [f.receiver_id for f in deltas],
        "kind": [f.kind for f in deltas],
        "value_cents": [cents(f.value) for f in deltas],
        "contributions": [f.contributions for f in deltas],
    }
    if uses_arrays(connection):
        source = as_arrays(flows, columns)
        upsert = postgresql.insert(flows).from_select(list(columns), select(*source.c))
        await connection.execute(
            upsert.on_conflict_do_update(
                index_elements=list(FLOW_KEY),
                set_={
                    "value_cents": flows.c.value_cents + upsert.excluded.value_cents,
                    "contributions": flows.c.contributions + upsert.excluded.contributions,
                },
            )
        )
        return
    plain = sqlite.insert(flows)
    await connection.execute(
        plain.on_conflict_do_update(
            index_elements=list(FLOW_KEY),
            set_={
                "value_cents": flows.c.value_cents + plain.excluded.value_cents,
                "contributions": flows.c.contributions + plain.excluded.contributions,
            },
        ),
        rows_of(columns),
    )


@contextmanager
def unique_keys_refused() -> Iterator[None]:
    """Turn a write refused at a primary or unique key into the port's `ConcurrentInsert`."""
    try:
        yield
    except Exception as error:
        if is_unique_violation(error):
            raise ConcurrentInsert(str(error)) from error
        raise


def columns_of(kind: type[Record], records: Sequence[Record]) -> Columns:
    """A batch of records by column, as their table keeps them (see `IN_CENTS`)."""
    return {
        f"{name}_cents" if name in IN_CENTS else name: [cents(v) for v in values] if name in IN_CENTS else values
        for name, values in zip(kind._fields, zip(*records, strict=True), strict=False)  # no records: no columns
    }


def record_of(kind: type[Record], row: Any) -> Record:
    """The record a row of its table keeps (see `IN_CENTS`)."""
    fields = row._mapping
    return kind._make(points(fields[f"{name}_cents"]) if name in IN_CENTS else fields[name] for name in kind._fields)


def account_of(row: Any) -> Account:
    return Account(
        alliance_id=row.alliance_id,
        owner_id=row.owner_id,
        balance=points(row.balance_cents),
        given=points(row.given_cents),
        received=points(row.received_cents),
        version=row.version,
        light=Light(row.light),
        opened_at=row.opened_at,
        last_given_at=row.last_given_at,
    )


def _account_columns(batch: list[Account]) -> Columns:
    return {
        "alliance_id": [a.alliance_id for a in batch],
        "owner_id": [a.owner_id for a in batch],
        "balance_cents": [cents(a.balance) for a in batch],
        "given_cents": [cents(a.given) for a in batch],
        "received_cents": [cents(a.received) for a in batch],
        "version": [a.version for a in batch],
        "light": [a.light.value for a in batch],
        "opened_at": [a.opened_at for a in batch],
        "last_given_at": [a.last_given_at for a in batch],
    }


def _pairs_among(connection: AsyncConnection, table: Table, owner: Any, pairs: set[tuple[str, str]]) -> Select[Any]:
    """The rows of ``table`` keyed by (alliance, owner) for these pairs.

    PostgreSQL joins the pairs as an ``unnest`` of two arrays, reading exactly the rows asked for. SQLite
    cannot bind row values, so it reads the cross product of two IN lists; the caller drops the strangers.
    """
    query = select(table)
    if uses_arrays(connection):
        listed = list(pairs)
        source = as_arrays(table, {"alliance_id": [a for a, _ in listed], owner.key: [o for _, o in listed]})
        return query.join(source, (table.c.alliance_id == source.c.alliance_id) & (owner == source.c[owner.key]))
    return query.where(
        one_of(connection, table.c.alliance_id, {a for a, _ in pairs}), one_of(connection, owner, {o for _, o in pairs})
    )


def _policy(row: Any) -> BalancePolicy:
    return BalancePolicy(
        red_below=points(row.warning_threshold_cents),
        yellow_below=_optional_points(row.yellow_below_cents),
        floor=_optional_points(row.floor_cents),
        inactivity_window=timedelta(days=row.inactivity_days) if row.inactivity_days is not None else None,
        hysteresis=points(row.hysteresis_cents),
        probation_limit=_optional_points(row.probation_limit_cents),
        requires_confirmation=bool(row.requires_confirmation),
        pending_expiry=timedelta(hours=row.pending_expiry_hours),
        book_attendance=bool(row.book_attendance),
        attendance_points=points(row.attendance_points_cents),
    )


def _policy_row(policy: BalancePolicy) -> dict[str, Any]:
    window = policy.inactivity_window
    return {
        "warning_threshold_cents": cents(policy.red_below),
        "yellow_below_cents": _optional_cents(policy.yellow_below),
        "floor_cents": _optional_cents(policy.floor),
        "inactivity_days": window.days if window is not None else None,
        "hysteresis_cents": cents(policy.hysteresis),
        "probation_limit_cents": _optional_cents(policy.probation_limit),
        "requires_confirmation": policy.requires_confirmation,
        "pending_expiry_hours": int(policy.pending_expiry.total_seconds() // 3600),
        "book_attendance": policy.book_attendance,
        "attendance_points_cents": cents(policy.attendance_points),
    }


def _optional_points(value: int | None) -> Decimal | None:
    return None if value is None else points(value)


def _optional_cents(value: Decimal | None) -> int | None:
    return None if value is None else cents(value)
