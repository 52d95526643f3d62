"""`kehrwasser up`'s status of each service: ready or why not, outbox backlog, consumer lag, the last error.

A thread asks every service's health port for ``/readyz`` and ``/metrics`` every few seconds and prints a
compact line for a service whenever what it shows changed (ready or not and why, backlog or lag appearing or
gone, a new error), and, while something is queued, one summary line of all services now and then: never a
line per poll.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

POLL_SECONDS = 3.0
SUMMARY_SECONDS = 30.0
REQUEST_SECONDS = 1.0
_SAMPLE = re.compile(r"^(kehrwasser_outbox_backlog|kehrwasser_consumer_pending)(?:\{[^}]*\})? (\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class ServiceStatus:
    """What one poll of a service found; None where its health port did not answer."""

    ready: bool
    reason: str = ""
    backlog: int | None = None
    pending: int | None = None
    last_error: str | None = None

    @property
    def shape(self) -> tuple[object, ...]:
        """What makes a change worth a line: numbers only as far as whether anything waits."""
        return (self.ready, self.reason, bool(self.backlog), bool(self.pending), self.last_error)

    def describe(self) -> str:
        state = "ready" if self.ready else f"NOT READY ({self.reason})"
        counts = f"outbox backlog {_number(self.backlog)}, consumer pending {_number(self.pending)}"
        error = f"; last error: {self.last_error}" if self.last_error else ""
        return f"{state}, {counts}{error}"


def _number(value: int | None) -> str:
    return "?" if value is None else str(value)


def queued(metrics_text: str) -> tuple[int, int]:
    """The outbox backlog and the sum of every durable consumer's pending messages in a /metrics page."""
    backlog = pending = 0
    for name, value in _SAMPLE.findall(metrics_text):
        if name == "kehrwasser_outbox_backlog":
            backlog += int(float(value))
        else:
            pending += int(float(value))
    return backlog, pending


def poll(base_url: str, last_error: str | None = None) -> ServiceStatus:
    """Ask one service's health port; a service that does not answer is not ready."""
    try:
        ready, reason = _readiness(base_url)
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=REQUEST_SECONDS) as answer:
            backlog, pending = queued(answer.read().decode(errors="replace"))
    except (OSError, ValueError) as exc:
        return ServiceStatus(False, f"health port not answering: {_short(exc)}", last_error=last_error)
    return ServiceStatus(ready, reason, backlog, pending, last_error)


def _readiness(base_url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=REQUEST_SECONDS):
            return True, ""
    except urllib.error.HTTPError as refused:  # 503 with the reason as JSON
        body = refused.read().decode(errors="replace")
        try:
            return False, str(json.loads(body).get("reason", body.strip()))
        except ValueError:
            return False, body.strip()[:200]


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc)[:120]


class StatusBoard:
    """Decides which lines to print from the polls: a line per service that changed, a summary now and then."""

    def __init__(self, summary_seconds: float = SUMMARY_SECONDS) -> None:
        self._shown: dict[str, tuple[object, ...]] = {}
        self._summary_seconds = summary_seconds
        self._summarised_at: float | None = None

    def lines(self, statuses: Mapping[str, ServiceStatus], now: float) -> list[str]:
        lines = []
        for service, status in statuses.items():
            if self._shown.get(service) != status.shape:
                self._shown[service] = status.shape
                lines.append(f"{service}: {status.describe()}")
        busy = any(status.backlog or status.pending for status in statuses.values())
        if self._summarised_at is None or lines:
            self._summarised_at = now
        elif busy and now - self._summarised_at >= self._summary_seconds:
            self._summarised_at = now
            lines.append(
                "status: "
                + "; ".join(
                    f"{service} {'ready' if s.ready else 'not ready'}, backlog {_number(s.backlog)}, "
                    f"pending {_number(s.pending)}"
                    for service, s in statuses.items()
                )
            )
        return lines


def watch(
    health_urls: Callable[[], Mapping[str, str]],
    last_errors: Callable[[str], str | None],
    stop: threading.Event,
    say: Callable[[str], None],
    seconds: float = POLL_SECONDS,
) -> None:
    """Poll until ``stop`` is set, printing what `StatusBoard` picks (runs in a thread of its own)."""
    board = StatusBoard()
    while not stop.wait(seconds):
        statuses = {service: poll(url, last_errors(service)) for service, url in health_urls().items()}
        if stop.is_set():
            return  # stopping: the services answer "stopping", which says nothing new
        for line in board.lines(statuses, time.monotonic()):
            say(line)
