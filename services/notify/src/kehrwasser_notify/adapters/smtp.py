"""Send mail with aiosmtplib to the configured SMTP server."""

from __future__ import annotations

from email.utils import parseaddr

import aiosmtplib

from ..service_layer.unit_of_work import MailSender


class SmtpMailSender(MailSender):
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
    ) -> None:
        self._host = host
        self._port = port
        self._envelope_sender = parseaddr(sender)[1]
        self._username = username
        self._password = password
        self._start_tls = start_tls
        self._use_tls = use_tls
        self._timeout = timeout

    async def send(self, recipient: str, message: bytes) -> None:
        await aiosmtplib.send(
            message,
            sender=self._envelope_sender,
            recipients=[recipient],
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            start_tls=self._start_tls,
            use_tls=self._use_tls,
            timeout=self._timeout,
        )
