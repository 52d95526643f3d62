"""A local SMTP server (aiosmtpd) that keeps every message it receives, in memory and as ``.eml`` files."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from .nats_server import free_port


class _KeepMessages:
    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()
        self.received = threading.Condition(self.lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.received:
            index = len(self.messages)
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
            if self.directory is not None:
                self.directory.mkdir(parents=True, exist_ok=True)
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
                (self.directory / f"{stamp}-{index:05d}.eml").write_bytes(raw)
            self.received.notify_all()
        return "250 Message accepted for delivery"


class MailSink:
    """Start with `start()`; read `messages`; `wait_for(n)` blocks until n messages have arrived."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, directory: Path | None = None) -> None:
        self._handler = _KeepMessages(directory)
        self.host = host
        # aiosmtpd's Controller probes the port it was given to know it is up, so port 0 won't do.
        self.port = port or free_port()
        self._controller = Controller(self._handler, hostname=host, port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        with self._handler.lock:
            return list(self._handler.messages)

    def start(self) -> MailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[EmailMessage]:
        with self._handler.received:
            self._handler.received.wait_for(lambda: len(self._handler.messages) >= count, timeout)
            return list(self._handler.messages)

    def wait_for_matching(
        self, matches: Callable[[EmailMessage], bool], count: int, timeout: float = 30.0
    ) -> list[EmailMessage]:
        """The messages ``matches`` accepts, in order of arrival, once ``count`` of them arrived (or ``timeout``
        passed: then fewer); woken by each arrival, not polled."""

        def matching() -> list[EmailMessage]:
            return [m for m in self._handler.messages if matches(m)]

        with self._handler.received:
            self._handler.received.wait_for(lambda: len(matching()) >= count, timeout)
            return matching()

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
