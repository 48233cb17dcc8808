"""Delivery channels behind small ports: email (SMTP, or files in development) and SMS (Twilio's
REST API, or files in development). In-app delivery is a push, done by the outbox itself.

Every adapter tells a transient failure (try again later: a timeout, a 4xx SMTP reply, HTTP 429
or 5xx) from a permanent one (this message will never go: a 5xx SMTP reply for the recipient, an
invalid number), so the outbox retries only what may succeed.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol

import aiosmtplib
import httpx

log = logging.getLogger("vendr.notify")


class DeliveryError(Exception):
    """A channel could not deliver; `permanent` says whether retrying can help."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    message_id: str  # derived from the notification's key: a resend carries the same id


@dataclass(frozen=True)
class Sms:
    to: str  # E.164
    text: str
    key: str


class Mailer(Protocol):
    async def send(self, mail: Email) -> None: ...


class SmsSender(Protocol):
    async def send(self, sms: Sms) -> None: ...


def _private_file(path: Path, data: bytes) -> None:
    """Write a file only its owner can read (mail holds codes and addresses)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _email_message(mail: Email, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = mail.message_id
    message.set_content(mail.text)
    return message


class SmtpMailer:
    """Mail over SMTP with aiosmtplib: plain, STARTTLS or implicit TLS, optional login."""

    def __init__(
        self,
        host: str,
        port: int,
        security: str,
        username: str,
        password: str,
        sender: str,
        timeout_s: float = 20.0,
    ) -> None:
        self._host, self._port, self._security = host, port, security
        self._username, self._password = username or None, password or None
        self._sender = sender
        self._timeout = timeout_s

    async def send(self, mail: Email) -> None:
        message = _email_message(mail, self._sender)
        try:
            errors, _ = await aiosmtplib.send(
                message,
                hostname=self._host,
                port=self._port,
                use_tls=self._security == "tls",
                start_tls=True if self._security == "starttls" else False,
                username=self._username,
                password=self._password,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [err.code for err in exc.recipients]
            permanent = bool(codes) and all(code >= 500 for code in codes)
            raise DeliveryError(f"recipient refused: {exc}", permanent=permanent) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx is final for this message, except a failed login: that is our configuration,
            # which someone can fix, so it is retried like an outage
            permanent = exc.code >= 500 and not isinstance(exc, aiosmtplib.SMTPAuthenticationError)
            raise DeliveryError(f"SMTP {exc.code}: {exc.message}", permanent=permanent) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"SMTP unavailable: {exc}", permanent=False) from exc
        if errors:
            raise DeliveryError(f"recipient refused: {errors}", permanent=True)


class FileMailer:
    """Development delivery: each mail becomes an .eml file under the data dir."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self._sender = sender

    async def send(self, mail: Email) -> None:
        name = mail.message_id.strip("<>").split("@")[0] + ".eml"
        path = self.directory / name
        _private_file(path, bytes(_email_message(mail, self._sender)))
        log.info("mail to %s written to %s", mail.to, path)


class TwilioSms:
    """SMS through Twilio's Messages API (form-encoded POST, basic auth). `base_url` points at a
    local stub in tests."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        sender: str,
        base_url: str = "https://api.twilio.com",
        timeout_s: float = 20.0,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = (account_sid, auth_token)
        self._sender = sender
        self._timeout = timeout_s

    async def send(self, sms: Sms) -> None:
        data = {"To": sms.to, "From": self._sender, "Body": sms.text}
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(self._url, data=data, auth=self._auth)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"SMS provider unreachable: {exc}", permanent=False) from exc
        if response.status_code < 300:
            return
        try:
            body = response.json()
            detail = f"{body.get('code')}: {body.get('message')}"
        except ValueError:
            detail = response.text[:200]
        # 400 is Twilio's answer for a number or body that will never work; 401/403 is our
        # configuration, 429 and 5xx are theirs: those may succeed later
        permanent = response.status_code in (400, 404, 422)
        raise DeliveryError(f"SMS provider {response.status_code} {detail}", permanent=permanent)


class FileSms:
    """Development delivery: each SMS becomes a text file under the data dir."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, sms: Sms) -> None:
        path = self.directory / f"{sms.key}.txt"
        _private_file(path, f"To: {sms.to}\n\n{sms.text}\n".encode())
        log.info("SMS to %s written to %s", sms.to, path)
