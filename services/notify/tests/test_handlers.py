"""Notify use cases through the real handlers, against an in-memory unit of work and every reachable database.

Data that the contracts refuse today (names and titles with line breaks, dates near the end of the calendar)
still reaches notify from contacts stored before, or from older producers: it is built here below the
contract, stored through the unit of work or made with ``model_construct``.
"""

from __future__ import annotations

import abc
import copy
import email
import email.policy
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from typing import Any, NamedTuple

import pytest
from notify_examples import NOW, calendar_event, red_warning, start_of
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kehrwasser_notify.adapters.tables import deliveries, messaging
from kehrwasser_notify.adapters.unit_of_work import SqlNotifyUnitOfWork
from kehrwasser_notify.bootstrap import MIGRATIONS
from kehrwasser_notify.domain.model import (
    AllianceNotYetKnown,
    Contact,
    Delivery,
    DeliveryRecord,
    LeasedDelivery,
    MailPreferences,
)
from kehrwasser_notify.service_layer import handlers
from kehrwasser_notify.service_layer.unit_of_work import (
    AllianceNames,
    ContactRepository,
    DeliveryRepository,
    ModeratorRepository,
    NotifyUnitOfWork,
    PreferenceRepository,
)
from kehrwasser_shared.contracts import alliances, ledger, make_event
from kehrwasser_shared.contracts.envelope import CloudEvent
from kehrwasser_shared.messaging.ports import FakeUnitOfWorkMixin
from kehrwasser_shared.persistence.database import create_engine
from kehrwasser_shared.persistence.migrations import upgrade_to_head_async
from kehrwasser_shared.testing import examples

SENDER = "Kehrwasser <noreply@kehrwasser.local>"
ADA = Contact("ada", "Ada Lovelace", "ada@example.org", "de")
GRACE = Contact("grace", "Grace Hopper", "grace@example.org", "en")
LINUS = Contact("linus", "Linus Torvalds", "linus@example.org", "en")
EVE = Contact("eve", "Eve\r\nBcc: x@y.z", "eve@example.org", "en")
"""A contact stored before the contracts refused line breaks in names."""
HAMBURG = ("hamburg", "Hamburg Founders")


