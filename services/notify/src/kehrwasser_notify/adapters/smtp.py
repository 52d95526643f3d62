"""Send mail with aiosmtplib over a small pool of reused connections to the configured SMTP server."""

from __future__ import annotations

import asyncio
import logging
from email.utils import parseaddr

import aiosmtplib

from ..domain.model import SendFailed
from ..service_layer.unit_of_work import MailSender

log = logging.getLogger(__name__)

# Answers to one message's MAIL FROM, RCPT TO or DATA (and SMTPRecipientsRefused, every recipient refused): a
# 5xx there refuses this message for good. A 5xx when
# connecting, greeting or signing in is the server's or our configuration's problem, not the message's: it
# is retried like a 4xx, so that a misconfigured password does not throw away every email at once.
MESSAGE_ANSWERS = (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError)


class SmtpMailSender(MailSender):
    """Up to ``connections`` SMTP connections, each kept open for the next message (a new one only after an
    error or when the server closed it); a message waits for a free connection."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        start_tls: bool = False,
        use_tls: bool = False,
        timeout: float = 30.0,
        connections: int = 4,
    ) -> None:
        self._host = host
        self._port = port
        self._envelope_sender = parseaddr(sender)[1]
        self._username = username
        self._password = password
        self._start_tls = start_tls
        self._use_tls = use_tls
        self._timeout = timeout
        self._idle: list[aiosmtplib.SMTP] = []
        self._free = asyncio.Semaphore(connections)

    async def send(self, recipient: str, message: bytes) -> None:
        try:
            await self._send(recipient, message)
        except Exception as error:
            raise classify(error) from error

    async def _send(self, recipient: str, message: bytes) -> None:
        async with self._free:
            client = self._idle.pop() if self._idle else None
            if client is not None and client.is_connected:
                try:
                    await self._send_on(client, recipient, message)
                    return
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                    # The server closed an idle connection (its timeout): nothing was accepted, try a fresh one.
                    log.debug("reused SMTP connection was closed by the server; reconnecting")
            await self._send_on(await self._connect(), recipient, message)

    async def _send_on(self, client: aiosmtplib.SMTP, recipient: str, message: bytes) -> None:
        try:
            await client.sendmail(self._envelope_sender, [recipient], message)
        except BaseException:
            # After an error (or a cancelled send) the conversation's state is unknown: never reuse it.
            client.close()
            raise
        self._idle.append(client)

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._start_tls,
            use_tls=self._use_tls,
            timeout=self._timeout,
            local_hostname="kehrwasser-notify",
        )
        await client.connect()
        return client

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await asyncio.wait_for(client.quit(), timeout=min(self._timeout, 5.0))
            except Exception:
                client.close()


def classify(error: BaseException) -> SendFailed:
    """What a failed send means for the delivery: permanent (5xx to the message) or temporary (anything else:
    4xx, refused or dropped connections, timeouts)."""
    if isinstance(error, SendFailed):
        return error
    reason = f"{type(error).__name__}: {error}"
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in error.recipients]
        return SendFailed(reason, permanent=bool(codes) and all(500 <= code < 600 for code in codes))
    if isinstance(error, MESSAGE_ANSWERS):
        return SendFailed(reason, permanent=500 <= error.code < 600)
    return SendFailed(reason, permanent=False)
