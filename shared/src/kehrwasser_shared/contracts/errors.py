"""Every error code a command can answer, with what it means: the list outside clients program against.

Each `CommandContract` names the codes it may answer besides `ALWAYS`; the AsyncAPI document and the README
show them, and tests keep this list, the contracts and the services' error classes in agreement.
"""

from __future__ import annotations

INVALID_COMMAND = "invalid-command"
INTERNAL_ERROR = "internal-error"
NOT_CAUGHT_UP = "not-caught-up"

ALWAYS = (INVALID_COMMAND, INTERNAL_ERROR, NOT_CAUGHT_UP)
"""Codes every command may answer."""

ERROR_CODES: dict[str, str] = {
    INVALID_COMMAND: "The request is not valid JSON or does not match the command's schema; `details` names each "
    "field and what is wrong with it. Nothing changed.",
    INTERNAL_ERROR: "The service failed unexpectedly (its log says why); nothing changed, the request may be retried.",
    NOT_CAUGHT_UP: "The service has not consumed the events the command names in `after` within its bound "
    "(`KEHRWASSER_CATCH_UP_SECONDS`); nothing changed, the command may be sent again as it is.",
    "email-taken": "Another member is registered with this email address.",
    "invalid-member": "The member's profile breaks a rule of the members service (the message says which).",
    "unknown-member": "No such member: not registered, or not (yet) known to the service answering, or not a "
    "member of the alliance asked about.",
    "unknown-alliance": "No such alliance, or not (yet) known to the service answering.",
    "invalid-alliance": "The alliance's details break a rule (the message says which).",
    "not-a-moderator": "Only a moderator of the alliance may do this.",
    "invalid-timezone": "Not an IANA time zone name such as Europe/Berlin.",
    "invalid-meeting-time": "The start has passed, lies more than five years ahead, or does not exist in the "
    "meeting's time zone (inside a daylight-saving gap).",
    "not-a-member": "Not (or no longer) a member of the alliance: the member asked about, or a contribution's giver "
    "or receiver (also one who left or was removed, or one not yet known to the ledger).",
    "invalid-contribution": "The contribution breaks a booking rule (the message says which): e.g. giving to oneself.",
    "conflict": "The id was used before with different fields; a retry must repeat the original exactly.",
    "unknown-contribution": "No contribution with this id.",
    "unknown-verify-run": "No verification run with this id (ledger verify answers one).",
    "already-reversed": "The contribution has already been reversed.",
    "not-allowed": "The one asking may not do this (e.g. only a moderator or the original giver may reverse).",
    "invalid-policy": "The balance policy would be inconsistent (the message says which rule it breaks).",
    "below-floor": "The contribution would take the receiver below the alliance's floor.",
    "probation-limit": "A newcomer who has not given yet would receive more than the probation limit.",
    "not-pending": "The contribution is not waiting for confirmation (any more).",
    "alliance-archived": "The alliance is archived: no new members, contributions or meetings.",
    "alliance-full": "The alliance has reached its size limit.",
    "already-member": "The member already belongs to the alliance.",
    "already-pending": "A request to join or an invitation of this member is already waiting.",
    "nothing-pending": "No request to join (or invitation) of this member is waiting for this decision.",
    "last-moderator": "An alliance always keeps at least one moderator: promote another member first.",
    "member-not-active": "The member is suspended from the network or has left it: only an active member may "
    "found an alliance, ask to join, be invited, accept an invitation or be approved.",
    "alignment-too-low": "The request's direction alignment lies below the alliance's threshold: approving it "
    "needs an `override_reason`.",
    "invalid-recurrence": "The recurrence rule is not a valid RFC 5545 RRULE, uses a forbidden part (FREQ "
    "SECONDLY, MINUTELY or HOURLY; BYHOUR, BYMINUTE, BYSECOND), does not have the start as its first occurrence, "
    "yields no occurrence, or ends more than five years ahead.",
    "unknown-meeting": "No meeting with this id.",
    "unknown-occurrence": "The meeting has no (remaining) occurrence with this original start.",
    "meeting-cancelled": "The meeting was cancelled: it cannot be changed any more.",
    "invalid-attendance": "Attendance names someone not invited to the occurrence, or the occurrence has not "
    "begun yet.",
    "unknown-resource": "No shared resource with this id (or it was removed).",
    "invalid-resource-use": "A resource is used by another member: its owner cannot record a use of their own.",
    # members
    "invalid-token": "The token of a mailed link is unknown, was used already or has expired. Nothing changed.",
    # notify
    "unknown-delivery": "No delivery with this id in the delivery log.",
    "not-failed": "The delivery has not failed (it is queued, retrying, sent or suppressed): only a failed one "
    "can be retried.",
    "invalid-status-change": "The member's status does not allow this: suspending a member who is not active, "
    "reactivating an active one, or changing the profile of a member who has left.",
}
