"""Building the e-mail and sending it over reused SMTP connections."""

from __future__ import annotations

import asyncio
import email.policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import formatdate, quote

import aiosmtplib
from aiosmtplib.email import extract_recipients, extract_sender

from services.messaging.domain import is_permanent
from services.messaging.rendering import Rendered
from shared.settings import SmtpSettings


def header_safe(value: str) -> str:
    """One line, no control characters: nothing from a prospect, job or note can add a header."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in value).split())


def build(rendered: Rendered, *, sender: str, recruiter_name: str, recruiter_email: str, to_name: str, to: str,
          message_id: str, unsubscribe_url: str | None = None, reply_to: str | None = None,
          in_reply_to: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = header_safe(rendered.subject)
    message["From"] = Address(display_name=header_safe(recruiter_name), addr_spec=sender)
    # The message's own reply address when replies come back to us (MESSAGING_INBOUND_DOMAIN),
    # else the recruiter's.
    message["Reply-To"] = Address(display_name=header_safe(recruiter_name), addr_spec=reply_to or recruiter_email)
    message["To"] = recipient_header(header_safe(to_name), to)
    message["Date"] = formatdate(usegmt=True)
    domain = sender.rpartition("@")[2] or "prospectflow"
    # Stable: a resend after a crash carries the same Message-ID, which mail clients dedupe on.
    message["Message-ID"] = f"<{message_id}@{domain}>"
    if in_reply_to:  # a follow-up answers the first mail of its sequence: one thread in the inbox
        message["In-Reply-To"] = message["References"] = f"<{in_reply_to}@{domain}>"
    if unsubscribe_url:
        # RFC 8058 one-click: mail clients POST `List-Unsubscribe=One-Click` to the link.
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def recipient_header(name: str, address: str) -> str | Address:
    """`To` for any address the contract takes: an internationalised one (`jörg@example.com`,
    RFC 6531) is written as UTF-8 text, which goes out with SMTPUTF8 (aiosmtplib asks for it when
    an address is not ASCII); `Address` refuses a non-ASCII local part."""
    if address.isascii():
        return Address(display_name=name, addr_spec=address)
    return f'"{quote(name)}" <{address}>' if name else f"<{address}>"


_WIRE = email.policy.SMTP.clone(max_line_length=998)
_WIRE_UTF8 = email.policy.SMTPUTF8.clone(max_line_length=998)


def _flatten(message: Message, envelope_sender: str | None) -> tuple[str, list[str], bytes, list[str]]:
    """(MAIL FROM, RCPT TOs, the bytes, MAIL options). Headers fold at 998, not 78: a header of one
    long word (List-Unsubscribe's `<https://…>`) folded at 78 becomes RFC 2047 encoded words,
    which no mail client reads as a link. An address that is not ASCII asks for SMTPUTF8."""
    sender = envelope_sender or extract_sender(message) or ""
    recipients = extract_recipients(message)
    utf8 = not (sender + "".join(recipients)).isascii()
    if isinstance(message, EmailMessage):
        flat = message.as_bytes(policy=_WIRE_UTF8 if utf8 else _WIRE)
    else:  # compat32 messages keep their own folding (their headers are encoded already)
        flat = message.as_bytes(policy=email.policy.compat32)
    return sender, recipients, flat, ["SMTPUTF8"] if utf8 else []


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
            sender, recipients, flat, options = _flatten(message, envelope_sender)
            if client.is_ehlo_or_helo_needed:
                await client.ehlo()  # what the server offers is known from its EHLO answer
            if "SMTPUTF8" in options and not client.supports_extension("smtputf8"):
                raise aiosmtplib.SMTPNotSupported("an address is not ASCII and the server offers no SMTPUTF8")
            if client.supports_extension("8bitmime"):
                options.append("BODY=8BITMIME")
            errors, _ = await client.sendmail(sender, recipients, flat, mail_options=options)
            if not self.reuse:
                await client.quit()
                client = None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0] if exc.recipients else None
            code = refusal.code if refusal else None
            raise SendFailure(f"recipient refused: {code} {refusal.message if refusal else ''}".strip(),
                              permanent=is_permanent(code)) from None
        except aiosmtplib.SMTPNotSupported as exc:  # e.g. no SMTPUTF8 for an internationalised address
            raise SendFailure(f"the mail server cannot take it: {exc}", permanent=True) from None
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
