"""Partitioned events: the partition is a stable function of the key, and names the consumers that read it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from kehrwasser_shared.config import parse_partitions
from kehrwasser_shared.contracts import alliances, ledger, members
from kehrwasser_shared.contracts.registry import EventContract
from kehrwasser_shared.contracts.subjects import PARTITIONS, partition_of, partition_subject
from kehrwasser_shared.messaging.consumer import ConsumerSource, consumer_sources


def submission(alliance_id: str) -> ledger.RecordContribution:
    return ledger.RecordContribution(
        contribution_id="c1",
        alliance_id=alliance_id,
        giver_id="ada",
        receiver_id="grace",
        kind=ledger.ContributionKind.ADVICE,
        value=Decimal("1.50"),
    )


def test_the_partition_is_crc32_of_the_key_so_that_any_producer_computes_the_same() -> None:
    # Fixed values: a change of the function would move alliances between partitions under running consumers.
    assert [partition_of(key) for key in ("hamburg", "city-0", "7f1c0a52-9f5e-4a8e-b0a4-1d2a7c3e9b10")] == [3, 12, 13]
    assert PARTITIONS == 16


def test_a_submission_is_published_on_its_alliances_partition() -> None:
    stem = ledger.CONTRIBUTION_SUBMITTED.subject
    assert stem == "kehrwasser.evt.ledger.contribution-submitted.v1"
    assert ledger.CONTRIBUTION_SUBMITTED.subject_for(submission("hamburg")) == f"{stem}.3"
    assert ledger.CONTRIBUTION_SUBMITTED.subjects == [f"{stem}.{p}" for p in range(PARTITIONS)]


def test_an_unpartitioned_event_keeps_its_one_subject() -> None:
    assert members.MEMBER_REGISTERED.subjects == [members.MEMBER_REGISTERED.subject]


def test_a_partition_outside_the_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.\.15"):
        partition_subject("kehrwasser.evt.ledger.contribution-submitted.v1", PARTITIONS)


def test_a_partitioned_consumer_is_one_durable_per_partition_it_reads() -> None:
    stem = ledger.CONTRIBUTION_SUBMITTED.subject
    assert consumer_sources("ledger-intake", [ledger.CONTRIBUTION_SUBMITTED], [9, 2]) == [
        ConsumerSource("ledger-intake-02", [f"{stem}.2"]),
        ConsumerSource("ledger-intake-09", [f"{stem}.9"]),
    ]
    every = consumer_sources("ledger-intake", [ledger.CONTRIBUTION_SUBMITTED])
    assert [source.durable for source in every] == [f"ledger-intake-{p:02d}" for p in range(PARTITIONS)]


def test_an_unpartitioned_consumer_is_its_durable_with_every_subject() -> None:
    contracts: list[EventContract[Any]] = [alliances.MEMBER_JOINED, alliances.ALLIANCE_CREATED]
    assert consumer_sources("ledger-from-alliances", contracts) == [
        ConsumerSource("ledger-from-alliances", sorted(c.subject for c in contracts))
    ]


@pytest.mark.parametrize(
    ("contracts", "partitions", "message"),
    [
        ([members.MEMBER_REGISTERED], [1], "none of its events is partitioned"),
        ([members.MEMBER_REGISTERED, ledger.CONTRIBUTION_SUBMITTED], None, "consumers of their own"),
        ([ledger.CONTRIBUTION_SUBMITTED], [], "non-empty subset"),
        ([ledger.CONTRIBUTION_SUBMITTED], [16], "non-empty subset"),
    ],
)
def test_consumers_that_cannot_be_split_so_are_refused(
    contracts: list[Any], partitions: list[int] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        consumer_sources("mixed", contracts, partitions)


def test_partitions_are_named_as_ranges_and_lists() -> None:
    assert parse_partitions("all") is None
    assert parse_partitions(" ALL ") is None
    assert parse_partitions("0-3,8, 12-15") == [0, 1, 2, 3, 8, 12, 13, 14, 15]
    assert parse_partitions("5") == [5]
    assert parse_partitions("0,2,4,6,8,10,12,14") == list(range(0, 16, 2))


@pytest.mark.parametrize("spec", ["16", "0-16", "5-3", "eight", "", "1,,2"])
def test_partitions_that_do_not_exist_are_a_clear_error(spec: str) -> None:
    with pytest.raises(ValueError, match="partition"):
        parse_partitions(spec)
