"""One error tree for the ledger; each error carries the code its command reply uses."""

from __future__ import annotations


class LedgerError(Exception):
    code = "ledger-error"


class UnknownAlliance(LedgerError):
    code = "unknown-alliance"

    def __init__(self, alliance_id: str) -> None:
        super().__init__(f"alliance {alliance_id} is not known (yet) to the ledger")


class NotAMember(LedgerError):
    code = "not-a-member"

    def __init__(self, member_id: str, alliance_id: str) -> None:
        super().__init__(f"{member_id} is not a member of alliance {alliance_id}")


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


class AlreadyReversed(LedgerError):
    code = "already-reversed"

    def __init__(self, contribution_id: str) -> None:
        super().__init__(f"contribution {contribution_id} has already been reversed")


class NotAllowed(LedgerError):
    code = "not-allowed"
