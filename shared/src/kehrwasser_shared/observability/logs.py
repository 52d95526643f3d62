"""``KEHRWASSER_LOG_FORMAT=json``: one JSON object a line, for log collectors.

What a line is about comes from a context variable that the consumers and the command endpoints set while
they handle something (`handling`): the event's id, and a correlation id that ties together the lines of one
piece of work (the event's id for an event; for a command, the request's ``correlation_id`` header, else a
hash of its reply subject, which is unique per request).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime

from opentelemetry import trace

Handling = tuple[str | None, str | None]
"""The event id and the correlation id of the work in hand (either None when not known)."""

_handling: ContextVar[Handling] = ContextVar("kehrwasser_log_handling", default=(None, None))


def handle(event_id: str | None, correlation_id: str | None) -> Token[Handling]:
    """Name the work in hand for the log lines written until `done` (for a hot path: no context manager)."""
    return _handling.set((event_id, correlation_id))


def done(token: Token[Handling]) -> None:
    _handling.reset(token)


@contextmanager
def handling(event_id: str | None = None, correlation_id: str | None = None) -> Iterator[None]:
    token = handle(event_id, correlation_id)
    try:
        yield
    finally:
        done(token)


def reply_correlation(reply_subject: str) -> str:
    """A short id for a request, from its reply subject (unique per request; the requester can compute it)."""
    return hashlib.blake2s(reply_subject.encode(), digest_size=8).hexdigest()


class JsonFormatter(logging.Formatter):
    """time, level, service, logger, message; event_id and correlation_id while something is handled;
    trace_id/span_id when a span is current; exc_info as text."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        event_id, correlation_id = _handling.get()
        if event_id is not None:
            line["event_id"] = event_id
        if correlation_id is not None:
            line["correlation_id"] = correlation_id
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            line["trace_id"] = format(context.trace_id, "032x")
            line["span_id"] = format(context.span_id, "016x")
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
