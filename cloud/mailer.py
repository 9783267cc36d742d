"""Send the cloud's e-mails (invitations, password-reset links) through the configured SMTP server."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage

from cloud.config import SmtpSettings

log = logging.getLogger(__name__)


class MailError(Exception):
    """The message could not be handed to the SMTP server."""


def _password(settings: SmtpSettings) -> str | None:
    if settings.password_file is None:
        return None
    return settings.password_file.read_text(encoding="utf-8").splitlines()[0].strip()


def _send(settings: SmtpSettings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s) as smtp:
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.username:
            smtp.login(settings.username, _password(settings) or "")
        smtp.send_message(message)


async def send_mail(settings: SmtpSettings, to: str, subject: str, body: str) -> None:
    """Send a plain-text message; raise MailError when the server cannot be reached or refuses it."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        await asyncio.to_thread(_send, settings, message)
    except (OSError, smtplib.SMTPException) as err:
        log.warning("mail to %s via %s:%d failed: %s", to, settings.host, settings.port, err)
        raise MailError(str(err)) from err