class Recorded(NamedTuple):
    status: str
    recipient: str
    last_error: str | None
    message: bytes

    def parsed(self) -> EmailMessage:
        message = email.message_from_bytes(self.message, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        return message


def clock() -> datetime:
    return NOW


def meeting(**fields: Any) -> alliances.MeetingScheduledV1:
    """Constructed, not validated: the way data below today's contract reaches the handler."""
    defaults: dict[str, Any] = {
        "meeting_id": "m-1",
        "alliance_id": "hamburg",
        "alliance_name": "Hamburg Founders",
        "title": "Course check",
        "starts_at": datetime(2026, 12, 1, 17, 0, tzinfo=UTC),
        "timezone": "Europe/Berlin",
        "duration_minutes": 90,
        "location": "https://meet.example.org/hamburg",
        "organizer_id": "ada",
        "attendee_ids": ["ada", "grace"],
        "sequence": 0,
    }
    return alliances.MeetingScheduledV1.model_construct(**{**defaults, **fields})


def event_of(contract: Any, data: Any) -> CloudEvent:
    return make_event(type_=contract.type, source="/test", data=data)


class Notify(abc.ABC):
    """Where the handlers keep their state: fresh units of work over it, and the deliveries recorded."""

    @abc.abstractmethod
    def uow(self) -> NotifyUnitOfWork: ...

    @abc.abstractmethod
    async def recorded(self) -> dict[tuple[str, str], Recorded]:
        """Every delivery by member and kind."""

    async def know(self, *contacts: Contact, alliance: tuple[str, str] | None = HAMBURG) -> None:
        async with self.uow() as uow:
            for contact in contacts:
                await uow.contacts.save(contact)
            if alliance is not None:
                await uow.alliances.save(*alliance)
            await uow.commit()

    async def invite(self, data: alliances.MeetingScheduledV1, event: CloudEvent | None = None) -> None:
        event = event or event_of(alliances.MEETING_SCHEDULED, data)
        await handlers.invite_to_meeting(event, data, self.uow(), SENDER, clock)

    async def warn(self, data: ledger.BalanceWarningV2, event: CloudEvent | None = None) -> None:
        event = event or event_of(ledger.BALANCE_WARNING, data)
        await handlers.warn_about_balance(event, data, self.uow(), SENDER, clock)


class NotifyHandlersContract:
    """What every store must show after the handlers ran: subclasses provide the ``notify`` fixture."""

    async def test_an_attendee_whose_name_would_inject_a_header_fails_alone_and_the_others_are_queued(
        self, notify: Notify
    ) -> None:
        await notify.know(ADA, GRACE, EVE)
        await notify.invite(meeting(attendee_ids=["ada", "grace", "eve"]))
        recorded = await notify.recorded()
        eve = recorded["eve", "meeting-invitation"]
        assert eve.status == "failed"
        assert eve.last_error is not None
        assert "recipient's name holds the control character U+000D" in eve.last_error
        assert eve.message == b""
        for contact in (ADA, GRACE):
            delivery = recorded[contact.member_id, "meeting-invitation"]
            assert delivery.status == "pending"
            assert delivery.recipient == contact.email
            message = delivery.parsed()
            assert [a.addr_spec for a in message["To"].addresses] == [contact.email]
            assert message["Bcc"] is None
            assert str(calendar_event(message)["ATTENDEE"]) == f"mailto:{contact.email}"

    async def test_a_member_whose_name_would_inject_a_header_gets_her_warning_recorded_failed(
        self, notify: Notify
    ) -> None:
        await notify.know(EVE)
        await notify.warn(red_warning("eve"))
        [(key, eve)] = (await notify.recorded()).items()
        assert key == ("eve", "balance-warning")
        assert eve.status == "failed"
        assert eve.last_error is not None
        assert "U+000D" in eve.last_error

    async def test_a_moderator_whose_name_would_inject_a_header_misses_only_their_escalation(
        self, notify: Notify
    ) -> None:
        await notify.know(ADA, LINUS, EVE)
        await notify.warn(red_warning("linus", escalate_to=["eve", "ada"]))
        recorded = await notify.recorded()
        assert {key: delivery.status for key, delivery in recorded.items()} == {
            ("linus", "balance-warning"): "pending",
            ("ada", "balance-escalation"): "pending",
            ("eve", "balance-escalation"): "failed",
        }

    async def test_a_title_with_a_line_break_fails_every_invitation_and_not_the_event(self, notify: Notify) -> None:
        await notify.know(ADA, GRACE)
        data = meeting(title="Course check\r\nBcc: x@y.z")
        event = event_of(alliances.MEETING_SCHEDULED, data)
        await notify.invite(data, event)
        recorded = await notify.recorded()
        assert {key: delivery.status for key, delivery in recorded.items()} == {
            ("ada", "meeting-invitation"): "failed",
            ("grace", "meeting-invitation"): "failed",
        }
        assert all("subject holds the control character U+000D" in (d.last_error or "") for d in recorded.values())
        # The event counts as handled: delivered again, it records nothing new and raises nothing.
        await notify.invite(data, event)
        assert await notify.recorded() == recorded

    @pytest.mark.parametrize(
        ("starts_at", "reason"),
        [
            pytest.param(datetime(9999, 12, 31, 18, 0), "year 10001 is out of range", id="wall-clock"),
            pytest.param(datetime(9999, 12, 31, 23, 30, tzinfo=UTC), "OverflowError", id="instant"),
        ],
    )
    async def test_a_meeting_at_the_end_of_the_calendar_is_recorded_failed_not_retried(
        self, notify: Notify, starts_at: datetime, reason: str
    ) -> None:
        await notify.know(ADA, GRACE)
        await notify.invite(meeting(starts_at=starts_at))
        recorded = await notify.recorded()
        assert [d.status for d in recorded.values()] == ["failed", "failed"]
        assert all(reason in (d.last_error or "") for d in recorded.values())

    async def test_a_warning_that_overtakes_its_alliance_waits_for_the_alliances_name(self, notify: Notify) -> None:
        await notify.know(LINUS, alliance=None)
        data = red_warning("linus")
        event = event_of(ledger.BALANCE_WARNING, data)
        with pytest.raises(AllianceNotYetKnown):
            await notify.warn(data, event)
        assert await notify.recorded() == {}
        created = examples.alliance_created(at=NOW)
        await handlers.learn_alliance(event_of(alliances.ALLIANCE_CREATED, created), created, notify.uow())
        await notify.warn(data, event)  # the consumer's redelivery
        [warning] = (await notify.recorded()).values()
        message = warning.parsed()
        assert message["Subject"] == "Your balance of contribution in Hamburg Founders is red"
        assert "hamburg" not in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("starts_at", "wall_clock"),
        [
            pytest.param(datetime(2026, 12, 1, 17, 0, tzinfo=UTC), datetime(2026, 12, 1, 18, 0), id="utc-winter"),
            pytest.param(
                datetime(2026, 12, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5))),
                datetime(2026, 12, 1, 18, 0),
                id="other-offset",
            ),
            pytest.param(datetime(2026, 7, 1, 16, 0, tzinfo=UTC), datetime(2026, 7, 1, 18, 0), id="utc-summer"),
        ],
    )
    async def test_an_instant_is_shown_at_the_wall_clock_time_of_the_meetings_zone(
        self, notify: Notify, starts_at: datetime, wall_clock: datetime
    ) -> None:
        await notify.know(ADA, GRACE)
        await notify.invite(meeting(starts_at=starts_at))
        ada = (await notify.recorded())["ada", "meeting-invitation"].parsed()
        event = calendar_event(ada)
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert start_of(event).replace(tzinfo=None) == wall_clock
        assert start_of(event) == starts_at
        assert f"{wall_clock:%H:%M} Uhr (Europe/Berlin)" in ada.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    async def test_a_start_without_offset_from_an_older_event_is_the_wall_clock_time_in_the_meetings_zone(
        self, notify: Notify
    ) -> None:
        await notify.know(ADA, GRACE)
        await notify.invite(meeting(starts_at=datetime(2026, 12, 1, 18, 0)))
        grace = (await notify.recorded())["grace", "meeting-invitation"].parsed()
        event = calendar_event(grace)
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert start_of(event) == datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
        assert "18:00 (Europe/Berlin)" in grace.get_body(("plain",)).get_content()  # type: ignore[union-attr]


