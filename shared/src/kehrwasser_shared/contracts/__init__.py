"""Event and command contracts of the Kehrwasser network (CloudEvents 1.0, versioned types)."""

from . import alliances, ledger, members, notify
from .envelope import CloudEvent, make_event
from .registry import CommandContract, EventContract, all_commands, all_events, event_contract

__all__ = [
    "CloudEvent",
    "CommandContract",
    "EventContract",
    "all_commands",
    "all_events",
    "alliances",
    "event_contract",
    "ledger",
    "make_event",
    "members",
    "notify",
]
