"""Sending email: SMTP (none / STARTTLS / implicit TLS) or Azure Communication Services Email, chosen by app
settings. `mailer_from` returns None when neither is configured (callers record and log instead)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from shared.config import Settings


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str, message_id: str) -> None:
        """Delivers one message or raises (the caller's job is then retried)."""


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, to: str, subject: str, body: str, message_id: str) -> None:
        settings = self._settings
        message = EmailMessage()
        message["From"] = settings.notify_from
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = f"<{message_id}@scim-provisioning>"
        message.set_content(body)
        host, port = str(settings.notify_smtp_host), settings.notify_smtp_port
        if settings.notify_smtp_security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=30, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=30)
        with smtp:
            if settings.notify_smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.notify_smtp_user:
                smtp.login(settings.notify_smtp_user, settings.notify_smtp_password or "")
            smtp.send_message(message)


class AcsMailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def send(self, to: str, subject: str, body: str, message_id: str) -> None:
        from azure.communication.email import EmailClient

        client = EmailClient.from_connection_string(str(self._settings.notify_acs_connection_string))
        poller = client.begin_send({
            "senderAddress": self._settings.notify_from,
            "recipients": {"to": [{"address": to}]},
            "content": {"subject": subject, "plainText": body},
            "headers": {"X-Digest-Id": message_id},
        })
        poller.result()


def mailer_from(settings: Settings) -> Mailer | None:
    if settings.notify_smtp_host:
        return SmtpMailer(settings)
    if settings.notify_acs_connection_string:
        return AcsMailer(settings)
    return None