# In memory ----------------------------------------------------------------------------------------------------


class FakeState:
    def __init__(self) -> None:
        self.contacts: dict[str, Contact] = {}
        self.alliances: dict[str, str] = {}
        self.deliveries: dict[str, tuple[Delivery, Recorded]] = {}
        self.claimed: set[tuple[str, str]] = set()
        self.preferences: dict[str, MailPreferences] = {}
        self.moderators: set[tuple[str, str]] = set()


class FakeContacts(ContactRepository):
    def __init__(self, state: FakeState) -> None:
        self._state = state

    async def save(self, contact: Contact) -> None:
        self._state.contacts[contact.member_id] = contact

    async def get_many(self, member_ids: list[str]) -> dict[str, Contact]:
        return {m: self._state.contacts[m] for m in member_ids if m in self._state.contacts}


class FakeAllianceNames(AllianceNames):
    def __init__(self, state: FakeState) -> None:
        self._state = state

    async def save(self, alliance_id: str, name: str, founded_at: datetime | None = None) -> None:
        self._state.alliances.setdefault(alliance_id, name)

    async def get(self, alliance_id: str) -> str | None:
        return self._state.alliances.get(alliance_id)


class FakeDeliveries(DeliveryRepository):
    def __init__(self, state: FakeState) -> None:
        self._state = state

    async def add(self, new: list[Delivery], *, due: datetime) -> None:
        for d in new:
            status = "failed" if d.problem is not None else "suppressed" if d.suppressed else "pending"
            recorded = Recorded(status, d.recipient, d.problem or d.suppressed, d.message)
            self._state.deliveries.setdefault(d.delivery_id, (d, recorded))

    # The mailer and the delivery log run against the databases (test_mailer.py, test_delivery.py).
    async def lease_due(self, now: datetime, until: datetime, limit: int) -> list[LeasedDelivery]:
        raise NotImplementedError

    async def release(self, delivery_ids: list[str], now: datetime) -> None:
        raise NotImplementedError

    async def mark_sent(self, delivery_ids: list[str], now: datetime) -> None:
        raise NotImplementedError

    async def mark_retry(self, delivery_id: str, error: str, retry_at: datetime) -> None:
        raise NotImplementedError

    async def mark_failed(self, delivery_id: str, error: str, now: datetime) -> None:
        raise NotImplementedError

    async def get(self, delivery_id: str) -> DeliveryRecord | None:
        raise NotImplementedError

    async def log(
        self, *, member_id: str | None, status: str | None, limit: int, after: tuple[datetime, str] | None
    ) -> list[DeliveryRecord]:
        raise NotImplementedError

    async def requeue(self, delivery_id: str, now: datetime) -> None:
        raise NotImplementedError


