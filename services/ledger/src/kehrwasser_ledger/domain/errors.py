"""One error tree for the ledger; each error carries the code its command reply uses."""

from __future__ import annotations


class LedgerError(Exception):
    code = "ledger-error"
    # The ledger learns of alliances and members from events; such an error may resolve itself shortly.
    eventually_consistent = False


class UnknownAlliance(LedgerError):
    code = "unknown-alliance"
    eventually_consistent = True

    def __init__(self, alliance_id: str) -> None:
        super().__init__(f"alliance {alliance_id} is not known (yet) to the ledger")


class NotAMember(LedgerError):
    code = "not-a-member"
    eventually_consistent = True

    def __init__(self, member_id: str, alliance_id: str) -> None:
        super().__init__(f"{member_id} is not a member of alliance {alliance_id}")


class AllianceArchived(LedgerError):
    code = "alliance-archived"

    def __init__(self, alliance_id: str) -> None:
        super().__init__(f"alliance {alliance_id} is archived: it takes no contributions")


class UnknownMember(LedgerError):
    """Asked about someone the alliance does not know: a typo must not look like a member with no entries."""

    code = "unknown-member"

    def __init__(self, member_id: str, alliance_id: str) -> None:
        super().__init__(f"{member_id} is not known as a member of alliance {alliance_id}")


class InvalidContribution(LedgerError):
    code = "invalid-contribution"


class ContributionConflict(LedgerError):
    """The id was used before with other fields: never absorbed, always rejected (TigerBeetle semantics)."""

    code = "conflict"

    def __init__(self, contribution_id: str, differences: list[str]) -> None:
        super().__init__(f"contribution {contribution_id} exists with different fields: {', '.join(differences)}")


class UnknownContribution(LedgerError):
    code = "unknown-contribution"

    def __init__(self, contribution_id: str) -> None:
        super().__init__(f"no contribution with id {contribution_id}")


class UnknownVerifyRun(LedgerError):
    code = "unknown-verify-run"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no verification run with id {run_id}")


class AlreadyReversed(LedgerError):
    code = "already-reversed"

    def __init__(self, contribution_id: str) -> None:
        super().__init__(f"contribution {contribution_id} has already been reversed")


class NotAllowed(LedgerError):
    code = "not-allowed"


class InvalidPolicy(LedgerError):
    code = "invalid-policy"


class TakingRefused(LedgerError):
    """The alliance's policy refuses the receiver more: they have to give before they take again."""


class BelowFloor(TakingRefused):
    code = "below-floor"

    def __init__(self, balance_after: object, floor: object) -> None:
        super().__init__(f"the receiver's balance would fall to {balance_after}, below the alliance's floor of {floor}")


class ProbationLimitReached(TakingRefused):
    code = "probation-limit"

    def __init__(self, received_after: object, limit: object) -> None:
        super().__init__(
            f"a newcomer who has not given yet may receive at most {limit} points (this would make {received_after})"
        )


class NotPending(LedgerError):
    code = "not-pending"

    def __init__(self, contribution_id: str, status: str) -> None:
        super().__init__(f"contribution {contribution_id} is {status}, not pending")
