"""Building the e-mail and sending it over reused SMTP connections."""

from __future__ import annotations

import asyncio
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import formatdate

import aiosmtplib

from services.messaging.domain import is_permanent
from services.messaging.rendering import Rendered
from shared.settings import SmtpSettings


def header_safe(value: str) -> str:
    """One line, no control characters: nothing from a prospect, job or note can add a header."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


def build(rendered: Rendered, *, sender: str, recruiter_name: str, recruiter_email: str, to_name: str, to: str,
          message_id: str, unsubscribe_url: str | None = None, reply_to: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = header_safe(rendered.subject)
    message["From"] = Address(display_name=header_safe(recruiter_name), addr_spec=sender)
    # The message's own reply address when replies come back to us (MESSAGING_INBOUND_DOMAIN),
    # else the recruiter's.
    message["Reply-To"] = Address(display_name=header_safe(recruiter_name), addr_spec=reply_to or recruiter_email)
    message["To"] = Address(display_name=header_safe(to_name), addr_spec=to)
    message["Date"] = formatdate(usegmt=True)
    domain = sender.rpartition("@")[2] or "prospectflow"
    # Stable: a resend after a crash carries the same Message-ID, which mail clients dedupe on.
    message["Message-ID"] = f"<{message_id}@{domain}>"
    if unsubscribe_url:
        # RFC 8058 one-click: mail clients POST `List-Unsubscribe=One-Click` to the link.
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


class SendFailure(Exception):
    def __init__(self, reason: str, *, permanent: bool, connection: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.connection = connection  # the server could not be reached or dropped us: an outage


class Mailer:
    """A small pool of SMTP connections, each reused for many messages; `connections` bounds
    how many messages are in flight at once."""

    def __init__(self, settings: SmtpSettings, connections: int, *, reuse: bool = True) -> None:
        self.settings = settings
        self.reuse = reuse
        self._idle: asyncio.Queue[aiosmtplib.SMTP | None] = asyncio.Queue()
        for _ in range(connections):
            self._idle.put_nowait(None)
        self._slots = asyncio.Semaphore(connections)

    def slot(self) -> asyncio.Semaphore:
        """Hold while preparing and sending one message: at most `connections` at once."""
        return self._slots

    async def _connect(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(hostname=s.host, port=s.port, timeout=s.timeout_s, use_tls=s.security == "tls",
                                 start_tls=True if s.security == "starttls" else False)
        await client.connect()
        if s.username:
            await client.login(s.username, s.password.get_secret_value() if s.password else "")
        return client

    async def send(self, message: Message, envelope_sender: str | None = None) -> None:
        """Send one message; `envelope_sender` is SMTP's `MAIL FROM` (hence `Return-Path`),
        where bounces go: the message's own bounce address (VERP), or the From address."""
        client = await self._idle.get()
        try:
            if client is None or not client.is_connected:
                client = await self._connect()
            errors, _ = await client.send_message(message, sender=envelope_sender)
            if not self.reuse:
                await client.quit()
                client = None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0] if exc.recipients else None
            code = refusal.code if refusal else None
            raise SendFailure(f"recipient refused: {code} {refusal.message if refusal else ''}".strip(),
                              permanent=is_permanent(code)) from None
        except aiosmtplib.SMTPResponseException as exc:
            await _drop(client)
            client = None
            raise SendFailure(f"server replied {exc.code} {exc.message}", permanent=is_permanent(exc.code)) from None
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            await _drop(client)
            client = None
            raise SendFailure(f"{type(exc).__name__}: {exc}", permanent=False, connection=True) from None
        finally:
            self._idle.put_nowait(client)

    async def close(self) -> None:
        while not self._idle.empty():
            await _drop(self._idle.get_nowait())


async def _drop(client: aiosmtplib.SMTP | None) -> None:
    if client is not None:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - a broken connection is being discarded anyway
            pass
    return None