class FakePreferences(PreferenceRepository):
    def __init__(self, state: FakeState) -> None:
        self._state = state

    async def save(self, preferences: MailPreferences) -> None:
        self._state.preferences[preferences.member_id] = preferences

    async def get_many(self, member_ids: list[str]) -> dict[str, MailPreferences]:
        return {m: self._state.preferences[m] for m in member_ids if m in self._state.preferences}


class FakeModerators(ModeratorRepository):
    def __init__(self, state: FakeState) -> None:
        self._state = state

    async def appoint(self, alliance_id: str, member_ids: list[str]) -> None:
        self._state.moderators.update((alliance_id, m) for m in member_ids)

    async def dismiss(self, alliance_id: str, member_id: str) -> None:
        self._state.moderators.discard((alliance_id, member_id))

    async def of(self, alliance_id: str) -> list[str]:
        return sorted(m for a, m in self._state.moderators if a == alliance_id)


class FakeNotifyUnitOfWork(FakeUnitOfWorkMixin, NotifyUnitOfWork):
    """Works on the shared state directly and puts it back as it was on rollback, like a transaction."""

    def __init__(self, state: FakeState) -> None:
        super().__init__()
        self._state = state
        self._committed = copy.deepcopy(state)
        self.claimed = state.claimed
        self.contacts = FakeContacts(state)
        self.alliances = FakeAllianceNames(state)
        self.deliveries = FakeDeliveries(state)
        self.preferences = FakePreferences(state)
        self.moderators = FakeModerators(state)

    async def commit(self) -> None:
        await super().commit()
        self._committed = copy.deepcopy(self._state)

    async def rollback(self) -> None:
        await super().rollback()
        self._state.__dict__.update(copy.deepcopy(self._committed).__dict__)
        self.claimed = self._state.claimed


class InMemoryNotify(Notify):
    def __init__(self) -> None:
        self.state = FakeState()

    def uow(self) -> NotifyUnitOfWork:
        return FakeNotifyUnitOfWork(self.state)

    async def recorded(self) -> dict[tuple[str, str], Recorded]:
        return {(d.member_id, d.kind): recorded for d, recorded in self.state.deliveries.values()}


class TestInMemory(NotifyHandlersContract):
    @pytest.fixture
    def notify(self) -> Notify:
        return InMemoryNotify()


# In the database ----------------------------------------------------------------------------------------------


class DatabaseNotify(Notify):
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    def uow(self) -> NotifyUnitOfWork:
        return SqlNotifyUnitOfWork(self.engine, messaging, source="/notify")

    async def recorded(self) -> dict[tuple[str, str], Recorded]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(select(deliveries))
            return {
                (r.member_id, r.kind): Recorded(r.status, r.recipient, r.last_error, bytes(r.message)) for r in rows
            }


@pytest.mark.integration
class TestInTheDatabase(NotifyHandlersContract):
    @pytest.fixture
    async def notify(self, database_url: str) -> AsyncIterator[Notify]:
        await upgrade_to_head_async(MIGRATIONS, database_url)
        engine = create_engine(database_url)
        yield DatabaseNotify(engine)
        await engine.dispose()


async def test_the_fake_unit_of_work_forgets_what_was_not_committed() -> None:
    """The premise of the in-memory runs: a handler that raises leaves nothing behind, its claim included."""
    notify = InMemoryNotify()

    async def claim_and_fail() -> None:
        async with notify.uow() as uow:
            await uow.claim_event("c", "e1")
            await uow.contacts.save(ADA)
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError):
        await claim_and_fail()
    assert notify.state.contacts == {}
    assert notify.state.claimed == set()
