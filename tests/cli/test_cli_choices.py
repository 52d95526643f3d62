"""The CLI lists its choices itself (importing the contracts would slow every start); they are the contracts'."""

from __future__ import annotations

import importlib.util
from typing import get_args

from kehrwasser_cli import values
from kehrwasser_shared.contracts import alliances, ledger, members, notify


def test_the_clis_choices_are_the_contracts() -> None:
    assert get_args(values.ContributionKind) == tuple(kind.value for kind in ledger.ContributionKind)
    assert get_args(values.StatementOrder) == tuple(order.value for order in ledger.StatementOrder)
    assert get_args(values.Language) == get_args(members.RegisterMember.model_fields["language"].annotation)
    assert get_args(values.PolicyLimit) == get_args(ledger.PolicyLimit)
    assert get_args(values.ResourceKind) == get_args(alliances.ResourceKind)
    assert get_args(values.DeliveryState) == get_args(notify.LogStatus)
    assert all(importlib.util.find_spec(f"kehrwasser_{service}") for service in get_args(values.Service))
