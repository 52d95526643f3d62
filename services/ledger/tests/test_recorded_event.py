"""The intake writes ``contribution-recorded`` data itself; it must be exactly what the contract's model writes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from kehrwasser_ledger.adapters.repository import points
from kehrwasser_ledger.domain.model import GENESIS_HASH, Contribution
from kehrwasser_ledger.service_layer.handlers import recorded_data
from kehrwasser_shared.contracts import ledger as contracts
from kehrwasser_shared.contracts.common import IDENTIFIER, MULTI_LINE

cents = st.integers(min_value=-(10**15), max_value=10**15)
text = st.from_regex(IDENTIFIER, fullmatch=True).filter(lambda t: len(t) <= 64)


@given(
    ids=st.tuples(text, text, text, text),
    kind=st.sampled_from([k.value for k in contracts.ContributionKind]),
    value=st.integers(min_value=1, max_value=10**8),
    balances=st.tuples(cents, cents),
    note=st.from_regex(MULTI_LINE, fullmatch=True).filter(lambda t: len(t) <= 2000),
    recorded_at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)),
    reverses=st.none() | text,
)
def test_recorded_data_is_what_the_contract_model_writes(
    ids: tuple[str, str, str, str],
    kind: str,
    value: int,
    balances: tuple[int, int],
    note: str,
    recorded_at: datetime,
    reverses: str | None,
) -> None:
    contribution_id, alliance_id, giver_id, receiver_id = ids
    # Amounts as the ledger holds them: read from integer cents, or the results of its own arithmetic.
    giver_balance, receiver_balance = points(balances[0]), points(balances[1]) + Decimal("0.00")
    contribution = Contribution(
        contribution_id,
        alliance_id,
        giver_id,
        receiver_id,
        kind,
        points(value),
        note,
        recorded_at,
        1,
        GENESIS_HASH,
        "1" * 64,
        giver_balance,
        receiver_balance,
        reverses,
    )
    model = contracts.ContributionRecordedV1(
        contribution_id=contribution_id,
        alliance_id=alliance_id,
        giver_id=giver_id,
        receiver_id=receiver_id,
        kind=contracts.ContributionKind(kind),
        value=contribution.value,
        note=note,
        recorded_at=recorded_at,
        giver_balance=giver_balance,
        receiver_balance=receiver_balance,
        reverses=reverses,
    )
    assert recorded_data(contribution).json == model.model_dump_json().encode()
