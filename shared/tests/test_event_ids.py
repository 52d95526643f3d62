"""Event ids: the buffered generator gives what ``str(uuid.uuid4())`` gives, and never repeats."""

from __future__ import annotations

import os
import uuid

from kehrwasser_shared.contracts.envelope import new_event_id


def test_event_ids_are_random_version_4_uuids_in_canonical_form() -> None:
    ids = [new_event_id() for _ in range(2000)]  # several refills of the random buffer
    assert len(set(ids)) == len(ids)
    for event_id in ids:
        parsed = uuid.UUID(event_id)
        assert (str(parsed), parsed.version, parsed.variant) == (event_id, 4, uuid.RFC_4122)
    assert {event_id[19] for event_id in ids} == set("89ab")


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    new_event_id()  # the parent's buffer now holds ids it has not handed out
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write, new_event_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    from_child = os.read(read, 64).decode()
    os.close(read)
    assert from_child != new_event_id()
